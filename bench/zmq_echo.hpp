// The ceiling: a raw ZeroMQ echo through one broker process, shaped like the daemon's path
// without HTTP, JSON, the journal or the runner hop.
//
//   client (DEALER, in the bench) ─tcp─▶ broker ROUTER (clients) │ ROUTER (workers) ─tcp─▶ echo (DEALER) × N
//
// The broker balances like the LRU/Majordomo pattern: a worker announces itself with READY and
// holds at most `credit_per_worker` requests at a time; with 1 (the ceiling in the table) it is
// what a 1-slot potluck-worker gets from the daemon. Requests that find no worker with room
// wait in the broker's queue (as jobs wait in the daemon's). One hop each way. A larger credit
// shows what the transport does when workers are fed ahead (prefetch).
//
// Messages: client → broker  [header, payload]            header = "PLKE" 0x01 + 8-byte sequence
//           broker → worker  [client-id, header, payload] payload = 4 bytes (one f32)
//           worker → broker  [client-id, header, payload] (echoed)
//           client → broker  ["?"] → ["?", ready-worker count as text]: lets the client wait for N workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace potluck::bench {

// Hidden process roles (the bench binary started with --zmq-broker / --zmq-echo). Run until killed.
int run_zmq_broker(const std::string& client_endpoint, const std::string& worker_endpoint, int credit_per_worker);
int run_zmq_echo_worker(const std::string& worker_endpoint);

struct ceiling_result {
  double messages_per_s = 0;
  std::vector<double> latencies_ms;  // sequential round trips, after warm-up
};

// Connects to the broker, waits (up to `deadline`) for `workers` echo workers, then sends
// `messages` requests with up to `window` in flight, then `latency_samples` sequential round
// trips after `warmup` unmeasured ones. Throws on a timeout or a wrong echo.
ceiling_result run_zmq_client(const std::string& client_endpoint, int workers, std::int64_t messages, int window,
                              int warmup, int latency_samples, std::chrono::milliseconds deadline);

}  // namespace potluck::bench
