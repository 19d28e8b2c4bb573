// potluck-e2e-bench: no-op jobs (test.echo) end to end — HTTP submit → journal → ZeroMQ →
// worker → runner → result journaled — with 1, 2 and 4 workers, next to a raw ZeroMQ echo
// through one broker process measured in the same run as the ceiling. Prints one table and
// the targets with PASS/MISS; the figures are never asserted (a bench is not a test). Exits
// non-zero only when something broke: a process did not start, a request failed, a job failed.
//
// Threads: the main thread drives everything; submit phases add one thread per HTTP
// connection, each owning its connection. Children are real processes (bench_process.hpp).
// Hidden roles: `--zmq-broker CLIENT_EP WORKER_EP CREDIT` and `--zmq-echo WORKER_EP` (zmq_echo.hpp).
#include "bench_process.hpp"
#include "http_client.hpp"
#include "zmq_echo.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/wait.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace potluck::bench {
namespace {

// ---- Named settings --------------------------------------------------------------------
constexpr std::int64_t default_jobs = 20'000;
constexpr std::int64_t quick_jobs = 2'000;
constexpr int batch_jobs_per_request = 500;  // the daemon accepts up to 10,000 per batch
constexpr int batch_connections = 2;
constexpr int default_single_connections = 32;  // clients submitting one job a request at once
constexpr int latency_warmup = 100;
constexpr int latency_samples = 1000;
constexpr int ceiling_window = batch_jobs_per_request * batch_connections;  // in flight, like the batch path
// A 1-slot potluck-worker holds its running job plus up to 8 sent ahead (--prefetch 8, the
// default) while the task is short: the echo ceiling allows each worker as many.
constexpr int pipelined_credit_per_worker = 9;
constexpr auto stats_poll_interval = 2ms;
constexpr auto startup_deadline = 30s;
constexpr auto no_progress_deadline = 60s;  // jobs stop completing for this long: something broke
constexpr auto stop_grace = 10s;
constexpr double target_jobs_per_s = 15'000;
constexpr int target_workers = 2;
constexpr double target_p50_ms = 1.5;

constexpr const char* echo_job = R"({"task":"test.echo","inputs":{"x":{"dtype":"f32","shape":[1],"data":[1]}}})";
// The same job with a price: it bids 2 credits per million work units (echo is 1 unit), so it
// reserves 2 micro-credits, is charged 1 at the workers' ask, and is refunded 1.
constexpr const char* priced_echo_job =
    R"({"task":"test.echo","inputs":{"x":{"dtype":"f32","shape":[1],"data":[1]}},"bid":2000000})";
constexpr double market_slowdown_ceiling = 0.15;  // the credit path may cost at most this share

struct options {
  std::int64_t jobs = default_jobs;
  std::vector<int> workers = {1, 2, 4};
  fs::path build_dir;
  bool quick = false;
  bool market = true;  // also run every count with paid jobs, to compare (--no-market: not)
  int single_connections = default_single_connections;
};

struct latency_stats {
  double p50 = 0, p99 = 0, max = 0;
};

latency_stats summarize(std::vector<double> ms) {
  latency_stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double p) {  // nearest rank
    const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, i == 0 ? 0 : i - 1)];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.max = ms.back();
  return s;
}

struct e2e_result {
  bool market = false;  // jobs paid by a user to a donor (reserve, charge, refund), else free
  double batch_jobs_per_s = 0, batch_submit_s = 0, batch_total_s = 0;
  double single_jobs_per_s = 0, single_submit_s = 0, single_total_s = 0;
  latency_stats latency;
};

struct ceiling_row {
  double messages_per_s = 0;            // credit 1 per worker: one request at a time
  double pipelined_messages_per_s = 0;  // credit pipelined_credit_per_worker: fed ahead, as the daemon does
  latency_stats latency;
};

struct job_counters {
  double submitted = 0, succeeded = 0, failed = 0, cancelled = 0;
};

std::string read_loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line.empty() ? "unavailable" : line;
}

