// The only file of the CLI that includes Boost.Beast and Asio.
//
// Every call runs its own io_context to completion on the calling thread: the operations are
// asynchronous only so that the stream's deadline (beast::tcp_stream::expires_after), a tick
// timer and Ctrl-C can end them, and so that an upload hears the answer while its body still
// goes out; to the caller each call is synchronous.
#include "cli/http_client.hpp"

#include "cli/format.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <csignal>
#include <exception>
#include <optional>
#include <stdexcept>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace potluck::cli {
namespace {

constexpr std::uint64_t max_response_body_bytes = std::uint64_t{4} << 30;
constexpr std::size_t transfer_chunk_bytes = 1024 * 1024;  // one piece of an upload or a download
// How long an upload waits for "100 Continue" before it sends the body anyway (as curl does).
constexpr std::chrono::milliseconds continue_wait{1'000};
constexpr std::size_t max_refusal_body_bytes = 1 << 20;  // a refused download's error message
constexpr const char* user_agent = "potluck-cli/" POTLUCK_VERSION;

std::string describe(const error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) return "no answer within " + format_duration(timeout.count());
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again ||
      ec == asio::error::no_data)
    return "host not found";
  if (ec == asio::error::network_unreachable || ec == asio::error::host_unreachable) return "network unreachable";
  if (ec == asio::error::connection_reset || ec == asio::error::eof || ec == http::error::end_of_stream ||
      ec == http::error::partial_message)
    return "the connection closed before the answer was complete";
  return ec.message();
}

// Connects and writes `req`; then `next` runs with the connected stream. Errors end in `failed`.
struct exchange {
  asio::io_context ioc;
  tcp::resolver resolver{ioc};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  error_code failed;
  std::function<void()> on_failed;  // runs when connecting or writing failed

  void fail(error_code ec) {
    failed = ec;
    if (on_failed) on_failed();
  }

  void start(const base_url& url, std::chrono::milliseconds timeout, std::function<void()> next) {
    resolver.async_resolve(url.host, url.port, [this, timeout, next](error_code ec, tcp::resolver::results_type found) {
      if (ec) return fail(ec);
      stream.expires_after(timeout);
      stream.async_connect(found, [this, next](error_code ec, const tcp::endpoint&) {
        if (ec) return fail(ec);
        http::async_write(stream, req, [this, next](error_code ec, std::size_t) {
          if (ec) return fail(ec);
          next();
        });
      });
    });
  }
};

http::verb verb_of(std::string_view method) {
  const auto v = http::string_to_verb(method);
  return v == http::verb::unknown ? http::verb::get : v;
}

// The request line and the headers every request sends, then `headers`.
template <class Body>
void set_head(http::request<Body>& req, const base_url& url, std::string_view method, std::string_view target,
              std::string_view accept, const std::string& bearer_token, const header_list& headers) {
  req.method(verb_of(method));
  req.target(url.prefix + std::string(target));
  req.version(11);
  req.set(http::field::host, url.host + ":" + url.port);
  req.set(http::field::user_agent, user_agent);
  req.set(http::field::accept, accept);
  req.set(http::field::connection, "close");
  if (!bearer_token.empty()) req.set(http::field::authorization, "Bearer " + bearer_token);
  for (const auto& [name, value] : headers) req.set(name, value);
}

void prepare(exchange& x, const base_url& url, std::string_view method, std::string_view target,
             std::string_view body, std::string_view accept, const std::string& bearer_token,
             const header_list& headers = {}) {
  set_head(x.req, url, method, target, accept, bearer_token, headers);
  if (!body.empty() || method == "POST") {
    x.req.set(http::field::content_type, "application/json");
    x.req.body() = std::string(body);
    x.req.prepare_payload();
  }
}

// The status and headers of an answer; the body is the caller's.
template <class Body>
http_response head_of(const http::response<Body>& res) {
  http_response out;
  out.status = res.result_int();
  out.content_type = std::string(res[http::field::content_type]);
  out.retry_after = std::string(res[http::field::retry_after]);
  for (const auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  return out;
}

}  // namespace

std::string http_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return {};
}

