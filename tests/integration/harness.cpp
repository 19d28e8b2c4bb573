#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;
namespace json = boost::json;

namespace potluck::testing {

fs::path build_dir() {
  const char* b = std::getenv("POTLUCK_BUILD_DIR");
  if (!b) throw std::runtime_error("POTLUCK_BUILD_DIR is not set: run the tests through ctest");
  return b;
}

fs::path plugin_dir() {
  const char* p = std::getenv("POTLUCK_PLUGIN_DIR");
  return p ? fs::path(p) : build_dir() / "lib" / "potluck" / "plugins";
}

fs::path make_temp_dir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

child_process::child_process(std::vector<std::string> argv, fs::path log_file) : log_file_(std::move(log_file)) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

bool child_process::running() {
  if (status_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

void child_process::signal(int sig) {
  if (!status_) ::kill(pid_, sig);
}

std::optional<int> child_process::wait(std::chrono::milliseconds deadline) {
  if (status_) return status_;
  const auto end = std::chrono::steady_clock::now() + deadline;
  if (eventually([&] { return !running(); }, deadline)) return status_;
  (void)end;
  return std::nullopt;
}

std::string child_process::log() const {
  std::ifstream in(log_file_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::value http_reply::json() const { return json::parse(body); }

namespace {

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

void write_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    sent += static_cast<std::size_t>(n);
  }
}

std::string request_text(const std::string& method, const std::string& target, const std::string& body,
                         const std::string& content_type, const http_headers& headers = {}) {
  const bool own_host = std::any_of(headers.begin(), headers.end(), [](const auto& h) { return h.first == "Host"; });
  std::string req = method + " " + target + " HTTP/1.1\r\n" + (own_host ? "" : "Host: 127.0.0.1\r\n") +
                    "Connection: close\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  return req;
}

}  // namespace

const std::string& daemon_process::admin_token() const {
  if (admin_token_.empty()) throw std::runtime_error("no admin token in " + (data_dir_ / "admin-token").string());
  return admin_token_;
}

http_reply http_as(const std::string& token, std::uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body) {
  return http(port, method, target, body, "application/json", {{"Authorization", "Bearer " + token}});
}

std::string http_reply::header(const std::string& lower_name) const {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.find("\r\n" + lower_name + ":");
  if (at == std::string::npos) return {};
  auto start = at + 2 + lower_name.size() + 1;
  while (start < head.size() && head[start] == ' ') ++start;
  return head.substr(start, head.find("\r\n", start) - start);
}

http_reply http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                const std::string& content_type, const http_headers& headers) {
  const int fd = connect_to(port);
  write_all(fd, request_text(method, target, body, content_type, headers));
  std::string raw;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) break;
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  http_reply r;
  if (raw.size() < 12) throw std::runtime_error("empty HTTP reply for " + method + " " + target);
  r.status = std::atoi(raw.c_str() + 9);
  const auto head_end = raw.find("\r\n\r\n");
  std::string head = raw.substr(0, head_end);
  std::string rest = head_end == std::string::npos ? "" : raw.substr(head_end + 4);
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::string out;
    std::size_t pos = 0;
    while (pos < rest.size()) {
      const auto eol = rest.find("\r\n", pos);
      const auto size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
      if (size == 0) break;
      out += rest.substr(eol + 2, size);
      pos = eol + 2 + size + 2;
    }
    rest = out;
  }
  r.body = std::move(rest);
  r.head = std::move(head);
  return r;
}

std::vector<std::pair<std::string, std::string>> read_events(
    std::uint16_t port, const std::string& target, std::chrono::milliseconds deadline,
    const std::function<bool(const std::string&, const std::string&)>& stop) {
  const int fd = connect_to(port);
  write_all(fd, request_text("GET", target, {}, {}));
  const auto end = std::chrono::steady_clock::now() + deadline;
  std::string buffer;
  bool headers_done = false;
  std::vector<std::pair<std::string, std::string>> events;
  char buf[16384];
  while (std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) break;
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    buffer.append(buf, static_cast<std::size_t>(n));
    if (!headers_done) {
      const auto h = buffer.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      buffer.erase(0, h + 4);
      headers_done = true;
    }
    for (;;) {
      const auto sep = buffer.find("\n\n");
      if (sep == std::string::npos) break;
      const std::string block = buffer.substr(0, sep);
      buffer.erase(0, sep + 2);
      std::string name = "message", data;
      std::istringstream lines(block);
      std::string line;
      while (std::getline(lines, line)) {
        if (line.rfind("event: ", 0) == 0) name = line.substr(7);
        else if (line.rfind("data: ", 0) == 0) data += (data.empty() ? "" : "\n") + line.substr(6);
      }
      if (block.empty() || block[0] == ':') continue;
      events.emplace_back(name, data);
      if (stop(name, data)) {
        ::close(fd);
        return events;
      }
    }
  }
  ::close(fd);
  return events;
}

