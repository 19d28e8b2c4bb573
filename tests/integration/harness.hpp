// Integration-test harness: real potluckd and potluck-worker child processes on loopback,
// a minimal blocking HTTP/1.1 client, and waits with deadlines.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace potluck::testing {

using namespace std::chrono_literals;

std::filesystem::path build_dir();
std::filesystem::path plugin_dir();
std::filesystem::path make_temp_dir(const std::string& prefix);
std::uint16_t free_tcp_port();

// A child process with stdout and stderr in a log file. Killed (SIGKILL) and reaped on destruction.
class child_process {
 public:
  child_process(std::vector<std::string> argv, std::filesystem::path log_file);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for exit; returns the raw wait status, or nullopt at the deadline.
  std::optional<int> wait(std::chrono::milliseconds deadline);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path log_file_;
};

struct http_reply {
  int status = 0;
  std::string body;
  std::string head;  // the status line and the headers, as received
  boost::json::value json() const;
  // A header's value ("" when absent); `lower_name` in lower case.
  std::string header(const std::string& lower_name) const;
};

using http_headers = std::vector<std::pair<std::string, std::string>>;

// One request on a fresh connection ("Connection: close"). Throws on connection failure.
http_reply http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = {}, const std::string& content_type = "application/json",
                const http_headers& headers = {});
// The same with "Authorization: Bearer TOKEN".
http_reply http_as(const std::string& token, std::uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body = {});

// Reads a server-sent event stream until `stop` returns true for an event or the deadline
// passes; returns the (event, data) pairs seen. The server-side close also ends it.
std::vector<std::pair<std::string, std::string>> read_events(
    std::uint16_t port, const std::string& target, std::chrono::milliseconds deadline,
    const std::function<bool(const std::string& event, const std::string& data)>& stop);

// Calls `check` until it returns true or the deadline passes. Between calls it waits a few
// milliseconds: used only for conditions no event announces (a process registering).
bool eventually(const std::function<bool()>& check, std::chrono::milliseconds deadline);

// potluckd on free ports with a temp data dir (kept across restart()).
class daemon_process {
 public:
  explicit daemon_process(std::vector<std::string> extra_args = {});
  void start();
  void kill9();
  void restart() { kill9(); start(); }
  std::uint16_t http_port() const { return http_port_; }
  std::string workers_endpoint() const { return "tcp://127.0.0.1:" + std::to_string(worker_port_); }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // The operator's token, from the data folder (written at the first start).
  const std::string& admin_token() const;
  child_process& process() { return *process_; }

 private:
  std::vector<std::string> extra_args_;
  std::filesystem::path data_dir_;
  std::uint16_t http_port_, worker_port_;
  std::unique_ptr<child_process> process_;
  int starts_ = 0;
  std::string admin_token_;
};

std::unique_ptr<child_process> start_worker(const daemon_process& d, const std::string& name, int slots = 1,
                                            std::vector<std::string> extra_args = {});

// Waits until the daemon lists `count` workers.
bool wait_for_workers(const daemon_process& d, std::size_t count, std::chrono::milliseconds deadline = 20s);

// Signs up an account (POST /api/v1/accounts, no token needed); returns its token's secret.
// Throws when the daemon refuses.
std::string sign_up_token(const daemon_process& d, const std::string& name);

// Submits a job; returns the reply.
http_reply submit(const daemon_process& d, const std::string& job_json);
// Follows a job's event stream until it ends; returns the job's final JSON (GET /jobs/{id}).
boost::json::object wait_for_job(const daemon_process& d, std::int64_t id, std::chrono::milliseconds deadline = 30s);

}  // namespace potluck::testing
