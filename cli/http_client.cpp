// The only file of the CLI that includes Boost.Beast and Asio.
//
// Every call runs its own io_context to completion on the calling thread: the operations are
// asynchronous only so that the stream's deadline (beast::tcp_stream::expires_after), a tick
// timer and Ctrl-C can end them; to the caller each call is synchronous.
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

#include <csignal>
#include <optional>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace potluck::cli {
namespace {

constexpr std::uint64_t max_response_body_bytes = std::uint64_t{4} << 30;
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

void prepare(exchange& x, const base_url& url, std::string_view method, std::string_view target,
             std::string_view body, std::string_view accept, const std::string& bearer_token,
             const header_list& headers = {}) {
  x.req.method(verb_of(method));
  x.req.target(url.prefix + std::string(target));
  x.req.version(11);
  x.req.set(http::field::host, url.host + ":" + url.port);
  x.req.set(http::field::user_agent, user_agent);
  x.req.set(http::field::accept, accept);
  x.req.set(http::field::connection, "close");
  if (!bearer_token.empty()) x.req.set(http::field::authorization, "Bearer " + bearer_token);
  for (const auto& [name, value] : headers) x.req.set(name, value);
  if (!body.empty() || method == "POST") {
    x.req.set(http::field::content_type, "application/json");
    x.req.body() = std::string(body);
    x.req.prepare_payload();
  }
}

}  // namespace

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
  http_response out;
  out.status = res.result_int();
  out.content_type = std::string(res[http::field::content_type]);
  out.retry_after = std::string(res[http::field::retry_after]);
  out.body = std::move(res.body());
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