bool eventually(const std::function<bool()>& check, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    ::poll(nullptr, 0, static_cast<int>(pause.count()));  // -- allowed: polling interval under a deadline
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

daemon_process::daemon_process(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), data_dir_(make_temp_dir("potluck-it")),
      http_port_(free_tcp_port()), worker_port_(free_tcp_port()) {
  start();
}

void daemon_process::start() {
  std::vector<std::string> argv = {(build_dir() / "bin" / "potluckd").string(),
                                   "--http", "127.0.0.1:" + std::to_string(http_port_),
                                   "--workers", workers_endpoint(),
                                   "--data-dir", data_dir_.string(),
                                   "--heartbeat-ms", "200",
                                   "--log-level", "debug"};
  for (const auto& a : extra_args_) argv.push_back(a);
  process_ = std::make_unique<child_process>(argv, data_dir_ / ("potluckd-" + std::to_string(++starts_) + ".log"));
  const bool up = eventually([&] {
    try {
      return http(http_port_, "GET", "/healthz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }, 20s);
  if (!up) throw std::runtime_error("potluckd did not come up; its log:\n" + process_->log());
  // Written at the first start, before the daemon answers; kept across restarts (re-read in
  // case it was made anew).
  std::ifstream in(data_dir_ / "admin-token");
  admin_token_.clear();
  std::getline(in, admin_token_);
}

void daemon_process::kill9() {
  process_->signal(SIGKILL);
  process_->wait(10s);
}

std::unique_ptr<child_process> start_worker(const daemon_process& d, const std::string& name, int slots,
                                            std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {(build_dir() / "bin" / "potluck-worker").string(),
                                   "--daemon", d.workers_endpoint(),
                                   "--slots", std::to_string(slots),
                                   "--name", name,
                                   "--gpus", "none",
                                   "--log-level", "debug"};
  // The project's plugins unless told otherwise.
  if (std::find(extra_args.begin(), extra_args.end(), "--plugins") == extra_args.end()) {
    argv.push_back("--plugins");
    argv.push_back(plugin_dir().string());
  }
  // Its model cache in the daemon's temporary folder unless told otherwise (not the user's).
  if (std::find(extra_args.begin(), extra_args.end(), "--model-cache") == extra_args.end()) {
    argv.push_back("--model-cache");
    argv.push_back((d.data_dir() / ("model-cache-" + name)).string());
  }
  // It donates for the operator unless told otherwise.
  if (std::find(extra_args.begin(), extra_args.end(), "--token-file") == extra_args.end() &&
      std::find(extra_args.begin(), extra_args.end(), "--token") == extra_args.end()) {
    argv.push_back("--token-file");
    argv.push_back((d.data_dir() / "admin-token").string());
  }
  for (auto& a : extra_args) argv.push_back(std::move(a));
  return std::make_unique<child_process>(argv, d.data_dir() / ("worker-" + name + ".log"));
}

std::string sign_up_token(const daemon_process& d, const std::string& name) {
  auto r = http(d.http_port(), "POST", "/api/v1/accounts", R"({"name":")" + name + R"("})");
  if (r.status != 201) throw std::runtime_error("signing up " + name + " answered " + std::to_string(r.status) + ": " + r.body);
  return std::string(r.json().at("token").at("secret").as_string());
}

bool wait_for_workers(const daemon_process& d, std::size_t count, std::chrono::milliseconds deadline) {
  return eventually([&] {
    try {
      auto r = http(d.http_port(), "GET", "/api/v1/workers");
      return r.status == 200 && r.json().at("workers").as_array().size() == count;
    } catch (const std::exception&) {
      return false;
    }
  }, deadline);
}

http_reply submit(const daemon_process& d, const std::string& job_json) {
  return http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs", job_json);
}

json::object wait_for_job(const daemon_process& d, std::int64_t id, std::chrono::milliseconds deadline) {
  const auto target = "/api/v1/jobs/" + std::to_string(id);
  read_events(d.http_port(), target + "/events", deadline, [](const std::string&, const std::string& data) {
    return data.find("\"state\":\"succeeded\"") != std::string::npos ||
           data.find("\"state\":\"failed\"") != std::string::npos ||
           data.find("\"state\":\"cancelled\"") != std::string::npos;
  });
  return http(d.http_port(), "GET", target).json().as_object();
}

}  // namespace potluck::testing
