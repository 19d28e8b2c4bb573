// A small synchronous HTTP/1.1 client for the potluck CLI: one connection per request
// (Connection: close), fixed-length and chunked bodies, a deadline on every request,
// server-sent event streams that end when the server closes, the caller stops, the stream idles
// past a deadline, or the user presses Ctrl-C, and transfers of files too large to hold in
// memory: an upload's body read in pieces as it goes out, a download's handed on as it arrives.
//
// Boost.Beast and Asio are included only by http_client.cpp, so that they compile once.
// Threads: one client per thread; every call blocks its caller.
#pragma once

#include "cli/errors.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
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

// Headers a request sends besides the client's own: {"X-Potluck-Bill-To", "acme"}. The caller
// checks the values: they go on the wire as they are.
using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  unsigned status = 0;
  std::string content_type;
  std::string retry_after;  // the Retry-After header (seconds), empty when absent
  std::string body;
  header_list headers;      // every header of the answer, in its order

  // The value of header `name` (any case); "" when the answer has none.
  std::string header(std::string_view name) const;
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

// Where an upload's body comes from: fills the front of `buffer` and returns how many bytes it
// wrote, at least 1 until the body's announced size is reached. It may throw (a file that cannot
// be read): the request is abandoned and the exception comes out of upload().
using body_source = std::function<std::size_t(std::span<char> buffer)>;

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

  // Sends a request whose body, `body_bytes` long, is read from `source` in pieces as it goes
  // out, so that a large file is never whole in memory (Content-Type application/octet-stream
  // unless `headers` say otherwise). It asks first (Expect: 100-continue), so that a refusal
  // (401, 413) comes back before the body is sent; a server that says nothing within a second
  // gets the body anyway. `on_sent` runs after each piece with the bytes sent so far. The
  // deadline applies to each piece and to the wait for the answer, which is read whole.
  // Throws unreachable_error, or what `source` or `on_sent` threw.
  http_response upload(std::string_view method, std::string_view target, std::uint64_t body_bytes,
                       const body_source& source, const std::function<void(std::uint64_t sent)>& on_sent,
                       const header_list& headers = {});

  // GETs `target`. The body of a 2xx answer goes to `on_body` in pieces as they arrive, after
  // `on_head` saw the answer's status and headers; any other answer comes back with its body
  // whole (the daemon's error). The deadline applies to each wait for bytes, not to the whole
  // transfer. Throws unreachable_error, or what a callback threw (the transfer stops there).
  http_response download(std::string_view target, const header_list& headers,
                         const std::function<void(const http_response& head)>& on_head,
                         const std::function<void(std::string_view bytes)>& on_body);

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
