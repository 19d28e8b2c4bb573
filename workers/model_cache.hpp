// The worker's model cache: the hub's model files on the donor's disk, fetched from the daemon
// on first use, checked against their sha256 before use, and kept within a size the donor sets
// (least recently used models go first; never one a job here is waiting for or running on).
//
// Layout under the cache folder:
//   blobs/<sha256>                          each content once, whatever the models holding it
//   models/<owner>/<name>/<revision>/<path> symbolic links to the blobs: the folder a plugin loads
//   tmp/                                    downloads in progress (emptied at start)
// A model folder's modification time is its last use. A file is used only once its content
// hashed to the sha256 the daemon named: on download, and again whenever the file on disk
// changed since (size or modification time) or was never checked by this process.
//
// Threads: ready(), models(), stats() and touch() from any thread (one mutex); prepare() runs
// on the fetcher's thread (model_fetcher), which does the downloads and the hashing, so the
// supervisor's loop never waits for them.
#pragma once

#include <spdlog/logger.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/fwd.hpp>

namespace potluck::worker {

struct model_file_ref {
  std::string path;    // relative, '/'-separated
  std::string sha256;  // 64 lower-case hex digits
  std::uint64_t size = 0;
};

// A revision of a model of the hub, as a JOB names it.
struct model_request {
  std::string id;  // "owner/name@revision"
  std::string owner, name, revision;
  std::vector<model_file_ref> files;
};

// Reads a JOB's "model" ({"id": "owner/name@revision", "files": [{"path","size","sha256"}]}).
// Throws std::invalid_argument saying what is wrong (unsafe paths and names included).
model_request parse_model_request(const boost::json::value& v);

class model_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct model_cache_stats {
  std::uint64_t files_fetched = 0, bytes_fetched = 0;
  std::uint64_t files_reused = 0;      // found on disk (a model sharing content, or fetched before)
  std::uint64_t corrupt_refetched = 0; // found changed on disk: fetched again
  std::uint64_t models_evicted = 0;
};

class model_cache {
 public:
  // Makes the folders, empties tmp/ and reads which models are held. Throws model_error when
  // the folder cannot be used.
  // A folder serves one worker process at a time (a lock file in it): another gets model_error.
  model_cache(std::filesystem::path root, std::uint64_t max_bytes, std::shared_ptr<spdlog::logger> log);
  ~model_cache();
  model_cache(const model_cache&) = delete;
  model_cache& operator=(const model_cache&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::uint64_t max_bytes() const { return max_bytes_; }

  // The model's folder when every file is there and was checked by this process since it last
  // changed; nullopt when prepare() has work to do. Cheap: a stat per file.
  std::optional<std::filesystem::path> ready(const model_request& m);

  // Makes the model's folder: checks the files on disk that need it, fetches what is missing
  // or corrupted from `hub_url` (http://host:port), and makes room first by removing the least
  // recently used models not named in `in_use`. Throws model_error with a message for the
  // job's user (what failed, which file). Blocking: the fetcher's thread calls it.
  std::filesystem::path prepare(const model_request& m, const std::string& hub_url, const std::set<std::string>& in_use);

  // Marks a use (the LRU order).
  void touch(const std::string& id);
  // The models the worker's jobs use now (the supervisor says after each round): never removed
  // to make room. A model ready() or prepare() just handed out counts as in use until then.
  void set_in_use(std::set<std::string> ids);
  // "owner/name@revision" of the models held, sorted.
  std::vector<std::string> models() const;
  std::uint64_t bytes_held() const;
  model_cache_stats stats() const;

 private:
  struct held_model {
    std::vector<model_file_ref> files;
    std::int64_t last_used_ns = 0;  // wall clock
    std::int64_t stamped_ns = 0;    // when the folder's modification time last recorded a use
  };
  struct checked_blob {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
  };

  std::filesystem::path model_dir(const model_request& m) const;
  std::filesystem::path blob_path(const std::string& sha256) const { return root_ / "blobs" / sha256; }
  bool blob_checked(const model_file_ref& f);  // with mutex_ held
  void scan();
  void make_room(std::uint64_t needed, const std::string& keep, const std::set<std::string>& in_use);
  void fetch(const model_request& m, const model_file_ref& f, const std::string& hub_url);
  void link_model(const model_request& m);

  std::filesystem::path root_;
  int lock_fd_ = -1;
  std::uint64_t max_bytes_;
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mutex_;
  std::map<std::string, held_model> held_;             // by id
  std::map<std::string, checked_blob> checked_;        // by sha256: what its hash was checked on
  std::map<std::string, std::uint64_t> blob_sizes_;    // blobs on disk, by sha256
  std::set<std::string> keep_blobs_;  // while prepare() makes room: the blobs of the model it prepares
  std::set<std::string> pinned_;      // models in use (set_in_use(), ready(), prepare())
  model_cache_stats stats_;
};

// The fetcher's thread: prepares one model at a time, in the order asked, and hands each
// outcome back through `done`, called on its thread (the supervisor queues it and wakes its
// loop). A model asked for again while it is being prepared is prepared once.
class model_fetcher {
 public:
  struct outcome {
    std::string id;
    std::optional<std::filesystem::path> dir;  // set on success
    std::string error;                         // why not, otherwise
  };
  model_fetcher(model_cache& cache, std::function<void(outcome)> done);
  ~model_fetcher();  // stops after the model at hand
  model_fetcher(const model_fetcher&) = delete;
  model_fetcher& operator=(const model_fetcher&) = delete;

  // Queues a model unless it is queued or being prepared already. `in_use`: the models the
  // cache must not remove to make room.
  void request(model_request m, std::string hub_url, std::set<std::string> in_use);

 private:
  void run();

  model_cache& cache_;
  std::function<void(outcome)> done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  struct item {
    model_request model;
    std::string hub_url;
    std::set<std::string> in_use;
  };
  std::deque<item> queue_;
  std::set<std::string> pending_;  // ids queued or being prepared
  bool stop_ = false;
  std::thread thread_;
};

// "20G", "512M", "1.5T", "100000" (bytes) -> bytes. Throws std::invalid_argument.
std::uint64_t parse_byte_size(std::string_view text);

}  // namespace potluck::worker