void sleep_for(std::chrono::milliseconds d) { ::poll(nullptr, 0, static_cast<int>(d.count())); }

// ---- One potluckd with N workers -------------------------------------------------------

class cluster {
 public:
  // market: workers donate for a donor account at a price and a user account submits paid jobs;
  // otherwise the operator's free jobs run on the operator's workers, and no credit moves.
  cluster(const options& opts, int worker_count, bool market) : dir_(make_temp_dir("potluck-bench")) {
    http_port_ = free_tcp_port();
    const auto worker_port = free_tcp_port();
    const auto endpoint = "tcp://127.0.0.1:" + std::to_string(worker_port);
    daemon_ = std::make_unique<child_process>(
        std::vector<std::string>{(opts.build_dir / "bin" / "potluckd").string(), "--http",
                                 "127.0.0.1:" + std::to_string(http_port_), "--workers", endpoint, "--data-dir",
                                 (dir_ / "data").string(), "--heartbeat-ms", "1000", "--log-level", "warn",
                                 "--rate-limit", "0", "--starter-grant", "1000"},
        dir_ / "potluckd.log");
    wait_until("potluckd to answer /healthz", [&] {
      http_connection c(http_port_);
      return c.request("GET", "/healthz").status == 200;
    });
    std::ifstream admin_file(dir_ / "data" / "admin-token");
    std::getline(admin_file, admin_token_);
    if (admin_token_.empty()) fail("potluckd wrote no admin token in its data folder");
    token_ = admin_token_;
    auto worker_token_file = dir_ / "data" / "admin-token";
    std::vector<std::string> price_args;
    if (market) {
      token_ = sign_up("bench-user");
      worker_token_file = dir_ / "donor-token";
      std::ofstream(worker_token_file) << sign_up("bench-donor") << "\n";
      price_args = {"--price", "cpu=1"};
    }
    for (int i = 0; i < worker_count; ++i) {
      const auto name = "bench-" + std::to_string(i + 1);
      std::vector<std::string> argv{(opts.build_dir / "bin" / "potluck-worker").string(), "--daemon", endpoint,
                                    "--plugins", (opts.build_dir / "lib" / "potluck" / "plugins").string(), "--slots",
                                    "1", "--name", name, "--gpus", "none", "--log-level", "warn",
                                    "--token-file", worker_token_file.string(), "--model-cache",
                                    (dir_ / ("model-cache-" + name)).string()};
      argv.insert(argv.end(), price_args.begin(), price_args.end());
      workers_.push_back(std::make_unique<child_process>(std::move(argv), dir_ / ("worker-" + name + ".log")));
    }
    wait_until("/api/v1/workers to list " + std::to_string(worker_count) + " workers", [&] {
      http_connection c(http_port_);
      auto r = c.request("GET", "/api/v1/workers");
      std::size_t listed = 0, at = 0;
      while ((at = r.body.find("\"slots_total\":", at)) != std::string::npos) ++listed, ++at;
      return r.status == 200 && listed == static_cast<std::size_t>(worker_count);
    });
    metrics_ = std::make_unique<http_connection>(http_port_);
  }

  // Signs up an account; its API token.
  std::string sign_up(const std::string& name) {
    http_connection c(http_port_);
    auto r = c.request("POST", "/api/v1/accounts", "{\"name\":\"" + name + "\"}");
    const auto key = std::string("\"secret\":\"");
    const auto at = r.body.find(key);
    if (r.status != 201 || at == std::string::npos) fail("signing up " + name + " answered " + std::to_string(r.status) + ": " + r.body);
    return r.body.substr(at + key.size(), r.body.find('"', at + key.size()) - at - key.size());
  }

  // The operator's audit of the books; fails the run unless they balance.
  void require_books_balance() {
    http_connection c(http_port_, admin_token_);
    auto r = c.request("GET", "/api/v1/admin/audit");
    if (r.status != 200 || r.body.find("\"ok\":true") == std::string::npos)
      fail("the audit after the run does not pass: " + r.body.substr(0, 600));
  }

