// The supervisor's poll loop: daemon link (hello, heartbeats, reconnects), job routing to
// runners, the crash firewall (a dead runner fails its job and restarts) and graceful shutdown.
//
// Ownership: the supervisor owns both sockets, every runner child (it alone spawns, signals and
// reaps them) and the runtime folder holding the runners' ipc endpoint. JOB tensor frames are
// never copied: a job keeps its frames until it is answered, and what goes to a runner are zmq
// copies sharing the same buffers (so a job its runner did not run can go to another).
//
// The daemon link (state x event -> action -> next state):
//   waiting_for_runners x first runner hello      -> send HELLO                    -> connecting
//   connecting          x HELLO not sent / 1 s    -> send HELLO again              -> connecting
//   connecting          x WELCOME                 -> take the heartbeat interval   -> registered
//   any but closed      x DISCONNECT              -> drop jobs, back off           -> backing_off
//   registered          x 3 silent intervals      -> drop jobs, close the socket   -> backing_off
//   registered          x a reply cannot be sent  -> drop jobs, close the socket   -> backing_off
//   registered          x WELCOME                 -> drop jobs (fresh registration) -> registered
//   backing_off         x back-off elapsed        -> (new socket) send HELLO       -> connecting
//   any                 x end of the grace period -> RETURNED, DISCONNECT          -> closed
// "Drop jobs": the daemon no longer counts them; they are cancelled here, replies discarded.
#include "workers/supervisor.hpp"

#include "potluck/protocol/wire.hpp"
#include "workers/devices.hpp"
#include "workers/model_cache.hpp"
#include "workers/worker_common.hpp"

#include <boost/json.hpp>

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <utility>

extern char** environ;

namespace potluck::worker {
namespace {

namespace json = boost::json;
namespace proto = potluck::protocol;
using proto::command;
using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr auto hello_resend_interval = 1000ms;  // no WELCOME yet: the daemon may not be up
constexpr auto hello_unsent_retry_first = 50ms;  // HELLO not sent (no connection yet): retry
                                                 // soon, then less often up to the resend interval
constexpr auto hello_quiet_warning_first = 10s;  // "still no answer" is logged after this,
constexpr auto hello_quiet_warning_max = 300s;   // then at doubling intervals up to this
constexpr auto reconnect_backoff_first = 100ms;
constexpr auto reconnect_backoff_max = 5000ms;
constexpr auto runner_restart_backoff_first = 100ms;
constexpr auto runner_restart_backoff_max = 10000ms;
constexpr auto runner_start_timeout = 60s;
constexpr auto runner_stop_timeout = 3000ms;
constexpr auto clean_exit_reply_wait = 250ms;
// A runner busy with a short job is sent the next ones ahead (it starts them in order) so it
// never waits for a round trip between jobs: "short" is a measured run time under this. 10 ms
// covers a small model's batch (a round trip costs a tenth of a word-lang batch of 64), while
// a job sent ahead waits at most 4 x 10 ms behind the others.
constexpr std::size_t runner_ahead_max = 4;
constexpr double ahead_max_run_us = 10000;
constexpr double run_average_weight = 0.2;  // of the newest sample in run_us_average_
constexpr auto default_heartbeat_interval = 1000ms;
constexpr auto min_heartbeat_interval = 10ms;
constexpr auto max_heartbeat_interval = 600000ms;
constexpr int heartbeat_liveness = 3;  // silent intervals before the daemon counts as dead
constexpr auto daemon_linger_at_exit = 2000ms;
constexpr auto max_poll_wait = 1000ms;
constexpr std::size_t max_messages_per_round = 256;
constexpr std::size_t max_total_slots = 256;

enum class job_owner {
  daemon,  // the current registration's: its reply goes to the daemon
  lost,    // its registration is gone or it was already RETURNED: the reply is dropped
};

struct job_record {
  std::int64_t id = 0;
  std::string task, backend;
  std::string model;  // "owner/name@revision" of a job for a model of the hub; "" otherwise
  job_owner owner = job_owner::daemon;
  bool cancel_requested = false;
  std::optional<clock::time_point> kill_at;  // the runner is killed if the job still runs then
  std::optional<clock::time_point> verdict_at;  // its runner exited cleanly: the reply has until then
  std::string runner_exit;                   // how its runner ended, once it did
  bool runner_exit_clean = false;            // ... with status 0: it never started this job
  clock::time_point started{};
  std::vector<zmq::message_t> frames;        // the JOB's frames, kept until it is answered: a job
                                             // its runner never started goes to another one
};

enum class runner_phase {
  down,      // no process; restart_at says when to start one
  starting,  // spawned, its hello not yet received
  ready,     // takes jobs
  stopping,  // told to stop at shutdown
};

struct runner_slot {
  std::size_t index = 0;
  std::string backend;      // "cpu" or "cuda"
  int device = -1;          // -1 or the GPU ordinal
  std::string device_name;  // "cpu", "cuda:0"
  std::string routing_id;
  std::filesystem::path load_marker;  // names the plugin file the runner is loading
  pid_t pid = -1;
  runner_phase phase = runner_phase::down;
  clock::time_point started_at{}, restart_at{};
  ms restart_backoff{0};
  bool kill_sent = false;
  bool retiring = false;  // said "runner stopping": takes no more jobs until it is restarted
  std::optional<job_record> running;  // sent to the runner
  std::deque<job_record> ahead;       // sent to the runner after `running`, which starts them in order
  std::optional<job_record> queued;   // waits until the runner is up and idle
  std::map<std::pair<std::string, std::string>, std::string> plugin_of_task;  // (task, backend)
};

enum class link_state {
  waiting_for_runners,  // no runner hello yet: nothing to declare
  connecting,           // HELLO sent (or being retried), no WELCOME yet
  registered,
  backing_off,          // lost the daemon or told to go away; HELLO again at reconnect_at_
  closed,               // shut down
};

enum class delivery { may_drop, must_deliver };
enum class socket_policy { keep, renew };

std::string job_label(const job_record& j) { return "job " + std::to_string(j.id) + " " + j.task; }

class supervisor {
 public:
  supervisor(const supervisor_config& config, std::shared_ptr<spdlog::logger> log)
      : config_(config), log_(std::move(log)), runners_socket_(context_, zmq::socket_type::router),
        rng_(std::random_device{}()) {}
  // Only reached with runners alive when run() threw: no child and no folder outlives us.
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  int run();

 private:
  // Setup and teardown.
  void make_runtime_dir();
  void remove_runtime_dir();
  void detect_devices();
  void add_runner(const std::string& backend, int device);

  // Runners.
  void spawn(runner_slot& r, clock::time_point now);
  void reap_runners(clock::time_point now);
  void on_runner_exit(runner_slot& r, int wait_status, clock::time_point now);
  void on_runner_message(std::vector<zmq::message_t>&& frames, clock::time_point now);
  void on_runner_hello(runner_slot& r, const json::object& header, clock::time_point now);
  void on_runner_reply(runner_slot& r, proto::message&& m, clock::time_point now);
  void start_job(runner_slot& r, job_record&& job, clock::time_point now);
  void feed_from_backlog(runner_slot& r, clock::time_point now);
  void return_backlog(const std::string& backend, const std::string& reason, clock::time_point now);
  void run_elsewhere(job_record&& job, clock::time_point now);
  bool send_to_runner(runner_slot& r, std::vector<zmq::message_t>& frames);
  void cancel_on_runner(runner_slot& r, clock::time_point now);
  void kill_runner(runner_slot& r, const std::string& why);
  // The runner running r.running is gone without a reply: the job failed (or was cancelled).
  void settle_job_of_dead_runner(runner_slot& r, clock::time_point now);
  std::string plugin_for(const runner_slot& r, const job_record& j) const;

  // Daemon link.
  void open_daemon_socket();
  void close_daemon_socket(ms linger);
  void send_hello(clock::time_point now);
  bool send_to_daemon(std::vector<zmq::message_t> frames, delivery d, clock::time_point now);
  void reply(std::int64_t job_id, command cmd, json::object header, clock::time_point now);
  void on_daemon_message(std::vector<zmq::message_t>&& frames, clock::time_point now);
  void on_welcome(const json::object& header, clock::time_point now);
  void on_job(proto::message&& m, clock::time_point now);
  void route_job(job_record&& job, clock::time_point now);
  // Models: a job whose model's files are not all here (and sound) waits for the fetcher.
  void on_models_fetched(clock::time_point now);
  void report_models(clock::time_point now);
  std::set<std::string> models_in_use() const;
  std::string hub_url() const;
  void on_cancel(const json::object& header, clock::time_point now);
  void lose_registration(const std::string& why, socket_policy policy, clock::time_point now);
  void drop_daemon_jobs(const std::string& why, clock::time_point now);
  ms jittered(ms base);

