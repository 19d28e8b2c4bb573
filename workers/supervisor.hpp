// The supervisor: the worker process the donor starts. It talks to the daemon and owns no
// plugin code: every job runs in a runner child process (one per slot), so a plugin crash
// kills only that runner, which the supervisor reports as a failed job and restarts.
//
// Threads: one. A single poll loop serves the daemon DEALER, the runners' ROUTER and a signal
// self-pipe (SIGTERM, SIGINT, SIGCHLD), with timers computed from deadlines each round.
// Invariants: per runner, at most one daemon job running or waiting for it to come up, plus
// up to 4 short ones sent ahead (started in order); per backend, at most `prefetch` jobs in the
// backlog waiting for any free runner; a job a runner did not run goes to another runner, never
// failed for it; every JOB gets exactly one of
// RESULT, FAILED, CANCELLED, RETURNED while the registration it came with lasts; replies for
// jobs of a lost registration are dropped.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace potluck::worker {

enum class gpu_mode { none, all, some };  // some: only gpu_indices

struct supervisor_config {
  std::string daemon_endpoint = "tcp://127.0.0.1:5555";
  std::filesystem::path plugin_dir;
  std::filesystem::path runner_executable;  // this program, started with --runner
  std::filesystem::path runtime_parent_dir; // where potluck-worker-<pid>/ is made (TMPDIR)
  std::size_t cpu_slots = 1;
  std::size_t prefetch = 8;  // jobs the daemon may send ahead of a free slot (HELLO "prefetch")
  std::string name;
  std::string token;  // the donor's API token, sent in HELLO; never logged
  // The daemon's CurveZMQ public key (Z85, 40 characters): set, the link to the daemon is
  // encrypted and the daemon authenticated; empty, plain (loopback).
  std::string server_key;
  // The donor's asks by backend (HELLO "prices"), micro-credits per million work units; a
  // backend not named asks 0. Whether free jobs (bid 0) are welcome (HELLO "accept_free").
  std::map<std::string, std::int64_t> prices;
  bool accept_free = true;
  std::string hostname;
  gpu_mode gpus = gpu_mode::all;
  std::vector<int> gpu_indices;  // gpu_mode::some: the GPUs lent, by index
  // The model cache (model_cache.hpp): where the hub's model files are kept, and at most how
  // many bytes of them. `hub_url` overrides where they are fetched from (else the WELCOME's).
  std::filesystem::path model_cache_dir;
  std::uint64_t model_cache_bytes = 20ULL << 30;
  std::string hub_url;
  std::string log_level = "info";  // passed to runners
  std::chrono::milliseconds grace{10000};
};

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean shutdown).
int run_supervisor(const supervisor_config& config, std::shared_ptr<spdlog::logger> log);

}  // namespace potluck::worker
