// metrics: the daemon's counters and the dispatch-latency histogram, rendered as Prometheus
// text at /metrics. Lock-free: atomics only, updated from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace potluck::daemon {

class latency_histogram {
 public:
  // Upper bounds in seconds, Prometheus "le" buckets.
  static constexpr std::array<double, 12> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.05,   0.1,   0.5,    1.0};
  void observe_us(std::int64_t micros);
  void render(std::string& out, const char* name, const char* help) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

struct metrics {
  std::atomic<std::uint64_t> jobs_submitted{0};
  std::atomic<std::uint64_t> jobs_succeeded{0};
  std::atomic<std::uint64_t> jobs_failed{0};
  std::atomic<std::uint64_t> jobs_cancelled{0};
  std::atomic<std::uint64_t> jobs_requeued{0};
  std::atomic<std::uint64_t> http_rejected{0};        // 4xx answers to job submissions
  std::atomic<std::uint64_t> wire_bad_messages{0};    // frames that did not decode
  std::atomic<std::uint64_t> wire_unexpected{0};      // valid but unexpected commands
  std::atomic<std::uint64_t> workers_lost{0};         // declared dead by heartbeat
  std::atomic<std::int64_t> queue_depth{0};
  std::atomic<std::int64_t> jobs_running{0};
  std::atomic<std::int64_t> workers_connected{0};
  std::atomic<std::int64_t> slots_total{0};
  std::atomic<std::int64_t> slots_busy{0};
  latency_histogram dispatch_latency;  // journaled -> sent to a worker

  std::string render() const;
};

}  // namespace potluck::daemon