  // Timers and shutdown.
  void on_timers(clock::time_point now);
  clock::time_point next_wakeup(clock::time_point now) const;
  void begin_shutdown(clock::time_point now);
  void advance_shutdown(clock::time_point now);
  std::size_t daemon_jobs_running() const;

  supervisor_config config_;
  std::shared_ptr<spdlog::logger> log_;
  zmq::context_t context_{1};
  std::optional<zmq::socket_t> daemon_;
  zmq::socket_t runners_socket_;
  std::filesystem::path runtime_dir_;
  std::string runners_endpoint_;
  std::vector<std::unique_ptr<runner_slot>> runners_;
  // Jobs the daemon sent ahead of a free runner (HELLO's "prefetch"), oldest first. Only the
  // current registration's; the first runner of their backend to be free takes the next.
  std::deque<job_record> backlog_;
  std::map<std::pair<std::string, std::string>, double> run_us_average_;  // (task, backend), from RESULTs
  bool is_short(const job_record& j) const {
    auto it = run_us_average_.find({j.task, j.backend});
    return it != run_us_average_.end() && it->second < ahead_max_run_us;
  }
  std::map<std::string, runner_slot*> runner_by_id_;

  // Jobs waiting for their model's files, by model id: the JOB's header and tensor frames, to
  // send on with the model's folder once the fetcher made it.
  struct model_wait {
    job_record job;
    json::object header;
    std::vector<zmq::message_t> payload;
  };
  std::map<std::string, std::vector<model_wait>> awaiting_model_;
  std::unique_ptr<model_cache> cache_;
  std::unique_ptr<model_fetcher> fetcher_;
  int fetched_fd_ = -1;  // an eventfd the fetcher writes when it queued an outcome
  std::mutex fetched_mutex_;
  std::vector<model_fetcher::outcome> fetched_;
  std::string welcome_hub_url_;                // as the daemon's WELCOME said
  std::vector<std::string> models_reported_;  // as last told to the daemon
  bool cache_has_pins_ = true;                // the cache's in-use set may be non-empty

  cpu_info cpu_;
  gpu_detection gpus_;

  // Plugin files that crashed a runner while loading: later runners leave them out.
  std::vector<std::string> skipped_plugins_;
  // From the first runner hello: what this worker declares.
  bool have_plugins_ = false;
  json::array plugins_, load_errors_;
  std::set<std::pair<std::string, std::string>> declared_tasks_;

  link_state state_ = link_state::waiting_for_runners;
  std::string worker_id_;
  ms heartbeat_interval_ = default_heartbeat_interval;
  clock::time_point last_sent_{}, last_received_{}, hello_due_{}, reconnect_at_{};
  clock::time_point connecting_since_{}, next_quiet_warning_{};
  std::string curve_public_, curve_secret_;  // this process's key pair for an encrypted link
  std::chrono::seconds quiet_warning_interval_ = hello_quiet_warning_first;
  ms reconnect_backoff_ = reconnect_backoff_first;
  ms hello_unsent_retry_ = hello_unsent_retry_first;
  std::uint64_t bad_messages_ = 0;

  bool shutting_down_ = false, finishing_ = false, done_ = false;
  clock::time_point grace_deadline_{}, stop_deadline_{};

  std::minstd_rand rng_;
};

// ---------------------------------------------------------------------------------------------
// Setup

supervisor::~supervisor() {
  for (auto& r : runners_) {
    if (r->pid <= 0) continue;
    ::kill(r->pid, SIGKILL);
    int status = 0;
    while (::waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  remove_runtime_dir();
}

// Folders left by workers that were killed with SIGKILL: potluck-worker-<pid> of ours whose
// process is gone.
void remove_stale_runtime_dirs(const std::filesystem::path& parent) {
  constexpr std::string_view prefix = "potluck-worker-";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (!name.starts_with(prefix) || name.size() == prefix.size()) continue;
    const auto digits = std::string_view(name).substr(prefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) || digits.size() > 9)
      continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) continue;
    const auto pid = static_cast<pid_t>(std::stol(std::string(digits)));
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    std::error_code remove_ec;
    std::filesystem::remove_all(it->path(), remove_ec);
  }
}

void supervisor::make_runtime_dir() {
  remove_stale_runtime_dirs(config_.runtime_parent_dir);
  runtime_dir_ = config_.runtime_parent_dir / ("potluck-worker-" + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir_, ec);  // a stale one from a process with our pid
  std::filesystem::create_directories(runtime_dir_, ec);
  if (ec) throw std::runtime_error("cannot create " + runtime_dir_.string() + ": " + ec.message());
  std::filesystem::permissions(runtime_dir_, std::filesystem::perms::owner_all, ec);
  const auto path = (runtime_dir_ / "runners").string();
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    throw std::runtime_error("the runner socket path " + path + " is too long for ipc; set TMPDIR to a shorter folder");
  runners_endpoint_ = "ipc://" + path;
}

void supervisor::remove_runtime_dir() {
  std::error_code ec;
  if (!runtime_dir_.empty()) std::filesystem::remove_all(runtime_dir_, ec);
}

void supervisor::detect_devices() {
  cpu_ = detect_cpu();
  log_->info("cpu: {}, {} logical cores, {} MiB memory", cpu_.model, cpu_.cores, cpu_.memory_bytes >> 20);
  if (config_.gpus == gpu_mode::none) {
    log_->info("GPUs disabled by --gpus none");
    return;
  }
  gpus_ = detect_gpus();
  if (gpus_.gpus.empty()) {
    log_->info("no NVIDIA GPU: {}", gpus_.note);
    return;
  }
  if (config_.gpus == gpu_mode::some) {
    // Only the GPUs the donor lent; a listed index the machine lacks is named, not fatal (a
    // GPU may be out for repair).
    for (const int index : config_.gpu_indices) {
      if (std::none_of(gpus_.gpus.begin(), gpus_.gpus.end(), [&](const auto& g) { return g.index == index; }))
        log_->warn("--gpus names GPU {}, which this machine does not have", index);
    }
    std::erase_if(gpus_.gpus, [&](const auto& g) {
      const bool lent = std::find(config_.gpu_indices.begin(), config_.gpu_indices.end(), g.index) !=
                        config_.gpu_indices.end();
      if (!lent) log_->info("gpu {} ({}) is not lent (--gpus)", g.index, g.name);
      return !lent;
    });
  }
  for (const auto& g : gpus_.gpus)
    log_->info("gpu {}: {}, {} MiB memory (found through {})", g.index, g.name, g.memory_bytes >> 20, gpus_.source);
}

void supervisor::add_runner(const std::string& backend, int device) {
  auto r = std::make_unique<runner_slot>();
  r->index = runners_.size();
  r->backend = backend;
  r->device = device;
  r->device_name = device < 0 ? "cpu" : "cuda:" + std::to_string(device);
  r->routing_id = runner_routing_id(r->index);
  r->load_marker = runtime_dir_ / (r->routing_id + ".loading");
  runner_by_id_[r->routing_id] = r.get();
  runners_.push_back(std::move(r));
}

// ---------------------------------------------------------------------------------------------
// Runners

void supervisor::spawn(runner_slot& r, clock::time_point now) {
  std::vector<std::string> args = {config_.runner_executable.string(),
                                         "--runner",
                                         "--slot", std::to_string(r.index),
                                         "--backend", r.backend,
                                         "--device", std::to_string(r.device),
                                         "--endpoint", runners_endpoint_,
                                         "--plugins", config_.plugin_dir.string(),
                                         "--name", config_.name,
                                         "--log-level", config_.log_level,
                                         "--load-marker", r.load_marker.string()};
  for (const auto& file : skipped_plugins_) {
    args.push_back("--skip-plugin");
    args.push_back(file);
  }
  std::error_code ec;
  std::filesystem::remove(r.load_marker, ec);
  // GPU ordinals as NVML counts them (PCI order), which is what the hello declares.
  std::vector<std::string> env;
  bool has_device_order = false;
  for (char** e = environ; e && *e; ++e) {
    env.emplace_back(*e);
    if (env.back().rfind("CUDA_DEVICE_ORDER=", 0) == 0) has_device_order = true;
  }
  if (!has_device_order) env.emplace_back("CUDA_DEVICE_ORDER=PCI_BUS_ID");
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // Signals stay blocked across fork so that no handler of ours runs in the child (it would
  // write into our signal pipe); the child resets them before exec.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the runner dies with the supervisor, even on kill -9
    if (::getppid() != parent) ::_exit(127);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s : {SIGTERM, SIGINT, SIGCHLD}) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    r.restart_backoff = std::min<ms>(std::max(r.restart_backoff * 2, ms(runner_restart_backoff_first)),
                                     runner_restart_backoff_max);
    r.restart_at = now + r.restart_backoff;
    log_->error("cannot start runner {}: fork failed: {}; retrying in {} ms", r.routing_id,
                std::strerror(fork_errno), r.restart_backoff.count());
    return;
  }
  r.pid = pid;
  r.phase = runner_phase::starting;
  r.started_at = now;
  r.kill_sent = false;
  r.retiring = false;
  log_->debug("runner {} ({} {}) started as pid {}", r.routing_id, r.backend, r.device_name, pid);
}

