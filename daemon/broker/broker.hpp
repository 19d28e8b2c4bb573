// broker: owns the ZeroMQ ROUTER that workers connect to, the registry of workers, the
// in-memory queues of journaled jobs (indexed by task and backend) and dispatch.
//
// Threads: one broker thread owns the socket, the queues and the registry. Other threads talk
// to it through enqueue()/cancel() (a locked inbox plus an eventfd wake-up) and read
// snapshots (workers(), catalog(), live()) under short locks. Journal writes go to the
// job_store asynchronously; terminal states are announced only after their commit.
//
// Matching (the market): queued jobs go out by bid, highest first, then oldest first. A job
// goes only to a worker whose ask (per backend) its bid covers; free jobs (bid 0) only to
// workers that accept them, and a worker takes a free job only when no paid job it could run
// is waiting. Among the workers that could take a new job, the cheapest gets it, then the one
// with the most free slots. When a job ends, the broker says how its reservation settles:
// a success (or a failure the plugin puts on the input) pays the worker's owner its ask times
// the job's units, less the operator's fee; anything else refunds it all.
//
// Invariants: a job is in exactly one place (a queue, or one worker's running set) while the
// broker holds it; a worker never holds more jobs of a backend than its slots plus the
// prefetch it offered (and holds jobs beyond its slots only of tasks measured to be short);
// a job's terminal state is written once (the store ignores later ones).
#pragma once

#include "daemon/store/account_store.hpp"
#include "daemon/store/job_store.hpp"
#include "potluck/protocol/task_spec.hpp"
#include "potluck/protocol/tensor.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace potluck::daemon {

class event_hub;
struct metrics;

// Who a worker's HELLO token (nullptr: none) belongs to, or why the worker is refused. Called
// on the broker thread: it must be quick (a journal read, no write).
struct worker_credentials {
  bool ok = false;
  std::string owner;    // the account's name; "" for an anonymous worker
  std::int64_t owner_id = 0;  // that account's id; 0 for an anonymous worker
  std::int64_t token_id = 0;  // the token it gave; 0 for an anonymous worker
  std::string refusal;  // why not, for the worker's operator
};
using worker_authenticator = std::function<worker_credentials(const std::string* token)>;
// The settings a donor stored for their worker of this name, if any. Called on the broker
// thread when a worker registers: a quick journal read.
using worker_settings_lookup =
    std::function<std::optional<worker_settings>(std::int64_t owner_id, const std::string& name)>;

struct broker_options {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::chrono::milliseconds heartbeat_interval{1000};
  int heartbeat_liveness = 3;  // intervals of silence before a worker is dead
  // Short jobs are sent to a worker ahead of a free slot (when its HELLO offers "prefetch"),
  // as many as would wait at most this long there in all; 0 turns prefetch off.
  std::chrono::milliseconds prefetch_budget{5};
  worker_authenticator authenticate_worker;  // empty: every worker is accepted, anonymous
  std::int64_t fee_ppm = 0;  // the operator's fee, in millionths of each charge
  worker_settings_lookup settings_of;  // empty: no worker has settings
  // Checking new donors: a share of a donor's results is run again on a trusted worker (one
  // of trusted_owner_id's) and compared before the job ends; a donor with trusted_after
  // agreements in a row is checked at a tenth of the rate. 0 or no trusted owner: no checks.
  double check_rate = 0;
  std::int64_t trusted_after = 20;
  std::int64_t trusted_owner_id = 0;
  // How the checks of a donor went so far (a journal read when a worker registers), and where
  // each new check is recorded (queued, never waited for).
  std::function<std::optional<donor_trust>(std::int64_t account_id)> trust_of;
  std::function<void(std::int64_t account_id, bool agreed)> record_check;
  // The daemon's CurveZMQ secret key (Z85): set, the worker link is encrypted and only workers
  // that know the matching public key can talk to it; empty, it is plain.
  std::string curve_secret_key;
};

// A journaled job handed to the broker for dispatch.
struct pending_job {
  std::int64_t id = 0;
  std::string task;
  std::string backend;  // "" = any
  std::string params_json = "{}";
  std::vector<protocol::tensor> inputs;
  int attempt = 0;
  int max_attempts = 3;
  // Billing (job_record's fields): bid 0 is a free job.
  std::int64_t account_id = 0, units = 0, bid = 0, reserved = 0;
  int replicas = 1;  // runs on distinct donors whose results must agree (job_record)
  // A job for a model of the hub: "owner/name@revision", and the revision's files as a JSON
  // array [{"path","size","sha256"}] that the worker fetches (from the WELCOME's hub_url).
  std::string model, model_files_json;
};