base_url parse_base_url(std::string_view text) {
  std::string s(text);
  while (!s.empty() && s.back() == '/') s.pop_back();
  if (s.empty()) throw usage_error("the daemon URL is empty; use --url http://127.0.0.1:8080");
  if (s.find("://") == std::string::npos) s = "http://" + s;
  auto parsed = boost::urls::parse_uri(s);
  if (!parsed) throw usage_error("'" + std::string(text) + "' is not a URL; use the form http://127.0.0.1:8080");
  const auto& u = *parsed;
  if (u.scheme() != "http") {
    throw usage_error("'" + std::string(text) + "': only http:// URLs are supported; reach a remote daemon through "
                      "a reverse proxy or an SSH tunnel (ssh -L 8080:127.0.0.1:8080 host)");
  }
  base_url out;
  out.host = u.host_type() == boost::urls::host_type::ipv6 ? u.host_ipv6_address().to_string()
                                                           : std::string(u.host_address());
  if (out.host.empty()) throw usage_error("'" + std::string(text) + "' names no host; use the form http://127.0.0.1:8080");
  out.port = u.has_port() ? std::string(u.port()) : "80";
  out.prefix = std::string(u.encoded_path());
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  if (u.has_query() || u.has_fragment())
    throw usage_error("'" + std::string(text) + "': the daemon URL takes no query or fragment");
  out.text = s;
  return out;
}

http_response http_client::request(std::string_view method, std::string_view target, std::string_view body,
                                   const header_list& headers) {
  exchange x;
  prepare(x, url_, method, target, body, "application/json", bearer_token_, headers);
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_response_body_bytes);
  x.start(url_, timeout_, [&] {
    http::async_read(x.stream, x.buffer, parser, [&](error_code ec, std::size_t) {
      if (ec) x.failed = ec;
    });
  });
  x.ioc.run();
  if (x.failed) throw unreachable_error(url_.text, describe(x.failed, timeout_));
  auto& res = parser.get();
  auto out = head_of(res);
  out.body = std::move(res.body());
  return out;
}

// The answer is read while the body goes out, so that a server that decides early (a refusal
// without "100 Continue", or one sent halfway) is heard at once; one read and one write may be
// in flight together on a stream. The deadline is a timer of its own, re-armed by each piece
// sent: the stream's own expiry would hold the read, which waits through the whole body, to the
// time it started.
http_response http_client::upload(std::string_view method, std::string_view target, std::uint64_t body_bytes,
                                  const body_source& source, const std::function<void(std::uint64_t sent)>& on_sent,
                                  const header_list& headers) {
  asio::io_context ioc;
  tcp::resolver resolver{ioc};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  http::request<http::empty_body> req;
  header_list with_type = {{"Content-Type", "application/octet-stream"}};
  with_type.insert(with_type.end(), headers.begin(), headers.end());
  set_head(req, url_, method, target, "application/json", bearer_token_, with_type);
  req.content_length(body_bytes);
  if (body_bytes > 0) req.set(http::field::expect, "100-continue");
  http::request_serializer<http::empty_body> head{req};

  enum class body_phase { waiting, sending, sent } phase = body_phase::waiting;
  std::optional<http::response_parser<http::string_body>> parser;
  std::vector<char> piece(transfer_chunk_bytes);
  std::uint64_t sent = 0;
  bool answered = false;
  error_code failed, write_failed;
  std::exception_ptr thrown;
  asio::steady_timer continue_timer(ioc), deadline(ioc);

  auto stop = [&] {
    continue_timer.cancel();
    deadline.cancel();
    stream.close();  // the other operation in flight ends with operation_aborted
  };
  auto fail = [&](error_code ec) {
    if (!failed) failed = ec;
    stop();
  };
  auto done = [&] { return answered || failed || thrown; };
  auto arm_deadline = [&] {
    deadline.expires_after(timeout_);
    deadline.async_wait([&](error_code ec) {
      if (!ec && !done()) fail(beast::error::timeout);
    });
  };
  std::function<void()> send_next = [&] {
    if (done()) return;
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), body_bytes - sent));
    if (want == 0) {
      phase = body_phase::sent;
      return arm_deadline();  // for the answer
    }
    std::size_t n = 0;
    try {
      n = source(std::span<char>(piece.data(), want));
      if (n == 0 || n > want)
        throw std::runtime_error("the body ended after " + std::to_string(sent) + " of " + std::to_string(body_bytes) +
                                 " bytes");
    } catch (...) {
      thrown = std::current_exception();
      return stop();
    }
    asio::async_write(stream, asio::buffer(piece.data(), n), [&, n](error_code ec, std::size_t) {
      if (done()) return;
      if (ec) {
        // The server may have answered and closed (a file too large): the read says.
        write_failed = ec;
        return arm_deadline();
      }
      sent += n;
      arm_deadline();
      if (on_sent) {
        try {
          on_sent(sent);
        } catch (...) {
          thrown = std::current_exception();
          return stop();
        }
      }
      send_next();
    });
  };
  auto start_body = [&] {
    if (phase != body_phase::waiting) return;
    phase = body_phase::sending;
    continue_timer.cancel();
    send_next();
  };
  std::function<void()> read_answer = [&] {
    parser.emplace();
    parser->body_limit(max_response_body_bytes);
    http::async_read(stream, buffer, *parser, [&](error_code ec, std::size_t) {
      if (done()) return;
      if (ec) return fail(write_failed && ec == asio::error::operation_aborted ? write_failed : ec);
      if (parser->get().result_int() / 100 == 1) {  // 100 Continue
        start_body();
        return read_answer();
      }
      answered = true;
      stop();  // a body still going out is abandoned: the server decided without it
    });
  };

  arm_deadline();
  resolver.async_resolve(url_.host, url_.port, [&](error_code ec, tcp::resolver::results_type found) {
    if (ec) return fail(ec);
    if (done()) return;
    stream.async_connect(found, [&](error_code ec, const tcp::endpoint&) {
      if (ec) return fail(ec);
      if (done()) return;
      arm_deadline();
      http::async_write_header(stream, head, [&](error_code ec, std::size_t) {
        if (ec) return fail(ec);
        if (done()) return;
        arm_deadline();
        read_answer();
        if (body_bytes == 0) return start_body();
        continue_timer.expires_after(continue_wait);
        continue_timer.async_wait([&](error_code ec) {
          if (!ec && !done()) start_body();
        });
      });
    });
  });
  ioc.run();
  if (thrown) std::rethrow_exception(thrown);
  if (!answered) throw unreachable_error(url_.text, describe(failed ? failed : write_failed, timeout_));
  auto& res = parser->get();
  auto out = head_of(res);
  out.body = std::move(res.body());
  return out;
}

