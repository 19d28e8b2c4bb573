// event_hub: fan-out of job and worker events to subscribers (server-sent event streams).
//
// Threads: publish() and subscribe() from any thread. Callbacks run on the publishing
// thread with no lock held by the hub, so they must be quick and must not block (the HTTP
// layer's event_stream::send only queues). A callback returning false unsubscribes itself.
// Publishing with no subscriber costs one atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace potluck::daemon {

struct event {
  std::string kind;  // SSE event name: "job", "progress", "worker"
  std::int64_t job_id = 0;  // 0 for worker events
  std::string json;  // the SSE data
  bool terminal = false;  // a job event announcing its (journaled) terminal state
};

class event_hub {
 public:
  using callback = std::function<bool(const event&)>;
  using token = std::uint64_t;

  // job_id == 0: every event; otherwise only that job's events.
  token subscribe(std::int64_t job_id, callback cb);
  void unsubscribe(token t);
  void publish(const event& e);
  bool has_subscribers() const { return count_.load(std::memory_order_relaxed) > 0; }
  std::size_t subscriber_count() const { return count_.load(std::memory_order_relaxed); }

 private:
  struct entry {
    std::int64_t job_id;
    std::shared_ptr<callback> cb;
  };
  mutable std::mutex mutex_;
  std::unordered_map<token, entry> subscribers_;
  token next_token_ = 1;
  std::atomic<std::size_t> count_{0};
};

}  // namespace potluck::daemon