  ~cluster() {
    if (!failed_) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  std::uint16_t http_port() const { return http_port_; }
  // The token that submits the bench's jobs: the operator's, or the paying user's.
  const std::string& token() const { return token_; }

  // The counters from /api/v1/stats: atomics only, cheap enough to poll every few ms. (/metrics
  // also counts the journal by state with a full table scan, which would load the daemon
  // in proportion to its history; it is read once, for the final check, in metrics_counters().)
  // A daemon without /api/v1/stats is polled through /metrics instead.
  job_counters counters() {
    if (!has_stats_route_) return metrics_counters();
    auto r = metrics_->request("GET", "/api/v1/stats");
    if (r.status == 404) {
      has_stats_route_ = false;
      std::printf("  note: this potluckd has no /api/v1/stats; polling /metrics (slower, it scans the journal)\n");
      return metrics_counters();
    }
    if (r.status != 200) throw std::runtime_error("GET /api/v1/stats answered " + std::to_string(r.status));
    auto field = [&](std::string_view name) {
      const auto key = "\"" + std::string(name) + "\":";
      const auto at = r.body.find(key);
      if (at == std::string::npos) throw std::runtime_error("/api/v1/stats lacks " + std::string(name));
      return std::strtod(r.body.c_str() + at + key.size(), nullptr);
    };
    job_counters c;
    c.submitted = field("jobs_submitted");
    c.succeeded = field("jobs_succeeded");
    c.failed = field("jobs_failed");
    c.cancelled = field("jobs_cancelled");
    return c;
  }

  job_counters metrics_counters() {
    auto r = metrics_->request("GET", "/metrics");
    if (r.status != 200) throw std::runtime_error("GET /metrics answered " + std::to_string(r.status));
    job_counters c;
    c.submitted = prometheus_value(r.body, "potluck_jobs_total{state=\"submitted\"}");
    c.succeeded = prometheus_value(r.body, "potluck_jobs_total{state=\"succeeded\"}");
    c.failed = prometheus_value(r.body, "potluck_jobs_total{state=\"failed\"}");
    c.cancelled = prometheus_value(r.body, "potluck_jobs_total{state=\"cancelled\"}");
    if (c.succeeded < 0 || c.failed < 0) throw std::runtime_error("/metrics lacks potluck_jobs_total{state=...}");
    return c;
  }

  // Polls /api/v1/stats until `succeeded` reaches `target`. Throws when a job fails, when a
  // process died, when `error` says a submitting thread broke, or when nothing completes
  // for a long while.
  clock_type::time_point wait_for_succeeded(double target, const std::function<std::string()>& error) {
    double last = -1;
    auto last_progress = clock_type::now();
    for (;;) {
      const auto c = counters();
      const auto now = clock_type::now();
      if (c.failed > 0 || c.cancelled > 0)
        fail("jobs failed: "  + std::to_string(static_cast<long long>(c.failed)) +
             ", cancelled = " + std::to_string(static_cast<long long>(c.cancelled)) + ": echo jobs must all succeed");
      if (c.succeeded >= target) return now;
      if (auto e = error(); !e.empty()) fail(e);
      if (c.succeeded != last) last = c.succeeded, last_progress = now;
      if (now - last_progress > no_progress_deadline)
        fail("jobs stopped completing: " + std::to_string(static_cast<long long>(c.succeeded)) + " of " +
             std::to_string(static_cast<long long>(target)) + " succeeded");
      check_alive();
      sleep_for(stats_poll_interval);
    }
  }

  void check_alive() {
    if (!daemon_->running()) fail("potluckd exited during the run");
    for (auto& w : workers_)
      if (!w->running()) fail("a potluck-worker exited during the run");
  }

  // Stops workers, then the daemon: SIGTERM, SIGKILL after the grace period.
  void stop() {
    for (auto& w : workers_) w->stop(stop_grace);
    const int st = daemon_->stop(stop_grace);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      std::cout << "  note: potluckd stopped with " << describe_wait_status(st) << "\n";
  }

  [[noreturn]] void fail(const std::string& why) {
    failed_ = true;
    std::ostringstream out;
    out << why << "\n  logs kept in " << dir_.string() << "\n  potluckd log tail:\n" << daemon_->log_tail(2000);
    throw std::runtime_error(out.str());
  }

 private:
  void wait_until(const std::string& what, const std::function<bool()>& check) {
    const auto end = clock_type::now() + startup_deadline;
    for (;;) {
      try {
        if (check()) return;
      } catch (const std::exception&) {
        // not up yet
      }
      if (!daemon_->running()) fail("potluckd exited while waiting for " + what);
      if (clock_type::now() > end) fail("timed out waiting for " + what);
      sleep_for(10ms);
    }
  }

  fs::path dir_;
  std::uint16_t http_port_ = 0;
  bool failed_ = false;
  bool has_stats_route_ = true;
  std::unique_ptr<child_process> daemon_;
  std::vector<std::unique_ptr<child_process>> workers_;
  std::unique_ptr<http_connection> metrics_;
  std::string token_, admin_token_;
};

// Runs `connections` threads that each take requests (by index) until `requests` are done;
// each request must be answered `expected_status`. Returns when all are sent and answered.
class submitters {
 public:
  submitters(std::uint16_t port, const std::string& token, int connections, std::size_t requests, std::string target,
             std::function<const std::string&(std::size_t)> body, int expected_status)
      : requests_(requests), target_(std::move(target)), body_(std::move(body)), expected_(expected_status) {
    for (int i = 0; i < connections; ++i) conns_.push_back(std::make_unique<http_connection>(port, token));
  }
  ~submitters() { join(); }

