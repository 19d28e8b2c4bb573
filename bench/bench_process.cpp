#include "bench_process.hpp"
#include "http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace fs = std::filesystem;

namespace potluck::bench {
namespace {

// Group ids of live children, for the signal handler. 0 = free entry.
constexpr std::size_t max_children = 64;
std::array<std::atomic<pid_t>, max_children> live_groups{};

void remember(pid_t pgid) {
  for (auto& g : live_groups) {
    pid_t expected = 0;
    if (g.compare_exchange_strong(expected, pgid)) return;
  }
}

void forget(pid_t pgid) {
  for (auto& g : live_groups) {
    pid_t expected = pgid;
    if (g.compare_exchange_strong(expected, 0)) return;
  }
}

extern "C" void on_stop_signal(int) {
  for (auto& g : live_groups) {
    const pid_t pgid = g.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
  static const char msg[] = "potluck-e2e-bench: interrupted; children killed\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::_exit(130);
}

}  // namespace

child_process::child_process(std::vector<std::string> argv, fs::path log_file) : log_file_(std::move(log_file)) {
  name_ = fs::path(argv.at(0)).filename().string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: the worker's runners are stopped with it
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  remember(pid_);
}

child_process::~child_process() {
  if (pid_ <= 0) return;
  if (!status_) {
    ::kill(-pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  forget(pid_);
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

int child_process::stop(std::chrono::milliseconds grace) {
  if (running()) {
    ::kill(pid_, SIGTERM);
    const auto end = std::chrono::steady_clock::now() + grace;
    while (running() && std::chrono::steady_clock::now() < end) ::poll(nullptr, 0, 5);
    if (running()) {
      ::kill(-pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
    }
  }
  ::kill(-pid_, SIGKILL);  // anything the child left behind in its group
  forget(pid_);
  return *status_;
}

std::string child_process::log_tail(std::size_t max_bytes) const {
  std::ifstream in(log_file_, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

void install_cleanup_on_signal() {
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

fs::path make_temp_dir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  return tmpl;
}

std::uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free TCP port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

fs::path self_exe() { return fs::read_symlink("/proc/self/exe"); }

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::unique_ptr<child_process> start_potluckd(const std::filesystem::path& build_dir, const std::filesystem::path& data_dir,
                                              std::uint16_t http_port, const std::string& workers_endpoint,
                                              const std::filesystem::path& log, std::vector<std::string> extra) {
  std::vector<std::string> argv = {(build_dir / "bin" / "potluckd").string(), "--http", "127.0.0.1:" + std::to_string(http_port),
                                   "--workers", workers_endpoint, "--data-dir", data_dir.string(), "--log-level", "warn",
                                   "--rate-limit", "0"};
  for (auto& e : extra) argv.push_back(std::move(e));
  auto daemon = std::make_unique<child_process>(std::move(argv), log);
  for (int i = 0;; ++i) {
    try {
      http_connection c(http_port);
      if (c.request("GET", "/healthz").status == 200) return daemon;
    } catch (const std::exception&) {
    }
    if (i > 200 || !daemon->running()) throw std::runtime_error("potluckd did not answer: " + daemon->log_tail());
    struct timespec pause {0, 50'000'000};
    ::nanosleep(&pause, nullptr);
  }
}

void copy_file_bytes(const std::filesystem::path& from, const std::filesystem::path& to, bool sync) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (in < 0 || out < 0) {
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
    throw std::runtime_error("cannot open " + from.string() + " and " + to.string() + " to copy");
  }
  std::string buffer(1 << 20, '\0');
  for (;;) {
    const auto n = ::read(in, buffer.data(), buffer.size());
    if (n < 0) throw std::runtime_error("reading " + from.string() + " failed");
    if (n == 0) break;
    if (::write(out, buffer.data(), static_cast<std::size_t>(n)) != n) throw std::runtime_error("writing " + to.string() + " failed");
  }
  if (sync) ::fsync(out);
  ::close(in);
  ::close(out);
}

}  // namespace potluck::bench
