// Pieces shared by the supervisor and the runner: the supervisor<->runner link conventions,
// the signal self-pipe, wait-status wording and logger setup.
//
// The supervisor<->runner link reuses the wire frames (PLK1, command, JSON header, tensor
// frames) over ZeroMQ ipc: a ROUTER in the supervisor, one DEALER per runner whose routing id
// is runner_routing_id(slot).
//   runner -> supervisor  HELLO {"slot","pid","backend","device","plugins":[...],"load_errors":[...]}
//                         PROGRESS / RESULT / FAILED / CANCELLED / RETURNED exactly as for the daemon
//   supervisor -> runner  JOB (the daemon's, tensor frames moved, not copied), CANCEL {"job_id"},
//                         DISCONNECT {} (exit after the current job; SIGTERM does the same)
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace potluck::worker {

#ifndef POTLUCK_VERSION
#define POTLUCK_VERSION "0.0.0"
#endif

inline constexpr std::string_view worker_version = POTLUCK_VERSION;
inline std::string worker_software() { return "potluck-worker/" + std::string(worker_version); }

inline std::string runner_routing_id(std::size_t slot) { return "slot-" + std::to_string(slot); }

// Routes the given signals to a non-blocking pipe whose read end sits in a poll set. The
// handler only write()s the signal number: the one piece of process-wide state here, since a
// signal handler cannot be handed a context. One instance per process.
class signal_pipe {
 public:
  explicit signal_pipe(std::initializer_list<int> signals);
  ~signal_pipe();
  signal_pipe(const signal_pipe&) = delete;
  signal_pipe& operator=(const signal_pipe&) = delete;

  int fd() const { return read_fd_; }
  // The signals received since the last call, in order.
  std::vector<int> drain();

 private:
  int read_fd_ = -1, write_fd_ = -1;
  std::vector<int> signals_;
};

// "killed by signal SIGSEGV (11)", "exited with status 3".
std::string describe_wait_status(int wait_status);

// A stderr logger named `name` ("alice-laptop", "alice-laptop/slot-0") at `level`.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name, spdlog::level::level_enum level);

// Reads an integer job id (JSON int64, or uint64 that fits) from a header.
std::optional<std::int64_t> header_int(const boost::json::object& header, std::string_view key);
// A string field, or "" when missing or not a string.
std::string header_string(const boost::json::object& header, std::string_view key);

// The donor's asks from --price: "0.5" (every backend) or "cpu=0.5,cuda=4", in credits per
// million work units, to micro-credits per million units by backend. Throws
// std::invalid_argument with a message naming what is wrong.
std::map<std::string, std::int64_t> parse_prices(std::string_view text);

}  // namespace potluck::worker
