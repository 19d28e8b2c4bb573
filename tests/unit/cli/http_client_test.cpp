// Tests of cli/http_client.hpp against a scripted server on loopback: fixed-length and chunked
// bodies, a server that never answers (the deadline), a closed port (unreachable), event
// streams in pieces, a refused stream, uploads streamed from a source (after "100 Continue", or
// refused before their body is sent), downloads handed on in pieces, and base URL parsing.
#define BOOST_TEST_MODULE cli_http_client
#include <boost/test/unit_test.hpp>

#include "cli/http_client.hpp"
#include "fake_daemon.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

using namespace potluck::cli;
using namespace potluck::cli::testing;
using namespace std::chrono_literals;

namespace {

// Accepts one connection, reads the request head (and `body_bytes` more), then plays `script`:
// each entry is written as is, in order. Closes after the last one unless `hold` (then waits for
// the client to go, keeping what it sends).
class scripted_server {
 public:
  explicit scripted_server(std::vector<std::string> script, bool hold = false, std::size_t body_bytes = 0) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_TEST_REQUIRE(::listen(listener_, 1) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, script = std::move(script), hold, body_bytes] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      const auto head_end = head.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        after_head_ = head.substr(head_end + 4);
        head.resize(head_end + 4);
      }
      while (after_head_.size() < body_bytes) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        after_head_.append(buf, static_cast<std::size_t>(n));
      }
      request_ = head;
      for (const auto& piece : script) ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
      if (hold) {
        // Until the client closes: a read returns 0 then.
        pollfd p{fd, POLLIN, 0};
        ssize_t n = 0;
        while (::poll(&p, 1, 10'000) > 0 && (n = ::recv(fd, buf, sizeof buf, 0)) > 0)
          after_head_.append(buf, static_cast<std::size_t>(n));
      }
      ::close(fd);
    });
  }
  ~scripted_server() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  base_url url() const { return parse_base_url("http://127.0.0.1:" + std::to_string(port_)); }
  const std::string& request() const { return request_; }
  // What the client sent after the head (read once the server is destroyed, or after `hold`).
  const std::string& after_head() const { return after_head_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::string request_, after_head_;
};

