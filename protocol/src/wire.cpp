// The wire codec: frames in, validated messages out, and back.
#include "potluck/protocol/wire.hpp"

#include <boost/json.hpp>

namespace json = boost::json;

namespace potluck::protocol {
namespace {
constexpr std::size_t max_header_bytes = 1 << 20;
constexpr std::size_t max_payload_frames = 256;
}  // namespace

const char* command_name(command c) noexcept {
  switch (c) {
    case command::hello: return "hello";
    case command::welcome: return "welcome";
    case command::heartbeat: return "heartbeat";
    case command::job: return "job";
    case command::progress: return "progress";
    case command::result: return "result";
    case command::failed: return "failed";
    case command::cancel: return "cancel";
    case command::cancelled: return "cancelled";
    case command::returned: return "returned";
    case command::disconnect: return "disconnect";
  }
  return "unknown";
}

bool is_known_command(std::uint8_t value) noexcept {
  return value >= static_cast<std::uint8_t>(command::hello) &&
         value <= static_cast<std::uint8_t>(command::disconnect);
}

std::vector<zmq::message_t> encode(command cmd, const json::object& header,
                                   std::vector<zmq::message_t> payload) {
  std::vector<zmq::message_t> frames;
  frames.reserve(3 + payload.size());
  frames.emplace_back(protocol_id.data(), protocol_id.size());
  const auto byte = static_cast<std::uint8_t>(cmd);
  frames.emplace_back(&byte, 1);
  const auto text = json::serialize(header);
  frames.emplace_back(text.data(), text.size());
  for (auto& p : payload) frames.push_back(std::move(p));
  return frames;
}

std::vector<zmq::message_t> encode_heartbeat() {
  std::vector<zmq::message_t> frames;
  frames.reserve(3);
  frames.emplace_back(protocol_id.data(), protocol_id.size());
  const auto byte = static_cast<std::uint8_t>(command::heartbeat);
  frames.emplace_back(&byte, 1);
  frames.emplace_back("{}", 2);
  return frames;
}

std::string to_valid_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= in.size() && c != 0xc0 && c != 0xc1 && c <= 0xf4;
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(in[i + k]) >> 6) == 0x2;
    if (ok && len >= 3) {
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0) &&  // overlong, surrogates
           !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);  // overlong, beyond U+10FFFF
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

message decode(std::vector<zmq::message_t>&& frames) {
  if (frames.size() < 3)
    throw protocol_error("message has " + std::to_string(frames.size()) + " frames, at least 3 expected");
  if (frames[0].to_string_view() != protocol_id)
    throw protocol_error("frame 0 is not the protocol id PLK1");
  if (frames[1].size() != 1) throw protocol_error("frame 1 (command) is not one byte");
  const auto cmd = *static_cast<const std::uint8_t*>(frames[1].data());
  if (!is_known_command(cmd)) throw protocol_error("unknown command " + std::to_string(cmd));
  if (frames[2].size() > max_header_bytes) throw protocol_error("header frame is over 1 MiB");
  if (frames.size() - 3 > max_payload_frames) throw protocol_error("too many payload frames");
  message m;
  m.cmd = static_cast<command>(cmd);
  boost::system::error_code ec;
  auto v = json::parse(frames[2].to_string_view(), ec);
  if (ec || !v.is_object()) throw protocol_error("header frame is not a JSON object");
  m.header = std::move(v.as_object());
  m.payload.reserve(frames.size() - 3);
  for (std::size_t i = 3; i < frames.size(); ++i) m.payload.push_back(std::move(frames[i]));
  return m;
}

json::array tensor_list(const std::vector<tensor_meta>& metas) {
  json::array a;
  a.reserve(metas.size());
  for (const auto& t : metas) {
    json::array shape;
    for (auto d : t.shape) shape.push_back(d);
    a.push_back(json::object{{"name", t.name}, {"dtype", dtype_name(t.type)}, {"shape", std::move(shape)}});
  }
  return a;
}

std::vector<tensor_meta> read_tensor_metas(const json::value& list) {
  if (!list.is_array()) throw protocol_error("tensor list is not an array");
  std::vector<tensor_meta> out;
  for (const auto& item : list.as_array()) {
    if (!item.is_object()) throw protocol_error("tensor list item is not an object");
    const auto& o = item.as_object();
    auto* name = o.if_contains("name");
    auto* dt = o.if_contains("dtype");
    auto* shape = o.if_contains("shape");
    if (!name || !name->is_string() || !dt || !dt->is_string() || !shape || !shape->is_array())
      throw protocol_error("tensor list item needs name, dtype and shape");
    tensor_meta m;
    m.name = std::string(name->as_string());
    auto type = parse_dtype(dt->as_string());
    if (!type) throw protocol_error("tensor '" + m.name + "' has unknown dtype");
    m.type = *type;
    for (const auto& d : shape->as_array()) {
      if (!d.is_int64() && !d.is_uint64()) throw protocol_error("tensor '" + m.name + "' has a non-integer dimension");
      m.shape.push_back(d.is_int64() ? d.as_int64() : static_cast<std::int64_t>(d.as_uint64()));
    }
    element_count(m.shape);  // validates rank, signs and overflow
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<tensor> take_tensors(const json::object& header, std::string_view key,
                                 std::vector<zmq::message_t>& payload) {
  auto* list = header.if_contains(key);
  if (!list) throw protocol_error("header lacks \"" + std::string(key) + "\"");
  auto metas = read_tensor_metas(*list);
  if (metas.size() != payload.size())
    throw protocol_error("header lists " + std::to_string(metas.size()) + " tensors but " +
                         std::to_string(payload.size()) + " payload frames came");
  std::vector<tensor> out;
  out.reserve(metas.size());
  for (std::size_t i = 0; i < metas.size(); ++i) {
    tensor t;
    t.name = std::move(metas[i].name);
    t.type = metas[i].type;
    t.shape = std::move(metas[i].shape);
    t.data.assign(static_cast<const char*>(payload[i].data()), payload[i].size());
    t.check();
    out.push_back(std::move(t));
  }
  return out;
}

bool send_all(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, bool dont_wait) {
  const auto base = dont_wait ? zmq::send_flags::dontwait : zmq::send_flags::none;
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size() ? (base | zmq::send_flags::sndmore) : base;
      if (!socket.send(frames[i], flags)) return false;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return false;
    throw;
  }
  return true;
}

bool recv_all(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, bool dont_wait) {
  frames.clear();
  zmq::message_t part;
  if (!socket.recv(part, dont_wait ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) return false;
  for (;;) {
    const bool more = part.more();
    frames.push_back(std::move(part));
    if (!more) break;
    part = zmq::message_t();
    (void)socket.recv(part, zmq::recv_flags::none);
  }
  return true;
}

}  // namespace potluck::protocol
