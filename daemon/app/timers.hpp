// timer_queue: runs callbacks at deadlines on one thread of its own. Callbacks must be quick.
// Used for request deadlines (a submit that waits for its result). Cancelling is the
// callback's business: it runs regardless, and checks whether it still has work to do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace potluck::daemon {

class timer_queue {
 public:
  using clock = std::chrono::steady_clock;

  timer_queue() : thread_([this] { run(); }) {}
  ~timer_queue() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  timer_queue(const timer_queue&) = delete;
  timer_queue& operator=(const timer_queue&) = delete;

  void at(clock::time_point when, std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      timers_.push({when, sequence_++, std::move(fn)});
    }
    wake_.notify_one();
  }

 private:
  struct timer {
    clock::time_point when;
    std::uint64_t sequence;
    std::function<void()> fn;
    bool operator>(const timer& o) const { return when != o.when ? when > o.when : sequence > o.sequence; }
  };

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (timers_.empty()) {
        wake_.wait(lock);
        continue;
      }
      const auto next = timers_.top().when;
      if (clock::now() < next) {
        wake_.wait_until(lock, next);
        continue;
      }
      auto fn = std::move(const_cast<timer&>(timers_.top()).fn);
      timers_.pop();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
  std::uint64_t sequence_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace potluck::daemon
