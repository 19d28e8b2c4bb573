// job_store: the durable journal of jobs, behind an interface so that SQLite (the embedded
// default) can later be joined by a shared PostgreSQL store. Nothing SQLite-specific leaks out.
//
// Threads: every method may be called from any thread. Writes are asynchronous: they are
// queued to one writer that groups many into one commit; a `done` callback runs on the
// writer thread after the commit that holds the write (ok == true) or after it failed
// (ok == false, with the reason). Reads run on the caller's thread and see committed data.
//
// Invariants: a job reaches exactly one terminal state; finish() on a job that is already
// terminal changes nothing (and reports applied == false), so a late or duplicate result
// can never overwrite the first one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::daemon {

enum class job_state : std::uint8_t { queued, running, succeeded, failed, cancelled };

const char* to_string(job_state state) noexcept;
std::optional<job_state> parse_job_state(std::string_view text) noexcept;
inline bool is_terminal(job_state s) noexcept {
  return s == job_state::succeeded || s == job_state::failed || s == job_state::cancelled;
}

struct job_record {
  std::int64_t id = 0;  // increasing with submission time
  std::string task;
  std::string backend;  // "" = any backend
  std::string model;    // "" = none
  job_state state = job_state::queued;
  int attempt = 0;  // dispatches so far
  int max_attempts = 3;
  std::string worker;  // name of the worker that runs or ran it
  std::int64_t created_ms = 0, started_ms = 0, finished_ms = 0;  // unix epoch ms; 0 = not yet
  std::string params_json = "{}";
  std::string inputs_blob;   // tensors encoded with protocol::encode_tensors
  std::string outputs_blob;  // likewise, when succeeded
  std::string error_code, error_message;  // when failed or cancelled
  std::int64_t account_id = 0;  // who submitted it (0: before accounts existed)
  // Billing, in micro-credits; prices in micro-credits per million work units
  // (protocol/credits.hpp).
  std::int64_t units = 0;     // work units, from the task's cost expression and the inputs
  std::int64_t bid = 0;       // the highest price it may run at; 0: a free job
  std::int64_t reserved = 0;  // moved from account_id to escrow when it was journaled
  std::int64_t price = 0;     // the ask of the worker that ran it, once settled
  std::int64_t charged = 0;   // what it cost (the donor's share plus the fee), once settled
  std::int64_t fee = 0;       // the operator's part of `charged`
  std::int64_t payee_id = 0;  // the account of the donor whose worker ran it; 0: none
  int replicas = 1;  // runs on distinct donors' workers whose results must agree; each is paid
};

inline constexpr int max_replicas = 5;

// One donor's share of a settlement.
struct payment {
  std::int64_t payee_id = 0;
  std::int64_t charge = 0;
  std::int64_t fee = 0;  // part of charge
};

// How a job's reservation is settled when it ends: `charge` (at most the reservation) goes
// out of escrow to `payee_id` less `fee`, which goes to the fees account, and the rest of the
// reservation back to the job's account. The default refunds everything.
struct settlement {
  std::int64_t payee_id = 0;  // 0: nobody is paid, the charge is 0
  std::int64_t price = 0;     // the payee's ask, recorded with the job
  std::int64_t charge = 0;
  std::int64_t fee = 0;       // part of charge
  // Replicas: the other donors paid for the same job, after the first. The reservation caps
  // the sum of every charge, in order.
  std::vector<payment> others;
};

struct write_result {
  bool ok = true;        // the commit succeeded
  bool applied = true;   // the write changed the row (false: finish() on a terminal job)
  std::string error;     // why the commit failed, or why the write was refused
  std::string refusal;   // a store_refused code when the write was refused (insufficient_funds)
};
using write_done = std::function<void(const write_result&)>;

struct job_list_query {
  std::optional<job_state> state;
  int limit = 50;
  std::int64_t before_id = 0;  // cursor: only ids below this; 0 = start from the newest
  std::int64_t account_id = 0;  // only jobs this account submitted; 0 = anyone's
  std::int64_t payee_id = 0;    // only jobs run by this donor's workers; 0 = anyone's
};

// What a donor's workers did in one UTC day (jobs that ended that day).
struct earnings_day {
  std::int64_t day_ms = 0;  // the day's midnight, UTC, unix epoch ms
  std::int64_t jobs = 0, units = 0;
  std::int64_t earned = 0;  // micro-credits paid to the donor (charges less fees)
};

// One donor's totals over a period, for the leaderboard.
struct donor_totals {
  std::int64_t account_id = 0;
  std::int64_t jobs = 0, units = 0, earned = 0;
};

class job_store {
 public:
  virtual ~job_store() = default;

  // Durable insert of new jobs (ids set by the caller). `done` runs after their commit. The
  // jobs' reservations (all of one account) move to escrow in the same transaction; when the
  // account cannot cover them none of the jobs is written (refusal "insufficient_funds").
  virtual void insert(std::vector<job_record> jobs, write_done done) = 0;
  // queued -> running, recording the worker, attempt and start time.
  virtual void mark_running(std::int64_t id, std::string worker, int attempt, std::int64_t started_ms) = 0;
  // running -> queued (worker lost or returned the job); attempt is kept.
  virtual void mark_queued(std::int64_t id) = 0;
  // Any non-terminal state -> `state` (terminal), settling the job's reservation in the same
  // transaction. No effect on a terminal job: a job is settled once.
  virtual void finish(std::int64_t id, job_state state, std::int64_t finished_ms,
                      std::string outputs_blob, std::string error_code, std::string error_message,
                      settlement settle, write_done done) = 0;

  virtual std::optional<job_record> get(std::int64_t id) = 0;  // with blobs
  virtual std::vector<job_record> list(const job_list_query& query) = 0;  // newest first, no blobs
  // Every queued or running job, with inputs, oldest first: what a restart must queue again.
  virtual std::vector<job_record> load_unfinished() = 0;
  virtual std::int64_t max_job_id() = 0;
  virtual std::map<job_state, std::int64_t> count_by_state() = 0;
  // Per UTC day, oldest first, what the workers of `payee_id` did since `since_ms`.
  virtual std::vector<earnings_day> earnings(std::int64_t payee_id, std::int64_t since_ms) = 0;
  // The donors whose workers did most since `since_ms`: by credits earned, then work units.
  virtual std::vector<donor_totals> top_donors(std::int64_t since_ms, int limit) = 0;
  // Blocks until every write queued before the call is committed.
  virtual void flush() = 0;
};

struct sqlite_store_options {
  std::filesystem::path file;            // created with its folder when missing
  int max_writes_per_commit = 256;       // group-commit size
  bool synchronous_full = true;          // PRAGMA synchronous=FULL (else NORMAL)
  int busy_timeout_ms = 5000;            // how long a connection waits for a lock held elsewhere
  int max_idle_readers = 8;              // read connections kept open between reads
};

// Opens (creating and migrating) the SQLite journal. Throws std::runtime_error with a clear
// message when the file cannot be opened or its schema is newer than this build knows.
std::unique_ptr<job_store> open_sqlite_job_store(const sqlite_store_options& options);

}  // namespace potluck::daemon
