// Shared worker helpers: signal self-pipe, wait-status wording, loggers, header fields.
#include "workers/worker_common.hpp"

#include "potluck/protocol/credits.hpp"
#include "potluck/protocol/task_spec.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <boost/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace potluck::worker {
namespace {

// Written by the signal handler; see signal_pipe.
volatile std::sig_atomic_t signal_write_fd = -1;

extern "C" void on_signal(int signo) {
  const int saved_errno = errno;
  const auto byte = static_cast<unsigned char>(signo);
  if (signal_write_fd >= 0) (void)!::write(signal_write_fd, &byte, 1);
  errno = saved_errno;
}

}  // namespace

signal_pipe::signal_pipe(std::initializer_list<int> signals) : signals_(signals) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("cannot create the signal pipe: ") + std::strerror(errno));
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  signal_write_fd = write_fd_;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : signals_) ::sigaction(s, &sa, nullptr);
}

signal_pipe::~signal_pipe() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  ::sigemptyset(&sa.sa_mask);
  for (int s : signals_) ::sigaction(s, &sa, nullptr);
  signal_write_fd = -1;
  ::close(read_fd_);
  ::close(write_fd_);
}

std::vector<int> signal_pipe::drain() {
  std::vector<int> out;
  unsigned char buf[64];
  for (;;) {
    const auto n = ::read(read_fd_, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) out.push_back(buf[i]);
  }
  return out;
}

std::string describe_wait_status(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const char* abbrev = ::sigabbrev_np(sig);
    std::string name = abbrev ? std::string("SIG") + abbrev : std::string("signal");
    return "killed by signal " + name + " (" + std::to_string(sig) + ")";
  }
  if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  return "stopped with wait status " + std::to_string(wait_status);
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, spdlog::level::level_enum level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // a crash must not eat the lines before it
  return logger;
}

std::optional<std::int64_t> header_int(const boost::json::object& header, std::string_view key) {
  const auto* v = header.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

std::string header_string(const boost::json::object& header, std::string_view key) {
  const auto* v = header.if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string(v->as_string());
}

std::map<std::string, std::int64_t> parse_prices(std::string_view text) {
  const auto example = "write it like 0.5 (every backend) or cpu=0.5,cuda=4: credits per million work units";
  auto price_of = [&](std::string_view amount, std::string_view backend) {
    std::string problem;
    auto micro = protocol::parse_credits(amount, problem);
    if (!micro)
      throw std::invalid_argument("--price '" + std::string(text) + "': the price" +
                                  (backend.empty() ? "" : " for " + std::string(backend)) + " '" + std::string(amount) +
                                  "' is not valid: " + problem + "; " + example);
    if (*micro > protocol::max_price)
      throw std::invalid_argument("--price '" + std::string(text) + "': at most " +
                                  protocol::credits_string(protocol::max_price) + " credits per million work units");
    return *micro;
  };
  std::map<std::string, std::int64_t> prices;
  if (text.find('=') == std::string_view::npos) {
    const auto price = price_of(text, {});
    prices["cpu"] = prices["cuda"] = price;
    return prices;
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find(',', start), text.size());
    const auto pair = text.substr(start, end - start);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument("--price '" + std::string(text) + "': '" + std::string(pair) +
                                  "' is not backend=price (no thousands separators here); " + example);
    const auto backend = pair.substr(0, eq);
    if (!protocol::is_known_backend(backend))
      throw std::invalid_argument("--price '" + std::string(text) + "': unknown backend '" + std::string(backend) +
                                  "' (cpu or cuda)");
    if (prices.count(std::string(backend)))
      throw std::invalid_argument("--price '" + std::string(text) + "': " + std::string(backend) + " is priced twice");
    prices[std::string(backend)] = price_of(pair.substr(eq + 1), backend);
    start = end + 1;
  }
  return prices;
}

}  // namespace potluck::worker
