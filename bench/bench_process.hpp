// Child processes for the benchmark: potluckd, potluck-worker, and the bench binary itself in
// its hidden ZeroMQ roles. Each child runs in its own process group (so a worker's runners go
// with it) with stdout and stderr in a log file.
//
// Threads: used from the bench's main thread only. The group ids of live children sit in a
// fixed, lock-free table so that the SIGINT/SIGTERM handler can kill them and exit.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace potluck::bench {

class child_process {
 public:
  child_process(std::vector<std::string> argv, std::filesystem::path log_file);
  ~child_process();  // SIGKILL to the group and reap, if still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // SIGTERM, then SIGKILL to the whole group after `grace`; reaps. Returns the wait status.
  int stop(std::chrono::milliseconds grace);
  std::string log_tail(std::size_t max_bytes = 4000) const;
  const std::string& name() const { return name_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path log_file_;
  std::string name_;
};

// Kills every live child's group when the bench gets SIGINT or SIGTERM, then exits 130.
void install_cleanup_on_signal();

std::filesystem::path make_temp_dir(const std::string& prefix);

// potluckd from `build_dir` on 127.0.0.1:`http_port`, workers on `workers_endpoint`, its journal in
// `data_dir`, quiet (warnings only) and not rate-limited, plus `extra` flags; returns once its
// /healthz answers, or throws with its log.
std::unique_ptr<child_process> start_potluckd(const std::filesystem::path& build_dir, const std::filesystem::path& data_dir,
                                              std::uint16_t http_port, const std::string& workers_endpoint,
                                              const std::filesystem::path& log, std::vector<std::string> extra = {});

// Reads `from` and writes `to` in 1 MiB pieces, with an fsync at the end when `sync`: a
// ceiling for moving a file's bytes.
void copy_file_bytes(const std::filesystem::path& from, const std::filesystem::path& to, bool sync);
std::uint16_t free_tcp_port();
std::filesystem::path self_exe();
std::string describe_wait_status(int status);

}  // namespace potluck::bench
