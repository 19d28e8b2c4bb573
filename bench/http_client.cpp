#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace potluck::bench {
namespace {

constexpr std::size_t read_chunk_bytes = 64 * 1024;
constexpr int receive_timeout_s = 120;  // a ?wait=true answer or a big batch commit, at worst

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

http_connection::http_connection(std::uint16_t port, std::string token) : port_(port), token_(std::move(token)) { open(); }

http_connection::~http_connection() { close(); }

void http_connection::open() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket() failed");
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{receive_timeout_s, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    close();
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port_) + ": " + std::strerror(err));
  }
  buffer_.clear();
}

void http_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool http_connection::fill(const char* what) {
  char chunk[read_chunk_bytes];
  for (;;) {
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    const int err = errno;
    close();
    throw std::runtime_error(std::string("reading ") + what + " failed: " +
                             (err == EAGAIN || err == EWOULDBLOCK ? "timed out" : std::strerror(err)));
  }
}

http_reply http_connection::request(std::string_view method, std::string_view target, std::string_view body) {
  if (fd_ < 0) open();
  out_.clear();
  out_.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (!token_.empty()) out_.append("Authorization: Bearer ").append(token_).append("\r\n");
  if (method == "POST" || !body.empty())
    out_.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
  out_.append("\r\n").append(body);
  std::size_t sent = 0;
  while (sent < out_.size()) {
    const auto n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close();
      throw std::runtime_error("sending " + std::string(method) + " " + std::string(target) + " failed: " + std::strerror(err));
    }
    sent += static_cast<std::size_t>(n);
  }

  const std::string what = std::string(method) + " " + std::string(target);
  std::size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(what.c_str())) {
      close();
      throw std::runtime_error("the server closed the connection before answering " + what);
    }
  }
  http_reply reply;
  if (buffer_.size() < 12 || buffer_.compare(0, 5, "HTTP/") != 0) {
    close();
    throw std::runtime_error("not an HTTP answer to " + what);
  }
  reply.status = std::atoi(buffer_.c_str() + 9);
  const std::string head = lower(std::string_view(buffer_).substr(0, head_end + 2));
  const bool server_closes = head.find("\r\nconnection: close\r\n") != std::string::npos;
  std::size_t pos = head_end + 4;

  if (head.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
    for (;;) {
      std::size_t eol;
      while ((eol = buffer_.find("\r\n", pos)) == std::string::npos)
        if (!fill(what.c_str())) throw std::runtime_error("truncated chunked answer to " + what);
      const auto size = std::strtoul(buffer_.c_str() + pos, nullptr, 16);
      const std::size_t data_at = eol + 2;
      while (buffer_.size() < data_at + size + 2)
        if (!fill(what.c_str())) throw std::runtime_error("truncated chunked answer to " + what);
      if (size == 0) {
        pos = data_at + 2;  // no trailers expected
        break;
      }
      reply.body.append(buffer_, data_at, size);
      pos = data_at + size + 2;
    }
  } else if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
    const auto length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    while (buffer_.size() < pos + length)
      if (!fill(what.c_str())) throw std::runtime_error("truncated answer to " + what);
    reply.body.assign(buffer_, pos, length);
    pos += length;
  } else {
    while (fill(what.c_str())) {
    }
    reply.body.assign(buffer_, pos);
    pos = buffer_.size();
    close();
    return reply;
  }
  buffer_.erase(0, pos);
  if (server_closes) close();
  return reply;
}

double prometheus_value(std::string_view text, std::string_view name) {
  std::size_t at = 0;
  while ((at = text.find(name, at)) != std::string_view::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const std::size_t after = at + name.size();
    if (line_start && after < text.size() && text[after] == ' ')
      return std::strtod(std::string(text.substr(after + 1, 32)).c_str(), nullptr);
    at = after;
  }
  return -1;
}

}  // namespace potluck::bench
