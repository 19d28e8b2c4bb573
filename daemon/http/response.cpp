// Responses and the responder handle: json/json_error, responder's forwarding to its impl,
// and the callback responder for tests (testing.hpp).
//
// Threads: a responder is owned by one thread at a time (move-only); its impl decides, with
// an atomic claim, which of send()/start_events()/destruction answers.
#include <utility>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "daemon/http/http.hpp"
#include "daemon/http/responder_impl.hpp"
#include "daemon/http/testing.hpp"

namespace potluck::daemon::http {

response json_error(unsigned status, std::string_view code, std::string_view message) {
  boost::json::object error;
  error["code"] = code;
  error["message"] = message;
  boost::json::object root;
  root["error"] = std::move(error);
  response r;
  r.status = status;
  r.body = boost::json::serialize(root);
  return r;
}

response json(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response unanswered_response() {
  return json_error(500, "internal", "the request handler ended without answering");
}

namespace {

class closed_stream final : public event_stream {
 public:
  bool send(std::string_view, std::string_view) override { return false; }
  bool closed() const override { return true; }
  void close() override {}
  void on_close(std::function<void()> callback) override {
    if (callback) callback();
  }
};

class callback_impl final : public responder::impl {
 public:
  callback_impl(std::function<void(response)> on_send,
                std::function<std::shared_ptr<event_stream>()> on_events)
      : on_send_(std::move(on_send)), on_events_(std::move(on_events)) {}
  ~callback_impl() override {
    if (claim()) deliver(unanswered_response());
  }
  void deliver(response r) override {
    if (on_send_) on_send_(std::move(r));
  }
  std::shared_ptr<event_stream> open_events() override {
    if (on_events_) return on_events_();
    return closed_event_stream();
  }

 private:
  std::function<void(response)> on_send_;
  std::function<std::shared_ptr<event_stream>()> on_events_;
};

}  // namespace

std::shared_ptr<event_stream> closed_event_stream() { return std::make_shared<closed_stream>(); }

responder::responder(std::shared_ptr<impl> impl) : impl_(std::move(impl)) {}
responder::responder(responder&&) noexcept = default;
responder& responder::operator=(responder&& other) noexcept {
  // Moving over an unanswered responder drops it: its impl answers 500 when released.
  impl_ = std::move(other.impl_);
  return *this;
}
responder::~responder() = default;

void responder::send(response r) {
  if (!impl_ || !impl_->claim()) {
    spdlog::warn("http: a handler answered a request twice; the second answer is dropped");
    return;
  }
  impl_->deliver(std::move(r));
  impl_.reset();
}

std::shared_ptr<event_stream> responder::start_events() {
  if (!impl_ || !impl_->claim()) {
    spdlog::warn("http: start_events() on a request already answered");
    return closed_event_stream();
  }
  auto stream = impl_->open_events();
  impl_.reset();
  return stream;
}

responder callback_responder(std::function<void(response)> on_send,
                             std::function<std::shared_ptr<event_stream>()> on_events) {
  return responder(std::make_shared<callback_impl>(std::move(on_send), std::move(on_events)));
}

}  // namespace potluck::daemon::http
