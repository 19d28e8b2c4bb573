// The runner: a child process of the supervisor that loads every plugin and runs jobs, one at
// a time. A plugin crash kills only this process; the supervisor reports it and restarts it.
//
// Threads: the main thread owns the DEALER socket to the supervisor and polls it (JOB, CANCEL,
// DISCONNECT), the SIGTERM pipe and an eventfd. One job thread opens the sessions (one per
// task, lazily, kept for the runner's life), runs jobs and closes the sessions, so a plugin sees
// one thread for a session's whole life. The job thread never touches a socket: it leaves
// progress (latest value wins) and the outcome in a mutex-guarded mailbox and writes the
// eventfd; the main thread sends them, at most one PROGRESS per 50 ms per job.
//
// Loading: the plugin files are loaded one by one, each named first in the load marker file,
// so a plugin whose load crashes the process can be told apart and skipped by the next runner.
#pragma once

#include <spdlog/logger.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace potluck::worker {

struct runner_config {
  std::size_t slot = 0;
  std::string backend = "cpu";  // "cpu" or "cuda"
  int device_index = -1;        // -1 for the CPU, else the GPU ordinal
  std::string endpoint;         // the supervisor's ROUTER, ipc://...
  std::filesystem::path plugin_dir;
  // Plugin files not to load: each crashed (or hung) an earlier runner while loading.
  std::vector<std::filesystem::path> skip_plugins;
  // Holds the path of the plugin file being loaded, so that the supervisor can name (and skip)
  // a plugin that kills the runner during its load. Empty: no marker.
  std::filesystem::path load_marker;
};

// Runs until SIGTERM or DISCONNECT from the supervisor, then exits once the job at hand is
// done (the supervisor sends CANCEL first when it wants it stopped); returns the exit code.
int run_runner(const runner_config& config, std::shared_ptr<spdlog::logger> log);

}  // namespace potluck::worker
