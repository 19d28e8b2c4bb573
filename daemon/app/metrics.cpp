#include "daemon/app/metrics.hpp"

#include <cstdio>

namespace potluck::daemon {

void latency_histogram::observe_us(std::int64_t micros) {
  const double seconds = static_cast<double>(micros) / 1e6;
  std::size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(micros < 0 ? 0 : micros), std::memory_order_relaxed);
}

void latency_histogram::render(std::string& out, const char* name, const char* help) const {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  out += line;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                  static_cast<unsigned long long>(cumulative));
    out += line;
  }
  cumulative += buckets_[bounds.size()].load(std::memory_order_relaxed);
  std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                static_cast<unsigned long long>(cumulative), name,
                static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6, name,
                static_cast<unsigned long long>(count_.load(std::memory_order_relaxed)));
  out += line;
}

std::string metrics::render() const {
  std::string out;
  char line[256];
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  static_cast<unsigned long long>(v));
    out += line;
  };
  auto gauge = [&](const char* name, const char* help, std::int64_t v) {
    std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
                  static_cast<long long>(v));
    out += line;
  };
  out += "# HELP potluck_jobs_total Jobs by final state since the daemon started (submitted: accepted with 202).\n"
         "# TYPE potluck_jobs_total counter\n";
  auto state_line = [&](const char* state, std::uint64_t v) {
    std::snprintf(line, sizeof line, "potluck_jobs_total{state=\"%s\"} %llu\n", state,
                  static_cast<unsigned long long>(v));
    out += line;
  };
  state_line("submitted", jobs_submitted.load());
  state_line("succeeded", jobs_succeeded.load());
  state_line("failed", jobs_failed.load());
  state_line("cancelled", jobs_cancelled.load());
  counter("potluck_jobs_requeued_total", "Jobs put back in the queue after their worker was lost or returned them.",
          jobs_requeued.load());
  counter("potluck_http_rejected_jobs_total", "Job submissions refused with a 4xx answer.", http_rejected.load());
  counter("potluck_wire_bad_messages_total", "Worker-socket messages dropped because they did not decode.",
          wire_bad_messages.load());
  counter("potluck_wire_unexpected_total", "Valid worker-socket messages that were unexpected (peer disconnected).",
          wire_unexpected.load());
  counter("potluck_workers_lost_total", "Workers declared dead after missing their heartbeats.", workers_lost.load());
  gauge("potluck_queue_depth", "Jobs waiting for a worker.", queue_depth.load());
  gauge("potluck_jobs_running", "Jobs running on workers.", jobs_running.load());
  gauge("potluck_workers_connected", "Registered workers.", workers_connected.load());
  gauge("potluck_slots_total", "Slots of all registered workers.", slots_total.load());
  gauge("potluck_slots_busy", "Slots running a job.", slots_busy.load());
  dispatch_latency.render(out, "potluck_dispatch_latency_seconds",
                          "Time from a job being journaled (or requeued) to its dispatch to a worker.");
  return out;
}

}  // namespace potluck::daemon
