// Test harness for potluck-worker: a real worker child process and a test daemon (a real
// ZeroMQ ROUTER on loopback) that speaks the wire protocol to it. Nothing sleeps to wait for an
// event: every wait polls a socket, a file or a child with a deadline.
//
// The test process makes itself a child subreaper, so runners orphaned by a killed worker are
// reparented to it and reaped here; no process outlives a test.
#pragma once

#include "potluck/protocol/wire.hpp"

#include <boost/json.hpp>
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace potluck::worker::test {

namespace json = boost::json;
namespace proto = potluck::protocol;
namespace fs = std::filesystem;
using proto::command;
using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
using namespace std::chrono_literals;

// The heartbeat interval the test daemon hands out: short, so dead-peer tests stay quick.
inline constexpr ms test_heartbeat = 200ms;
// Generous deadlines: they bound a failing test, a passing one returns as soon as it can.
inline constexpr ms start_deadline = 20s;
inline constexpr ms event_deadline = 10s;

inline std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set (run through ctest)");
  return v;
}

inline fs::path worker_binary() { return fs::path(env_or_fail("POTLUCK_BUILD_DIR")) / "bin" / "potluck-worker"; }
inline fs::path plugin_dir() { return env_or_fail("POTLUCK_PLUGIN_DIR"); }

inline bool current_test_passed() {
  namespace utf = boost::unit_test;
  return utf::results_collector.results(utf::framework::current_test_case().p_id).passed();
}

// A temporary folder, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "potluck-worker-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Makes this process the reaper of orphaned descendants (runners of a killed worker).
inline void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

// Reaps exited children until none is left; returns 0 then, 1 when some still live at the deadline.
inline int reap_strays(std::chrono::milliseconds patience) {
  const auto deadline = clock::now() + patience;
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0) return 0;  // ECHILD: none left
    if (clock::now() >= deadline) return 1;
    std::this_thread::sleep_for(5ms);  // polling a child's exit with a deadline
  }
}

// The real potluck-worker as a child process; stdout and stderr go to a log file.
class worker_process {
 public:
  // `extra_env`: "NAME=value" entries added to this process's environment.
  worker_process(const std::vector<std::string>& args, const fs::path& tmp,
                 const std::vector<std::string>& extra_env = {})
      : log_path_(tmp / "worker.log"), tmp_(tmp) {
    std::vector<std::string> argv_s = {worker_binary().string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s;
    std::string asan_options = "ASAN_OPTIONS=";
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      if (kv.starts_with("POTLUCK_WORKER_PLUGINS=") || kv.starts_with("TMPDIR=")) continue;
      if (kv.starts_with("ASAN_OPTIONS=")) {
        asan_options = std::string(kv) + ":";
        continue;
      }
      env_s.emplace_back(kv);
    }
    env_s.push_back("TMPDIR=" + tmp.string());
    // In sanitizer builds, a plugin's SIGSEGV must still kill its runner as it does in a
    // release build (ASan would catch it and exit with status 1).
    env_s.push_back(asan_options + "handle_segv=0");
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string log = log_path_.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own process group, which its runners join: see signal_group()
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }

