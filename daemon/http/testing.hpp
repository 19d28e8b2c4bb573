// Test helper for route handlers: a responder that hands its answer to a callback instead of
// a socket, so router::dispatch() can be called directly in a unit test.
//
//   std::optional<response> got;
//   routes.dispatch(req, callback_responder([&](response r) { got = std::move(r); }));
//
// The callback runs on whichever thread answers (or drops) the responder. start_events()
// calls `on_events` when given one, else it returns a stream that is already closed.
#pragma once

#include <functional>
#include <memory>

#include "daemon/http/http.hpp"

namespace potluck::daemon::http {

responder callback_responder(std::function<void(response)> on_send,
                             std::function<std::shared_ptr<event_stream>()> on_events = {});

}  // namespace potluck::daemon::http