http_response http_client::download(std::string_view target, const header_list& headers,
                                    const std::function<void(const http_response& head)>& on_head,
                                    const std::function<void(std::string_view bytes)>& on_body) {
  exchange x;
  set_head(x.req, url_, "GET", target, "*/*", bearer_token_, headers);
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  std::vector<char> piece(transfer_chunk_bytes);
  http_response out;
  bool accepted = false;  // a 2xx: the body goes to on_body
  std::exception_ptr thrown;

  auto stop_with = [&](std::exception_ptr e) {
    thrown = std::move(e);
    x.stream.close();
  };
  std::function<void()> read_body = [&] {
    if (parser.is_done()) return;
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    x.stream.expires_after(timeout_);
    http::async_read_some(x.stream, x.buffer, parser, [&](error_code ec, std::size_t) {
      if (thrown) return;
      if (ec == http::error::need_buffer) ec = {};
      const auto got = piece.size() - parser.get().body().size;
      if (got > 0) {
        if (accepted) {
          try {
            on_body(std::string_view(piece.data(), got));
          } catch (...) {
            return stop_with(std::current_exception());
          }
        } else if (out.body.size() < max_refusal_body_bytes) {
          out.body.append(piece.data(), std::min(got, max_refusal_body_bytes - out.body.size()));
        }
      }
      if (ec) {
        x.failed = ec;
        return;
      }
      read_body();
    });
  };
  // A 2xx body of known length (what the daemon sends for files) is read straight from the
  // socket into `piece`, in large reads: the parser would copy it through its buffer 64 KiB at
  // a time, several times slower than the bytes arrive.
  std::uint64_t left = 0;
  std::function<void()> read_raw = [&] {
    if (left == 0) return;
    x.stream.expires_after(timeout_);
    x.stream.async_read_some(asio::buffer(piece.data(), static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), left))),
                             [&](error_code ec, std::size_t got) {
                               if (thrown) return;
                               if (got > 0) {
                                 left -= got;
                                 try {
                                   on_body(std::string_view(piece.data(), got));
                                 } catch (...) {
                                   return stop_with(std::current_exception());
                                 }
                               }
                               if (ec) {
                                 x.failed = ec == asio::error::eof ? error_code(http::error::partial_message) : ec;
                                 return;
                               }
                               read_raw();
                             });
  };
  x.start(url_, timeout_, [&] {
    http::async_read_header(x.stream, x.buffer, parser, [&](error_code ec, std::size_t) {
      if (ec) {
        x.failed = ec;
        return;
      }
      out = head_of(parser.get());
      accepted = out.status / 100 == 2;
      if (accepted && on_head) {
        try {
          on_head(out);
        } catch (...) {
          return stop_with(std::current_exception());
        }
      }
      if (accepted && !parser.chunked() && parser.content_length()) {
        left = *parser.content_length();
        // Body bytes that came with the header first.
        const auto buffered = static_cast<std::size_t>(std::min<std::uint64_t>(x.buffer.size(), left));
        if (buffered > 0) {
          try {
            on_body(std::string_view(static_cast<const char*>(x.buffer.data().data()), buffered));
          } catch (...) {
            return stop_with(std::current_exception());
          }
          x.buffer.consume(buffered);
          left -= buffered;
        }
        return read_raw();
      }
      read_body();
    });
  });
  x.ioc.run();
  if (thrown) std::rethrow_exception(thrown);
  if (x.failed) throw unreachable_error(url_.text, describe(x.failed, timeout_));
  return out;
}

