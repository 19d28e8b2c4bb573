// The daemon<->worker wire codec (see protocol/PROTOCOL.md, the normative spec).
//
// Every message is a multipart ZeroMQ message (after the ROUTER's identity frame, on the
// daemon side):
//   frame 0  protocol and version: the 4 bytes "PLK1"
//   frame 1  command: one byte
//   frame 2  header: a UTF-8 JSON object ("{}" when the command has none)
//   frame 3+ payload: raw tensor bytes, one frame per tensor listed in the header, in order
#pragma once

#include "potluck/protocol/tensor.hpp"

#include <boost/json/object.hpp>
#include <zmq.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::protocol {

inline constexpr std::string_view protocol_id = "PLK1";

enum class command : std::uint8_t {
  hello = 0x01,      // W->D  register: name, slots, devices, plugins and tasks
  welcome = 0x02,    // D->W  accepted: worker id, heartbeat interval
  heartbeat = 0x03,  // both  nothing else to say
  job = 0x04,        // D->W  run a job: id, task, backend, params, input tensors
  progress = 0x05,   // W->D  fraction and message of a running job
  result = 0x06,     // W->D  a job succeeded: output tensors
  failed = 0x07,     // W->D  a job failed: code and message
  cancel = 0x08,     // D->W  stop a job
  cancelled = 0x09,  // W->D  a job stopped on request
  returned = 0x0a,   // W->D  a job handed back unrun or unfinished (shutting down)
  disconnect = 0x0b, // both  the sender forgets the peer; the worker says hello again
};

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
// Headers must be valid UTF-8 (a header that is not does not decode): text from a plugin or a
// model (a progress message, an error, generated text) goes through this first.
std::string to_valid_utf8(std::string_view text);

// "hello", ...; "unknown" for a value outside the set.
const char* command_name(command c) noexcept;
bool is_known_command(std::uint8_t value) noexcept;

struct message {
  command cmd = command::heartbeat;
  boost::json::object header;
  std::vector<zmq::message_t> payload;
};

// Builds the frames of a message (without any routing identity).
std::vector<zmq::message_t> encode(command cmd, const boost::json::object& header,
                                   std::vector<zmq::message_t> payload = {});
// The cheap heartbeat, pre-encoded header "{}".
std::vector<zmq::message_t> encode_heartbeat();

// Parses frames (without routing identity). Throws protocol_error saying what is wrong:
// too few frames, wrong protocol id, unknown command, header not a JSON object, over limits.
message decode(std::vector<zmq::message_t>&& frames);

// Tensors in a header: [{"name","dtype","shape"}] with one payload frame each.
boost::json::array tensor_list(const std::vector<tensor_meta>& metas);
// Reads the tensor list at header[key] and takes the matching payload frames. Throws
// protocol_error when the list is malformed, frames are missing or sizes do not match.
std::vector<tensor> take_tensors(const boost::json::object& header, std::string_view key,
                                 std::vector<zmq::message_t>& payload);
std::vector<tensor_meta> read_tensor_metas(const boost::json::value& list);

// Sends all frames; false when the socket would block (nothing sent then for the first
// frame; with ROUTER_MANDATORY an unknown peer raises EHOSTUNREACH, reported as false).
bool send_all(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, bool dont_wait = true);
// Receives one whole multipart message; false when none is waiting (non-blocking).
bool recv_all(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, bool dont_wait = true);

}  // namespace potluck::protocol