  void start() {
    for (auto& c : conns_) threads_.emplace_back([this, conn = c.get()] { run(*conn); });
  }
  void join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::string error() {
    std::lock_guard lock(mutex_);
    return error_;
  }
  clock_type::time_point finished_at() {
    std::lock_guard lock(mutex_);
    return finished_at_;
  }

 private:
  void run(http_connection& conn) {
    try {
      for (;;) {
        const auto i = next_.fetch_add(1);
        if (i >= requests_ || stop_.load()) break;
        auto r = conn.request("POST", target_, body_(i));
        if (r.status != expected_) {
          set_error("POST " + target_ + " answered " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
          break;
        }
      }
    } catch (const std::exception& e) {
      set_error(e.what());
    }
    std::lock_guard lock(mutex_);
    finished_at_ = std::max(finished_at_, clock_type::now());
  }
  void set_error(std::string e) {
    std::lock_guard lock(mutex_);
    if (error_.empty()) error_ = std::move(e);
    stop_ = true;
  }

  std::size_t requests_;
  std::string target_;
  std::function<const std::string&(std::size_t)> body_;
  int expected_;
  std::vector<std::unique_ptr<http_connection>> conns_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string error_;
  clock_type::time_point finished_at_{};
};

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

e2e_result run_e2e(const options& opts, int worker_count, bool market) {
  e2e_result result;
  result.market = market;
  cluster c(opts, worker_count, market);
  const char* const job = market ? priced_echo_job : echo_job;
  const std::string single_body = job;
  const char* const mode = market ? "market" : "free  ";

  // Batch path: M jobs in requests of batch_jobs_per_request over batch_connections connections.
  {
    std::vector<std::string> bodies;
    for (std::int64_t left = opts.jobs; left > 0; left -= batch_jobs_per_request) {
      std::string b = "{\"jobs\":[";
      const auto n = std::min<std::int64_t>(left, batch_jobs_per_request);
      for (std::int64_t i = 0; i < n; ++i) b.append(i ? "," : "").append(job);
      bodies.push_back(b + "]}");
    }
    const auto base = c.counters();
    submitters s(c.http_port(), c.token(), batch_connections, bodies.size(), "/api/v1/jobs/batch",
                 [&](std::size_t i) -> const std::string& { return bodies[i]; }, 202);
    const auto t0 = clock_type::now();
    s.start();
    const auto done = c.wait_for_succeeded(base.succeeded + static_cast<double>(opts.jobs), [&] { return s.error(); });
    s.join();
    if (auto e = s.error(); !e.empty()) c.fail(e);
    result.batch_total_s = seconds_between(t0, done);
    result.batch_submit_s = seconds_between(t0, s.finished_at());
    result.batch_jobs_per_s = static_cast<double>(opts.jobs) / result.batch_total_s;
    std::printf("  %d worker(s) %s batch : %lld jobs, accepted in %.3f s, all succeeded after %.3f s\n", worker_count,
                mode, static_cast<long long>(opts.jobs), result.batch_submit_s, result.batch_total_s);
    std::fflush(stdout);
  }

  // Single path: the same M jobs, one per request, over opts.single_connections connections.
  {
    const auto base = c.counters();
    submitters s(c.http_port(), c.token(), opts.single_connections, static_cast<std::size_t>(opts.jobs), "/api/v1/jobs",
                 [&](std::size_t) -> const std::string& { return single_body; }, 202);
    const auto t0 = clock_type::now();
    s.start();
    const auto done = c.wait_for_succeeded(base.succeeded + static_cast<double>(opts.jobs), [&] { return s.error(); });
    s.join();
    if (auto e = s.error(); !e.empty()) c.fail(e);
    result.single_total_s = seconds_between(t0, done);
    result.single_submit_s = seconds_between(t0, s.finished_at());
    result.single_jobs_per_s = static_cast<double>(opts.jobs) / result.single_total_s;
    std::printf("  %d worker(s) %s single: %lld jobs, accepted in %.3f s, all succeeded after %.3f s\n", worker_count,
                mode, static_cast<long long>(opts.jobs), result.single_submit_s, result.single_total_s);
    std::fflush(stdout);
  }

  // Latency: sequential synchronous round trips on one keep-alive connection.
  {
    http_connection conn(c.http_port(), c.token());
    std::vector<double> ms;
    ms.reserve(latency_samples);
    for (int i = 0; i < latency_warmup + latency_samples; ++i) {
      const auto t0 = clock_type::now();
      auto r = conn.request("POST", "/api/v1/jobs?wait=true&wait_ms=30000", single_body);
      const auto t1 = clock_type::now();
      if (r.status != 200 || r.body.find("\"state\":\"succeeded\"") == std::string::npos)
        c.fail("POST /api/v1/jobs?wait=true answered " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
      if (i >= latency_warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    result.latency = summarize(std::move(ms));
    std::printf("  %d worker(s) %s wait  : %d sequential round trips, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
                worker_count, mode, latency_samples, result.latency.p50, result.latency.p99, result.latency.max);
  }

  const auto end = c.metrics_counters();
  const double expected = 2.0 * static_cast<double>(opts.jobs) + latency_warmup + latency_samples;
  if (end.failed != 0) c.fail("potluck_jobs_total{state=\"failed\"} is " + std::to_string(end.failed));
  if (end.succeeded != expected || end.submitted != expected)
    c.fail("expected " + std::to_string(static_cast<long long>(expected)) + " jobs submitted and succeeded, /metrics says " +
           std::to_string(static_cast<long long>(end.submitted)) + " submitted, " +
           std::to_string(static_cast<long long>(end.succeeded)) + " succeeded");
  c.require_books_balance();
  c.stop();
  return result;
}

// ---- The ceiling: raw ZeroMQ echo through one broker process ---------------------------

// One broker and `worker_count` echo workers; the client's figures. Stops them after.
ceiling_result run_zmq_echo(const options& opts, int worker_count, int credit_per_worker, int warmup, int samples) {
  const auto dir = make_temp_dir("potluck-bench-zmq");
  const auto client_ep = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  const auto worker_ep = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  const auto exe = self_exe().string();
  ceiling_result r;
  {
    child_process broker({exe, "--zmq-broker", client_ep, worker_ep, std::to_string(credit_per_worker)},
                         dir / "broker.log");
    std::vector<std::unique_ptr<child_process>> echoes;
    for (int i = 0; i < worker_count; ++i)
      echoes.push_back(std::make_unique<child_process>(std::vector<std::string>{exe, "--zmq-echo", worker_ep},
                                                       dir / ("echo-" + std::to_string(i + 1) + ".log")));
    try {
      r = run_zmq_client(client_ep, worker_count, opts.jobs, ceiling_window, warmup, samples, startup_deadline);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("ZeroMQ ceiling: ") + e.what() + "\n  broker log: " + broker.log_tail(1000) +
                               "\n  logs kept in " + dir.string());
    }
    for (auto& e : echoes) e->stop(stop_grace);
    broker.stop(stop_grace);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return r;
}

ceiling_row run_ceiling(const options& opts, int worker_count) {
  ceiling_row row;
  auto r = run_zmq_echo(opts, worker_count, 1, latency_warmup, latency_samples);
  row.messages_per_s = r.messages_per_s;
  row.latency = summarize(std::move(r.latencies_ms));
  row.pipelined_messages_per_s = run_zmq_echo(opts, worker_count, pipelined_credit_per_worker, 0, 0).messages_per_s;
  std::printf("  %d worker(s) zmq   : %lld messages at %.0f msg/s (credit 1), %.0f msg/s (credit %d); "
              "sequential p50 %.3f ms, p99 %.3f ms\n",
              worker_count, static_cast<long long>(opts.jobs), row.messages_per_s, row.pipelined_messages_per_s,
              pipelined_credit_per_worker, row.latency.p50, row.latency.p99);
  std::fflush(stdout);
  return row;
}

// ---- The table -------------------------------------------------------------------------

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// `market` is empty (not measured) or one per worker count, like `e2e`.
void print_table(const std::vector<int>& workers, const std::vector<e2e_result>& e2e,
                 const std::vector<e2e_result>& market, const std::vector<ceiling_row>& ceiling) {
  const char* row_format = "%-8s %-7s %-7s %10s %14s %7s %8s %8s %8s %15s %15s\n";
  std::printf("\n");
  std::printf(row_format, "workers", "jobs", "path", "jobs/s", "ceiling msg/s", "ratio", "p50 ms", "p99 ms", "max ms",
              "ceiling p50 ms", "ceiling p99 ms");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const auto w = std::to_string(workers[i]);
    const auto& c = ceiling[i];
    const auto ceil_rate = fmt("%.0f", c.pipelined_messages_per_s);
    for (const auto* r : {&e2e[i], market.empty() ? nullptr : &market[i]}) {
      if (r == nullptr) continue;
      const char* kind = r->market ? "paid" : "free";
      std::printf(row_format, w.c_str(), kind, "batch", fmt("%.0f", r->batch_jobs_per_s).c_str(), ceil_rate.c_str(),
                  fmt("%.1f%%", 100 * r->batch_jobs_per_s / c.pipelined_messages_per_s).c_str(), "", "", "", "", "");
      std::printf(row_format, w.c_str(), kind, "single", fmt("%.0f", r->single_jobs_per_s).c_str(), ceil_rate.c_str(),
                  fmt("%.1f%%", 100 * r->single_jobs_per_s / c.pipelined_messages_per_s).c_str(), "", "", "", "", "");
      // The latency row's ratio is ceiling p50 / p50: the share of the round trip the transport sets.
      std::printf(row_format, w.c_str(), kind, "wait", "", "", fmt("%.1f%%", 100 * c.latency.p50 / r->latency.p50).c_str(),
                  fmt("%.3f", r->latency.p50).c_str(), fmt("%.3f", r->latency.p99).c_str(),
                  fmt("%.3f", r->latency.max).c_str(), fmt("%.3f", c.latency.p50).c_str(),
                  fmt("%.3f", c.latency.p99).c_str());
    }
  }
  std::printf("\nfree = the operator's jobs at no price: no credit moves. paid = a user's jobs bidding 2 credits per\n"
              "million units on donors' workers asking 1: each job reserves, is charged, pays the donor and is\n"
              "refunded in the journal's transactions.\n");

  std::printf("\nceiling msg/s = raw ZeroMQ echo, one broker, each worker holding up to %d requests (as a 1-slot\n"
              "worker holds its job and 8 sent ahead); with 1 request at a time:",
              pipelined_credit_per_worker);
  for (std::size_t i = 0; i < workers.size(); ++i)
    std::printf("%s %d worker(s) %.0f msg/s", i ? "," : "", workers[i], ceiling[i].messages_per_s);
  std::printf("\n");

  std::string line = "target: >= " + fmt("%.0f", target_jobs_per_s) + " jobs/s with " + std::to_string(target_workers) +
                     " workers; p50 < " + fmt("%.1f", target_p50_ms) + " ms\n";
  const auto at = std::find(workers.begin(), workers.end(), target_workers);
  if (at == workers.end()) {
    line += "  throughput: not measured (run with --workers including " + std::to_string(target_workers) + ")\n";
  } else {
    const auto& r = e2e[static_cast<std::size_t>(at - workers.begin())];
    for (auto [path, rate] : {std::pair{"batch ", r.batch_jobs_per_s}, std::pair{"single", r.single_jobs_per_s}})
      line += std::string("  throughput, ") + path + ", " + std::to_string(target_workers) + " workers: " +
              fmt("%.0f", rate) + " jobs/s  " + (rate >= target_jobs_per_s ? "PASS" : "MISS") + "\n";
  }
  for (std::size_t i = 0; i < workers.size(); ++i)
    line += "  latency p50, " + std::to_string(workers[i]) + " worker(s): " + fmt("%.3f", e2e[i].latency.p50) + " ms  " +
            (e2e[i].latency.p50 < target_p50_ms ? "PASS" : "MISS") + "\n";
  if (!market.empty()) {
    line += "target: paid jobs at most " + fmt("%.0f", 100 * market_slowdown_ceiling) + "% slower than free ones\n";
    for (std::size_t i = 0; i < workers.size(); ++i) {
      for (auto [path, free_rate, paid_rate] :
           {std::tuple{"batch ", e2e[i].batch_jobs_per_s, market[i].batch_jobs_per_s},
            std::tuple{"single", e2e[i].single_jobs_per_s, market[i].single_jobs_per_s}}) {
        const double slower = 1.0 - paid_rate / free_rate;
        line += std::string("  ") + path + ", " + std::to_string(workers[i]) + " worker(s): " + fmt("%.0f", paid_rate) +
                " against " + fmt("%.0f", free_rate) + " jobs/s, " + fmt("%+.1f%%", -100 * slower) + "  " +
                (slower <= market_slowdown_ceiling ? "PASS" : "MISS") + "\n";
      }
      line += "  wait p50, " + std::to_string(workers[i]) + " worker(s): " + fmt("%.3f", market[i].latency.p50) +
              " against " + fmt("%.3f", e2e[i].latency.p50) + " ms\n";
    }
  }
  std::printf("\n%s", line.c_str());
}

// ---- Flags -----------------------------------------------------------------------------

constexpr const char* usage = R"(Usage: potluck-e2e-bench [options]

Measures no-op jobs (test.echo) end to end through potluckd and potluck-worker, with a raw
ZeroMQ echo through one broker process as the ceiling, and prints a table.

Options:
  --jobs M          jobs per path and worker count (default 20000); also the ceiling's message count
  --workers LIST    worker counts, comma-separated (default 1,2,4)
  --build-dir DIR   the build tree holding bin/potluckd, bin/potluck-worker, lib/potluck/plugins
                    (default: the folder above this executable's)
  --connections N   clients (keep-alive connections) of the single path (default 32): each has one
                    request in flight, and a job is answered only once committed (fsync), so the
                    single path's rate is at most N / commit time
  --quick           M = 2000 unless --jobs is given (CI smoke run)
  --no-market       only free jobs; by default every count also runs paid jobs (a user's bids,
                    donors' prices, reserve/charge/refund), to measure what the credit path costs
  -h, --help        this help
)";

std::vector<int> parse_workers(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long n = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n < 1 || n > 64) throw std::invalid_argument("--workers takes counts from 1 to 64, like 1,2,4");
    out.push_back(static_cast<int>(n));
  }
  if (out.empty()) throw std::invalid_argument("--workers needs at least one count");
  return out;
}

options parse_options(int argc, char** argv) {
  options o;
  bool jobs_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      std::exit(0);
    } else if (a == "--jobs") {
      const auto v = value();
      char* end = nullptr;
      o.jobs = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || o.jobs < 1) throw std::invalid_argument("--jobs takes a positive integer");
      jobs_given = true;
    } else if (a == "--workers") {
      o.workers = parse_workers(value());
    } else if (a == "--build-dir") {
      o.build_dir = value();
    } else if (a == "--connections") {
      const auto v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 1024) throw std::invalid_argument("--connections takes 1 to 1024");
      o.single_connections = static_cast<int>(n);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--no-market") {
      o.market = false;
    } else {
      throw std::invalid_argument("unknown argument '" + a + "'");
    }
  }
  if (o.quick && !jobs_given) o.jobs = quick_jobs;
  if (o.build_dir.empty()) o.build_dir = self_exe().parent_path().parent_path();
  for (const auto& need : {fs::path("bin/potluckd"), fs::path("bin/potluck-worker"),
                           fs::path("lib/potluck/plugins/libpotluck-testing.so")})
    if (!fs::exists(o.build_dir / need))
      throw std::invalid_argument((o.build_dir / need).string() + " is missing: build it, or pass --build-dir");
  return o;
}

