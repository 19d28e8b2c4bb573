// A small synchronous HTTP/1.1 client for the potluck CLI: one connection per request
// (Connection: close), fixed-length and chunked bodies, a deadline on every request, and
// server-sent event streams that end when the server closes, the caller stops, the stream idles
// past a deadline, or the user presses Ctrl-C.
//
// Boost.Beast and Asio are included only by http_client.cpp, so that they compile once.
// Threads: one client per thread; every call blocks its caller.
#pragma once

#include "cli/errors.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace potluck::cli {

// Where the daemon is: "http://host:port[/prefix]". A bare "host:port" means http.
struct base_url {
  std::string text;    // as shown to the user, without a trailing slash
  std::string host;
  std::string port;
  std::string prefix;  // path before /api/v1, without a trailing slash; usually empty
};
// Throws usage_error for anything but an http URL with a host.
base_url parse_base_url(std::string_view url);

struct http_response {
  unsigned status = 0;
  std::string content_type;
  std::string retry_after;  // the Retry-After header (seconds), empty when absent
  std::string body;
};

// Incremental parser of a text/event-stream body (the WHATWG rules the daemon needs: "event:",
// "data:" lines joined with '\n', comments, CRLF or LF line ends).
class sse_parser {
 public:
  struct event {
    std::string name = "message";
    std::string data;
  };
  // Feeds bytes; calls `on_event` for each complete event until it returns false. Returns
  // false when the callback stopped it.
  bool feed(std::string_view bytes, const std::function<bool(const event&)>& on_event);

 private:
  std::string line_;
  event current_;
  bool has_data_ = false;
};

enum class stream_end { server_closed, stopped, idle_timeout, interrupted };

// Headers a request sends besides the client's own: {"X-Potluck-Bill-To", "acme"}. The caller
// checks the values: they go on the wire as they are.
using header_list = std::vector<std::pair<std::string, std::string>>;

class http_client {
 public:
  http_client(base_url url, std::chrono::milliseconds timeout) : url_(std::move(url)), timeout_(timeout) {}

  const base_url& url() const { return url_; }

  // Sent as "Authorization: Bearer TOKEN" with every request from now on; empty sends none.
  // The caller checks it first (config.hpp's token_problem): it goes into a header as is.
  void set_bearer_token(std::string token) { bearer_token_ = std::move(token); }
  bool has_bearer_token() const { return !bearer_token_.empty(); }

  // `target` starts with '/' and is appended to the URL's prefix. Throws unreachable_error.
  http_response request(std::string_view method, std::string_view target, std::string_view body = {},
                        const header_list& headers = {});
  http_response get(std::string_view target) { return request("GET", target); }
  http_response post(std::string_view target, std::string_view body) { return request("POST", target, body); }

  // Opens an event stream. A non-200 answer comes back in `refused` and no event is read.
  // `on_tick` runs every `tick` while the stream is open (redraws a progress line).
  stream_end follow_events(std::string_view target, const std::function<bool(const sse_parser::event&)>& on_event,
                           const std::function<void()>& on_tick, std::chrono::milliseconds tick,
                           std::chrono::milliseconds idle_timeout, http_response& refused);

 private:
  base_url url_;
  std::chrono::milliseconds timeout_;
  std::string bearer_token_;
};

}  // namespace potluck::cli