  ~worker_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    reap_strays(3s);  // its runners die with it (PR_SET_PDEATHSIG) and come to us
    if (std::uncaught_exceptions() > 0 || !current_test_passed()) BOOST_TEST_MESSAGE("worker log:\n" << log_text());
  }
  worker_process(const worker_process&) = delete;
  worker_process& operator=(const worker_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int s) const { ::kill(pid_, s); }
  // Signals the worker and its runners at once, as a service manager stopping it does.
  void signal_group(int s) const { ::kill(-pid_, s); }

  // The wait status once the worker exited, or nullopt at the deadline.
  std::optional<int> wait_exit(ms timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      int status = 0;
      const pid_t got = ::waitpid(pid_, &status, WNOHANG);
      if (got == pid_) {
        pid_ = -1;
        return status;
      }
      if (clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);  // polling a child's exit with a deadline
    }
  }

  bool alive() {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }

  std::string log_text() const {
    std::ifstream in(log_path_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // Waits until the log contains `text`.
  bool wait_log(std::string_view text, ms timeout) const {
    const auto deadline = clock::now() + timeout;
    while (clock::now() < deadline) {
      if (log_text().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(10ms);  // polling a file with a deadline
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  fs::path log_path_, tmp_;
};

struct received {
  std::string identity;
  command cmd = command::heartbeat;
  json::object header;
  std::vector<zmq::message_t> payload;
};

inline std::string describe(const received& r) {
  return std::string(proto::command_name(r.cmd)) + " " + json::serialize(r.header);
}

// The daemon side: a ROUTER on 127.0.0.1, heartbeating the registered worker while it waits.
class test_daemon {
 public:
  explicit test_daemon(int port = 0) {
    if (port == 0) {
      bind(0);
    } else {
      port_ = port;
      rebind();
    }
  }

  // Closes the ROUTER and binds a fresh one on the same port: a daemon that restarted and
  // knows no worker.
  void restart() {
    socket_.close();
    worker_.clear();
    rebind();
  }

  // Binds port_ again. ZeroMQ closes a listener in its I/O thread, a moment after close():
  // retry until the port is free.
  void rebind() {
    const auto deadline = clock::now() + event_deadline;
    for (;;) {
      try {
        bind(port_);
        return;
      } catch (const zmq::error_t& e) {
        if (e.num() != EADDRINUSE || clock::now() >= deadline) throw;
      }
      std::this_thread::sleep_for(10ms);  // polling for the port with a deadline
    }
  }

  const std::string& endpoint() const { return endpoint_; }
  int port() const { return port_; }
  const std::string& worker() const { return worker_; }

  // The next message from any peer within `timeout`, or nullopt.
  std::optional<received> recv(ms timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      auto now = clock::now();
      if (heartbeats_ && !worker_.empty() && now >= next_heartbeat_) {
        send(worker_, command::heartbeat, {});
        next_heartbeat_ = now + test_heartbeat;
      }
      std::vector<zmq::message_t> frames;
      if (proto::recv_all(socket_, frames)) {
        received r;
        r.identity = frames.front().to_string();
        frames.erase(frames.begin());
        auto m = proto::decode(std::move(frames));
        r.cmd = m.cmd;
        r.header = std::move(m.header);
        r.payload = std::move(m.payload);
        return r;
      }
      if (now >= deadline) return std::nullopt;
      auto wake = deadline;
      if (heartbeats_ && !worker_.empty()) wake = std::min(wake, next_heartbeat_);
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::max(ms(1), std::chrono::ceil<ms>(wake - now)));
    }
  }

  // Receives until a `cmd` message comes; messages with a command in `skip` are passed over,
  // any other one fails the test.
  received expect(command cmd, ms timeout = event_deadline,
                  std::set<command> skip = {command::heartbeat, command::progress}) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<ms>(deadline - clock::now());
      auto r = recv(std::max(ms(0), left));
      if (!r) throw std::runtime_error(std::string("no ") + proto::command_name(cmd) + " within " +
                                       std::to_string(timeout.count()) + " ms");
      if (r->cmd == cmd) return std::move(*r);
      if (!skip.contains(r->cmd))
        throw std::runtime_error(std::string("expected ") + proto::command_name(cmd) + ", got " + describe(*r));
    }
  }

  void send(const std::string& identity, command cmd, const json::object& header,
            std::vector<zmq::message_t> payload = {}) {
    auto frames = proto::encode(cmd, header, std::move(payload));
    send_frames(identity, frames);
  }

  void send_frames(const std::string& identity, std::vector<zmq::message_t>& frames) {
    std::vector<zmq::message_t> out;
    out.emplace_back(identity.data(), identity.size());
    for (auto& f : frames) out.push_back(std::move(f));
    if (!proto::send_all(socket_, out, true)) throw std::runtime_error("the test daemon could not send");
  }

  void send_raw(const std::string& identity, const std::vector<std::string>& parts) {
    std::vector<zmq::message_t> frames;
    for (const auto& p : parts) frames.emplace_back(p.data(), p.size());
    send_frames(identity, frames);
  }

  // Waits for HELLO and answers WELCOME; returns the hello.
  received register_worker(ms timeout = start_deadline) {
    auto hello = expect(command::hello, timeout, {command::heartbeat});
    welcome(hello.identity);
    return hello;
  }

  void bind(int port) {
    socket_ = zmq::socket_t(context_, zmq::socket_type::router);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::router_mandatory, 1);
    socket_.set(zmq::sockopt::router_handover, 1);
    socket_.bind(port == 0 ? std::string("tcp://127.0.0.1:*") : "tcp://127.0.0.1:" + std::to_string(port));
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    port_ = std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1));
  }

  void welcome(const std::string& identity) {
    worker_ = identity;
    send(identity, command::welcome,
         {{"worker_id", "w-test"}, {"heartbeat_interval_ms", test_heartbeat.count()}, {"daemon", "potluckd/test"}});
    next_heartbeat_ = clock::now() + test_heartbeat;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::router};
  std::string endpoint_;
  int port_ = 0;
  std::string worker_;
  bool heartbeats_ = true;
  clock::time_point next_heartbeat_{};
};

// A JOB header and its tensor frames.
struct job_message {
  json::object header;
  std::vector<zmq::message_t> payload;
};

struct test_tensor {
  std::string name;
  proto::dtype type = proto::dtype::u8;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

inline job_message make_job(std::int64_t job_id, const std::string& task, json::object params = {},
                            std::vector<test_tensor> inputs = {}) {
  job_message j;
  std::vector<proto::tensor_meta> metas;
  for (auto& t : inputs) {
    metas.push_back({t.name, t.type, t.shape});
    j.payload.emplace_back(t.bytes.data(), t.bytes.size());
  }
  j.header = {{"job_id", job_id}, {"task", task},     {"backend", "cpu"},
              {"params", std::move(params)}, {"attempt", 1}, {"inputs", proto::tensor_list(metas)}};
  return j;
}

inline void send_job(test_daemon& d, job_message j) { d.send(d.worker(), command::job, j.header, std::move(j.payload)); }

inline std::int64_t job_id_of(const received& r) {
  const auto* v = r.header.if_contains("job_id");
  return v && v->is_int64() ? v->as_int64() : -1;
}

inline std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace potluck::worker::test
