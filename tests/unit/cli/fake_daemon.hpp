// A fake daemon for the CLI's unit tests: a loopback HTTP server that records each request and
// answers from a script, one connection at a time, so that a test pins what the CLI sends (the
// bearer header, other headers, bodies) and what it shows for a canned answer. A request that
// sends "Expect: 100-continue" gets "100 Continue" before its body is read, unless the script's
// `early` answer refuses it first (the body is then never read).
#pragma once

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace potluck::cli::testing {

struct recorded_request {
  std::string method, target, authorization, body;
  std::vector<std::pair<std::string, std::string>> headers;  // every header line, as sent

  // The value of header `name` (any case); "" when it was not sent.
  std::string header(std::string_view name) const {
    const auto same = [](std::string_view a, std::string_view b) {
      return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
             });
    };
    for (const auto& [k, v] : headers)
      if (same(k, name)) return v;
    return {};
  }
};

struct scripted_reply {
  scripted_reply(unsigned s, std::string b, std::string headers = {})
      : status(s), body(std::move(b)), extra_headers(std::move(headers)) {}
  unsigned status = 200;
  std::string body;
  std::string extra_headers;  // "Retry-After: 7\r\n"
};

// Answers every connection with `answer(request)`, one at a time, until destroyed.
class fake_daemon {
 public:
  using early_answer = std::function<std::optional<scripted_reply>(const recorded_request& head)>;

  explicit fake_daemon(std::function<scripted_reply(const recorded_request&)> answer, early_answer early = {})
      : answer_(std::move(answer)), early_(std::move(early)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_TEST_REQUIRE(::listen(listener_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_daemon() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  const std::string& url() const { return url_; }
  std::vector<recorded_request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  recorded_request last() {
    auto all = requests();
    BOOST_TEST_REQUIRE(!all.empty());
    return all.back();
  }

 private:
  // The method, target and headers of a request's head (without its blank line).
  static recorded_request parse_head(const std::string& head_text) {
    recorded_request r;
    std::istringstream head(head_text);
    head >> r.method >> r.target;
    for (std::string line; std::getline(head, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.starts_with("Authorization: ")) r.authorization = line.substr(15);
      if (auto colon = line.find(": "); colon != std::string::npos)
        r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return r;
  }

  static void send_reply(int fd, const scripted_reply& reply) {
    const std::string text = "HTTP/1.1 " + std::to_string(reply.status) +
                             " X\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(reply.body.size()) + "\r\n" + reply.extra_headers +
                             "Connection: close\r\n\r\n" + reply.body;
    ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }

  void serve() {
    for (;;) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string data;
      char buf[65536];
      std::size_t head_end = std::string::npos, body_bytes = 0;
      std::optional<scripted_reply> refused;
      while (true) {
        if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
          auto cl = data.find("Content-Length: ");
          if (cl != std::string::npos && cl < head_end) body_bytes = std::stoul(data.substr(cl + 16));
          const auto head = parse_head(data.substr(0, head_end));
          if (head.header("Expect") == "100-continue") {
            if (early_) refused = early_(head);
            if (refused) break;
            const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
            ::send(fd, go_on.data(), go_on.size(), MSG_NOSIGNAL);
          }
        }
        if (head_end != std::string::npos && data.size() >= head_end + 4 + body_bytes) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5'000) <= 0) break;
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
      }
      auto r = parse_head(data.substr(0, head_end));
      if (head_end != std::string::npos && !refused) r.body = data.substr(head_end + 4);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(r);
      }
      send_reply(fd, refused ? *refused : answer_(r));
      ::close(fd);
    }
  }

  std::function<scripted_reply(const recorded_request&)> answer_;
  early_answer early_;
  int listener_ = -1;
  std::string url_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<recorded_request> requests_;
};

}  // namespace potluck::cli::testing
