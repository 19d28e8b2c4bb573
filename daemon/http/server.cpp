// The HTTP/1.1 server: a listener, one session per connection, and server-sent event streams.
//
// Threads and ownership:
// - `core` owns the io_context and is shared by the server and every session, so a responder
//   kept by a handler past the server's life still points at live objects (its answer is then
//   dropped: after stop() nothing new is queued).
// - Each session runs on its own strand: every socket operation and every member below marked
//   "strand" is touched only there. Responders and event streams are the ways in from other
//   threads; they post to the strand (or run inline when already on it).
// - An event stream keeps its queue behind its own mutex; the session drains it on the strand.
//
// Invariants: a session handles one request at a time (a pipelined next request waits in the
// read buffer until the current response is written); a session closes exactly once
// (finish()), which unregisters it from the server and fires the stream's on_close.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "daemon/http/http.hpp"
#include "daemon/http/responder_impl.hpp"

namespace potluck::daemon::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using strand_type = net::strand<net::io_context::executor_type>;

// ---- Named limits ---------------------------------------------------------------------
// The request body limit and the read timeout come from server_options.
constexpr std::uint32_t max_header_bytes = 32 * 1024;  // request line + headers
// Requests on one connection are handled strictly one after another: at most one in flight.
constexpr int max_requests_in_flight_per_connection = 1;
// After an error answer (400, 413, 431) the client may still be sending; unread input at
// close() would turn the close into a reset that can destroy the answer, so input is
// drained for a while first.
constexpr std::chrono::milliseconds linger_timeout{1'000};
constexpr std::size_t linger_max_bytes = 1024 * 1024;
constexpr std::chrono::milliseconds accept_retry_delay{50};
// How long the final drain in stop() may run the completions of what it cancelled.
constexpr std::chrono::milliseconds drain_timeout{1'000};
constexpr std::size_t watch_buffer_bytes = 512;
static_assert(max_requests_in_flight_per_connection == 1, "sessions do not pipeline");

constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view keepalive_comment = ": keepalive\n\n";

std::string lowercase_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::string endpoint_text(const net::ip::address& address, std::uint16_t port) {
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in` onto `out`; a '%' not followed by two hex digits is kept as it is.
void percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.reserve(out.size() + in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
}

void parse_query(std::string_view query, std::map<std::string, std::string>& out) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key;
    std::string value;
    percent_decode(pair.substr(0, eq), key, true);
    if (eq != std::string_view::npos) percent_decode(pair.substr(eq + 1), value, true);
    out.insert_or_assign(std::move(key), std::move(value));  // last wins
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Header text from handlers must not smuggle line breaks into the response head.
void append_header_text(std::string& out, std::string_view text) {
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

std::string_view reason_for(unsigned status) {
  std::string_view reason = bhttp::obsolete_reason(bhttp::int_to_status(status));
  if (reason.empty() || reason.front() == '<') return "Unknown";
  return reason;
}

bool body_allowed(unsigned status) { return status >= 200 && status != 204 && status != 304; }

// Formats the head of `r`; the body goes out as a second buffer, not copied.
void format_head(std::string& out, unsigned version, const response& r, bool keep_alive) {
  out.clear();
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += reason_for(r.status);
  out += "\r\nServer: potluckd\r\n";
  bool has_cache_control = false;
  for (const auto& [name, value] : r.headers) {
    // The server owns framing: handlers cannot set these.
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
        iequals(name, "connection") || iequals(name, "server")) {
      continue;
    }
    if (iequals(name, "cache-control")) has_cache_control = true;
    append_header_text(out, name);
    out += ": ";
    append_header_text(out, value);
    out += "\r\n";
  }
  if (body_allowed(r.status)) {
    if (!r.content_type.empty()) {
      out += "Content-Type: ";
      append_header_text(out, r.content_type);
      out += "\r\n";
    }
    out += "Content-Length: ";
    out += std::to_string(r.file ? r.file->length : r.body.size());
    out += "\r\n";
  }
  if (!has_cache_control && r.content_type.starts_with("application/json")) {
    out += "Cache-Control: no-store\r\n";
  }
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
}

std::string events_head(unsigned version) {
  std::string out = version == 10 ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.1 200 OK\r\n";
  out +=
      "Server: potluckd\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "Connection: keep-alive\r\n"
      "X-Accel-Buffering: no\r\n"
      "\r\n";
  return out;
}

// "event: <event>\ndata: <line>\n...\n"; any of \r\n, \r, \n ends a data line.
void append_event(std::string& out, std::string_view event, std::string_view data) {
  if (!event.empty()) {
    out += "event: ";
    append_header_text(out, event);
    out += '\n';
  }
  std::size_t pos = 0;
  for (;;) {
    std::size_t end = data.find_first_of("\r\n", pos);
    out += "data: ";
    out += data.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    out += '\n';
    if (end == std::string_view::npos) break;
    if (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ++end;
    pos = end + 1;
  }
  out += '\n';
}

class session;

// What the server and its sessions share.
struct core {
  core(const router& r, server_options o) : routes(r), options(std::move(o)) {}

  net::io_context ioc;
  const router& routes;
  const server_options options;
  std::atomic<bool> stopping{false};

  // Runs fn on the strand: inline when already there, else posted. Once `shut` is set (the
  // I/O threads are gone) nothing new is queued and this returns false.
  template <typename Fn>
  bool run_on(const strand_type& strand, Fn&& fn) {
    if (strand.running_in_this_thread()) {
      fn();
      return true;
    }
    std::lock_guard lock(post_mutex);
    if (shut) return false;
    net::post(strand, std::forward<Fn>(fn));
    return true;
  }
  void shut_down_posting() {
    std::lock_guard lock(post_mutex);
    shut = true;
  }

  void add_session(session* s, std::weak_ptr<session> w) {
    std::lock_guard lock(sessions_mutex);
    sessions.emplace(s, std::move(w));
  }
  void remove_session(session* s) {
    std::lock_guard lock(sessions_mutex);
    if (sessions.erase(s) != 0 && sessions.empty()) sessions_empty.notify_all();
  }
  std::vector<std::shared_ptr<session>> live_sessions() {
    std::vector<std::shared_ptr<session>> out;
    std::lock_guard lock(sessions_mutex);
    out.reserve(sessions.size());
    for (auto& [ptr, weak] : sessions) {
      if (auto s = weak.lock()) out.push_back(std::move(s));
    }
    return out;
  }

  std::mutex post_mutex;
  bool shut = false;

  std::mutex sessions_mutex;
  std::condition_variable sessions_empty;
  std::unordered_map<session*, std::weak_ptr<session>> sessions;
};

// One open event stream. The queue lives here behind mu_; the session takes it on its strand.
class sse_stream final : public event_stream {
 public:
  sse_stream(std::weak_ptr<session> owner, std::size_t max_queued_bytes, std::string head)
      : owner_(std::move(owner)), max_queued_bytes_(max_queued_bytes), queued_(std::move(head)) {
    pending_bytes_ = queued_.size();
  }

  bool send(std::string_view event, std::string_view data) override {
    bool accepted = true;
    bool need_flush = true;
    {
      std::lock_guard lock(mu_);
      if (closed_) return false;
      std::size_t before = queued_.size();
      append_event(queued_, event, data);
      std::size_t added = queued_.size() - before;
      if (pending_bytes_ + added > max_queued_bytes_) {
        // The session sees overflow_ on its next flush and closes the connection.
        queued_.resize(before);
        closed_ = true;
        overflow_ = true;
        accepted = false;
      } else {
        pending_bytes_ += added;
        need_flush = !flush_requested_;
        flush_requested_ = true;
      }
    }
    if (need_flush) kick();
    return accepted;
  }

  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  void close() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      close_requested_ = true;
      flush_requested_ = true;
    }
    kick();
  }

  void on_close(std::function<void()> callback) override {
    {
      std::lock_guard lock(mu_);
      if (!fired_) {
        on_close_ = std::move(callback);
        return;
      }
    }
    if (callback) callback();
  }

  // ---- Session side (its strand) ----
  struct take_result {
    bool overflow = false;
    bool close_when_empty = false;
  };
  // Moves what is queued into `out` (empty on entry; the buffers trade places so that their
  // capacity is reused).
  take_result take(std::string& out) {
    std::lock_guard lock(mu_);
    flush_requested_ = false;
    out.swap(queued_);
    return {overflow_, close_requested_};
  }
  bool overflowed() const {
    std::lock_guard lock(mu_);
    return overflow_;
  }
  void written(std::size_t bytes) {
    std::lock_guard lock(mu_);
    pending_bytes_ -= std::min(bytes, pending_bytes_);
  }
  // The keepalive comment; false when the stream is closing.
  bool queue_keepalive() {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (pending_bytes_ + keepalive_comment.size() > max_queued_bytes_) {
      closed_ = true;
      overflow_ = true;
      return true;
    }
    queued_ += keepalive_comment;
    pending_bytes_ += keepalive_comment.size();
    return true;
  }
  // The connection is gone: refuse further sends and fire on_close, once.
  void connection_closed() {
    std::function<void()> callback;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      queued_.clear();
      queued_.shrink_to_fit();
      if (fired_) return;
      fired_ = true;
      callback = std::move(on_close_);
    }
    if (!callback) return;
    try {
      callback();
    } catch (const std::exception& e) {
      spdlog::error("http: an event stream's on_close callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("http: an event stream's on_close callback threw");
    }
  }

 private:
  void kick();  // asks the session to flush (defined after session)

  std::weak_ptr<session> owner_;
  const std::size_t max_queued_bytes_;
  mutable std::mutex mu_;
  std::string queued_;
  std::size_t pending_bytes_ = 0;  // queued plus being written
  bool closed_ = false;            // no more sends
  bool close_requested_ = false;   // close() called: flush, then close the connection
  bool overflow_ = false;          // the client fell behind: close at once
  bool flush_requested_ = false;   // a flush is queued on the strand
  bool fired_ = false;             // on_close has been called (or had nothing to call)
  std::function<void()> on_close_;
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<core> c, tcp::socket&& socket, strand_type strand)
      : core_(std::move(c)),
        strand_(std::move(strand)),
        stream_(std::move(socket)),
        keepalive_timer_(strand_) {
    error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : endpoint_text(endpoint.address(), endpoint.port());
  }

  ~session() {
    if (out_file_fd_ >= 0) ::close(out_file_fd_);
    if (!closed_) core_->remove_session(this);
    if (events_) events_->connection_closed();
  }

  // From the acceptor's strand.
  void start() {
    core_->add_session(this, weak_from_this());
    core_->run_on(strand_, [self = shared_from_this()] {
      if (self->core_->stopping) {
        self->finish();
        return;
      }
      self->do_read();
    });
  }

  // From stop(): idle connections close now; a request in a handler finishes first (its
  // answer goes out with "Connection: close"); an event stream flushes and closes.
  void on_server_stop() {
    core_->run_on(strand_, [self = shared_from_this()] {
      if (self->closed_) return;
      if (self->events_) {
        self->events_->close();
      } else if (self->phase_ == phase::reading || self->phase_ == phase::lingering) {
        self->finish();
      }
    });
  }

  // Only once the I/O threads are joined (nothing else touches the session then).
  void force_close() { finish(); }

  // ---- From responders (any thread) ----
  void answer(response r, unsigned version, bool keep_alive, bool head) {
    core_->run_on(strand_, [self = shared_from_this(), r = std::move(r), version, keep_alive,
                            head]() mutable {
      self->write_response(std::move(r), version, keep_alive, head, after_write::keep_or_close);
    });
  }

  std::shared_ptr<event_stream> open_events(unsigned version) {
    auto stream = std::make_shared<sse_stream>(
        weak_from_this(), core_->options.max_queued_event_bytes, events_head(version));
    bool queued = core_->run_on(strand_, [self = shared_from_this(), stream] {
      self->enter_events(stream);
    });
    if (!queued) stream->connection_closed();
    return stream;
  }

  // From an event stream (any thread).
  void request_flush() {
    core_->run_on(strand_, [self = shared_from_this()] { self->flush_events(); });
  }

 private:
  enum class phase { reading, handling, writing, events, lingering };
  enum class after_write { keep_or_close, linger };

  // ---- Requests ----
  void do_read() {
    if (closed_) return;
    if (core_->stopping) {
      finish();
      return;
    }
    phase_ = phase::reading;
    parser_.emplace();
    parser_->header_limit(max_header_bytes);
    // No limit while the headers are read: the route decides it (an upload's own, or the
    // server's), checked in on_read_header.
    parser_->body_limit(boost::none);
    stream_.expires_after(core_->options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](error_code ec, std::size_t) {
                               self->on_read_header(ec);
                             });
  }

  void on_read_header(error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    fill_request(parser_->get());
    if (const auto* upload = core_->routes.find_upload(req_)) return start_upload(*upload);
    if (auto declared = parser_->content_length(); declared && *declared > core_->options.max_body_bytes)
      return on_read_error(bhttp::error::body_limit);
    parser_->body_limit(core_->options.max_body_bytes);
    if (parser_->is_done()) return handle_request();
    auto& message = parser_->get();
    auto expect = message[bhttp::field::expect];
    if (message.version() >= 11 && iequals(expect, "100-continue")) {
      net::async_write(stream_, net::buffer(continue_100.data(), continue_100.size()),
                       [self = shared_from_this()](error_code ec, std::size_t) {
                         if (self->closed_) return;
                         if (ec) return self->finish();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->on_read_error(ec);
                        self->handle_request();
                      });
  }

  void on_read_error(error_code ec) {
    if (ec == bhttp::error::body_limit) {
      const auto limit = upload_limit_ ? upload_limit_ : core_->options.max_body_bytes;
      upload_limit_ = 0;
      spdlog::debug("http: {} sent a body over {} bytes", remote_, limit);
      return write_error(json_error(413, "body_too_large", "request body is larger than " + std::to_string(limit) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      spdlog::debug("http: {} sent headers over {} bytes", remote_, max_header_bytes);
      return write_error(json_error(431, "headers_too_large",
                                    "request headers are larger than " +
                                        std::to_string(max_header_bytes) + " bytes"));
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      spdlog::debug("http: malformed request from {}: {}", remote_, ec.message());
      return write_error(json_error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    // The client went away, idled past the read timeout, or the server is stopping.
    if (ec != bhttp::error::end_of_stream && ec != net::error::operation_aborted) {
      spdlog::debug("http: connection from {} ended: {}", remote_, ec.message());
    }
    finish();
  }

  void write_error(response r) { write_response(std::move(r), 11, false, false, after_write::linger); }

  // The request line and headers into req_ (the body is set by whoever reads it).
  template <class Message>
  void fill_request(Message& message) {
    req_.method.assign(message.method_string());
    std::string_view target = message.target();
    // Absolute-form ("http://host/path") is accepted by HTTP/1.1 servers; keep the path.
    if (!target.empty() && target.front() != '/') {
      std::size_t scheme = target.find("://");
      if (scheme != std::string_view::npos) {
        std::size_t slash = target.find('/', scheme + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      }
    }
    std::size_t question = target.find('?');
    req_.path.clear();
    percent_decode(target.substr(0, question), req_.path, false);
    req_.query.clear();
    if (question != std::string_view::npos) parse_query(target.substr(question + 1), req_.query);
    req_.path_params.clear();
    req_.headers.clear();
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      auto [it, inserted] = req_.headers.try_emplace(std::move(name), field.value());
      if (!inserted) {
        it->second += ", ";
        it->second.append(field.value());
      }
    }
    req_.body.clear();
    req_.remote = remote_;
  }

  void handle_request() {
    auto& message = parser_->get();
    req_.body = std::move(message.body());

    unsigned version = message.version();
    bool keep_alive = message.keep_alive();
    bool head = message.method() == bhttp::verb::head;
    phase_ = phase::handling;
    // A handler may answer much later (after a journal commit): that is not read time.
    stream_.expires_never();
    spdlog::debug("http: {} {} from {}", req_.method, req_.path, remote_);

    responder res(std::make_shared<session_responder>(shared_from_this(), version, keep_alive, head));
    try {
      core_->routes.dispatch(req_, std::move(res));
    } catch (const std::exception& e) {
      // The responder was destroyed during unwinding: an unanswered one answers 500.
      spdlog::error("http: handler for {} {} threw: {}", req_.method, req_.path, e.what());
    } catch (...) {
      spdlog::error("http: handler for {} {} threw", req_.method, req_.path);
    }
  }

  // ---- Uploads: a body streamed to a sink (router::add_upload) ----
  void start_upload(const router::upload_route& upload) {
    upload_limit_ = upload.max_bytes;
    if (auto declared = parser_->content_length(); declared && *declared > upload.max_bytes)
      return on_read_error(bhttp::error::body_limit);
    auto& message = parser_->get();
    const unsigned version = message.version();
    const bool keep_alive = message.keep_alive();
    const bool expects_continue = version >= 11 && iequals(message[bhttp::field::expect], "100-continue");
    phase_ = phase::handling;
    stream_.expires_never();
    // A refusal is answered with the body unread: the connection drains it and closes.
    linger_after_answer_ = true;
    auto refusal = std::make_shared<session_responder>(shared_from_this(), version, false, false);
    std::unique_ptr<body_sink> sink;
    {
      responder res(refusal);
      try {
        sink = upload.open(req_, res);
      } catch (const std::exception& e) {
        spdlog::error("http: upload handler for {} {} threw: {}", req_.method, req_.path, e.what());
      }
      // Taking the body means not answering yet: `res` must stay unanswered (claim it so that
      // dropping it sends nothing). An opener that answered and returned a sink is refused.
      if (sink && !refusal->claim()) {
        sink->abort("the upload handler answered and also took the body");
        sink.reset();
      }
    }
    if (!sink) return;
    linger_after_answer_ = false;
    sink_ = std::move(sink);
    upload_version_ = version;
    upload_keep_alive_ = keep_alive;
    upload_parser_.emplace(std::move(*parser_));
    parser_.reset();
    upload_parser_->body_limit(upload.max_bytes);
    chunk_.resize(upload_chunk_bytes);
    phase_ = phase::reading;
    if (!expects_continue) return read_upload_chunk();
    net::async_write(stream_, net::buffer(continue_100.data(), continue_100.size()),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (self->closed_) return self->drop_upload("the connection closed");
                       if (ec) {
                         self->drop_upload(ec.message());
                         return self->finish();
                       }
                       self->read_upload_chunk();
                     });
  }

  void read_upload_chunk() {
    if (upload_parser_->is_done()) return finish_upload();
    auto& body = upload_parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    body.more = true;
    stream_.expires_after(core_->options.read_timeout);
    bhttp::async_read_some(stream_, buffer_, *upload_parser_,
                           [self = shared_from_this()](error_code ec, std::size_t) { self->on_upload_chunk(ec); });
  }

  void on_upload_chunk(error_code ec) {
    if (closed_) return drop_upload("the connection closed");
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      drop_upload(ec.message());
      return on_read_error(ec);
    }
    const std::size_t got = chunk_.size() - upload_parser_->get().body().size;
    if (got > 0) {
      std::optional<response> stop;
      try {
        stop = sink_->write(std::string_view(chunk_.data(), got));
      } catch (const std::exception& e) {
        spdlog::error("http: upload sink for {} {} threw: {}", req_.method, req_.path, e.what());
        stop = json_error(500, "internal", "the upload could not be stored; see the daemon's log");
      }
      if (stop) {
        sink_.reset();  // its destructor drops what it wrote
        upload_parser_.reset();
        return write_error(std::move(*stop));
      }
    }
    read_upload_chunk();
  }

  void finish_upload() {
    upload_limit_ = 0;
    auto sink = std::move(sink_);
    upload_parser_.reset();
    phase_ = phase::handling;
    stream_.expires_never();
    responder res(std::make_shared<session_responder>(shared_from_this(), upload_version_, upload_keep_alive_, false));
    try {
      sink->finish(std::move(res));
    } catch (const std::exception& e) {
      spdlog::error("http: upload sink for {} {} threw at the end: {}", req_.method, req_.path, e.what());
    }
  }

  void drop_upload(std::string_view why) {
    if (sink_) sink_->abort(why);
    sink_.reset();
    upload_parser_.reset();
  }

  void write_response(response r, unsigned version, bool keep_alive, bool head, after_write then) {
    if (closed_ || events_) return;
    if (linger_after_answer_) {
      then = after_write::linger;
      linger_after_answer_ = false;
    }
    if (r.status < 100 || r.status > 999) {
      spdlog::error("http: a handler answered with status {}; sending 500", r.status);
      r = json_error(500, "internal", "the handler answered with an invalid status");
    }
    bool send_body = !head && body_allowed(r.status);
    if (r.file && send_body && !open_out_file(*r.file)) {
      spdlog::error("http: cannot open {} to answer {} {}", r.file->path.string(), req_.method, req_.path);
      r = json_error(500, "internal", "the file could not be read; see the daemon's log");
    }
    keep_alive_ = keep_alive && then == after_write::keep_or_close && !core_->stopping;
    after_write_ = then;
    phase_ = phase::writing;
    format_head(out_head_, version, r, keep_alive_);
    out_body_ = r.file ? std::string() : std::move(r.body);
    std::array<net::const_buffer, 2> buffers{
        net::buffer(out_head_),
        send_body ? net::buffer(out_body_) : net::const_buffer()};
    spdlog::debug("http: {} {} -> {} ({} bytes)", req_.method, req_.path, r.status,
                  out_body_.size());
    stream_.expires_after(core_->options.read_timeout);
    net::async_write(stream_, buffers, [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  // A file body: its descriptor and what is left to send, read and written in chunks.
  bool open_out_file(const response::file_part& part) {
    close_out_file();
    out_file_fd_ = ::open(part.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (out_file_fd_ < 0) return false;
    out_file_offset_ = part.offset;
    out_file_left_ = part.length;
    return true;
  }
  void close_out_file() {
    if (out_file_fd_ >= 0) ::close(out_file_fd_);
    out_file_fd_ = -1;
    out_file_left_ = 0;
  }
  // Sends the next chunk of the file body; false when there is none left.
  bool write_file_chunk() {
    if (out_file_fd_ < 0 || out_file_left_ == 0) {
      close_out_file();
      return false;
    }
    out_body_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(out_file_left_, file_chunk_bytes)));
    const auto n = ::pread(out_file_fd_, out_body_.data(), out_body_.size(), static_cast<off_t>(out_file_offset_));
    if (n <= 0) {
      // The length is promised in the head: a short file can only end the connection.
      spdlog::error("http: a file being sent for {} {} ended early", req_.method, req_.path);
      close_out_file();
      finish();
      return true;
    }
    out_body_.resize(static_cast<std::size_t>(n));
    out_file_offset_ += static_cast<std::uint64_t>(n);
    out_file_left_ -= static_cast<std::uint64_t>(n);
    stream_.expires_after(core_->options.read_timeout);
    net::async_write(stream_, net::buffer(out_body_), [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_write(ec);
    });
    return true;
  }

  void on_write(error_code ec) {
    if (closed_) return close_out_file();
    if (ec) {
      close_out_file();
      return finish();
    }
    if (write_file_chunk()) return;
    if (out_body_.capacity() > 64 * 1024) out_body_ = std::string();
    if (req_.body.capacity() > 64 * 1024) req_.body = std::string();
    if (after_write_ == after_write::linger) return linger();
    if (!keep_alive_ || core_->stopping) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return finish();
    }
    do_read();
  }

  // Half-closes, then reads and drops what the client still sends, for a while.
  void linger() {
    phase_ = phase::lingering;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(linger_timeout);
    linger_read();
  }
  void linger_read() {
    stream_.async_read_some(net::buffer(watch_buffer_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (self->closed_) return;
                              self->lingered_bytes_ += n;
                              if (ec || self->lingered_bytes_ > linger_max_bytes) {
                                return self->finish();
                              }
                              self->linger_read();
                            });
  }

  // ---- Event streams ----
  void enter_events(const std::shared_ptr<sse_stream>& stream) {
    if (closed_ || events_) {
      stream->connection_closed();
      return;
    }
    events_ = stream;
    phase_ = phase::events;
    stream_.expires_never();
    spdlog::debug("http: event stream opened for {} ({})", remote_, req_.path);
    if (core_->stopping) events_->close();
    watch_for_disconnect();
    arm_keepalive();
    flush_events();
  }

  // A read that only ends when the client goes away: that is how a closed tab is noticed
  // even when no event is being written.
  void watch_for_disconnect() {
    stream_.async_read_some(net::buffer(watch_buffer_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (self->closed_) return;
                              if (ec) return self->finish();
                              self->watch_for_disconnect();  // input on a stream is dropped
                            });
  }

  void arm_keepalive() {
    if (core_->options.event_keepalive.count() <= 0) return;
    keepalive_timer_.expires_after(core_->options.event_keepalive);
    keepalive_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closed_ || !self->events_) return;
      if (self->events_->queue_keepalive()) {
        self->flush_events();
        self->arm_keepalive();
      }
    });
  }

  void flush_events() {
    if (closed_ || !events_) return;
    if (events_->overflowed()) {
      spdlog::warn("http: event stream to {} fell more than {} bytes behind; closing it",
                   remote_, core_->options.max_queued_event_bytes);
      return finish();
    }
    if (writing_events_) return;  // on_events_written flushes again
    events_out_.clear();
    auto taken = events_->take(events_out_);
    if (events_out_.empty()) {
      if (taken.close_when_empty) {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        finish();
      }
      return;
    }
    writing_events_ = true;
    net::async_write(stream_, net::buffer(events_out_),
                     [self = shared_from_this()](error_code ec, std::size_t n) {
                       self->writing_events_ = false;
                       if (self->closed_) return;
                       if (ec) return self->finish();
                       self->events_->written(n);
                       self->flush_events();
                     });
  }

  // ---- Closing ----
  void finish() {
    if (closed_) return;
    closed_ = true;
    keepalive_timer_.cancel();
    stream_.close();
    core_->remove_session(this);
    if (events_) {
      spdlog::debug("http: event stream to {} closed", remote_);
      events_->connection_closed();
    }
  }

  class session_responder final : public responder::impl {
   public:
    session_responder(std::shared_ptr<session> s, unsigned version, bool keep_alive, bool head)
        : session_(std::move(s)), version_(version), keep_alive_(keep_alive), head_(head) {}
    ~session_responder() override {
      if (!claim()) return;
      spdlog::warn("http: the handler for {} {} from {} did not answer; sending 500",
                   session_->req_.method, session_->req_.path, session_->remote_);
      deliver(unanswered_response());
    }
    void deliver(response r) override {
      session_->answer(std::move(r), version_, keep_alive_, head_);
    }
    std::shared_ptr<event_stream> open_events() override {
      return session_->open_events(version_);
    }

   private:
    std::shared_ptr<session> session_;
    unsigned version_;
    bool keep_alive_;
    bool head_;
  };

  std::shared_ptr<core> core_;
  strand_type strand_;
  beast::tcp_stream stream_;            // strand
  net::steady_timer keepalive_timer_;   // strand
  std::string remote_;                  // set once
  beast::flat_buffer buffer_;           // strand; reused across requests
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;  // strand
  // An upload in progress (strand): its parser, sink and chunk buffer.
  static constexpr std::size_t upload_chunk_bytes = 256 * 1024;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> upload_parser_;
  std::unique_ptr<body_sink> sink_;
  std::vector<char> chunk_;
  unsigned upload_version_ = 11;
  bool upload_keep_alive_ = true;
  bool linger_after_answer_ = false;  // the next answer drains the unread body and closes
  std::uint64_t upload_limit_ = 0;    // the upload route's limit, for its 413
  request req_;                         // strand; alive until its answer is written
  std::string out_head_;                // strand
  std::string out_body_;                // strand
  static constexpr std::size_t file_chunk_bytes = 1024 * 1024;
  int out_file_fd_ = -1;                // strand: a file body being sent
  std::uint64_t out_file_offset_ = 0, out_file_left_ = 0;
  phase phase_ = phase::reading;        // strand
  after_write after_write_ = after_write::keep_or_close;  // strand
  bool keep_alive_ = true;              // strand
  bool closed_ = false;                 // strand
  std::size_t lingered_bytes_ = 0;      // strand
  std::shared_ptr<sse_stream> events_;  // strand
  std::string events_out_;              // strand: the bytes being written
  bool writing_events_ = false;         // strand
  std::array<char, watch_buffer_bytes> watch_buffer_{};  // strand
};

void sse_stream::kick() {
  if (auto owner = owner_.lock()) {
    owner->request_flush();
    return;
  }
  connection_closed();
}

}  // namespace

struct server::state {
  state(const router& routes, server_options options)
      : c(std::make_shared<core>(routes, std::move(options))),
        accept_strand(net::make_strand(c->ioc)),
        acceptor(accept_strand),
        retry_timer(accept_strand) {}

  void do_accept() {
    auto strand = net::make_strand(c->ioc);
    acceptor.async_accept(strand, [this, strand](error_code ec, tcp::socket socket) {
      on_accept(ec, std::move(socket), strand);
    });
  }

  void on_accept(error_code ec, tcp::socket socket, strand_type strand) {
    if (ec == net::error::operation_aborted || !acceptor.is_open() || c->stopping) return;
    if (ec) {
      // Out of descriptors, say: retry shortly rather than spin.
      spdlog::warn("http: accept on {} failed: {}", where, ec.message());
      retry_timer.expires_after(accept_retry_delay);
      retry_timer.async_wait([this](error_code wait_ec) {
        if (!wait_ec && !c->stopping) do_accept();
      });
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<session>(c, std::move(socket), std::move(strand))->start();
    do_accept();
  }

  std::shared_ptr<core> c;
  strand_type accept_strand;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::string where;
  std::mutex lifecycle_mutex;
  bool started = false;
  bool stopped = false;
};

server::server(const router& routes, server_options options)
    : state_(std::make_unique<state>(routes, std::move(options))) {
  auto& st = *state_;
  const auto& opts = st.c->options;
  std::string asked = opts.address + ":" + std::to_string(opts.port);
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("cannot listen on " + asked + ": " + why);
  };
  error_code ec;
  auto address = net::ip::make_address(opts.address, ec);
  if (ec) fail("not an IP address");
  tcp::endpoint endpoint(address, opts.port);
  asked = endpoint_text(address, opts.port);
  st.acceptor.open(endpoint.protocol(), ec);
  if (ec) fail(lowercase_first(ec.message()));
  st.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) fail(lowercase_first(ec.message()));
  st.acceptor.bind(endpoint, ec);
  if (ec) fail(lowercase_first(ec.message()));
  st.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail(lowercase_first(ec.message()));
  auto local = st.acceptor.local_endpoint(ec);
  if (ec) fail(lowercase_first(ec.message()));
  st.port = local.port();
  st.where = endpoint_text(local.address(), local.port());
}

server::~server() {
  try {
    stop();
  } catch (const std::exception& e) {
    spdlog::error("http: stopping the server failed: {}", e.what());
  }
}

void server::start() {
  auto& st = *state_;
  std::lock_guard lock(st.lifecycle_mutex);
  if (st.started || st.stopped) return;
  st.started = true;
  st.work.emplace(st.c->ioc.get_executor());
  net::post(st.accept_strand, [&st] { st.do_accept(); });
  int count = std::max(1, st.c->options.threads);
  for (int i = 0; i < count; ++i) {
    st.threads.emplace_back([c = st.c] {
      for (;;) {
        try {
          c->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: an I/O thread caught an exception: {}", e.what());
        } catch (...) {
          spdlog::error("http: an I/O thread caught an unknown exception");
        }
      }
    });
  }
  spdlog::info("http: listening on {} ({} threads)", st.where, count);
}

std::uint16_t server::port() const { return state_->port; }

void server::stop(std::chrono::milliseconds deadline) {
  auto& st = *state_;
  std::lock_guard lock(st.lifecycle_mutex);
  if (st.stopped) return;
  st.stopped = true;
  auto until = std::chrono::steady_clock::now() + deadline;
  core& c = *st.c;
  c.stopping = true;

  if (st.started) {
    net::post(st.accept_strand, [&st] {
      error_code ignored;
      st.acceptor.close(ignored);
      st.retry_timer.cancel();
    });
    auto open = c.live_sessions();
    spdlog::info("http: stopping {} ({} connections open)", st.where, open.size());
    for (auto& s : open) s->on_server_stop();
    open.clear();
    std::unique_lock sessions_lock(c.sessions_mutex);
    c.sessions_empty.wait_until(sessions_lock, until, [&] { return c.sessions.empty(); });
  }

  // What is left after the deadline is cut off. The I/O threads go first so that the
  // sessions can be closed from here without racing their strands.
  c.shut_down_posting();
  st.work.reset();
  c.ioc.stop();
  for (auto& t : st.threads) t.join();
  st.threads.clear();
  error_code ignored;
  st.acceptor.close(ignored);
  st.retry_timer.cancel();
  auto left = c.live_sessions();
  if (!left.empty()) {
    spdlog::warn("http: {} connections still open after the {} ms deadline were closed",
                 left.size(), deadline.count());
  }
  for (auto& s : left) s->force_close();
  left.clear();
  // Runs the cancelled completions so that the handlers queued for them (which hold the
  // sessions) are released now rather than kept by the io_context.
  c.ioc.restart();
  c.ioc.run_for(drain_timeout);
  if (st.started) spdlog::info("http: stopped {}", st.where);
}

}  // namespace potluck::daemon::http
