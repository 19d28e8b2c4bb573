// The HTTP server over real sockets on 127.0.0.1 (port 0): routing, deferred answers, limits,
// bad input, keep-alive, server-sent events, static files and shutdown.
#define BOOST_TEST_MODULE http_server
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "daemon/http/http.hpp"
#include "tests/unit/daemon/http/test_client.hpp"

using namespace potluck::daemon::http;
using namespace potluck::test;
using namespace std::chrono_literals;

namespace {

// The router must outlive the server: it is declared first.
struct served {
  router routes;
  std::unique_ptr<server> srv;

  void start(server_options options = {}) {
    options.port = 0;
    options.threads = 2;
    srv = std::make_unique<server>(routes, options);
    srv->start();
  }
  std::uint16_t port() const { return srv->port(); }
};

std::string error_code_of(const http_reply& r) {
  return std::string(boost::json::parse(r.body).at("error").at("code").as_string());
}

template <typename T>
bool ready_within(std::future<T>& f, std::chrono::milliseconds timeout = 5s) {
  return f.wait_for(timeout) == std::future_status::ready;
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("potluck-http-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::filesystem::path& relative, const std::string& content) const {
    auto file = path / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
  }
};

struct quiet_logs {
  quiet_logs() { spdlog::set_level(spdlog::level::warn); }
};
BOOST_GLOBAL_FIXTURE(quiet_logs);

}  // namespace

BOOST_AUTO_TEST_CASE(routes_path_params_404_405_trailing_slash_and_query) {
  served s;
  s.routes.add("GET", "/api/v1/jobs/{id}", [](request& req, responder res) {
    boost::json::object o;
    o["id"] = req.path_params.at("id");
    o["remote"] = req.remote;
    const std::string* thing = req.header("x-thing");
    o["thing"] = thing ? *thing : "";
    res.send(json(200, boost::json::serialize(o)));
  });
  s.routes.add("POST", "/api/v1/jobs", [](request& req, responder res) {
    res.send(json(201, req.body));
  });
  s.routes.add("GET", "/api/v1/echo", [](request& req, responder res) {
    const std::string* a = req.query_param("a");
    const std::string* b = req.query_param("b");
    res.send(json(200, (a ? *a : "-") + "|" + (b ? *b : "-")));
  });
  s.start();

  auto r = fetch(s.port(), "GET /api/v1/jobs/7 HTTP/1.1\r\nHost: x\r\nX-Thing: yes\r\n\r\n");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(r->header("server") == "potluckd");
  BOOST_TEST(r->header("content-type") == "application/json");
  BOOST_TEST(r->header("cache-control") == "no-store");
  BOOST_TEST(r->header("content-length") == std::to_string(r->body.size()));
  auto body = boost::json::parse(r->body);
  BOOST_TEST(body.at("id").as_string() == "7");
  BOOST_TEST(body.at("thing").as_string() == "yes");
  BOOST_TEST(std::string(body.at("remote").as_string()).starts_with("127.0.0.1:"));

  r = fetch(s.port(), get_request("/api/v1/jobs/a%20b/"));  // decoded, trailing slash
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(boost::json::parse(r->body).at("id").as_string() == "a b");

  r = fetch(s.port(), get_request("/api/v1/nothing"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 404u);
  BOOST_TEST(error_code_of(*r) == "not_found");
  BOOST_TEST(r->body.find("/api/v1/nothing") != std::string::npos);

  r = fetch(s.port(), get_request("/api/v1/jobs", "DELETE"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 405u);
  BOOST_TEST(r->header("allow") == "POST");
  BOOST_TEST(error_code_of(*r) == "method_not_allowed");

  r = fetch(s.port(), post_request("/api/v1/jobs/", "{\"x\":1}"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 201u);
  BOOST_TEST(r->body == "{\"x\":1}");

  r = fetch(s.port(), get_request("/api/v1/echo?a=1&b=x%20y"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == "1|x y");
  r = fetch(s.port(), get_request("/api/v1/echo?b=first&b=plus+sign&a"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == "|plus sign");
}

BOOST_AUTO_TEST_CASE(handler_answers_later_from_another_thread) {
  served s;
  std::vector<std::thread> helpers;
  std::mutex helpers_mutex;
  s.routes.add("GET", "/later", [&](request& req, responder res) {
    std::string id = req.query.count("id") ? req.query.at("id") : "";
    std::lock_guard lock(helpers_mutex);
    helpers.emplace_back([res = std::move(res), id]() mutable {
      res.send(json(200, "later " + id));
    });
  });
  s.start();
  raw_client client(s.port());
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(client.send(get_request("/later?id=" + std::to_string(i))));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 200u);
    BOOST_TEST(r->body == "later " + std::to_string(i));
  }
  std::lock_guard lock(helpers_mutex);
  for (auto& t : helpers) t.join();
}

BOOST_AUTO_TEST_CASE(unanswered_responder_yields_500) {
  served s;
  s.routes.add("GET", "/forgot", [](request&, responder) {});
  s.routes.add("GET", "/throws", [](request&, responder) { throw std::runtime_error("boom"); });
  std::promise<responder> kept;
  s.routes.add("GET", "/dropped-later", [&](request&, responder res) { kept.set_value(std::move(res)); });
  s.start();
  for (const char* path : {"/forgot", "/throws"}) {
    auto r = fetch(s.port(), get_request(path));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 500u);
    BOOST_TEST(error_code_of(*r) == "internal");
  }
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(get_request("/dropped-later")));
  auto f = kept.get_future();
  BOOST_REQUIRE(ready_within(f));
  std::thread([res = f.get()]() mutable { (void)res; }).join();  // dropped on another thread
  auto r = client.read_reply();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 500u);
}

