// hub_store: the model hub's repositories, their immutable revisions and the files each holds
// (by the sha256 of their content: the bytes live in hub::blob_store), kept in the same journal
// as jobs and accounts. Like account_store, an interface with an SQLite implementation.
//
// Threads: any thread, except a job_store write callback for commit() (it waits for the
// writer). count_download() queues and returns at once.
//
// Invariants: a revision is written whole or not at all, with its files, in one transaction;
// it never changes afterwards; a model's head is its newest revision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::daemon {

class job_store;

struct model_file {
  std::string path;    // relative, '/'-separated, checked by the caller
  std::string sha256;  // 64 hex digits
  std::int64_t size = 0;
};

struct model_revision {
  std::string id;      // 40 hex digits, made by the caller
  std::string parent;  // the head it was made on; "" for the first
  std::int64_t author_id = 0;
  std::string message;
  std::int64_t created_ms = 0;
  std::vector<model_file> files;  // by path
};

// What a model's card says, as of its head revision.
struct model_card_fields {
  std::string task, format, license;
  std::vector<std::string> tags, labels;
  std::string body;
};

struct model_record {
  std::int64_t id = 0;
  std::int64_t owner_id = 0;
  std::string owner, name;  // the repository is "owner/name"
  model_card_fields card;
  std::string head;         // the newest revision's id
  std::int64_t downloads = 0;
  std::int64_t created_ms = 0, updated_ms = 0;
};

struct model_query {
  std::string search;  // in the name, owner, tags and labels; "" = any
  std::string task;    // "" = any
  enum class order : std::uint8_t { recent, downloads } sort = order::recent;
  int limit = 20;
  int offset = 0;
};

class hub_store {
 public:
  virtual ~hub_store() = default;

  // A new revision of owner/name (the model is made by its first revision). `expected_parent`
  // must be the model's head ("" for a new model), else store_refused("conflict") names the
  // head: someone committed meanwhile. Refuses unknown_account.
  virtual model_record commit(std::int64_t owner_id, std::string_view name, const model_card_fields& card,
                              const model_revision& revision, std::string_view expected_parent) = 0;
  virtual std::optional<model_record> find_model(std::string_view owner, std::string_view name) = 0;
  // A revision of the model by id, or its head for "" and "main".
  virtual std::optional<model_revision> find_revision(std::int64_t model_id, std::string_view rev) = 0;
  virtual std::vector<model_revision> revisions(std::int64_t model_id) = 0;  // newest first, without files
  virtual std::vector<model_record> list_models(const model_query& query) = 0;
  virtual void count_download(std::int64_t model_id) = 0;
  // Removes the model, every revision and their file lists, in one transaction; returns the
  // sha256 of the contents no revision of any model names any more (their blobs may go).
  virtual std::vector<std::string> remove_model(std::int64_t model_id) = 0;
};

// The hub kept in `journal` (same file and writer). Throws std::invalid_argument for a
// journal that keeps none.
hub_store& hub_of(job_store& journal);

}  // namespace potluck::daemon
