// daemon_app: one potluckd: the journal, the broker, the event hub and the HTTP server,
// started in that order and stopped in reverse.
//
// On start, jobs the journal holds as queued or running (a previous daemon died or stopped)
// are queued again, so that every job answered with 202 completes.
#pragma once

#include "daemon/app/events.hpp"
#include "daemon/app/metrics.hpp"
#include "daemon/app/timers.hpp"
#include "daemon/app/work_queue.hpp"
#include "daemon/market/auth.hpp"
#include "daemon/hub/blob_store.hpp"
#include "daemon/store/account_store.hpp"
#include "daemon/store/hub_store.hpp"
#include "daemon/broker/broker.hpp"
#include "daemon/store/job_store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace potluck::daemon {

namespace http {
class router;
class server;
}  // namespace http

struct daemon_options {
  std::string http_address = "127.0.0.1";
  std::uint16_t http_port = 8080;  // 0: any free port
  std::string workers_endpoint = "tcp://127.0.0.1:5555";
  std::filesystem::path data_dir = "var";
  std::optional<std::filesystem::path> web_dir;  // dashboard assets; none: no static files
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds prefetch_budget{5};  // see broker_options
  int max_attempts = 3;
  std::size_t max_body_bytes = 64 * 1024 * 1024;
  std::size_t max_batch_jobs = 10000;
  int http_threads = 2;
  bool synchronous_full = true;
  // Accounts: micro-credits granted to each new account; whether anyone may sign up.
  std::int64_t starter_grant = 100'000'000;
  bool signup_open = true;
  // The market: whether jobs may bid 0 (run free on workers that accept free jobs), and the
  // operator's fee in millionths of each charge.
  bool free_tier = true;
  std::int64_t fee_ppm = 0;
  // Checking donors (broker_options): the share of a new donor's results run again on the
  // operator's workers, and the agreements in a row after which a donor is checked at a tenth.
  double check_rate = 0.1;
  std::int64_t trusted_after = 20;
  market::rate_limit token_rate_limit;                // per API token
  market::rate_limit signup_rate_limit{0.2, 5};       // per client address, for sign-ups
  bool anonymous_workers = false;  // accept workers that give no donor token
  bool local_session = false;      // POST /api/v1/session/local hands loopback dashboards a token
  bool encrypt_worker_link = false;  // CurveZMQ on the worker socket (market::ensure_worker_link_keys)
  std::uint64_t max_model_file_bytes = 8ULL << 30;  // one file of a model (the hub's uploads)
  // The address workers fetch model files from (WELCOME "hub_url"); "": http://ADDRESS:PORT
  // of the HTTP listener (a worker replaces an address of 0.0.0.0 or :: with its daemon's host).
  std::string public_url;
};

class daemon_app {
 public:
  explicit daemon_app(daemon_options options);
  ~daemon_app();
  daemon_app(const daemon_app&) = delete;
  daemon_app& operator=(const daemon_app&) = delete;

  // Opens the journal, requeues unfinished jobs, binds the worker socket and the HTTP port.
  // Throws std::runtime_error with a message for the operator when any of it fails.
  void start();
  void stop();

  std::uint16_t http_port() const;
  std::string workers_endpoint() const;

  job_store& store() { return *store_; }
  account_store& accounts() { return accounts_of(*store_); }
  market::authenticator& auth() { return *auth_; }
  work_queue& work() { return *work_; }
  hub_store& hub() { return hub_of(*store_); }
  hub::blob_store& blobs() { return *blobs_; }
  // The admin token made at this start, to print once; empty when the one on file still holds.
  const std::optional<std::string>& new_admin_token() const { return new_admin_token_; }
  const std::filesystem::path& admin_token_file() const { return admin_token_file_; }
  // The operator's token for dashboards on this machine (--local-session); empty otherwise.
  const std::string& local_session_token() const { return local_session_token_; }
  // The public key workers need (--server-key) when the worker link is encrypted; else empty.
  const std::string& worker_link_key() const { return worker_link_key_; }
  bool worker_link_key_created() const { return worker_link_key_created_; }
  broker& jobs() { return *broker_; }
  event_hub& events() { return events_; }
  metrics& counters() { return metrics_; }
  timer_queue& timers() { return *timers_; }
  const daemon_options& options() const { return options_; }
  std::int64_t started_ms() const { return started_ms_; }

  // Reserves `count` consecutive job ids and returns the first. Ids grow with time.
  std::int64_t allocate_job_ids(std::size_t count) {
    return next_job_id_.fetch_add(static_cast<std::int64_t>(count), std::memory_order_relaxed);
  }

 private:
  daemon_options options_;
  event_hub events_;
  metrics metrics_;
  std::unique_ptr<timer_queue> timers_ = std::make_unique<timer_queue>();
  std::unique_ptr<job_store> store_;
  std::unique_ptr<market::authenticator> auth_;
  std::unique_ptr<work_queue> work_;
  std::unique_ptr<hub::blob_store> blobs_;
  std::optional<std::string> new_admin_token_;
  std::filesystem::path admin_token_file_;
  std::string local_session_token_;
  std::string worker_link_key_;
  bool worker_link_key_created_ = false;
  std::unique_ptr<broker> broker_;
  std::unique_ptr<http::router> router_;
  std::unique_ptr<http::server> server_;
  std::atomic<std::int64_t> next_job_id_{1};
  std::int64_t started_ms_ = 0;
};

}  // namespace potluck::daemon