void supervisor::reap_runners(clock::time_point now) {
  for (auto& r : runners_) {
    if (r->pid <= 0) continue;
    int status = 0;
    const pid_t got = ::waitpid(r->pid, &status, WNOHANG);
    if (got == r->pid) on_runner_exit(*r, status, now);
  }
}

std::string supervisor::plugin_for(const runner_slot& r, const job_record& j) const {
  if (auto it = r.plugin_of_task.find({j.task, j.backend}); it != r.plugin_of_task.end()) return it->second;
  for (const auto& other : runners_)
    if (auto it = other->plugin_of_task.find({j.task, j.backend}); it != other->plugin_of_task.end()) return it->second;
  return "unknown";
}

void supervisor::on_runner_exit(runner_slot& r, int wait_status, clock::time_point now) {
  const auto how = describe_wait_status(wait_status);
  const bool was_ready = r.phase == runner_phase::ready;
  const bool was_stopping = r.phase == runner_phase::stopping;
  r.pid = -1;
  r.phase = runner_phase::down;
  if (was_stopping) {
    log_->debug("runner {} stopped ({})", r.routing_id, how);
    return;
  }
  if (r.running) {
    r.running->kill_at.reset();  // for the dead runner only, never its successor
    r.running->runner_exit = how;
    r.running->runner_exit_clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
    if ((WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) || !r.ahead.empty()) {
      // A runner exits cleanly only after its last reply, which may still be on its way
      // through the ipc socket: wait a moment for it before judging the job. So too when it
      // held jobs ahead: the job that killed it may be one of those, after replies in flight.
      r.running->verdict_at = now + clean_exit_reply_wait;
    } else {
      settle_job_of_dead_runner(r, now);
    }
  }
  if (shutting_down_) {
    r.restart_at = clock::time_point::max();
    if (r.queued && r.queued->owner == job_owner::daemon)
      reply(r.queued->id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
    r.queued.reset();
    log_->warn("runner {} {} during shutdown", r.routing_id, how);
    return;
  }
  if (was_ready) {
    r.restart_backoff = ms(0);
    r.restart_at = now;
    log_->warn("runner {} {}; restarting it", r.routing_id, how);
    return;
  }
  // Died before its hello. When the load marker names a plugin file, that plugin killed it:
  // leave it out from now on (its neighbours still load) and restart at once.
  std::string culprit;
  {
    std::ifstream marker(r.load_marker);
    if (marker) std::getline(marker, culprit);
    std::error_code ec;
    std::filesystem::remove(r.load_marker, ec);
  }
  if (!culprit.empty() && std::find(skipped_plugins_.begin(), skipped_plugins_.end(), culprit) == skipped_plugins_.end()) {
    skipped_plugins_.push_back(culprit);
    r.restart_at = now;
    log_->error("plugin {} made runner {} die while loading it ({}); it is skipped from now on", culprit,
                r.routing_id, how);
    return;  // a queued job waits for the next runner
  }
  // Otherwise (a bad plugin folder, exec failing) back off.
  r.restart_backoff = std::min<ms>(std::max(r.restart_backoff * 2, ms(runner_restart_backoff_first)),
                                   runner_restart_backoff_max);
  r.restart_at = now + r.restart_backoff;
  log_->error("runner {} {} while starting (loading the plugins in {}); restarting in {} ms", r.routing_id, how,
              config_.plugin_dir.string(), r.restart_backoff.count());
  if (r.queued && r.queued->owner == job_owner::daemon) {
    log_->warn("{}: returned to the daemon: runner {} cannot start", job_label(*r.queued), r.routing_id);
    reply(r.queued->id, command::returned,
          json::object{{"reason", "runner " + r.routing_id + " cannot start: " + how}}, now);
  }
  r.queued.reset();
  const bool other_runner = std::any_of(runners_.begin(), runners_.end(), [&](const auto& o) {
    return o.get() != &r && o->backend == r.backend &&
           (o->phase == runner_phase::ready || o->phase == runner_phase::starting);
  });
  if (!other_runner) return_backlog(r.backend, "runner " + r.routing_id + " cannot start: " + how, now);
}

void supervisor::settle_job_of_dead_runner(runner_slot& r, clock::time_point now) {
  auto job = std::move(*r.running);
  r.running.reset();
  // The jobs it held ahead never started: they wait for the next free runner, in order.
  while (!r.ahead.empty()) {
    auto next = std::move(r.ahead.back());
    r.ahead.pop_back();
    run_elsewhere(std::move(next), now);
  }
  if (job.owner == job_owner::daemon && !job.cancel_requested && (job.runner_exit_clean || r.kill_sent)) {
    // A runner exits cleanly only with no job at hand, and one killed by us was killed for a
    // job that was cancelled, not this one: this job did not fail.
    run_elsewhere(std::move(job), now);
  } else if (job.owner == job_owner::daemon) {
    if (job.cancel_requested) {
      log_->info("{}: cancelled (runner {} {})", job_label(job), r.routing_id, job.runner_exit);
      reply(job.id, command::cancelled, {}, now);
    } else {
      const auto message = "plugin '" + plugin_for(r, job) + "' crashed running task '" + job.task + "': runner " +
                           job.runner_exit;
      log_->error("{}: {}", job_label(job), message);
      reply(job.id, command::failed, json::object{{"code", "plugin_crashed"}, {"message", message}}, now);
    }
  } else {
    log_->info("{}: runner {} {} while the job was being dropped", job_label(job), r.routing_id, job.runner_exit);
  }
  for (auto& other : runners_)
    if (other.get() != &r) feed_from_backlog(*other, now);
  if (r.queued && !r.running && r.phase == runner_phase::ready) {
    auto next = std::move(*r.queued);
    r.queued.reset();
    start_job(r, std::move(next), now);
  }
  feed_from_backlog(r, now);
}

void supervisor::kill_runner(runner_slot& r, const std::string& why) {
  if (r.pid <= 0 || r.kill_sent) return;
  log_->warn("killing runner {} (pid {}): {}", r.routing_id, r.pid, why);
  ::kill(r.pid, SIGKILL);
  r.kill_sent = true;
}

bool supervisor::send_to_runner(runner_slot& r, std::vector<zmq::message_t>& frames) {
  std::vector<zmq::message_t> out;
  out.reserve(frames.size() + 1);
  out.emplace_back(r.routing_id.data(), r.routing_id.size());
  for (auto& f : frames) out.push_back(std::move(f));
  bool sent = false;
  try {
    sent = proto::send_all(runners_socket_, out, true);
  } catch (const zmq::error_t& e) {
    log_->warn("cannot send to runner {}: {}", r.routing_id, e.what());
  }
  if (!sent) {  // nothing went out: give the frames back
    frames.clear();
    for (std::size_t i = 1; i < out.size(); ++i) frames.push_back(std::move(out[i]));
  }
  return sent;
}

// Copies of a job's frames (zmq copies share the buffers) to send while the job keeps its own.
std::vector<zmq::message_t> shared_copy(std::vector<zmq::message_t>& frames) {
  std::vector<zmq::message_t> out(frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) out[i].copy(frames[i]);
  return out;
}

void supervisor::start_job(runner_slot& r, job_record&& job, clock::time_point now) {
  auto frames = shared_copy(job.frames);
  if (!send_to_runner(r, frames)) {
    // The runner is unreachable (it is probably dying): keep the job for its successor.
    r.queued = std::move(job);
    kill_runner(r, "it does not take messages");
    return;
  }
  job.started = now;
  log_->debug("{}: running on {} ({})", job_label(job), r.routing_id, r.device_name);
  r.running = std::move(job);
}

void supervisor::feed_from_backlog(runner_slot& r, clock::time_point now) {
  if (r.phase != runner_phase::ready || r.queued || shutting_down_ || r.kill_sent || r.retiring) return;
  if (!r.running) {
    for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
      if (it->backend != r.backend) continue;
      auto job = std::move(*it);
      backlog_.erase(it);
      start_job(r, std::move(job), now);
      break;
    }
  }
  // Behind a short job, send short ones ahead. They keep their frames (shared, not copied):
  // if the runner dies before starting them they go back to the backlog.
  while (r.running && r.running->runner_exit.empty() && !r.running->cancel_requested && is_short(*r.running) &&
         r.ahead.size() < runner_ahead_max) {
    auto it = std::find_if(backlog_.begin(), backlog_.end(),
                           [&](const job_record& j) { return j.backend == r.backend && is_short(j); });
    if (it == backlog_.end()) return;
    auto frames = shared_copy(it->frames);
    if (!send_to_runner(r, frames)) return;
    r.ahead.push_back(std::move(*it));
    backlog_.erase(it);
  }
}