// What the broker knows of a job that is not terminal yet (or whose end is being journaled).
struct live_job {
  job_state state = job_state::queued;
  double progress = 0;
  std::string message;
  std::string worker;
  int attempt = 0;
  std::int64_t started_ms = 0;
};

struct worker_snapshot {
  std::string id, name, hostname, software;
  std::string owner;         // the account whose donor token it gave; "" when anonymous
  std::string devices_json;  // {"cpu": {...}, "gpus": [...]}
  std::string plugins_json;  // [{"name","version","tasks":[...]}]
  std::vector<std::string> load_errors;
  std::map<std::string, int> slots, busy;  // by backend
  std::map<std::string, std::int64_t> prices;  // its ask by backend (micro-credits per M units)
  bool accepts_free = true;                    // runs free jobs (bid 0), settings applied
  worker_settings settings;                    // its donor's settings (defaults when none)
  int utc_offset_minutes = 0;                  // its local time zone (HELLO), for settings' hours
  bool taking_jobs = true;                     // not paused and within its hours now
  std::uint64_t jobs_done = 0, jobs_failed = 0;
  std::uint64_t checks_passed = 0, checks_failed = 0;  // its results re-run on a trusted worker
  std::vector<std::string> flags;  // why the operator should look at it; empty: nothing seen
  std::vector<std::string> models;  // "owner/name@revision" of the hub's models it holds on disk
  std::int64_t connected_ms = 0, last_seen_ms = 0;
};

// Tasks known to the daemon: declared by a worker since start. `workers` counts the
// connected ones offering it (0: jobs wait).
struct task_entry {
  protocol::task_decl decl;
  std::vector<std::string> worker_ids;  // connected workers offering it on this backend
  int slots = 0;
};
using task_catalog = std::map<std::string, std::vector<task_entry>>;  // by name, one per backend

// What the market looks like for one task on one backend ("" = any), for a quote.
struct market_view {
  struct offer {
    std::string worker, backend;
    std::string owner;  // the donor's account; "" when anonymous
    std::int64_t ask = 0;
    bool accepts_free = true;
    int slots = 0, free_slots = 0;
  };
  std::vector<offer> offers;    // connected workers offering it, cheapest first
  // Jobs queued for it that would go before a job with the given bid (higher bids, and equal
  // bids that are older: all of them, since a new job is the youngest); not counted (0) when
  // market() is asked with a bid below 0.
  std::int64_t queued_ahead = 0;
  double run_ms = 0;            // measured average run time; 0: not measured yet
};
class broker {
 public:
  broker(broker_options options, job_store& store, event_hub& events, metrics& counters);
  ~broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  // Binds the ROUTER (throws std::runtime_error naming the endpoint) and starts the thread.
  void start();
  // Stops the thread; workers are told nothing (they reconnect to the next daemon).
  void stop();
  // The bound endpoint, with the port resolved when it was "*".
  std::string endpoint() const;

  // Jobs already committed to the journal, to queue. Any thread.
  void enqueue(std::vector<pending_job> jobs);
  // Cancels a live job: journals it cancelled and tells its worker. `done(true)` runs after
  // the commit; `done(false)` when the broker does not hold the job (terminal or unknown).
  void cancel(std::int64_t id, std::function<void(bool)> done);
  // A donor token was revoked: the workers registered with it are disconnected (their jobs
  // go back to the queue) and, saying hello again with it, refused. Any thread.
  void token_revoked(std::int64_t token_id);
  // A donor changed the settings of their worker(s) named `name`: applied at once to those
  // connected (a pause stops new jobs; running ones finish). Any thread.
  void settings_changed(std::int64_t owner_id, std::string name, worker_settings settings);

  std::optional<live_job> live(std::int64_t id) const;
  std::vector<worker_snapshot> workers() const;
  std::shared_ptr<const task_catalog> catalog() const;
  market_view market(const std::string& task, const std::string& backend, std::int64_t bid) const;
  std::size_t queue_depth() const;
  // Where workers fetch model files ("http://host:port"), told them in WELCOME. Any thread.
  void set_hub_url(std::string url);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace potluck::daemon