stream_end http_client::follow_events(std::string_view target,
                                      const std::function<bool(const sse_parser::event&)>& on_event,
                                      const std::function<void()>& on_tick, std::chrono::milliseconds tick,
                                      std::chrono::milliseconds idle_timeout, http_response& refused) {
  exchange x;
  prepare(x, url_, "GET", target, {}, "text/event-stream", bearer_token_);
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  char chunk[16384];
  sse_parser events;
  std::string refused_body;
  std::optional<stream_end> outcome;
  asio::steady_timer ticker(x.ioc);
  asio::signal_set signals(x.ioc, SIGINT, SIGTERM);

  auto finish = [&](stream_end e) {
    if (outcome) return;
    outcome = e;
    x.ioc.stop();
  };
  std::function<void()> arm_ticker = [&] {
    if (!on_tick) return;
    ticker.expires_after(tick);
    ticker.async_wait([&](error_code ec) {
      if (ec || outcome) return;
      on_tick();
      arm_ticker();
    });
  };
  std::function<void()> read_body = [&] {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    x.stream.expires_after(idle_timeout);
    http::async_read_some(x.stream, x.buffer, parser, [&](error_code ec, std::size_t) {
      if (ec == http::error::need_buffer) ec = {};
      const auto got = sizeof chunk - parser.get().body().size;
      if (parser.get().result_int() != 200) {
        refused_body.append(chunk, got);
      } else if (got && !events.feed(std::string_view(chunk, got), on_event)) {
        return finish(stream_end::stopped);
      }
      if (ec == beast::error::timeout) {
        if (parser.get().result_int() != 200) x.failed = ec;
        return finish(stream_end::idle_timeout);
      }
      if (ec || parser.is_done()) {
        if (ec && ec != http::error::end_of_stream && ec != asio::error::eof && parser.get().result_int() != 200)
          x.failed = ec;
        return finish(stream_end::server_closed);
      }
      read_body();
    });
  };

  x.on_failed = [&] { finish(stream_end::server_closed); };
  signals.async_wait([&](error_code ec, int) {
    if (!ec) finish(stream_end::interrupted);
  });
  x.start(url_, timeout_, [&] {
    http::async_read_header(x.stream, x.buffer, parser, [&](error_code ec, std::size_t) {
      if (ec) {
        x.failed = ec;
        return finish(stream_end::server_closed);
      }
      if (parser.get().result_int() == 200) arm_ticker();
      read_body();
    });
  });
  x.ioc.run();
  if (*outcome == stream_end::interrupted) return *outcome;
  if (x.failed) throw unreachable_error(url_.text, describe(x.failed, timeout_));
  refused = {};
  if (parser.is_header_done() && parser.get().result_int() != 200) {
    refused.status = parser.get().result_int();
    refused.content_type = std::string(parser.get()[http::field::content_type]);
    refused.retry_after = std::string(parser.get()[http::field::retry_after]);
    refused.body = std::move(refused_body);
  }
  return *outcome;
}

}  // namespace potluck::cli
