// potluck-worker end to end against a test daemon: registration, jobs through runners, the
// crash firewall, progress and cancel, slots, graceful shutdown, reconnects and bad input.
// Each test starts the real worker binary with the testing plugin.
#define BOOST_TEST_MODULE workers_supervisor
#include "worker_harness.hpp"

#include "potluck/protocol/task_spec.hpp"

#include <fstream>
#include <map>
#include <thread>

using namespace potluck::worker::test;

namespace {

struct subreaper {
  subreaper() { become_subreaper(); }
};
BOOST_TEST_GLOBAL_FIXTURE(subreaper);

const std::string stubborn_plugins = WORKERS_TEST_STUBBORN_DIR;
const std::string crashy_plugins = WORKERS_TEST_CRASHY_DIR;

// A test daemon, a temp folder and a worker connected to it, loading the plugins in `plugins`
// (the tree's plugin folder unless said otherwise; nullopt: no --plugins flag).
struct setup {
  explicit setup(std::vector<std::string> extra = {}, std::optional<std::string> plugins = plugin_dir().string()) {
    std::vector<std::string> args = {"--daemon", daemon.endpoint(), "--gpus", "none", "--name", "test-worker"};
    if (plugins) {
      args.push_back("--plugins");
      args.push_back(*plugins);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    worker.emplace(args, tmp.path());
  }
  test_daemon daemon;
  temp_dir tmp;
  std::optional<worker_process> worker;
};

std::string bytes_of(const zmq::message_t& m) { return m.to_string(); }

std::string pattern_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

// Runs one echo job and checks that the exact bytes come back.
void check_echo(test_daemon& d, std::int64_t job_id, proto::dtype type, std::vector<std::int64_t> shape,
                std::size_t bytes) {
  const auto data = pattern_bytes(bytes);
  send_job(d, make_job(job_id, "test.echo", {}, {{"x", type, shape, data}}));
  auto r = d.expect(command::result);
  BOOST_TEST(job_id_of(r) == job_id);
  const auto metas = proto::read_tensor_metas(r.header.at("outputs"));
  BOOST_TEST_REQUIRE(metas.size() == 1u);
  BOOST_TEST(metas[0].name == "x");
  BOOST_TEST(proto::dtype_name(metas[0].type) == proto::dtype_name(type));
  BOOST_TEST(metas[0].shape == shape);
  BOOST_TEST_REQUIRE(r.payload.size() == 1u);
  BOOST_TEST((bytes_of(r.payload[0]) == data));
  BOOST_TEST(r.header.at("elapsed_ms").is_int64());
}

}  // namespace

BOOST_AUTO_TEST_CASE(hello_declares_the_testing_tasks_the_cpu_and_the_slots) {
  // No --plugins: the default, <exe dir>/../lib/potluck/plugins, is the build tree's plugin folder.
  setup s({"--slots", "2"}, std::nullopt);
  auto hello = s.daemon.expect(command::hello, start_deadline, {});
  const auto& h = hello.header;
  BOOST_TEST(str(h, "name") == "test-worker");
  BOOST_TEST(str(h, "software").starts_with("potluck-worker/"));
  BOOST_TEST(!str(h, "hostname").empty());

  const auto& cpu = h.at("devices").at("cpu").as_object();
  BOOST_TEST(!str(cpu, "model").empty());
  BOOST_TEST(cpu.at("cores").to_number<std::int64_t>() >= 1);
  BOOST_TEST(cpu.at("memory_bytes").to_number<std::int64_t>() > 0);
  BOOST_TEST(h.at("devices").at("gpus").as_array().empty());  // --gpus none

  const auto& slots = h.at("slots").as_array();
  BOOST_TEST_REQUIRE(slots.size() == 2u);
  for (const auto& slot : slots) {
    BOOST_TEST(str(slot.as_object(), "backend") == "cpu");
    BOOST_TEST(str(slot.as_object(), "device") == "cpu");
  }

  BOOST_TEST(h.at("load_errors").is_array());
  std::map<std::string, std::string> task_plugin;
  for (const auto& p : h.at("plugins").as_array()) {
    const auto& plugin = p.as_object();
    BOOST_TEST(!str(plugin, "file").empty());
    for (const auto& t : plugin.at("tasks").as_array()) {
      // Every declaration is one the daemon accepts.
      const auto decl = proto::task_decl_from_json(t);
      BOOST_CHECK_NO_THROW(proto::validate_task_decl(decl));
      BOOST_TEST(decl.plugin == str(plugin, "name"));
      BOOST_TEST(decl.plugin_version == str(plugin, "version"));
      task_plugin[decl.name + "/" + decl.backend] = decl.plugin;
    }
  }
  for (const char* task : {"test.echo/cpu", "test.sleep/cpu", "test.fail/cpu", "test.crash/cpu"})
    BOOST_TEST(task_plugin[task] == "testing", task);

  // Registered, the worker heartbeats on its own when it has nothing else to say.
  s.daemon.welcome(hello.identity);
  s.daemon.expect(command::heartbeat, 3 * test_heartbeat + 2s, {});
}

BOOST_AUTO_TEST_CASE(a_missing_plugin_folder_is_a_load_error_not_a_crash) {
  setup s({}, "/nonexistent/potluck-plugins");
  auto hello = s.daemon.expect(command::hello, start_deadline, {});
  BOOST_TEST(hello.header.at("plugins").as_array().empty());
  const auto& errors = hello.header.at("load_errors").as_array();
  BOOST_TEST_REQUIRE(errors.size() >= 1u);
  BOOST_TEST(std::string(errors[0].as_string()).find("/nonexistent/potluck-plugins") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_plugin_folder_may_come_from_the_environment) {
  test_daemon daemon;
  temp_dir tmp;
  worker_process worker({"--daemon", daemon.endpoint(), "--gpus", "none"}, tmp.path(),
                        {"POTLUCK_WORKER_PLUGINS=" + stubborn_plugins});
  auto hello = daemon.expect(command::hello, start_deadline, {});
  const auto& plugins = hello.header.at("plugins").as_array();
  BOOST_TEST_REQUIRE(plugins.size() == 1u);
  BOOST_TEST(str(plugins[0].as_object(), "name") == "stubborn");
}

BOOST_AUTO_TEST_CASE(runtime_folders_of_killed_workers_are_cleaned_up_and_live_ones_kept) {
  temp_dir tmp;
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const auto stale = tmp.path() / ("potluck-worker-" + std::to_string(dead));
  const auto live = tmp.path() / ("potluck-worker-" + std::to_string(::getpid()));
  fs::create_directories(stale);
  std::ofstream(stale / "runners").put('x');
  fs::create_directories(live);
  test_daemon daemon;
  worker_process worker({"--daemon", daemon.endpoint(), "--gpus", "none", "--plugins", plugin_dir().string()},
                        tmp.path());
  daemon.expect(command::hello, start_deadline, {});
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(live));
  BOOST_TEST(fs::exists(tmp.path() / ("potluck-worker-" + std::to_string(worker.pid()))));
}

BOOST_AUTO_TEST_CASE(echo_returns_the_exact_bytes) {
  setup s;
  s.daemon.register_worker();
  check_echo(s.daemon, 1, proto::dtype::u8, {3, 5}, 15);
  check_echo(s.daemon, 2, proto::dtype::f32, {256, 512}, 256 * 512 * 4);  // 512 KiB through both hops
  check_echo(s.daemon, 3, proto::dtype::i64, {0}, 0);
}

BOOST_AUTO_TEST_CASE(a_plugin_refusing_the_input_fails_the_job_as_invalid_input) {
  setup s;
  s.daemon.register_worker();
  send_job(s.daemon, make_job(7, "test.fail", {{"message", "the input is no good"}}));
  auto r = s.daemon.expect(command::failed);
  BOOST_TEST(job_id_of(r) == 7);
  BOOST_TEST(str(r.header, "code") == "invalid_input");
  BOOST_TEST(str(r.header, "message").find("the input is no good") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_crash_fails_the_job_naming_plugin_and_signal_and_the_runner_restarts) {
  setup s;
  s.daemon.register_worker();
  send_job(s.daemon, make_job(11, "test.crash"));
  auto r = s.daemon.expect(command::failed);
  BOOST_TEST(job_id_of(r) == 11);
  BOOST_TEST(str(r.header, "code") == "plugin_crashed");
  const auto message = str(r.header, "message");
  BOOST_TEST(message.find("plugin 'testing'") != std::string::npos, message);
  BOOST_TEST(message.find("test.crash") != std::string::npos, message);
  BOOST_TEST(message.find("SIGSEGV") != std::string::npos, message);
  // Still registered (no new HELLO) and the one slot works again.
  check_echo(s.daemon, 12, proto::dtype::u8, {4}, 4);
  send_job(s.daemon, make_job(13, "test.crash"));
  BOOST_TEST(str(s.daemon.expect(command::failed).header, "code") == "plugin_crashed");
  check_echo(s.daemon, 14, proto::dtype::u8, {4}, 4);
  BOOST_TEST(s.worker->alive());
}

BOOST_AUTO_TEST_CASE(sleep_reports_progress_and_a_cancel_stops_it_promptly) {
  setup s;
  s.daemon.register_worker();
  send_job(s.daemon, make_job(21, "test.sleep", {{"ms", 60000}}));
  for (int i = 0; i < 2; ++i) {
    auto p = s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
    BOOST_TEST(job_id_of(p) == 21);
    const double fraction = p.header.at("fraction").to_number<double>();
    BOOST_TEST((fraction >= 0.0 && fraction <= 1.0));
    BOOST_TEST(!str(p.header, "message").empty());
  }
  const auto asked = clock::now();
  s.daemon.send(s.daemon.worker(), command::cancel, {{"job_id", 21}});
  auto c = s.daemon.expect(command::cancelled, 5s);
  BOOST_TEST(job_id_of(c) == 21);
  BOOST_TEST(std::chrono::duration_cast<ms>(clock::now() - asked).count() < 2000);
  check_echo(s.daemon, 22, proto::dtype::u8, {2}, 2);  // the slot is free again
}

BOOST_AUTO_TEST_CASE(two_slots_run_two_jobs_at_once_a_third_waits_and_a_fourth_is_returned) {
  setup s({"--slots", "2", "--prefetch", "1"});
  const auto hello = s.daemon.register_worker();
  BOOST_TEST(hello.header.at("prefetch").as_int64() == 1);
  send_job(s.daemon, make_job(31, "test.sleep", {{"ms", 60000}}));
  send_job(s.daemon, make_job(32, "test.sleep", {{"ms", 60000}}));
  // Both report progress while neither has finished: they run at the same time.
  std::set<std::int64_t> reporting;
  while (reporting.size() < 2) reporting.insert(job_id_of(s.daemon.expect(command::progress, event_deadline, {command::heartbeat})));
  BOOST_TEST((reporting == std::set<std::int64_t>{31, 32}));

  // The third waits for a slot (--prefetch 1); the fourth finds no room at all.
  send_job(s.daemon, make_job(33, "test.echo", {}, {{"x", proto::dtype::u8, {1}, "a"}}));
  send_job(s.daemon, make_job(34, "test.echo", {}, {{"x", proto::dtype::u8, {1}, "b"}}));
  auto returned = s.daemon.expect(command::returned);
  BOOST_TEST(job_id_of(returned) == 34);
  BOOST_TEST(str(returned.header, "reason") == "no free slot");

  // A freed slot takes the waiting job.
  s.daemon.send(s.daemon.worker(), command::cancel, {{"job_id", 31}});
  std::set<std::int64_t> answered;
  for (int i = 0; i < 2; ++i) {
    auto r = s.daemon.recv(event_deadline);
    while (r && (r->cmd == command::heartbeat || r->cmd == command::progress)) r = s.daemon.recv(event_deadline);
    BOOST_TEST_REQUIRE(r.has_value());
    if (r->cmd == command::cancelled) BOOST_TEST(job_id_of(*r) == 31);
    else if (r->cmd == command::result) BOOST_TEST((bytes_of(r->payload.at(0)) == "a"));
    else BOOST_FAIL("unexpected " << proto::command_name(r->cmd));
    answered.insert(job_id_of(*r));
  }
  BOOST_TEST((answered == std::set<std::int64_t>{31, 33}));
  s.daemon.send(s.daemon.worker(), command::cancel, {{"job_id", 32}});
  BOOST_TEST(job_id_of(s.daemon.expect(command::cancelled)) == 32);
}

BOOST_AUTO_TEST_CASE(short_jobs_sent_ahead_come_back_each_with_its_own_bytes) {
  setup s({"--slots", "1"});
  s.daemon.register_worker();
  check_echo(s.daemon, 1, proto::dtype::u8, {3}, 3);  // now the worker knows echo is short
  // More than the slot, the backlog and the runner's jobs ahead can hold at once would be
  // returned; 12 fit (1 running, 4 ahead on the runner, the rest in the backlog of 8).
  std::map<std::int64_t, std::string> sent;
  for (std::int64_t id = 100; id < 112; ++id) {
    sent[id] = pattern_bytes(static_cast<std::size_t>(id));
    send_job(s.daemon, make_job(id, "test.echo", {}, {{"x", proto::dtype::u8, {id}, sent[id]}}));
  }
  std::map<std::int64_t, std::string> got;
  while (got.size() < sent.size()) {
    auto r = s.daemon.expect(command::result);
    got[job_id_of(r)] = bytes_of(r.payload.at(0));
  }
  BOOST_TEST((got == sent));
}

BOOST_AUTO_TEST_CASE(a_job_waiting_for_a_slot_can_be_cancelled_and_sigterm_returns_the_rest) {
  setup s({"--slots", "1", "--prefetch", "3", "--grace-ms", "300"});
  s.daemon.register_worker();
  check_echo(s.daemon, 50, proto::dtype::u8, {1}, 1);
  send_job(s.daemon, make_job(51, "test.sleep", {{"ms", 60000}}));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  send_job(s.daemon, make_job(52, "test.echo", {}, {{"x", proto::dtype::u8, {1}, "x"}}));
  send_job(s.daemon, make_job(53, "test.echo", {}, {{"x", proto::dtype::u8, {1}, "y"}}));
  s.daemon.send(s.daemon.worker(), command::cancel, {{"job_id", 52}});
  BOOST_TEST(job_id_of(s.daemon.expect(command::cancelled)) == 52);
  s.worker->signal(SIGTERM);
  // The job that never started goes back at once; the running one at the end of the grace.
  auto first = s.daemon.expect(command::returned);
  BOOST_TEST(job_id_of(first) == 53);
  auto second = s.daemon.expect(command::returned);
  BOOST_TEST(job_id_of(second) == 51);
  s.daemon.expect(command::disconnect);
  const auto status = s.worker->wait_exit(event_deadline);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(WEXITSTATUS(*status) == 0);
}

namespace {

// A 1-slot worker whose runner is busy with a long test.sleep (job `base`) and holds the echo
// jobs base+1 ("p") and base+2 ("q") sent after it: test.sleep and test.echo are measured short
// first, so the supervisor sends them ahead to the runner. Returns the runner's pid.
pid_t runner_with_jobs_ahead(setup& s, std::int64_t base) {
  s.daemon.register_worker();
  for (std::int64_t id : {base - 3, base - 2}) {
    send_job(s.daemon, make_job(id, "test.sleep", {{"ms", 0}}));
    BOOST_TEST(job_id_of(s.daemon.expect(command::result)) == id);
  }
  check_echo(s.daemon, base - 1, proto::dtype::u8, {1}, 1);
  send_job(s.daemon, make_job(base, "test.sleep", {{"ms", 60000}}));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  send_job(s.daemon, make_job(base + 1, "test.echo", {}, {{"x", proto::dtype::u8, {1}, "p"}}));
  send_job(s.daemon, make_job(base + 2, "test.echo", {}, {{"x", proto::dtype::u8, {1}, "q"}}));
  // Not a wait for an outcome: a moment for the supervisor to pass them on to the runner (if
  // it has not, they wait in its backlog and the test checks less, but still passes rightly).
  std::this_thread::sleep_for(200ms);
  const auto self = std::to_string(s.worker->pid());
  std::ifstream children("/proc/" + self + "/task/" + self + "/children");
  pid_t runner = 0;
  children >> runner;
  BOOST_TEST_REQUIRE(runner > 0);
  return runner;
}

// The next `count` answers to the daemon by job id: "result:<bytes>", "failed:<message>", or
// the command's name.
std::map<std::int64_t, std::string> answers(test_daemon& d, std::size_t count) {
  std::map<std::int64_t, std::string> out;
  while (out.size() < count) {
    auto r = d.recv(event_deadline);
    while (r && (r->cmd == command::heartbeat || r->cmd == command::progress)) r = d.recv(event_deadline);
    BOOST_TEST_REQUIRE(r.has_value());
    std::string text = proto::command_name(r->cmd);
    if (r->cmd == command::result) text += ":" + bytes_of(r->payload.at(0));
    if (r->cmd == command::failed) text += ":" + str(r->header, "message");
    out[job_id_of(*r)] = text;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_runner_killed_with_jobs_ahead_fails_only_the_running_one) {
  setup s({"--slots", "1"});
  ::kill(runner_with_jobs_ahead(s, 70), SIGKILL);
  auto outcome = answers(s.daemon, 3);
  BOOST_TEST(outcome[70].starts_with("failed:"), outcome[70]);
  BOOST_TEST(outcome[70].find("SIGKILL") != std::string::npos, outcome[70]);
  BOOST_TEST(outcome[71] == "result:p");
  BOOST_TEST(outcome[72] == "result:q");
}

BOOST_AUTO_TEST_CASE(a_runner_stopped_alone_hands_back_its_jobs_ahead_and_none_fails) {
  setup s({"--slots", "1"});
  // SIGTERM to the runner only (not the supervisor): it finishes its job, hands back the ones
  // it held ahead, and exits; they must run on its successor, not go back to the daemon.
  ::kill(runner_with_jobs_ahead(s, 90), SIGTERM);
  std::this_thread::sleep_for(200ms);  // likewise a moment, for the signal to land first
  s.daemon.send(s.daemon.worker(), command::cancel, {{"job_id", 90}});
  auto outcome = answers(s.daemon, 3);
  BOOST_TEST(outcome[90] == "cancelled");
  BOOST_TEST(outcome[91] == "result:p");
  BOOST_TEST(outcome[92] == "result:q");
  BOOST_TEST(s.worker->alive());
}

BOOST_AUTO_TEST_CASE(sigterm_returns_a_job_still_running_after_the_grace_period_then_disconnects_and_exits_0) {
  setup s({"--grace-ms", "300"});
  s.daemon.register_worker();
  send_job(s.daemon, make_job(41, "test.sleep", {{"ms", 60000}}));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  s.worker->signal(SIGTERM);
  auto r = s.daemon.expect(command::returned);
  BOOST_TEST(job_id_of(r) == 41);
  BOOST_TEST(!str(r.header, "reason").empty());
  s.daemon.expect(command::disconnect);
  const auto status = s.worker->wait_exit(event_deadline);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(WIFEXITED(*status));
  BOOST_TEST(WEXITSTATUS(*status) == 0);
  // The worker reaped its runners itself (none was left to this subreaper) and removed its
  // runtime folder.
  int st = 0;
  BOOST_TEST(::waitpid(-1, &st, WNOHANG) == -1);
  for (const auto& entry : fs::directory_iterator(s.tmp.path()))
    BOOST_TEST(entry.path().filename().string().find("potluck-worker-") == std::string::npos, entry.path());
}

BOOST_AUTO_TEST_CASE(sigterm_lets_a_short_job_finish_within_the_grace_period) {
  setup s({"--grace-ms", "10000"});
  s.daemon.register_worker();
  send_job(s.daemon, make_job(45, "test.sleep", {{"ms", 400}}));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  s.worker->signal(SIGTERM);
  auto r = s.daemon.expect(command::result);
  BOOST_TEST(job_id_of(r) == 45);
  s.daemon.expect(command::disconnect);
  const auto status = s.worker->wait_exit(event_deadline);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(WIFEXITED(*status));
  BOOST_TEST(WEXITSTATUS(*status) == 0);
}

BOOST_AUTO_TEST_CASE(sigterm_to_the_whole_process_group_still_lets_the_job_finish) {
  // systemd and friends signal every process of the service: the runner must not give up its
  // job on its own, the supervisor decides.
  setup s({"--grace-ms", "10000"});
  s.daemon.register_worker();
  send_job(s.daemon, make_job(47, "test.sleep", {{"ms", 400}}));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  s.worker->signal_group(SIGTERM);
  auto r = s.daemon.expect(command::result);
  BOOST_TEST(job_id_of(r) == 47);
  s.daemon.expect(command::disconnect);
  const auto status = s.worker->wait_exit(event_deadline);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(WIFEXITED(*status));
  BOOST_TEST(WEXITSTATUS(*status) == 0);
}

BOOST_AUTO_TEST_CASE(a_worker_started_before_the_daemon_registers_once_it_is_up) {
  int port = 0;
  {
    test_daemon probe;  // finds a free port, then lets it go
    port = probe.port();
  }
  temp_dir tmp;
  worker_process worker({"--daemon", "tcp://127.0.0.1:" + std::to_string(port), "--gpus", "none", "--plugins",
                         plugin_dir().string()},
                        tmp.path());
  BOOST_TEST_REQUIRE(worker.wait_log("connecting to the daemon", start_deadline));
  test_daemon daemon(port);
  daemon.register_worker(5s);
  check_echo(daemon, 51, proto::dtype::u8, {3}, 3);
}

BOOST_AUTO_TEST_CASE(a_daemon_that_goes_silent_and_comes_back_gets_a_new_hello) {
  setup s;
  s.daemon.register_worker();
  s.daemon.restart();
  // The fresh daemon does not know the worker and says nothing: after 3 silent intervals the
  // worker opens a new connection and says hello.
  auto hello = s.daemon.expect(command::hello, 5s, {command::heartbeat});
  s.daemon.welcome(hello.identity);
  check_echo(s.daemon, 61, proto::dtype::u8, {3}, 3);
}

BOOST_AUTO_TEST_CASE(disconnect_from_the_daemon_drops_running_jobs_and_brings_a_new_hello) {
  setup s;
  s.daemon.register_worker();
  send_job(s.daemon, make_job(71, "test.sleep", {{"ms", 60000}}));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  s.daemon.send(s.daemon.worker(), command::disconnect, {{"reason", "unknown worker: send hello"}});
  auto hello = s.daemon.expect(command::hello, 5s, {command::heartbeat, command::progress});
  s.daemon.welcome(hello.identity);
  // The old job was cancelled locally and its reply dropped; the one slot runs the next job.
  const auto data = pattern_bytes(8);
  send_job(s.daemon, make_job(72, "test.echo", {}, {{"x", proto::dtype::u8, {8}, data}}));
  for (;;) {
    auto r = s.daemon.recv(event_deadline);
    BOOST_TEST_REQUIRE(r.has_value());
    if (r->cmd == command::heartbeat) continue;
    BOOST_TEST(job_id_of(*r) != 71, "a reply for a dropped job reached the daemon: " << describe(*r));
    if (r->cmd == command::result) {
      BOOST_TEST(job_id_of(*r) == 72);
      BOOST_TEST((bytes_of(r->payload.at(0)) == data));
      break;
    }
  }
}

BOOST_AUTO_TEST_CASE(garbage_from_the_daemon_is_dropped_and_bad_jobs_fail_cleanly) {
  setup s;
  s.daemon.register_worker();
  const auto& w = s.daemon.worker();
  const std::string job(1, '\x04');
  s.daemon.send_raw(w, {"junk"});
  s.daemon.send_raw(w, {"PLK1"});
  s.daemon.send_raw(w, {"PLK2", job, "{}"});
  s.daemon.send_raw(w, {"PLK1", std::string(1, '\x7f'), "{}"});
  s.daemon.send_raw(w, {"PLK1", job, "not json"});
  s.daemon.send_raw(w, {"PLK1", job, "[1,2]"});
  s.daemon.send_raw(w, {"PLK1", job, R"({"task":"test.echo"})"});  // no job id: nothing to answer
  s.daemon.send(w, command::result, {{"job_id", 1}});                // a command meant for the daemon
  s.daemon.send(w, command::cancel, {{"job_id", 999}});              // a job it does not run

  // Jobs the worker can name but not run: each gets one clear failure (one at a time, as the
  // daemon sends them to a worker with one slot).
  auto missing_frame = make_job(81, "test.echo", {}, {{"x", proto::dtype::u8, {2}, "ab"}});
  missing_frame.payload.clear();
  auto bad_params = make_job(84, "test.sleep");
  bad_params.header["params"] = "fast";
  std::vector<std::pair<job_message, std::string>> cases;
  cases.emplace_back(std::move(missing_frame), "bad_request");
  cases.emplace_back(make_job(82, "test.echo", {}, {{"x", proto::dtype::f32, {2}, "sixbyt"}}), "bad_request");
  cases.emplace_back(make_job(83, "no.such.task"), "no_plugin");
  cases.emplace_back(std::move(bad_params), "bad_request");
  for (auto& [job, code] : cases) {
    const auto id = job.header.at("job_id").as_int64();
    send_job(s.daemon, std::move(job));
    auto r = s.daemon.expect(command::failed);
    BOOST_TEST(job_id_of(r) == id);
    BOOST_TEST(str(r.header, "code") == code, id);
    BOOST_TEST(!str(r.header, "message").empty());
  }
  check_echo(s.daemon, 85, proto::dtype::u8, {5}, 5);
  BOOST_TEST(s.worker->alive());
}

BOOST_AUTO_TEST_CASE(a_job_that_ignores_cancel_is_stopped_by_killing_its_runner_after_the_grace_period) {
  setup s({"--grace-ms", "300"}, stubborn_plugins);
  s.daemon.register_worker();
  send_job(s.daemon, make_job(91, "stubborn.hang"));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  const auto asked = clock::now();
  s.daemon.send(s.daemon.worker(), command::cancel, {{"job_id", 91}});
  auto c = s.daemon.expect(command::cancelled, 5s);
  BOOST_TEST(job_id_of(c) == 91);
  const auto took = std::chrono::duration_cast<ms>(clock::now() - asked).count();
  BOOST_TEST(took >= 250);  // the plugin did not stop: the runner was killed at the deadline
  BOOST_TEST(took < 3000);
  send_job(s.daemon, make_job(92, "stubborn.quick"));
  BOOST_TEST(job_id_of(s.daemon.expect(command::result)) == 92);  // a fresh runner took over
}

BOOST_AUTO_TEST_CASE(sigterm_with_a_job_that_ignores_cancel_still_exits_0_without_leaving_a_runner) {
  setup s({"--grace-ms", "200"}, stubborn_plugins);
  s.daemon.register_worker();
  send_job(s.daemon, make_job(93, "stubborn.hang"));
  s.daemon.expect(command::progress, event_deadline, {command::heartbeat});
  s.worker->signal(SIGTERM);
  BOOST_TEST(job_id_of(s.daemon.expect(command::returned)) == 93);
  s.daemon.expect(command::disconnect);
  const auto status = s.worker->wait_exit(event_deadline);  // the runner is killed after its stop deadline
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(WIFEXITED(*status));
  BOOST_TEST(WEXITSTATUS(*status) == 0);
  int st = 0;
  BOOST_TEST(::waitpid(-1, &st, WNOHANG) == -1);
}

BOOST_AUTO_TEST_CASE(a_plugin_that_crashes_while_loading_is_skipped_and_the_others_are_offered) {
  setup s({}, crashy_plugins);
  auto hello = s.daemon.register_worker();
  std::set<std::string> plugins;
  for (const auto& p : hello.header.at("plugins").as_array()) plugins.insert(str(p.as_object(), "name"));
  BOOST_TEST((plugins == std::set<std::string>{"stubborn"}));
  bool named = false;
  for (const auto& e : hello.header.at("load_errors").as_array()) {
    const std::string text(e.as_string());
    if (text.find("libpotluck-a-crash-at-load.so") != std::string::npos && text.find("crashed") != std::string::npos)
      named = true;
  }
  BOOST_TEST(named, json::serialize(hello.header.at("load_errors")));
  send_job(s.daemon, make_job(95, "stubborn.quick"));
  BOOST_TEST(job_id_of(s.daemon.expect(command::result)) == 95);
}

BOOST_AUTO_TEST_CASE(progress_is_coalesced_to_about_twenty_messages_a_second) {
  setup s({}, stubborn_plugins);
  s.daemon.register_worker();
  const auto sent = clock::now();
  send_job(s.daemon, make_job(97, "stubborn.chatty"));
  int progress = 0;
  for (;;) {
    auto r = s.daemon.recv(event_deadline);
    BOOST_TEST_REQUIRE(r.has_value());
    if (r->cmd == command::heartbeat) continue;
    BOOST_TEST_REQUIRE(job_id_of(*r) == 97, describe(*r));
    if (r->cmd == command::progress) {
      ++progress;
      continue;
    }
    BOOST_TEST_REQUIRE((r->cmd == command::result), describe(*r));
    break;
  }
  // The plugin reported 5000 times in about 0.5 s; at most one message per 50 ms gets through.
  const auto elapsed_ms = std::chrono::duration_cast<ms>(clock::now() - sent).count();
  BOOST_TEST(progress >= 1);
  BOOST_TEST(progress <= elapsed_ms / 50 + 2, progress << " progress messages in " << elapsed_ms << " ms");
}
