// The daemon's HTTP/1.1 layer: plain request/response types, a flat router, server-sent
// event streams, and the server (Boost.Beast, hidden behind a pimpl so that this header
// stays light for the route files that include it).
//
// Threads: the server runs `threads` I/O threads; each connection is one session on its own
// strand. A handler runs on the session's strand and must not block: it answers through the
// responder at once or later from any thread (after a journal commit, say). Responders and
// event streams are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace potluck::daemon::http {

struct request {
  std::string method;   // "GET", "POST", ...
  std::string path;     // percent-decoded path without the query, e.g. "/api/v1/jobs/7"
  std::map<std::string, std::string> query;        // decoded query parameters (last wins)
  std::map<std::string, std::string> path_params;  // from "{name}" segments of the route
  std::map<std::string, std::string> headers;      // names lower-cased
  std::string body;
  std::string remote;  // "ip:port" of the client

  const std::string* header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
  }
  const std::string* query_param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
};

struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // When set, the body is these bytes of a file, streamed from disk in chunks (`body` is
  // ignored): for downloads too large to hold in memory.
  struct file_part {
    std::filesystem::path path;
    std::uint64_t offset = 0, length = 0;
  };
  std::optional<file_part> file;
};

// {"error": {"code": code, "message": message}} with the given status.
response json_error(unsigned status, std::string_view code, std::string_view message);
// A JSON body with the given status.
response json(unsigned status, std::string body);

// An open server-sent events stream. send() is thread-safe and never blocks on the network:
// events are queued per connection; a client too slow to keep up (more than
// max_queued_bytes pending) is disconnected rather than letting memory grow.
class event_stream {
 public:
  virtual ~event_stream() = default;
  // Queues "event: <event>\ndata: <data>\n\n" (data split on newlines into several data lines).
  // Returns false once the stream is closed.
  virtual bool send(std::string_view event, std::string_view data) = 0;
  virtual bool closed() const = 0;
  // Ends the stream (the connection closes after the queued events are written).
  virtual void close() = 0;
  // Called once, from any thread, when the stream closes for any reason.
  virtual void on_close(std::function<void()> callback) = 0;
};

// The one way a handler answers. Move-only; exactly one of send() or start_events() is called.
// If a responder is destroyed unanswered, the client gets a 500 "internal" error.
class responder {
 public:
  class impl;
  explicit responder(std::shared_ptr<impl> impl);
  responder(responder&&) noexcept;
  responder& operator=(responder&&) noexcept;
  responder(const responder&) = delete;
  responder& operator=(const responder&) = delete;
  ~responder();

  void send(response r);
  // Answers 200 text/event-stream and keeps the connection open for events.
  std::shared_ptr<event_stream> start_events();

 private:
  std::shared_ptr<impl> impl_;
};

using handler = std::function<void(request&, responder)>;

// A request body consumed as it arrives, for uploads larger than a body held in memory: the
// server reads it in chunks and hands each to the sink, on the connection's strand, in order.
class body_sink {
 public:
  virtual ~body_sink() = default;
  // One chunk. nullopt: go on; a response: stop reading, answer it and close the connection
  // (the rest of the body is drained, not read).
  virtual std::optional<response> write(std::string_view chunk) = 0;
  // The whole body arrived: answer through `res`, now or later.
  virtual void finish(responder res) = 0;
  // The body will not arrive whole (the client went away or stalled, or the body is over the
  // route's limit, which the client is told): drop what was written.
  virtual void abort(std::string_view why) = 0;
};

// Sees an upload's request (headers, query and path parameters; body empty) before its body
// is read. Returns the sink for the body, or nullptr after answering `res` (a refusal: the
// body is then drained unread and the connection closed).
using upload_opener = std::function<std::unique_ptr<body_sink>(request&, responder& res)>;

// Method + path pattern -> handler. Patterns are literal segments and "{name}" segments,
// e.g. "/api/v1/jobs/{id}/cancel", and may end with "{name*}", which takes the rest of the
// path ("a/b/c.txt"). No match for the path: 404 not_found; the path matches
// but not the method: 405 method_not_allowed with an Allow header. A GET that matches no
// route is served from the static folder when one is set ("/" serves index.html).
class router {
 public:
  void add(std::string method, std::string pattern, handler h);
  // A route whose body streams to a sink, up to max_bytes (413 beyond).
  void add_upload(std::string method, std::string pattern, std::uint64_t max_bytes, upload_opener open);
  // The upload route for this request, with its path parameters filled; nullptr when the
  // request is not for one (used by the server after the headers are read).
  struct upload_route {
    std::uint64_t max_bytes = 0;
    upload_opener open;
  };
  const upload_route* find_upload(request& req) const;
  void set_static_dir(std::filesystem::path dir);
  // Routes one request (used by the server; public so tests can call it directly).
  void dispatch(request& req, responder res) const;

 private:
  struct route {
    std::string method;
    std::vector<std::string> segments;
    handler h;
  };
  struct upload_entry {
    std::string method;
    std::vector<std::string> segments;
    upload_route upload;
  };
  std::vector<route> routes_;
  std::vector<upload_entry> uploads_;
  std::optional<std::filesystem::path> static_dir_;
};

struct server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = any free port (see server::port())
  int threads = 2;
  std::size_t max_body_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{30'000};
  std::size_t max_queued_event_bytes = 4 * 1024 * 1024;  // per event stream
  std::chrono::milliseconds event_keepalive{15'000};     // ": keepalive" comment interval
};

class server {
 public:
  // Binds and listens at once; throws std::runtime_error naming the address when it cannot.
  server(const router& routes, server_options options);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  void start();  // starts the I/O threads
  std::uint16_t port() const;
  // Stops accepting, lets in-flight requests finish within `deadline`, closes event
  // streams, then cancels what is left and joins the threads.
  void stop(std::chrono::milliseconds deadline = std::chrono::milliseconds(5'000));

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace potluck::daemon::http