int bench_main(int argc, char** argv) {
  options opts;
  try {
    opts = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "potluck-e2e-bench: " << e.what() << "\nTry 'potluck-e2e-bench --help'.\n";
    return 2;
  }
  install_cleanup_on_signal();
  std::string list;
  for (auto w : opts.workers) list += (list.empty() ? "" : ",") + std::to_string(w);
  std::printf("potluck-e2e-bench: %lld jobs per path, workers %s, build %s\n", static_cast<long long>(opts.jobs),
              list.c_str(), fs::weakly_canonical(opts.build_dir).c_str());
  std::printf("load average before (/proc/loadavg): %s; %u CPUs\n", read_loadavg().c_str(),
              std::thread::hardware_concurrency());
  std::printf("batch: %d jobs/request over %d connections; single: one job/request over %d connections; "
              "wait: %d sequential ?wait=true after %d warm-up; ceiling window %d\n",
              batch_jobs_per_request, batch_connections, opts.single_connections, latency_samples, latency_warmup,
              ceiling_window);
  std::fflush(stdout);

  std::vector<e2e_result> e2e, market;
  std::vector<ceiling_row> ceiling;
  try {
    for (int w : opts.workers) {
      e2e.push_back(run_e2e(opts, w, false));
      if (opts.market) market.push_back(run_e2e(opts, w, true));
      ceiling.push_back(run_ceiling(opts, w));
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "potluck-e2e-bench: FAILED: " << e.what() << "\n";
    return 1;
  }
  print_table(opts.workers, e2e, market, ceiling);
  std::printf("load average after: %s\n", read_loadavg().c_str());
  return 0;
}

}  // namespace
}  // namespace potluck::bench

int main(int argc, char** argv) {
  using namespace potluck::bench;
  try {
    if (argc == 5 && std::strcmp(argv[1], "--zmq-broker") == 0) return run_zmq_broker(argv[2], argv[3], std::atoi(argv[4]));
    if (argc == 3 && std::strcmp(argv[1], "--zmq-echo") == 0) return run_zmq_echo_worker(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "potluck-e2e-bench " << argv[1] << ": " << e.what() << "\n";
    return 1;
  }
  return bench_main(argc, argv);
}