void supervisor::return_backlog(const std::string& backend, const std::string& reason, clock::time_point now) {
  // reply() may lose the registration, which empties backlog_: work on what was taken out.
  std::deque<job_record> taken;
  for (auto it = backlog_.begin(); it != backlog_.end();) {
    if (!backend.empty() && it->backend != backend) {
      ++it;
      continue;
    }
    taken.push_back(std::move(*it));
    it = backlog_.erase(it);
  }
  for (const auto& job : taken) {
    if (state_ != link_state::registered) break;  // the registration is gone: no reply is due
    log_->info("{}: returned to the daemon before it started: {}", job_label(job), reason);
    reply(job.id, command::returned, json::object{{"reason", reason}}, now);
  }
}

// A job its runner did not run (it said "runner stopping", exited cleanly without answering,
// or was killed by us for another job): it goes first in the backlog, or back to the daemon
// when this worker is shutting down.
void supervisor::run_elsewhere(job_record&& job, clock::time_point now) {
  if (job.owner != job_owner::daemon) return;
  if (job.cancel_requested) return reply(job.id, command::cancelled, {}, now);
  if (shutting_down_) {
    log_->info("{}: returned to the daemon: the worker is shutting down", job_label(job));
    return reply(job.id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
  }
  log_->info("{}: not run by its runner; waits for another", job_label(job));
  job.kill_at.reset();
  job.verdict_at.reset();
  job.runner_exit.clear();
  job.runner_exit_clean = false;
  backlog_.push_front(std::move(job));
}

void supervisor::cancel_on_runner(runner_slot& r, clock::time_point now) {
  auto& job = *r.running;
  job.cancel_requested = true;
  if (!job.runner_exit.empty()) return;  // its runner is gone already: nothing to stop
  if (!job.kill_at) job.kill_at = now + config_.grace;
  auto frames = proto::encode(command::cancel, json::object{{"job_id", job.id}});
  (void)send_to_runner(r, frames);  // if it is unreachable, kill_at still ends the job
}

void supervisor::on_runner_message(std::vector<zmq::message_t>&& frames, clock::time_point now) {
  if (frames.empty()) return;
  const auto id = frames.front().to_string();
  auto it = runner_by_id_.find(id);
  if (it == runner_by_id_.end()) {
    log_->warn("dropped a message from unknown runner '{}'", id);
    return;
  }
  auto& r = *it->second;
  frames.erase(frames.begin());
  proto::message m;
  try {
    m = proto::decode(std::move(frames));
  } catch (const proto::protocol_error& e) {
    log_->warn("dropped a bad message from runner {}: {}", r.routing_id, e.what());
    return;
  }
  switch (m.cmd) {
    case command::hello:
      return on_runner_hello(r, m.header, now);
    case command::progress: {
      const auto job_id = header_int(m.header, "job_id");
      if (!r.running || !job_id || *job_id != r.running->id) return;
      if (r.running->owner != job_owner::daemon || state_ != link_state::registered) return;
      (void)send_to_daemon(proto::encode(command::progress, m.header, std::move(m.payload)), delivery::may_drop, now);
      return;
    }
    case command::result:
    case command::failed:
    case command::cancelled:
    case command::returned:
      return on_runner_reply(r, std::move(m), now);
    default:
      log_->warn("dropped an unexpected {} message from runner {}", proto::command_name(m.cmd), r.routing_id);
  }
}

void supervisor::on_runner_hello(runner_slot& r, const json::object& header, clock::time_point now) {
  if (r.phase == runner_phase::stopping) return;
  r.phase = runner_phase::ready;
  r.restart_backoff = ms(0);
  r.plugin_of_task.clear();
  const auto* plugins = header.if_contains("plugins");
  if (plugins && plugins->is_array()) {
    for (const auto& p : plugins->as_array()) {
      if (!p.is_object()) continue;
      const auto plugin_name = header_string(p.as_object(), "name");
      const auto* tasks = p.as_object().if_contains("tasks");
      if (!tasks || !tasks->is_array()) continue;
      for (const auto& t : tasks->as_array())
        if (t.is_object())
          r.plugin_of_task[{header_string(t.as_object(), "name"), header_string(t.as_object(), "backend")}] = plugin_name;
    }
  }
  log_->debug("runner {} ready (pid {})", r.routing_id, r.pid);

  if (!have_plugins_) {
    have_plugins_ = true;
    if (plugins && plugins->is_array()) plugins_ = plugins->as_array();
    if (const auto* errors = header.if_contains("load_errors"); errors && errors->is_array()) load_errors_ = errors->as_array();
    for (const auto& e : load_errors_)
      if (e.is_string()) log_->warn("plugin not loaded: {}", std::string_view(e.as_string()));
    bool offers_cuda = false;
    for (const auto& [key, plugin] : r.plugin_of_task) {
      declared_tasks_.insert(key);
      if (key.second == "cuda") offers_cuda = true;
    }
    for (const auto& p : plugins_) {
      if (!p.is_object()) continue;
      const auto& o = p.as_object();
      const auto* tasks = o.if_contains("tasks");
      log_->info("plugin {} {} from {}: {} task(s)", header_string(o, "name"), header_string(o, "version"),
                 header_string(o, "file"), tasks && tasks->is_array() ? tasks->as_array().size() : 0);
    }
    if (plugins_.empty()) log_->warn("no plugin loaded from {}: this worker offers no task", config_.plugin_dir.string());
    if (!gpus_.gpus.empty()) {
      if (!offers_cuda) {
        log_->info("{} GPU(s) found but no loaded plugin offers a cuda task: no GPU slot", gpus_.gpus.size());
      } else {
        for (const auto& g : gpus_.gpus) {
          if (runners_.size() >= max_total_slots) {
            log_->warn("gpu {} left out: at most {} slots", g.index, max_total_slots);
            continue;
          }
          add_runner("cuda", g.index);
          spawn(*runners_.back(), now);
        }
      }
    }
    log_->info("connecting to the daemon at {}", config_.daemon_endpoint);
    send_hello(now);
  }
  if (r.queued && !r.running) {
    auto job = std::move(*r.queued);
    r.queued.reset();
    start_job(r, std::move(job), now);
  }
  feed_from_backlog(r, now);
}

void supervisor::on_runner_reply(runner_slot& r, proto::message&& m, clock::time_point now) {
  const auto job_id = header_int(m.header, "job_id");
  job_record job;
  if (r.running && job_id && *job_id == r.running->id) {
    job = std::move(*r.running);
    r.running.reset();
    if (!r.ahead.empty() && r.kill_sent) {
      // We are killing this runner (for a cancelled job that did not stop): whatever it held
      // ahead runs elsewhere.
      while (!r.ahead.empty()) {
        auto next = std::move(r.ahead.back());
        r.ahead.pop_back();
        run_elsewhere(std::move(next), now);
      }
    } else if (!r.ahead.empty()) {
      // The runner went on with the next job it holds.
      r.running = std::move(r.ahead.front());
      r.ahead.pop_front();
      r.running->started = now;
      r.running->runner_exit = job.runner_exit;  // set when the runner is gone already
      r.running->runner_exit_clean = job.runner_exit_clean;
      r.running->verdict_at = job.verdict_at;
      if (r.running->cancel_requested && !r.running->kill_at && r.running->runner_exit.empty())
        r.running->kill_at = now + config_.grace;
    }
  } else {
    auto it = std::find_if(r.ahead.begin(), r.ahead.end(), [&](const job_record& j) { return job_id && j.id == *job_id; });
    if (it == r.ahead.end()) {
      log_->debug("dropped a stale {} from runner {}", proto::command_name(m.cmd), r.routing_id);
      return;
    }
    job = std::move(*it);  // cancelled or handed back before it started
    r.ahead.erase(it);
  }
  if (m.cmd == command::result) {
    if (const auto us = header_int(m.header, "elapsed_us"); us && *us >= 0) {
      auto [avg, fresh] = run_us_average_.try_emplace({job.task, job.backend}, static_cast<double>(*us));
      if (!fresh) avg->second += run_average_weight * (static_cast<double>(*us) - avg->second);
    }
  }
  if (m.cmd == command::returned && !shutting_down_ && job.owner == job_owner::daemon) {
    // Only a runner that is stopping hands a job back (a runner-only SIGTERM, or DISCONNECT):
    // it gets no more jobs until it is restarted, and the job goes to another runner.
    log_->info("{}: handed back by {}: {}", job_label(job), r.routing_id, header_string(m.header, "reason"));
    r.retiring = true;
    run_elsewhere(std::move(job), now);
    for (auto& other : runners_)
      if (other.get() != &r) feed_from_backlog(*other, now);
    return;
  }
  const auto elapsed_ms = std::chrono::duration_cast<ms>(now - job.started).count();
  switch (m.cmd) {
    case command::result:
      log_->info("{}: succeeded in {} ms on {}", job_label(job), elapsed_ms, r.routing_id);
      break;
    case command::failed:
      log_->info("{}: failed ({}): {}", job_label(job), header_string(m.header, "code"), header_string(m.header, "message"));
      break;
    case command::cancelled:
      log_->info("{}: cancelled after {} ms", job_label(job), elapsed_ms);
      break;
    default:
      log_->info("{}: handed back by {}: {}", job_label(job), r.routing_id, header_string(m.header, "reason"));
  }
  if (job.owner == job_owner::daemon) {
    (void)send_to_daemon(proto::encode(m.cmd, m.header, std::move(m.payload)), delivery::must_deliver, now);
  } else {
    log_->debug("{}: reply dropped (its registration is gone or it was returned)", job_label(job));
  }
  if (r.queued && !r.running && r.phase == runner_phase::ready && !r.kill_sent && !r.retiring) {
    auto next = std::move(*r.queued);
    r.queued.reset();
    start_job(r, std::move(next), now);
  }
  feed_from_backlog(r, now);
}

// ---------------------------------------------------------------------------------------------
// Daemon link

void supervisor::open_daemon_socket() {
  daemon_.emplace(context_, zmq::socket_type::dealer);
  daemon_->set(zmq::sockopt::linger, 0);
  // Queue only on a live connection: a HELLO sent while the daemon is down fails and is
  // retried, instead of piling up and reaching the daemon all at once later.
  daemon_->set(zmq::sockopt::immediate, 1);
  daemon_->set(zmq::sockopt::reconnect_ivl, 100);
  daemon_->set(zmq::sockopt::reconnect_ivl_max, 5000);
  if (!config_.server_key.empty()) {
    // A key pair of its own for this link, made once per process: the daemon knows workers by
    // their donor token, not by key.
    if (curve_public_.empty()) {
      char public_key[41] = {}, secret_key[41] = {};
      if (zmq_curve_keypair(public_key, secret_key) != 0)
        throw std::runtime_error(std::string("cannot make a CurveZMQ key pair: ") + zmq_strerror(zmq_errno()));
      curve_public_ = public_key;
      curve_secret_ = secret_key;
    }
    daemon_->set(zmq::sockopt::curve_serverkey, config_.server_key);
    daemon_->set(zmq::sockopt::curve_publickey, curve_public_);
    daemon_->set(zmq::sockopt::curve_secretkey, curve_secret_);
  }
  daemon_->connect(config_.daemon_endpoint);
}

void supervisor::close_daemon_socket(ms linger) {
  if (!daemon_) return;
  daemon_->set(zmq::sockopt::linger, static_cast<int>(linger.count()));
  daemon_->close();
  daemon_.reset();
}

ms supervisor::jittered(ms base) {
  std::uniform_int_distribution<std::int64_t> dist(base.count() / 2, base.count());
  return ms(dist(rng_));
}

void supervisor::send_hello(clock::time_point now) {
  if (!daemon_) open_daemon_socket();
  json::array gpus;
  for (const auto& g : gpus_.gpus)
    gpus.push_back(json::object{{"index", g.index}, {"name", g.name}, {"memory_bytes", g.memory_bytes}});
  json::array slots;
  for (const auto& r : runners_) slots.push_back(json::object{{"backend", r->backend}, {"device", r->device_name}});
  json::object hello{
      {"name", config_.name},
      {"software", worker_software()},
      {"hostname", config_.hostname},
      {"devices", json::object{{"cpu", json::object{{"model", cpu_.model},
                                                   {"cores", cpu_.cores},
                                                   {"memory_bytes", cpu_.memory_bytes}}},
                               {"gpus", std::move(gpus)}}},
      {"slots", std::move(slots)},
      {"prefetch", config_.prefetch},
      {"plugins", plugins_},
      {"load_errors", load_errors_},
  };
  if (!config_.token.empty()) hello["token"] = config_.token;
  if (!config_.prices.empty()) {
    json::object prices;
    for (const auto& [backend, price] : config_.prices) prices[backend] = price;
    hello["prices"] = std::move(prices);
  }
  hello["accept_free"] = config_.accept_free;
  json::array held;
  for (const auto& id : models_reported_) held.push_back(json::string(id));
  hello["models"] = std::move(held);
  // The donor's settings on the dashboard name hours of this machine's local time.
  {
    const std::time_t t = std::time(nullptr);
    std::tm local{};
    if (::localtime_r(&t, &local) != nullptr) hello["utc_offset_minutes"] = local.tm_gmtoff / 60;
  }
  if (state_ != link_state::connecting) {
    connecting_since_ = now;
    quiet_warning_interval_ = hello_quiet_warning_first;
    next_quiet_warning_ = now + quiet_warning_interval_;
  }
  state_ = link_state::connecting;
  const bool sent = send_to_daemon(proto::encode(command::hello, hello), delivery::may_drop, now);
  if (sent) {
    hello_due_ = now + hello_resend_interval;
    hello_unsent_retry_ = hello_unsent_retry_first;
  } else {
    hello_due_ = now + hello_unsent_retry_;
    hello_unsent_retry_ = std::min<ms>(hello_unsent_retry_ * 2, hello_resend_interval);
  }
  if (sent) log_->debug("hello sent to {}", config_.daemon_endpoint);
}

bool supervisor::send_to_daemon(std::vector<zmq::message_t> frames, delivery d, clock::time_point now) {
  bool sent = false;
  if (daemon_) {
    try {
      sent = proto::send_all(*daemon_, frames, true);
    } catch (const zmq::error_t& e) {
      log_->warn("cannot send to the daemon: {}", e.what());
    }
  }
  if (sent) {
    last_sent_ = now;
  } else if (d == delivery::must_deliver && state_ == link_state::registered) {
    // A reply the daemon waits for could not go out: the daemon's view of our jobs is now
    // wrong, so start a fresh registration (the daemon requeues what it thought we ran).
    lose_registration("a reply to the daemon could not be sent", socket_policy::renew, now);
  }
  return sent;
}

void supervisor::reply(std::int64_t job_id, command cmd, json::object header, clock::time_point now) {
  if (state_ != link_state::registered) return;
  header["job_id"] = job_id;
  (void)send_to_daemon(proto::encode(cmd, header), delivery::must_deliver, now);
}

void supervisor::on_daemon_message(std::vector<zmq::message_t>&& frames, clock::time_point now) {
  proto::message m;
  try {
    m = proto::decode(std::move(frames));
  } catch (const proto::protocol_error& e) {
    ++bad_messages_;
    log_->warn("dropped a bad message from the daemon ({} so far): {}", bad_messages_, e.what());
    return;
  }
  last_received_ = now;
  switch (m.cmd) {
    case command::welcome:
      return on_welcome(m.header, now);
    case command::heartbeat:
      return;
    case command::job:
      return on_job(std::move(m), now);
    case command::cancel:
      return on_cancel(m.header, now);
    case command::disconnect: {
      if (state_ == link_state::closed) return;
      const auto reason = header_string(m.header, "reason");
      log_->warn("the daemon disconnected this worker: {}", reason.empty() ? "no reason given" : reason);
      return lose_registration("the daemon disconnected this worker", socket_policy::keep, now);
    }
    default:
      ++bad_messages_;
      log_->warn("dropped an unexpected {} message from the daemon ({} so far)", proto::command_name(m.cmd),
                 bad_messages_);
  }
}

void supervisor::on_welcome(const json::object& header, clock::time_point now) {
  if (state_ == link_state::closed || state_ == link_state::waiting_for_runners) return;
  // Every WELCOME answers a HELLO, and the daemon forgets the jobs of the registration before it.
  if (state_ == link_state::registered) drop_daemon_jobs("the daemon registered this worker afresh", now);
  worker_id_ = header_string(header, "worker_id");
  welcome_hub_url_ = header_string(header, "hub_url");
  heartbeat_interval_ = default_heartbeat_interval;
  if (const auto v = header_int(header, "heartbeat_interval_ms")) {
    if (ms(*v) >= min_heartbeat_interval && ms(*v) <= max_heartbeat_interval) {
      heartbeat_interval_ = ms(*v);
    } else {
      log_->warn("the daemon's heartbeat interval {} ms is out of range; using {} ms", *v,
                 default_heartbeat_interval.count());
    }
  }
  state_ = link_state::registered;
  reconnect_backoff_ = reconnect_backoff_first;
  last_received_ = now;
  log_->info("registered with {} at {} as {} (heartbeat {} ms, {} slot(s))", header_string(header, "daemon"),
             config_.daemon_endpoint, worker_id_, heartbeat_interval_.count(), runners_.size());
}

void supervisor::on_job(proto::message&& m, clock::time_point now) {
  const auto job_id = header_int(m.header, "job_id");
  if (!job_id) {
    ++bad_messages_;
    log_->warn("dropped a job without an integer job_id ({} bad messages so far)", bad_messages_);
    return;
  }
  if (state_ != link_state::registered) {
    log_->warn("job {}: dropped: it came while this worker is not registered", *job_id);
    return;
  }
  job_record job;
  job.id = *job_id;
  job.task = header_string(m.header, "task");
  job.backend = header_string(m.header, "backend");
  bool duplicate = std::any_of(backlog_.begin(), backlog_.end(), [&](const job_record& b) { return b.id == job.id; });
  for (const auto& [_, waits] : awaiting_model_)
    for (const auto& w : waits) duplicate = duplicate || w.job.id == job.id;
  for (const auto& r : runners_) {
    for (const auto* j : {&r->running, &r->queued})
      if (*j && (*j)->id == job.id && (*j)->owner == job_owner::daemon) duplicate = true;
    for (const auto& j : r->ahead)
      if (j.id == job.id && j.owner == job_owner::daemon) duplicate = true;
  }
  if (duplicate) {
    ++bad_messages_;
    log_->warn("{}: dropped a second JOB with the id of a job already here", job_label(job));
    return;
  }
  if (shutting_down_) {
    log_->info("{}: returned: the worker is shutting down", job_label(job));
    return reply(job.id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
  }
  if (job.task.empty() || job.backend.empty()) {
    log_->warn("job {}: failed: the job header lacks \"task\" or \"backend\"", job.id);
    return reply(job.id, command::failed,
                 json::object{{"code", "bad_request"}, {"message", "the job header lacks \"task\" or \"backend\""}}, now);
  }
  if (!declared_tasks_.contains({job.task, job.backend})) {
    const auto message = "this worker offers no task '" + job.task + "' on backend '" + job.backend + "'";
    log_->warn("{}: failed: {}", job_label(job), message);
    return reply(job.id, command::failed, json::object{{"code", "no_plugin"}, {"message", message}}, now);
  }
  if (auto* model = m.header.if_contains("model"); model && !model->is_null()) {
    model_request request;
    try {
      request = parse_model_request(*model);
    } catch (const std::invalid_argument& e) {
      log_->warn("{}: failed: {}", job_label(job), e.what());
      return reply(job.id, command::failed, json::object{{"code", "bad_request"}, {"message", e.what()}}, now);
    }
    job.model = request.id;
    if (auto dir = cache_->ready(request)) {
      cache_->touch(request.id);
      m.header["model_dir"] = dir->string();
    } else {
      log_->info("{}: waits for model {} (its files checked on disk, or fetched)", job_label(job), request.id);
      auto& waiting = awaiting_model_[request.id];
      waiting.push_back(model_wait{std::move(job), std::move(m.header), std::move(m.payload)});
      fetcher_->request(std::move(request), hub_url(), models_in_use());
      return;
    }
  }
  job.frames = proto::encode(command::job, m.header, std::move(m.payload));
  route_job(std::move(job), now);
}

// A job ready to run (its model, if any, is on disk): a free runner of its backend runs it,
// else it waits in the backlog (or for a runner coming up).
void supervisor::route_job(job_record&& job, clock::time_point now) {
  runner_slot* free = nullptr;
  runner_slot* later = nullptr;  // coming up, or finishing a job the daemon no longer counts
  for (auto& r : runners_) {
    if (r->backend != job.backend || r->queued) continue;
    if (r->phase == runner_phase::ready && !r->running && !r->kill_sent && !r->retiring) {
      free = r.get();
      break;
    }
    if (!later && (!r->running || r->running->owner != job_owner::daemon)) later = r.get();
  }
  const auto waiting = static_cast<std::size_t>(std::count_if(
      backlog_.begin(), backlog_.end(), [&](const job_record& b) { return b.backend == job.backend; }));
  if (!free && !later && waiting >= config_.prefetch) {
    log_->warn("{}: returned: no free {} slot and the prefetch of {} is full", job_label(job), job.backend,
               config_.prefetch);
    return reply(job.id, command::returned, json::object{{"reason", "no free slot"}}, now);
  }
  if (free) return start_job(*free, std::move(job), now);
  if (!later) {
    log_->debug("{}: waits for a free {} slot ({} ahead of it)", job_label(job), job.backend, backlog_.size());
    const auto backend = job.backend;
    backlog_.push_back(std::move(job));
    for (auto& r : runners_)
      if (r->backend == backend) feed_from_backlog(*r, now);
    return;
  }
  log_->info("{}: waiting for runner {} to {}", job_label(job), later->routing_id,
             later->phase == runner_phase::ready ? "stop a dropped job" : "start");
  later->queued = std::move(job);
}

void supervisor::on_models_fetched(clock::time_point now) {
  std::uint64_t count = 0;
  if (::read(fetched_fd_, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) return;
  std::vector<model_fetcher::outcome> outcomes;
  {
    std::lock_guard lock(fetched_mutex_);
    outcomes.swap(fetched_);
  }
  for (auto& out : outcomes) {
    auto node = awaiting_model_.extract(out.id);
    if (out.dir) log_->info("model {} is ready in {}", out.id, out.dir->string());
    else log_->warn("model {} could not be made ready: {}", out.id, out.error);
    if (node.empty()) continue;
    for (auto& w : node.mapped()) {
      if (w.job.owner != job_owner::daemon || shutting_down_) continue;
      if (!out.dir) {
        // Not the job's fault, nor (perhaps) another worker's problem: the daemon tries again.
        reply(w.job.id, command::failed, json::object{{"code", "model_unavailable"}, {"message", out.error}}, now);
        continue;
      }
      w.header["model_dir"] = out.dir->string();
      w.job.frames = proto::encode(command::job, w.header, std::move(w.payload));
      route_job(std::move(w.job), now);
    }
  }
  report_models(now);
}

// Tells the daemon which models are on disk here when that changed (a HEARTBEAT with
// "models"), so that it sends their jobs here first.
void supervisor::report_models(clock::time_point now) {
  auto held = cache_->models();
  if (held == models_reported_ || state_ != link_state::registered) return;
  json::array list;
  for (const auto& id : held) list.push_back(json::string(id));
  if (send_to_daemon(proto::encode(command::heartbeat, json::object{{"models", std::move(list)}}), delivery::may_drop, now))
    models_reported_ = std::move(held);
}

std::set<std::string> supervisor::models_in_use() const {
  std::set<std::string> used;
  auto add = [&](const job_record& j) {
    if (!j.model.empty()) used.insert(j.model);
  };
  for (const auto& j : backlog_) add(j);
  for (const auto& r : runners_) {
    if (r->running) add(*r->running);
    if (r->queued) add(*r->queued);
    for (const auto& j : r->ahead) add(j);
  }
  for (const auto& [id, waits] : awaiting_model_)
    if (!waits.empty()) used.insert(id);
  return used;
}

// Where model files come from: --hub-url, else the daemon's WELCOME, with an address that
// means "every interface" (0.0.0.0, ::) replaced by the host this worker reaches the daemon at.
std::string supervisor::hub_url() const {
  if (!config_.hub_url.empty()) return config_.hub_url;
  auto url = welcome_hub_url_;
  for (const std::string any : {"//0.0.0.0:", "//[::]:"}) {
    const auto at = url.find(any);
    if (at == std::string::npos) continue;
    auto host = config_.daemon_endpoint;
    if (auto scheme = host.find("://"); scheme != std::string::npos) host = host.substr(scheme + 3);
    if (auto colon = host.rfind(':'); colon != std::string::npos) host = host.substr(0, colon);
    url.replace(at + 2, any.size() - 3, host);
  }
  return url;
}

void supervisor::on_cancel(const json::object& header, clock::time_point now) {
  const auto job_id = header_int(header, "job_id");
  if (!job_id) {
    ++bad_messages_;
    log_->warn("dropped a cancel without an integer job_id ({} bad messages so far)", bad_messages_);
    return;
  }
  for (auto& r : runners_) {
    if (r->running && r->running->id == *job_id && r->running->owner == job_owner::daemon) {
      if (r->running->cancel_requested) return;
      log_->info("{}: cancel requested; telling runner {}", job_label(*r->running), r->routing_id);
      return cancel_on_runner(*r, now);
    }
    if (r->queued && r->queued->id == *job_id && r->queued->owner == job_owner::daemon) {
      log_->info("{}: cancelled before it started", job_label(*r->queued));
      r->queued.reset();
      return reply(*job_id, command::cancelled, {}, now);
    }
    for (auto& j : r->ahead) {
      if (j.id != *job_id || j.owner != job_owner::daemon || j.cancel_requested) continue;
      // The runner answers: CANCELLED if it had not started it, or stops it if it had.
      j.cancel_requested = true;
      auto frames = proto::encode(command::cancel, json::object{{"job_id", j.id}});
      (void)send_to_runner(*r, frames);
      return;
    }
  }
  for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
    if (it->id != *job_id) continue;
    log_->info("{}: cancelled before it started", job_label(*it));
    backlog_.erase(it);
    return reply(*job_id, command::cancelled, {}, now);
  }
  for (auto& [_, waits] : awaiting_model_) {
    for (auto it = waits.begin(); it != waits.end(); ++it) {
      if (it->job.id != *job_id) continue;
      log_->info("{}: cancelled while its model was being fetched", job_label(it->job));
      waits.erase(it);
      return reply(*job_id, command::cancelled, {}, now);
    }
  }
  log_->debug("job {}: cancel ignored: the job is not running here", *job_id);
}

void supervisor::drop_daemon_jobs(const std::string& why, clock::time_point now) {
  for (const auto& job : backlog_) log_->warn("{}: dropped before it started: {}", job_label(job), why);
  backlog_.clear();
  for (auto& [_, waits] : awaiting_model_) {
    for (const auto& w : waits) log_->warn("{}: dropped while its model was being fetched: {}", job_label(w.job), why);
    waits.clear();
  }
  for (auto& r : runners_) {
    if (r->queued && r->queued->owner == job_owner::daemon) {
      log_->warn("{}: dropped before it started: {}", job_label(*r->queued), why);
      r->queued.reset();
    }
    for (auto& j : r->ahead) {
      if (j.owner != job_owner::daemon) continue;
      j.owner = job_owner::lost;
      if (j.cancel_requested) continue;
      j.cancel_requested = true;
      auto frames = proto::encode(command::cancel, json::object{{"job_id", j.id}});
      (void)send_to_runner(*r, frames);
    }
    if (r->running && r->running->owner == job_owner::daemon) {
      log_->warn("{}: cancelled locally, its result will be dropped: {}", job_label(*r->running), why);
      r->running->owner = job_owner::lost;
      if (!r->running->cancel_requested) cancel_on_runner(*r, now);
    }
  }
}

void supervisor::lose_registration(const std::string& why, socket_policy policy, clock::time_point now) {
  drop_daemon_jobs(why, now);
  if (policy == socket_policy::renew) close_daemon_socket(ms(0));
  state_ = link_state::backing_off;
  const auto wait = jittered(reconnect_backoff_);
  reconnect_at_ = now + wait;
  reconnect_backoff_ = std::min<ms>(reconnect_backoff_ * 2, reconnect_backoff_max);
  if (!shutting_down_) log_->info("{}; saying hello again in {} ms", why, wait.count());
}

// ---------------------------------------------------------------------------------------------
// Timers and shutdown

void supervisor::on_timers(clock::time_point now) {
  switch (state_) {
    case link_state::connecting:
      if (now >= hello_due_) {
        if (now >= next_quiet_warning_) {
          quiet_warning_interval_ = std::min(quiet_warning_interval_ * 2, std::chrono::seconds(hello_quiet_warning_max));
          next_quiet_warning_ = now + quiet_warning_interval_;
          log_->warn("still no answer from the daemon at {} after {} s{}", config_.daemon_endpoint,
                     std::chrono::duration_cast<std::chrono::seconds>(now - connecting_since_).count(),
                     config_.server_key.empty()
                         ? " (if the daemon encrypts its worker link, give its public key with --server-key-file)"
                         : " (check that --server-key is the daemon's public key, from its worker-link.pub)");
        }
        send_hello(now);
      }
      break;
    case link_state::registered:
      if (now - last_received_ >= heartbeat_liveness * heartbeat_interval_) {
        lose_registration("the daemon has been silent for " +
                              std::to_string(std::chrono::duration_cast<ms>(now - last_received_).count()) + " ms",
                          socket_policy::renew, now);
      } else if (now - last_sent_ >= heartbeat_interval_) {
        (void)send_to_daemon(proto::encode_heartbeat(), delivery::may_drop, now);
      }
      break;
    case link_state::backing_off:
      if (!shutting_down_ && now >= reconnect_at_) send_hello(now);
      break;
    case link_state::waiting_for_runners:
    case link_state::closed:
      break;
  }
  for (auto& r : runners_) {
    if (r->phase == runner_phase::down && !shutting_down_ && now >= r->restart_at) spawn(*r, now);
    if (r->phase == runner_phase::starting && now - r->started_at >= runner_start_timeout)
      kill_runner(*r, "its plugins did not load within " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(runner_start_timeout).count()) + " s");
    if (r->running && r->running->verdict_at && now >= *r->running->verdict_at) settle_job_of_dead_runner(*r, now);
    if (r->running && r->running->kill_at && now >= *r->running->kill_at)
      kill_runner(*r, job_label(*r->running) + " did not stop within " + std::to_string(config_.grace.count()) +
                          " ms of being cancelled");
  }
  if (shutting_down_) advance_shutdown(now);
}

clock::time_point supervisor::next_wakeup(clock::time_point now) const {
  auto next = now + max_poll_wait;
  auto consider = [&](clock::time_point t) { next = std::min(next, t); };
  switch (state_) {
    case link_state::connecting:
      consider(hello_due_);
      break;
    case link_state::registered:
      consider(last_received_ + heartbeat_liveness * heartbeat_interval_);
      consider(last_sent_ + heartbeat_interval_);
      break;
    case link_state::backing_off:
      consider(reconnect_at_);
      break;
    default:
      break;
  }
  for (const auto& r : runners_) {
    if (r->phase == runner_phase::down && !shutting_down_) consider(r->restart_at);
    if (r->phase == runner_phase::starting) consider(r->started_at + runner_start_timeout);
    if (r->running && r->running->kill_at && r->pid > 0 && !r->kill_sent) consider(*r->running->kill_at);
    if (r->running && r->running->verdict_at) consider(*r->running->verdict_at);
  }
  if (shutting_down_) consider(finishing_ ? stop_deadline_ : grace_deadline_);
  return next;
}

std::size_t supervisor::daemon_jobs_running() const {
  return static_cast<std::size_t>(std::count_if(runners_.begin(), runners_.end(), [](const auto& r) {
    return r->running && r->running->owner == job_owner::daemon;
  }));
}

void supervisor::begin_shutdown(clock::time_point now) {
  if (shutting_down_) {
    log_->info("second stop signal: not waiting for running jobs");
    grace_deadline_ = now;
    return;
  }
  shutting_down_ = true;
  grace_deadline_ = now + config_.grace;
  log_->info("shutting down: taking no new jobs, waiting up to {} ms for {} running job(s)", config_.grace.count(),
             daemon_jobs_running());
  for (auto& r : runners_) {
    if (r->queued && r->queued->owner == job_owner::daemon) {
      log_->info("{}: returned to the daemon before it started", job_label(*r->queued));
      reply(r->queued->id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
    }
    r->queued.reset();
    for (auto& j : r->ahead) {
      if (j.owner != job_owner::daemon) continue;
      log_->info("{}: returned to the daemon before it started", job_label(j));
      reply(j.id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
      j.owner = job_owner::lost;
      if (j.cancel_requested) continue;
      j.cancel_requested = true;
      auto frames = proto::encode(command::cancel, json::object{{"job_id", j.id}});
      (void)send_to_runner(*r, frames);
    }
  }
  return_backlog("", "worker is shutting down", now);
  for (auto& [_, waits] : awaiting_model_) {
    auto taken = std::move(waits);
    waits.clear();
    for (const auto& w : taken) {
      log_->info("{}: returned to the daemon while its model was being fetched", job_label(w.job));
      reply(w.job.id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
    }
  }
}

void supervisor::advance_shutdown(clock::time_point now) {
  if (!finishing_) {
    if (daemon_jobs_running() > 0 && now < grace_deadline_) return;
    for (auto& r : runners_) {
      if (!r->running || r->running->owner != job_owner::daemon) continue;
      log_->info("{}: returned to the daemon: still running at the end of the grace period", job_label(*r->running));
      reply(r->running->id, command::returned, json::object{{"reason", "worker is shutting down"}}, now);
      r->running->owner = job_owner::lost;
      if (!r->running->cancel_requested) cancel_on_runner(*r, now);
    }
    if (state_ == link_state::registered) {
      (void)send_to_daemon(proto::encode(command::disconnect, json::object{{"reason", "worker is shutting down"}}),
                           delivery::may_drop, now);
      log_->info("told the daemon this worker is leaving");
    }
    state_ = link_state::closed;
    for (auto& r : runners_) {
      if (r->pid > 0) {
        ::kill(r->pid, SIGTERM);
        r->phase = runner_phase::stopping;
      }
    }
    stop_deadline_ = now + runner_stop_timeout;
    finishing_ = true;
  }
  const bool all_stopped = std::none_of(runners_.begin(), runners_.end(), [](const auto& r) { return r->pid > 0; });
  if (all_stopped) {
    done_ = true;
    return;
  }
  if (now < stop_deadline_) return;
  for (auto& r : runners_) {
    if (r->pid <= 0) continue;
    log_->warn("runner {} did not stop within {} ms; killing it", r->routing_id, runner_stop_timeout.count());
    ::kill(r->pid, SIGKILL);
    int status = 0;
    while (::waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {
    }
    r->pid = -1;
    r->phase = runner_phase::down;
  }
  done_ = true;
}

// ---------------------------------------------------------------------------------------------
// The loop

int supervisor::run() {
  if (::access(config_.runner_executable.c_str(), X_OK) != 0)
    throw std::runtime_error("cannot run " + config_.runner_executable.string() + " as a runner: " + std::strerror(errno));
  log_->info("potluck-worker {} '{}' starting: daemon {}, plugins {}", worker_version, config_.name,
             config_.daemon_endpoint, config_.plugin_dir.string());
  signal_pipe signals{SIGTERM, SIGINT, SIGCHLD};
  std::signal(SIGPIPE, SIG_IGN);
  make_runtime_dir();
  runners_socket_.set(zmq::sockopt::linger, 0);
  runners_socket_.set(zmq::sockopt::router_mandatory, 1);
  runners_socket_.set(zmq::sockopt::router_handover, 1);  // a restarted runner reuses its id
  runners_socket_.bind(runners_endpoint_);
  detect_devices();
  // No folder given (an embedding that did not say): models live in the runtime folder, for
  // this process's life only.
  cache_ = std::make_unique<model_cache>(config_.model_cache_dir.empty() ? runtime_dir_ / "models" : config_.model_cache_dir,
                                         config_.model_cache_bytes, log_);
  models_reported_ = cache_->models();
  fetched_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fetched_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  fetcher_ = std::make_unique<model_fetcher>(*cache_, [this](model_fetcher::outcome out) {
    {
      std::lock_guard lock(fetched_mutex_);
      fetched_.push_back(std::move(out));
    }
    const std::uint64_t one = 1;
    (void)!::write(fetched_fd_, &one, sizeof one);
  });

  const auto start = clock::now();
  for (std::size_t i = 0; i < config_.cpu_slots; ++i) add_runner("cpu", -1);
  for (auto& r : runners_) spawn(*r, start);

  std::vector<zmq::message_t> frames;
  while (!done_) {
    const auto wait = std::chrono::ceil<ms>(next_wakeup(clock::now()) - clock::now());
    std::vector<zmq::pollitem_t> items = {{runners_socket_.handle(), 0, ZMQ_POLLIN, 0},
                                          {nullptr, signals.fd(), ZMQ_POLLIN, 0}};
    items.push_back({nullptr, fetched_fd_, ZMQ_POLLIN, 0});
    if (daemon_) items.push_back({daemon_->handle(), 0, ZMQ_POLLIN, 0});
    try {
      zmq::poll(items.data(), items.size(), std::max(ms(0), wait));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    auto now = clock::now();
    for (int s : signals.drain()) {
      if (s == SIGTERM || s == SIGINT) {
        log_->info("{} received", s == SIGTERM ? "SIGTERM" : "SIGINT");
        begin_shutdown(now);
      }
    }
    // Runner messages before reaping: a runner's last reply is handled before its exit.
    for (std::size_t n = 0; n < max_messages_per_round && proto::recv_all(runners_socket_, frames); ++n)
      on_runner_message(std::move(frames), now);
    for (std::size_t n = 0; n < max_messages_per_round && daemon_ && proto::recv_all(*daemon_, frames); ++n)
      on_daemon_message(std::move(frames), now);
    on_models_fetched(now);
    reap_runners(now);
    on_timers(now);
    // What jobs here use now: the cache keeps it (the fetcher may be making room meanwhile).
    if (auto used = models_in_use(); !used.empty() || cache_has_pins_) {
      cache_has_pins_ = !used.empty();
      cache_->set_in_use(std::move(used));
    }
  }
  fetcher_.reset();  // waits for a download at hand
  ::close(fetched_fd_);
  fetched_fd_ = -1;
  close_daemon_socket(daemon_linger_at_exit);  // lets RETURNED and DISCONNECT reach the daemon
  runners_socket_.close();
  context_.close();
  remove_runtime_dir();
  log_->info("stopped");
  return 0;
}

}  // namespace

int run_supervisor(const supervisor_config& config, std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<supervisor> s;
  try {
    s = std::make_unique<supervisor>(config, log);
    return s->run();
  } catch (const std::exception& e) {
    log->error("worker stopped: {}", e.what());
    return 1;
  }
}

}  // namespace potluck::worker
