// work_queue: runs blocking work (a journal write that returns after its commit) on one thread
// of its own, in order, so that HTTP handlers never wait on an fsync on an I/O thread. The
// work answers its request itself, from this thread, through its responder.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace potluck::daemon {

class work_queue {
 public:
  work_queue() : thread_([this] { run(); }) {}
  ~work_queue() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();  // what was queued still runs: its requests get their answers
  }
  work_queue(const work_queue&) = delete;
  work_queue& operator=(const work_queue&) = delete;

  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      work_.push_back(std::move(fn));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !work_.empty(); });
        if (work_.empty()) return;
        fn = std::move(work_.front());
        work_.pop_front();
      }
      fn();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> work_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace potluck::daemon