// A body source over `text`, in pieces of at most `piece` bytes.
body_source source_of(const std::string& text, std::size_t piece, std::size_t& calls) {
  return [&text, piece, &calls, at = std::size_t{0}](std::span<char> buffer) mutable {
    ++calls;
    const auto n = std::min({piece, buffer.size(), text.size() - at});
    std::copy_n(text.data() + at, n, buffer.data());
    at += n;
    return n;
  };
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_fixed_length_reply) {
  scripted_server server({"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"});
  http_client client(server.url(), 5s);
  auto r = client.post("/api/v1/jobs", R"({"task":"x"})");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.content_type == "application/json");
  BOOST_TEST(r.body == R"({"ok":true})");
  BOOST_TEST(server.request().find("POST /api/v1/jobs HTTP/1.1") == 0u);
  BOOST_TEST(server.request().find("Content-Type: application/json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_chunked_reply_in_pieces) {
  scripted_server server({"HTTP/1.1 422 Unprocessable Entity\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "5\r\n{\"err\r\n", "8\r\nor\":\"bad\r\n", "2\r\n\"}\r\n", "0\r\n\r\n"});
  http_client client(server.url(), 5s);
  auto r = client.get("/x");
  BOOST_TEST(r.status == 422u);
  BOOST_TEST(r.body == R"({"error":"bad"})");
}

BOOST_AUTO_TEST_CASE(a_url_prefix_goes_before_the_target) {
  scripted_server server({"HTTP/1.1 204 No Content\r\n\r\n"});
  auto url = server.url();
  url.prefix = "/potluck";
  http_client client(url, 5s);
  BOOST_TEST(client.get("/api/v1/tasks").status == 204u);
  BOOST_TEST(server.request().find("GET /potluck/api/v1/tasks HTTP/1.1") == 0u);
}

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_hits_the_deadline) {
  scripted_server server({}, true);
  http_client client(server.url(), 300ms);
  const auto start = std::chrono::steady_clock::now();
  try {
    client.get("/healthz");
    BOOST_FAIL("expected a timeout");
  } catch (const unreachable_error& e) {
    BOOST_TEST(e.reason() == "no answer within 300ms");
    BOOST_TEST(e.url() == server.url().text);
  }
  BOOST_TEST((std::chrono::steady_clock::now() - start) < 5s);
}

BOOST_AUTO_TEST_CASE(a_closed_port_is_connection_refused) {
  http_client client(parse_base_url("http://127.0.0.1:" + std::to_string(closed_port())), 5s);
  try {
    client.get("/healthz");
    BOOST_FAIL("expected unreachable_error");
  } catch (const unreachable_error& e) {
    BOOST_TEST(e.reason() == "connection refused");
  }
  http_response refused;
  BOOST_CHECK_THROW(client.follow_events("/x", [](const sse_parser::event&) { return true; }, {}, 100ms, 1s, refused),
                    unreachable_error);
}

BOOST_AUTO_TEST_CASE(an_event_stream_in_pieces_until_the_server_closes) {
  scripted_server server({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: keep-alive\r\n\r\n",
                          "event: job\ndata: {\"state\":\"queued\"}\n\n: keepalive\n\n",
                          "event: progress\nda", "ta: {\"progress\":0.5}\n\n",
                          "event: job\ndata: {\"state\":\"succeeded\"}\n\n"});
  http_client client(server.url(), 5s);
  std::vector<std::pair<std::string, std::string>> seen;
  http_response refused;
  const auto end = client.follow_events(
      "/api/v1/jobs/1/events",
      [&](const sse_parser::event& e) {
        seen.emplace_back(e.name, e.data);
        return true;
      },
      {}, 100ms, 5s, refused);
  BOOST_TEST((end == stream_end::server_closed));
  BOOST_TEST(refused.status == 0u);
  BOOST_TEST_REQUIRE(seen.size() == 3u);
  BOOST_TEST(seen[0].first == "job");
  BOOST_TEST(seen[1].second == R"({"progress":0.5})");
  BOOST_TEST(seen[2].second == R"({"state":"succeeded"})");
  BOOST_TEST(server.request().find("Accept: text/event-stream") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_caller_stops_a_stream_and_ticks_run_while_it_idles) {
  scripted_server server({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
                          "event: job\ndata: {\"state\":\"running\"}\n\n"},
                         true);
  http_client client(server.url(), 5s);
  int ticks = 0;
  http_response refused;
  // The stream stays open without events: it ends at the idle deadline, having ticked meanwhile.
  const auto idle = client.follow_events(
      "/e", [](const sse_parser::event&) { return true; }, [&] { ++ticks; }, 20ms, 300ms, refused);
  BOOST_TEST((idle == stream_end::idle_timeout));
  BOOST_TEST(ticks >= 3);
}

BOOST_AUTO_TEST_CASE(the_callback_ends_a_stream) {
  scripted_server server({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
                          "event: job\ndata: 1\n\nevent: job\ndata: 2\n\n"},
                         true);
  http_client client(server.url(), 5s);
  http_response refused;
  int count = 0;
  const auto end = client.follow_events(
      "/e", [&](const sse_parser::event&) { return ++count < 1; }, {}, 100ms, 5s, refused);
  BOOST_TEST((end == stream_end::stopped));
  BOOST_TEST(count == 1);
}

BOOST_AUTO_TEST_CASE(a_refused_stream_returns_the_answer) {
  const std::string body = R"({"error":{"code":"job_not_found","message":"no job with id 9"}})";
  scripted_server server({"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body});
  http_client client(server.url(), 5s);
  http_response refused;
  bool called = false;
  client.follow_events("/api/v1/jobs/9/events", [&](const sse_parser::event&) { return called = true; }, {}, 100ms,
                       5s, refused);
  BOOST_TEST(!called);
  BOOST_TEST(refused.status == 404u);
  BOOST_TEST(refused.body == body);
}

BOOST_AUTO_TEST_CASE(an_upload_waits_for_100_continue_then_streams_its_body_in_pieces) {
  const std::string body(700'000, 'x');
  // The daemon's way: "100 Continue" at once, then the final answer after the body.
  fake_daemon d([](const recorded_request& r) { return scripted_reply{201, R"({"size":)" + std::to_string(r.body.size()) + "}"}; });
  http_client client(parse_base_url(d.url()), 5s);
  client.set_bearer_token("plk_" + std::string(64, 'a'));
  std::size_t calls = 0;
  std::vector<std::uint64_t> sent;
  const auto start = std::chrono::steady_clock::now();
  auto r = client.upload("PUT", "/api/blobs?sha256=ab", body.size(), source_of(body, 100'000, calls),
                         [&](std::uint64_t n) { sent.push_back(n); });
  BOOST_TEST(r.status == 201u);
  BOOST_TEST(r.body == R"({"size":700000})");
  BOOST_TEST((std::chrono::steady_clock::now() - start) < 900ms);  // no wait: the server said go on
  const auto req = d.last();
  BOOST_TEST(req.method == "PUT");
  BOOST_TEST(req.target == "/api/blobs?sha256=ab");
  BOOST_TEST(req.header("Expect") == "100-continue");
  BOOST_TEST(req.header("Content-Length") == "700000");
  BOOST_TEST(req.header("Content-Type") == "application/octet-stream");
  BOOST_TEST(req.authorization == "Bearer plk_" + std::string(64, 'a'));
  BOOST_TEST(req.body == body);
  // The source was read piece by piece, and the progress went up to the whole body.
  BOOST_TEST(calls == 7u);
  BOOST_TEST_REQUIRE(!sent.empty());
  BOOST_TEST(sent.front() == 100'000u);
  BOOST_TEST(sent.back() == body.size());
  BOOST_TEST(std::is_sorted(sent.begin(), sent.end()));
}

BOOST_AUTO_TEST_CASE(a_refusal_before_100_continue_comes_back_and_no_body_is_sent) {
  const std::string refusal = R"({"error":{"code":"missing_token","message":"this needs an API token"}})";
  scripted_server server({"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(refusal.size()) + "\r\n\r\n" + refusal},
                         true);
  std::string status;
  {
    http_client client(server.url(), 5s);
    const std::string body(50'000, 'y');
    std::size_t calls = 0;
    auto r = client.upload("PUT", "/api/blobs", body.size(), source_of(body, 50'000, calls), {});
    BOOST_TEST(r.status == 401u);
    BOOST_TEST(r.body == refusal);
    BOOST_TEST(calls == 0u);
  }
  BOOST_TEST(server.request().find("PUT /api/blobs HTTP/1.1") == 0u);
  BOOST_TEST(server.after_head().empty());
}

BOOST_AUTO_TEST_CASE(a_server_that_ignores_expect_gets_the_body_after_a_second) {
  const std::string body = "hello, blob";
  scripted_server server({"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"}, false, body.size());
  http_client client(server.url(), 5s);
  std::size_t calls = 0;
  const auto start = std::chrono::steady_clock::now();
  auto r = client.upload("PUT", "/api/blobs", body.size(), source_of(body, 4, calls), {});
  BOOST_TEST(r.status == 201u);
  BOOST_TEST((std::chrono::steady_clock::now() - start) >= 900ms);
  BOOST_TEST(calls == 3u);
  BOOST_TEST(server.after_head() == body);
}

BOOST_AUTO_TEST_CASE(an_upload_whose_source_throws_ends_with_that_error) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{201, "{}"}; });
  http_client client(parse_base_url(d.url()), 5s);
  auto failing = [](std::span<char>) -> std::size_t { throw std::runtime_error("the disk went away"); };
  BOOST_CHECK_EXCEPTION(client.upload("PUT", "/api/blobs", 10, failing, {}), std::runtime_error,
                        [](const std::runtime_error& e) { return std::string(e.what()) == "the disk went away"; });
  // A closed port is unreachable, as for every request.
  http_client nowhere(parse_base_url("http://127.0.0.1:" + std::to_string(closed_port())), 5s);
  std::size_t calls = 0;
  const std::string body = "x";
  BOOST_CHECK_THROW(nowhere.upload("PUT", "/api/blobs", 1, source_of(body, 1, calls), {}), unreachable_error);
}

BOOST_AUTO_TEST_CASE(a_download_hands_on_its_body_in_pieces_after_its_head) {
  scripted_server server({"HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\nContent-Range: bytes 2-9/10\r\n"
                          "Content-Length: 8\r\n\r\n",
                          "2345", "6789"});
  http_client client(server.url(), 5s);
  std::string got;
  unsigned seen_status = 0;
  auto r = client.download("/alice/m/resolve/main/w.pt", {{"Range", "bytes=2-"}},
                           [&](const http_response& head) {
                             seen_status = head.status;
                             BOOST_TEST(got.empty());
                             BOOST_TEST(head.header("etag") == "\"abc\"");
                           },
                           [&](std::string_view bytes) { got += bytes; });
  BOOST_TEST(seen_status == 206u);
  BOOST_TEST(r.status == 206u);
  BOOST_TEST(r.header("Content-Range") == "bytes 2-9/10");
  BOOST_TEST(r.body.empty());
  BOOST_TEST(got == "23456789");
  BOOST_TEST(server.request().find("GET /alice/m/resolve/main/w.pt HTTP/1.1") == 0u);
  BOOST_TEST(server.request().find("Range: bytes=2-") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_refused_download_comes_back_whole_and_nothing_is_handed_on) {
  const std::string body = R"({"error":{"code":"entry_not_found","message":"no file 'x'"}})";
  scripted_server server({"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body});
  http_client client(server.url(), 5s);
  bool called = false;
  auto r = client.download("/a/b/resolve/main/x", {}, [&](const http_response&) { called = true; },
                           [&](std::string_view) { called = true; });
  BOOST_TEST(!called);
  BOOST_TEST(r.status == 404u);
  BOOST_TEST(r.body == body);
}

BOOST_AUTO_TEST_CASE(the_sse_parser_follows_the_format) {
  sse_parser p;
  std::vector<sse_parser::event> events;
  auto collect = [&](const sse_parser::event& e) {
    events.push_back(e);
    return true;
  };
  p.feed("data: one\r\ndata: two\r\n\r\n", collect);
  p.feed(": comment\n\nevent: x\n\n", collect);  // no data: not dispatched
  p.feed("data:tight\n\n", collect);
  BOOST_TEST_REQUIRE(events.size() == 2u);
  BOOST_TEST(events[0].name == "message");
  BOOST_TEST(events[0].data == "one\ntwo");
  BOOST_TEST(events[1].name == "message");  // the name of an undispatched event does not leak
  BOOST_TEST(events[1].data == "tight");
}

BOOST_AUTO_TEST_CASE(base_urls) {
  auto u = parse_base_url("http://127.0.0.1:8080/");
  BOOST_TEST(u.text == "http://127.0.0.1:8080");
  BOOST_TEST(u.host == "127.0.0.1");
  BOOST_TEST(u.port == "8080");
  BOOST_TEST(u.prefix == "");
  auto bare = parse_base_url("localhost:9000");
  BOOST_TEST(bare.text == "http://localhost:9000");
  BOOST_TEST(bare.host == "localhost");
  auto v6 = parse_base_url("http://[::1]:8080/potluck");
  BOOST_TEST(v6.host == "::1");
  BOOST_TEST(v6.prefix == "/potluck");
  BOOST_TEST(parse_base_url("http://example.org").port == "80");
  BOOST_CHECK_THROW(parse_base_url("https://example.org"), usage_error);
  BOOST_CHECK_THROW(parse_base_url("ftp://example.org"), usage_error);
  BOOST_CHECK_THROW(parse_base_url(""), usage_error);
  BOOST_CHECK_THROW(parse_base_url("http://example.org/?x=1"), usage_error);
}
