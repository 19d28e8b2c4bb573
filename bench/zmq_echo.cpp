#include "zmq_echo.hpp"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>

namespace potluck::bench {
namespace {

using frames = std::vector<zmq::message_t>;
using clock_type = std::chrono::steady_clock;

constexpr char ready_command[] = "READY";
constexpr char status_command[] = "?";
constexpr char header_magic[] = "PLKE\x01";  // 5 bytes, then the 8-byte sequence
constexpr std::size_t header_bytes = 5 + 8;

bool equals(const zmq::message_t& m, const char* text) {
  return m.size() == std::strlen(text) && std::memcmp(m.data(), text, m.size()) == 0;
}

void unlimited_queues(zmq::socket_t& s) {
  s.set(zmq::sockopt::sndhwm, 0);
  s.set(zmq::sockopt::rcvhwm, 0);
  s.set(zmq::sockopt::linger, 0);
}

bool receive(zmq::socket_t& s, frames& out, zmq::recv_flags flags) {
  out.clear();
  return zmq::recv_multipart(s, std::back_inserter(out), flags).has_value();
}

}  // namespace

int run_zmq_broker(const std::string& client_endpoint, const std::string& worker_endpoint, int credit_per_worker) {
  zmq::context_t ctx(1);
  zmq::socket_t clients(ctx, zmq::socket_type::router), workers(ctx, zmq::socket_type::router);
  unlimited_queues(clients);
  unlimited_queues(workers);
  clients.bind(client_endpoint);
  workers.bind(worker_endpoint);

  // One entry per request a worker may still take: credit_per_worker entries per worker.
  std::deque<zmq::message_t> free_workers;
  std::size_t known_workers = 0;
  std::deque<frames> waiting;  // [client-id, header, payload] with no free worker yet

  auto dispatch = [&](zmq::message_t worker_id, frames& request) {
    workers.send(std::move(worker_id), zmq::send_flags::sndmore);
    for (std::size_t i = 0; i < request.size(); ++i)
      workers.send(std::move(request[i]), i + 1 < request.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  };

  frames msg;
  zmq::pollitem_t items[] = {{clients.handle(), 0, ZMQ_POLLIN, 0}, {workers.handle(), 0, ZMQ_POLLIN, 0}};
  for (;;) {
    zmq::poll(items, 2, std::chrono::milliseconds(-1));
    if (items[1].revents & ZMQ_POLLIN) {
      while (receive(workers, msg, zmq::recv_flags::dontwait)) {
        if (msg.size() == 2 && equals(msg[1], ready_command)) {
          ++known_workers;
          for (int i = 1; i < credit_per_worker; ++i) {
            zmq::message_t copy;
            copy.copy(msg[0]);
            if (!waiting.empty()) {
              dispatch(std::move(copy), waiting.front());
              waiting.pop_front();
            } else {
              free_workers.push_back(std::move(copy));
            }
          }
        } else if (msg.size() >= 2) {
          for (std::size_t i = 1; i < msg.size(); ++i)
            clients.send(std::move(msg[i]), i + 1 < msg.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        } else {
          continue;
        }
        // The worker has room again: give it the oldest waiting request, or remember it.
        if (!waiting.empty()) {
          dispatch(std::move(msg[0]), waiting.front());
          waiting.pop_front();
        } else {
          free_workers.push_back(std::move(msg[0]));
        }
      }
    }
    if (items[0].revents & ZMQ_POLLIN) {
      while (receive(clients, msg, zmq::recv_flags::dontwait)) {
        if (msg.size() == 2 && equals(msg[1], status_command)) {
          const auto count = std::to_string(known_workers);
          clients.send(std::move(msg[0]), zmq::send_flags::sndmore);
          clients.send(zmq::buffer(status_command, 1), zmq::send_flags::sndmore);
          clients.send(zmq::buffer(count), zmq::send_flags::none);
          continue;
        }
        if (msg.size() < 2) continue;
        if (!free_workers.empty()) {
          auto worker_id = std::move(free_workers.front());
          free_workers.pop_front();
          dispatch(std::move(worker_id), msg);
        } else {
          waiting.push_back(std::move(msg));
          msg = frames();
        }
      }
    }
  }
}

int run_zmq_echo_worker(const std::string& worker_endpoint) {
  zmq::context_t ctx(1);
  zmq::socket_t broker(ctx, zmq::socket_type::dealer);
  unlimited_queues(broker);
  broker.connect(worker_endpoint);
  broker.send(zmq::buffer(ready_command, std::strlen(ready_command)), zmq::send_flags::none);
  frames msg;
  for (;;) {
    if (!receive(broker, msg, zmq::recv_flags::none)) continue;
    zmq::send_multipart(broker, msg);
  }
}

ceiling_result run_zmq_client(const std::string& client_endpoint, int workers, std::int64_t messages, int window,
                              int warmup, int latency_samples, std::chrono::milliseconds deadline) {
  zmq::context_t ctx(1);
  zmq::socket_t broker(ctx, zmq::socket_type::dealer);
  unlimited_queues(broker);
  broker.set(zmq::sockopt::rcvtimeo, static_cast<int>(deadline.count()));
  broker.connect(client_endpoint);

  frames reply;
  const auto ready_by = clock_type::now() + deadline;
  for (;;) {
    broker.send(zmq::buffer(status_command, 1), zmq::send_flags::none);
    if (!receive(broker, reply, zmq::recv_flags::none)) throw std::runtime_error("the ZeroMQ broker does not answer");
    if (reply.size() == 2 && std::stoi(reply[1].to_string()) >= workers) break;
    if (clock_type::now() > ready_by)
      throw std::runtime_error("only " + reply.at(1).to_string() + " of " + std::to_string(workers) +
                               " echo workers reached the ZeroMQ broker");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  const float payload_value = 1.0f;
  auto send_request = [&](std::uint64_t seq) {
    char header[header_bytes];
    std::memcpy(header, header_magic, 5);
    std::memcpy(header + 5, &seq, 8);
    broker.send(zmq::buffer(header, sizeof header), zmq::send_flags::sndmore);
    broker.send(zmq::buffer(&payload_value, sizeof payload_value), zmq::send_flags::none);
  };
  auto take_reply = [&](zmq::recv_flags flags) -> bool {
    if (!receive(broker, reply, flags)) {
      if (flags == zmq::recv_flags::none) throw std::runtime_error("the ZeroMQ echo timed out");
      return false;
    }
    if (reply.size() != 2 || reply[0].size() != header_bytes || std::memcmp(reply[0].data(), header_magic, 5) != 0 ||
        reply[1].size() != sizeof payload_value)
      throw std::runtime_error("the ZeroMQ echo returned a malformed reply");
    return true;
  };

  ceiling_result result;
  // Throughput: pipelined with a window, like the batch path's many jobs in flight.
  std::int64_t sent = 0, received = 0;
  const auto start = clock_type::now();
  while (received < messages) {
    while (sent < messages && sent - received < window) send_request(static_cast<std::uint64_t>(sent++));
    take_reply(zmq::recv_flags::none);
    ++received;
    while (received < sent && take_reply(zmq::recv_flags::dontwait)) ++received;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  result.messages_per_s = static_cast<double>(messages) / seconds;

  // Latency: one request at a time.
  result.latencies_ms.reserve(static_cast<std::size_t>(latency_samples));
  for (int i = 0; i < warmup + latency_samples; ++i) {
    const auto t0 = clock_type::now();
    send_request(static_cast<std::uint64_t>(messages + i));
    take_reply(zmq::recv_flags::none);
    if (i >= warmup)
      result.latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  return result;
}

}  // namespace potluck::bench
