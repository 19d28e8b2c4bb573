// A minimal blocking HTTP/1.1 client over one keep-alive loopback connection: enough to drive
// potluckd from the benchmark. One request at a time; Content-Length and chunked bodies.
// Not thread-safe: one connection per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace potluck::bench {

struct http_reply {
  int status = 0;
  std::string body;
};

class http_connection {
 public:
  // `token`: sent as "Authorization: Bearer" with every request when not empty.
  explicit http_connection(std::uint16_t port, std::string token = {});
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  // Sends one request and reads its answer. Throws std::runtime_error when the connection
  // fails; the connection is re-opened on the next call (never retried: a POST may have landed).
  http_reply request(std::string_view method, std::string_view target, std::string_view body = {});

 private:
  void open();
  void close();
  bool fill(const char* what);  // reads more bytes into buffer_; false at EOF

  std::uint16_t port_;
  std::string token_;
  int fd_ = -1;
  std::string buffer_;
  std::string out_;
};

// The value of a Prometheus sample line `name value` (name including labels); -1 when absent.
double prometheus_value(std::string_view text, std::string_view name);

}  // namespace potluck::bench
