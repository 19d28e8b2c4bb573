// Private to daemon/http: the shape of responder::impl, shared by the server's sessions and
// by the callback responder that tests use (testing.hpp).
//
// Threads: claim() is the one race point (a responder may be answered or dropped on any
// thread); it lets exactly one answer through. deliver()/open_events() run on the thread
// that answered and must only queue work, never block.
#pragma once

#include <atomic>
#include <memory>

#include "daemon/http/http.hpp"

namespace potluck::daemon::http {

class responder::impl {
 public:
  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  // Derived classes answer 500 "internal" in their destructor when claim() still succeeds:
  // the base cannot, its virtuals are gone by then.
  virtual ~impl() = default;

  // True exactly once: for the first answer.
  bool claim() { return !answered_.exchange(true, std::memory_order_acq_rel); }
  bool answered() const { return answered_.load(std::memory_order_acquire); }

  virtual void deliver(response r) = 0;
  virtual std::shared_ptr<event_stream> open_events() = 0;

 private:
  std::atomic<bool> answered_{false};
};

// The response for a responder destroyed unanswered.
response unanswered_response();

// An event stream that is closed from the start (start_events() on an answered responder).
std::shared_ptr<event_stream> closed_event_stream();

}  // namespace potluck::daemon::http