BOOST_AUTO_TEST_CASE(body_over_the_limit_is_413_and_the_server_keeps_serving) {
  served s;
  s.routes.add("POST", "/upload", [](request& req, responder res) {
    res.send(json(200, std::to_string(req.body.size())));
  });
  server_options options;
  options.max_body_bytes = 1024;
  s.start(options);

  const std::string expected =
      R"({"error":{"code":"body_too_large","message":"request body is larger than 1024 bytes"}})";
  {  // Declared too large: refused on the headers, the body still arriving.
    raw_client client(s.port());
    BOOST_REQUIRE(client.send(post_request("/upload", std::string(4096, 'x'))));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 413u);
    BOOST_TEST(r->body == expected);
    BOOST_TEST(client.wait_eof());
  }
  {  // Chunked, so the size is only known while reading.
    raw_client client(s.port());
    std::string chunk(800, 'y');
    std::string raw =
        "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "320\r\n" + chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n";
    BOOST_REQUIRE(client.send(raw));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 413u);
  }
  auto r = fetch(s.port(), post_request("/upload", std::string(1024, 'z')));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(r->body == "1024");
}

BOOST_AUTO_TEST_CASE(garbage_gets_400_or_a_close_and_the_server_keeps_serving) {
  served s;
  s.routes.add("GET", "/ok", [](request&, responder res) { res.send(json(200, "ok")); });
  s.start();
  const std::vector<std::string> garbage = {
      std::string("\x01\x02\x03 not http at all\r\n\r\n", 24),
      "GET /ok HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
      "GET /ok HTTP/9.9.9\r\n\r\n",
      "POST /ok HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n",
  };
  for (const auto& bytes : garbage) {
    raw_client client(s.port());
    client.send(bytes);
    auto r = client.read_reply();
    if (r) BOOST_TEST((r->status == 400u || r->status == 431u));
    BOOST_TEST(client.wait_eof());
  }
  {  // A client that vanishes mid-request.
    raw_client client(s.port());
    client.send("POST /ok HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
  }
  auto r = fetch(s.port(), get_request("/ok"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
  served s;
  std::atomic<int> count{0};
  s.routes.add("GET", "/n", [&](request&, responder res) {
    res.send(json(200, std::to_string(++count)));
  });
  s.start();
  {
    raw_client client(s.port());
    BOOST_REQUIRE(client.send(get_request("/n")));
    auto first = client.read_reply();
    BOOST_REQUIRE(client.send(get_request("/n")));
    auto second = client.read_reply();
    BOOST_REQUIRE(first);
    BOOST_REQUIRE(second);
    BOOST_TEST(first->body == "1");
    BOOST_TEST(second->body == "2");
    BOOST_TEST(first->header("connection") == "");
    // Pipelined: both requests in one write, answered in order.
    BOOST_REQUIRE(client.send(get_request("/n") + get_request("/n")));
    auto third = client.read_reply();
    auto fourth = client.read_reply();
    BOOST_REQUIRE(third);
    BOOST_REQUIRE(fourth);
    BOOST_TEST(third->body == "3");
    BOOST_TEST(fourth->body == "4");
  }
  {  // HTTP/1.0 closes unless asked not to.
    raw_client client(s.port());
    BOOST_REQUIRE(client.send("GET /n HTTP/1.0\r\n\r\n"));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status_line.starts_with("HTTP/1.0 200"));
    BOOST_TEST(client.wait_eof());
  }
  {
    raw_client client(s.port());
    BOOST_REQUIRE(client.send("GET /n HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->header("connection") == "keep-alive");
    BOOST_REQUIRE(client.send("GET /n HTTP/1.1\r\nConnection: close\r\n\r\n"));
    r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->header("connection") == "close");
    BOOST_TEST(client.wait_eof());
  }
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_honoured) {
  served s;
  s.routes.add("POST", "/up", [](request& req, responder res) { res.send(json(200, req.body)); });
  s.start();
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(
      "POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  BOOST_REQUIRE(client.read_until("HTTP/1.1 100 Continue\r\n\r\n"));
  client.buffer().clear();
  BOOST_REQUIRE(client.send("hello"));
  auto r = client.read_reply();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == "hello");
}

BOOST_AUTO_TEST_CASE(events_arrive_in_order_and_close_ends_the_stream) {
  served s;
  std::promise<std::shared_ptr<event_stream>> opened;
  s.routes.add("GET", "/events", [&](request&, responder res) {
    opened.set_value(res.start_events());
  });
  s.start();
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(get_request("/events")));
  BOOST_REQUIRE(client.read_until("\r\n\r\n"));
  std::string head = client.buffer().substr(0, client.buffer().find("\r\n\r\n") + 4);
  BOOST_TEST(head.starts_with("HTTP/1.1 200 OK\r\n"));
  BOOST_TEST(head.find("Content-Type: text/event-stream\r\n") != std::string::npos);
  BOOST_TEST(head.find("Cache-Control: no-cache\r\n") != std::string::npos);
  BOOST_TEST(head.find("Connection: keep-alive\r\n") != std::string::npos);
  BOOST_TEST(head.find("Content-Length") == std::string::npos);
  client.buffer().erase(0, head.size());

  auto f = opened.get_future();
  BOOST_REQUIRE(ready_within(f));
  auto stream = f.get();
  std::promise<void> closed;
  stream->on_close([&] { closed.set_value(); });

  std::thread other([&] {
    BOOST_TEST(stream->send("job", "{\"id\":1}"));
    BOOST_TEST(stream->send("progress", "line1\nline2"));
    stream->close();
  });
  other.join();
  BOOST_TEST(!stream->send("late", "x"));
  BOOST_TEST(stream->closed());
  BOOST_TEST(client.wait_eof());
  BOOST_TEST(client.buffer() ==
             "event: job\ndata: {\"id\":1}\n\nevent: progress\ndata: line1\ndata: line2\n\n");
  auto closed_future = closed.get_future();
  BOOST_TEST(ready_within(closed_future));
}

BOOST_AUTO_TEST_CASE(client_disconnect_fires_on_close_once_and_send_fails) {
  served s;
  std::promise<std::shared_ptr<event_stream>> opened;
  s.routes.add("GET", "/events", [&](request&, responder res) {
    opened.set_value(res.start_events());
  });
  s.start();
  std::shared_ptr<event_stream> stream;
  std::atomic<int> fired{0};
  std::promise<void> closed;
  {
    raw_client client(s.port());
    BOOST_REQUIRE(client.send(get_request("/events")));
    auto f = opened.get_future();
    BOOST_REQUIRE(ready_within(f));
    stream = f.get();
    stream->on_close([&] {
      if (++fired == 1) closed.set_value();
    });
    BOOST_TEST(stream->send("hello", "1"));
    BOOST_REQUIRE(client.read_until("data: 1\n\n"));
  }  // the client goes away
  auto closed_future = closed.get_future();
  BOOST_REQUIRE(ready_within(closed_future));
  BOOST_TEST(!stream->send("hello", "2"));
  BOOST_TEST(stream->closed());
  stream->close();
  BOOST_TEST(fired == 1);
}

BOOST_AUTO_TEST_CASE(slow_event_client_is_disconnected_and_keepalives_are_sent) {
  served s;
  std::promise<std::shared_ptr<event_stream>> opened;
  s.routes.add("GET", "/events", [&](request&, responder res) {
    opened.set_value(res.start_events());
  });
  server_options options;
  options.max_queued_event_bytes = 64 * 1024;
  options.event_keepalive = 20ms;
  s.start(options);
  {  // keepalive comments while idle
    raw_client client(s.port());
    BOOST_REQUIRE(client.send(get_request("/events")));
    BOOST_TEST(client.read_until(": keepalive\n\n"));
  }
  opened = {};
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(get_request("/events")));
  auto f = opened.get_future();
  BOOST_REQUIRE(ready_within(f));
  auto stream = f.get();
  std::promise<void> closed;
  stream->on_close([&] { closed.set_value(); });
  // The client never reads: once the socket buffers fill, the queue passes the limit.
  std::string data(16 * 1024, 'e');
  bool refused = false;
  for (int i = 0; i < 100'000 && !refused; ++i) refused = !stream->send("big", data);
  BOOST_TEST(refused);
  auto closed_future = closed.get_future();
  BOOST_TEST(ready_within(closed_future));
}

BOOST_AUTO_TEST_CASE(static_files_types_traversal_and_missing) {
  temp_dir dir;
  dir.write("web/index.html", "<html>home</html>");
  dir.write("web/app.js", "console.log(1)");
  dir.write("web/mod.mjs", "export {}");
  dir.write("web/style.css", "body{}");
  dir.write("web/logo.svg", "<svg/>");
  dir.write("web/img.png", "PNG");
  dir.write("web/favicon.ico", "ICO");
  dir.write("web/data.json", "{}");
  dir.write("web/font.woff2", "W2");
  dir.write("web/notes.txt", "notes");
  dir.write("web/sub/index.html", "<html>sub</html>");
  dir.write("secret.txt", "do not serve");

  served s;
  s.routes.add("GET", "/api/v1/ping", [](request&, responder res) { res.send(json(200, "pong")); });
  s.routes.set_static_dir(dir.path / "web");
  s.start();

  auto r = fetch(s.port(), get_request("/"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(r->body == "<html>home</html>");
  BOOST_TEST(r->header("content-type") == "text/html; charset=utf-8");

  const std::vector<std::pair<std::string, std::string>> types = {
      {"/app.js", "text/javascript; charset=utf-8"},
      {"/mod.mjs", "text/javascript; charset=utf-8"},
      {"/style.css", "text/css; charset=utf-8"},
      {"/logo.svg", "image/svg+xml"},
      {"/img.png", "image/png"},
      {"/favicon.ico", "image/x-icon"},
      {"/data.json", "application/json"},
      {"/font.woff2", "font/woff2"},
      {"/notes.txt", "text/plain; charset=utf-8"},
      {"/sub/", "text/html; charset=utf-8"},
  };
  for (const auto& [path, type] : types) {
    r = fetch(s.port(), get_request(path));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 200u, path);
    BOOST_TEST(r->header("content-type") == type, path);
  }

  r = fetch(s.port(), get_request("/api/v1/ping"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == "pong");

  for (const char* evil : {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                           "/..%2fsecret.txt", "/sub/../../secret.txt", "//etc/passwd",
                           "/%2F%2E%2E%2Fsecret.txt", "/%252e%252e/secret.txt",
                           "/..\\secret.txt"}) {
    r = fetch(s.port(), get_request(evil));
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 404u, evil);
    BOOST_TEST(r->body.find("do not serve") == std::string::npos, evil);
  }

  r = fetch(s.port(), get_request("/missing.js"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 404u);
  BOOST_TEST(error_code_of(*r) == "not_found");

  r = fetch(s.port(), get_request("/app.js", "POST"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 404u);

  // HEAD: the headers of the GET, no body (the next answer on the connection is intact).
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(get_request("/app.js", "HEAD")));
  r = client.read_reply(true);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(r->header("content-length") == "14");
  BOOST_REQUIRE(client.send(get_request("/notes.txt")));
  r = client.read_reply();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->body == "notes");
}

BOOST_AUTO_TEST_CASE(stop_lets_an_inflight_request_finish_within_the_deadline) {
  served s;
  std::promise<void> handler_entered;
  std::thread late;
  s.routes.add("GET", "/slow", [&](request&, responder res) {
    late = std::thread([res = std::move(res)]() mutable {
      std::this_thread::sleep_for(200ms);  // the slow work being waited for, not a wait
      res.send(json(200, "finished"));
    });
    handler_entered.set_value();
  });
  std::promise<std::shared_ptr<event_stream>> opened;
  s.routes.add("GET", "/events", [&](request&, responder res) {
    opened.set_value(res.start_events());
  });
  s.start();

  raw_client events_client(s.port());
  BOOST_REQUIRE(events_client.send(get_request("/events")));
  auto opened_future = opened.get_future();
  BOOST_REQUIRE(ready_within(opened_future));
  auto stream = opened_future.get();
  std::promise<void> stream_closed;
  stream->on_close([&] { stream_closed.set_value(); });
  BOOST_TEST(stream->send("last", "words"));

  raw_client idle(s.port());
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(get_request("/slow")));
  auto entered = handler_entered.get_future();
  BOOST_REQUIRE(ready_within(entered));

  auto t0 = std::chrono::steady_clock::now();
  s.srv->stop(5s);
  auto took = std::chrono::steady_clock::now() - t0;
  late.join();
  BOOST_TEST((took < 4s));

  auto r = client.read_reply();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(r->body == "finished");
  BOOST_TEST(r->header("connection") == "close");
  BOOST_TEST(client.wait_eof());
  BOOST_TEST(idle.wait_eof());
  BOOST_TEST(events_client.wait_eof());
  BOOST_TEST(events_client.buffer().find("event: last\ndata: words\n\n") != std::string::npos);
  auto closed_future = stream_closed.get_future();
  BOOST_TEST(ready_within(closed_future));
  BOOST_TEST(!stream->send("after", "stop"));
  BOOST_CHECK_THROW(raw_client{s.port()}, std::runtime_error);
}

BOOST_AUTO_TEST_CASE(stop_cuts_off_a_handler_that_never_answers) {
  served s;
  std::promise<responder> kept;
  s.routes.add("GET", "/never", [&](request&, responder res) { kept.set_value(std::move(res)); });
  s.start();
  raw_client client(s.port());
  BOOST_REQUIRE(client.send(get_request("/never")));
  auto f = kept.get_future();
  BOOST_REQUIRE(ready_within(f));
  auto t0 = std::chrono::steady_clock::now();
  s.srv->stop(100ms);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
  BOOST_TEST(client.wait_eof());
  {
    responder res = f.get();
    res.send(json(200, "too late"));  // dropped quietly, no crash
  }
  s.srv.reset();
}

BOOST_AUTO_TEST_CASE(binding_a_busy_port_throws_naming_the_address) {
  router routes;
  server_options options;
  options.port = 0;
  server first(routes, options);
  options.port = first.port();
  BOOST_TEST(first.port() != 0);
  try {
    server second(routes, options);
    BOOST_FAIL("a second server bound the same port");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    BOOST_TEST(what.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())) == 0u);
    BOOST_TEST(what.find("address already in use") != std::string::npos);
  }
  options.address = "not-an-address";
  BOOST_CHECK_THROW(server(routes, options), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(many_clients_at_once) {
  served s;
  s.routes.add("POST", "/api/v1/jobs", [](request& req, responder res) {
    if (req.body == "later") {
      std::thread([res = std::move(res)]() mutable { res.send(json(201, "later")); }).detach();
      return;
    }
    res.send(json(201, req.body));
  });
  s.start();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      raw_client client(s.port());
      for (int i = 0; i < 200; ++i) {
        std::string body = (i % 10 == 0) ? "later" : std::to_string(c * 1000 + i);
        if (!client.send(post_request("/api/v1/jobs", body))) return;
        auto r = client.read_reply();
        if (r && r->status == 201u && r->body == body) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  BOOST_TEST(ok == 800);
}

namespace {

// What an upload sink saw, shared with the test (the server owns the sink).
struct upload_log {
  std::mutex mutex;
  std::size_t bytes = 0, chunks = 0, largest_chunk = 0;
  std::uint64_t sum = 0;  // of the bytes, to check order-independent content
  std::string aborted;    // why, when aborted
  bool finished = false;
};

class logging_sink final : public body_sink {
 public:
  logging_sink(std::shared_ptr<upload_log> log, std::size_t refuse_after) : log_(std::move(log)), refuse_after_(refuse_after) {}
  std::optional<response> write(std::string_view chunk) override {
    std::lock_guard lock(log_->mutex);
    log_->bytes += chunk.size();
    log_->chunks++;
    log_->largest_chunk = std::max(log_->largest_chunk, chunk.size());
    for (unsigned char c : chunk) log_->sum += c;
    if (refuse_after_ && log_->bytes > refuse_after_) return json_error(422, "refused", "the sink refused the body");
    return std::nullopt;
  }
  void finish(responder res) override {
    std::lock_guard lock(log_->mutex);
    log_->finished = true;
    res.send(json(201, "{\"bytes\":" + std::to_string(log_->bytes) + "}"));
  }
  void abort(std::string_view why) override {
    std::lock_guard lock(log_->mutex);
    log_->aborted = std::string(why);
  }

 private:
  std::shared_ptr<upload_log> log_;
  std::size_t refuse_after_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(an_upload_streams_to_its_sink_in_chunks_and_the_connection_is_kept) {
  served s;
  auto log = std::make_shared<upload_log>();
  s.routes.add_upload("PUT", "/files/{name}", 64 * 1024 * 1024, [log](request& req, responder&) -> std::unique_ptr<body_sink> {
    BOOST_TEST(req.path_params["name"] == "weights.bin");
    BOOST_TEST(req.body.empty());
    return std::make_unique<logging_sink>(log, 0);
  });
  s.routes.add("GET", "/ping", [](request&, responder res) { res.send(json(200, "{}")); });
  server_options options;
  options.max_body_bytes = 1024;  // uploads have their own limit
  s.start(options);

  // 8 MiB, far more than a body held in memory may be here.
  std::string body(8 * 1024 * 1024, '\0');
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i * 7 % 251);
    sum += static_cast<unsigned char>(body[i]);
  }
  raw_client client(s.port());
  BOOST_REQUIRE(client.send("PUT /files/weights.bin HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\n\r\n" + body));
  auto r = client.read_reply();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 201u);
  BOOST_TEST(r->body == "{\"bytes\":" + std::to_string(body.size()) + "}");
  {
    std::lock_guard lock(log->mutex);
    BOOST_TEST(log->finished);
    BOOST_TEST(log->sum == sum);
    BOOST_TEST(log->chunks > 1u);
    BOOST_TEST(log->largest_chunk <= 256u * 1024u);
    BOOST_TEST(log->aborted.empty());
  }
  // The same connection serves the next request.
  BOOST_REQUIRE(client.send(get_request("/ping")));
  auto next = client.read_reply();
  BOOST_REQUIRE(next);
  BOOST_TEST(next->status == 200u);
}

BOOST_AUTO_TEST_CASE(an_upload_over_its_limit_or_refused_is_answered_and_its_sink_aborted) {
  served s;
  auto log = std::make_shared<upload_log>();
  s.routes.add_upload("PUT", "/small", 1000, [log](request&, responder&) -> std::unique_ptr<body_sink> {
    return std::make_unique<logging_sink>(log, 0);
  });
  s.routes.add_upload("PUT", "/picky", 1 << 20, [log](request&, responder&) -> std::unique_ptr<body_sink> {
    return std::make_unique<logging_sink>(log, 600);
  });
  s.routes.add_upload("PUT", "/locked", 1 << 20, [](request&, responder& res) -> std::unique_ptr<body_sink> {
    res.send(json_error(401, "unauthorized", "an API token is required"));
    return nullptr;
  });
  s.routes.add("GET", "/ping", [](request&, responder res) { res.send(json(200, "{}")); });
  s.start();

  {  // Chunked past the route's limit: 413 and the sink aborted.
    raw_client client(s.port());
    std::string chunk(800, 'y');
    BOOST_REQUIRE(client.send("PUT /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
                              "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 413u);
    std::lock_guard lock(log->mutex);
    BOOST_TEST(!log->aborted.empty());
    BOOST_TEST(!log->finished);
  }
  {  // The sink stops it midway: its answer, and the connection closes.
    raw_client client(s.port());
    BOOST_REQUIRE(client.send("PUT /picky HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'z')));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 422u);
    BOOST_TEST(error_code_of(*r) == "refused");
    BOOST_TEST(client.wait_eof());
  }
  {  // Refused on the headers: the client reads the answer, however much body it sends.
    raw_client client(s.port());
    BOOST_REQUIRE(client.send("PUT /locked HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" + std::string(300000, 'q')));
    auto r = client.read_reply();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 401u);
    BOOST_TEST(client.wait_eof());
  }
  auto r = fetch(s.port(), get_request("/ping"));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200u);
}

BOOST_AUTO_TEST_CASE(a_client_that_leaves_midway_aborts_the_upload) {
  served s;
  auto log = std::make_shared<upload_log>();
  std::promise<void> aborted;
  auto aborted_future = aborted.get_future();
  struct signalling_sink final : body_sink {
    std::shared_ptr<upload_log> log;
    std::promise<void>* aborted;
    std::optional<response> write(std::string_view chunk) override {
      std::lock_guard lock(log->mutex);
      log->bytes += chunk.size();
      return std::nullopt;
    }
    void finish(responder res) override { res.send(json(201, "{}")); }
    void abort(std::string_view why) override {
      {
        std::lock_guard lock(log->mutex);
        log->aborted = std::string(why);
      }
      aborted->set_value();
    }
  };
  s.routes.add_upload("PUT", "/gone", 1 << 20, [&](request&, responder&) -> std::unique_ptr<body_sink> {
    auto sink = std::make_unique<signalling_sink>();
    sink->log = log;
    sink->aborted = &aborted;
    return sink;
  });
  s.start();
  {
    raw_client client(s.port());
    BOOST_REQUIRE(client.send("PUT /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'a')));
  }  // closed with 95,000 bytes never sent
  BOOST_REQUIRE(ready_within(aborted_future));
  std::lock_guard lock(log->mutex);
  BOOST_TEST(!log->aborted.empty());
  BOOST_TEST(log->bytes <= 5000u);
}
