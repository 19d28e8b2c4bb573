#include "daemon/api/tensor_json.hpp"

#include <boost/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace json = boost::json;

namespace potluck::daemon::api {
namespace {

constexpr std::size_t max_numbers_elements = 65536;
constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Flattens nested arrays, recording the shape from the first element at each depth.
bool flatten(const json::value& v, std::size_t depth, std::vector<std::int64_t>& shape,
             std::vector<const json::value*>& leaves, std::string& error) {
  if (!v.is_array()) {
    if (depth != shape.size()) {
      error = "nested data is ragged";
      return false;
    }
    leaves.push_back(&v);
    return true;
  }
  const auto& a = v.as_array();
  if (depth == shape.size()) {
    if (!leaves.empty()) {
      error = "nested data is ragged";
      return false;
    }
    if (shape.size() >= protocol::max_tensor_rank) {
      error = "nested data is deeper than the rank limit";
      return false;
    }
    shape.push_back(static_cast<std::int64_t>(a.size()));
  } else if (shape[depth] != static_cast<std::int64_t>(a.size())) {
    error = "nested data is ragged: rows of different lengths";
    return false;
  }
  for (const auto& item : a)
    if (!flatten(item, depth + 1, shape, leaves, error)) return false;
  return true;
}

template <class T>
bool put_number(const json::value& v, char* dst, std::string& error, std::size_t index) {
  T out{};
  if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) {
      error = "element " + std::to_string(index) + " is not a number";
      return false;
    }
    out = static_cast<T>(v.to_number<double>());
  } else {
    std::int64_t i;
    if (v.is_int64()) {
      i = v.as_int64();
    } else if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      i = static_cast<std::int64_t>(v.as_uint64());
    } else if (v.is_double() && std::trunc(v.as_double()) == v.as_double() && std::abs(v.as_double()) < 9.0e15) {
      i = static_cast<std::int64_t>(v.as_double());
    } else if (v.is_bool()) {
      i = v.as_bool() ? 1 : 0;
    } else {
      error = "element " + std::to_string(index) + " is not an integer";
      return false;
    }
    if (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        i > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
      error = "element " + std::to_string(index) + " (" + std::to_string(i) + ") is out of range";
      return false;
    }
    out = static_cast<T>(i);
  }
  std::memcpy(dst, &out, sizeof(T));
  return true;
}

bool put_element(protocol::dtype type, const json::value& v, char* dst, std::string& error, std::size_t i) {
  using protocol::dtype;
  switch (type) {
    case dtype::f32: return put_number<float>(v, dst, error, i);
    case dtype::f64: return put_number<double>(v, dst, error, i);
    case dtype::i32: return put_number<std::int32_t>(v, dst, error, i);
    case dtype::i64: return put_number<std::int64_t>(v, dst, error, i);
    case dtype::u8: return put_number<std::uint8_t>(v, dst, error, i);
    case dtype::i8: return put_number<std::int8_t>(v, dst, error, i);
    case dtype::boolean:
      if (!v.is_bool() && !(v.is_int64() && (v.as_int64() == 0 || v.as_int64() == 1))) {
        error = "element " + std::to_string(i) + " is not a boolean";
        return false;
      }
      *dst = static_cast<char>(v.is_bool() ? v.as_bool() : v.as_int64() == 1);
      return true;
    default:
      error = std::string("dtype ") + protocol::dtype_name(type) + " takes \"b64\" data, not numbers";
      return false;
  }
}

template <class T> void append_numbers(std::string& out, const std::string& data) {
  const std::size_t n = data.size() / sizeof(T);
  char buf[64];
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    if (i) out += ',';
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

template <class T> bool all_finite(const std::string& data) {
  const std::size_t n = data.size() / sizeof(T);
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                   std::uint8_t(in[i + 2]);
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += b64_alphabet[(n >> 6) & 63];
    out += b64_alphabet[n & 63];
  }
  if (i < in.size()) {
    std::uint32_t n = std::uint32_t(std::uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) n |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? b64_alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64_alphabet[i])] = i;
    t['-'] = 62;  // URL-safe alphabet too
    t['_'] = 63;
    return t;
  }();
  out.clear();
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (char c : text) {
    if (c == '=') {
      ++padding;
      continue;
    }
    if (c == '\n' || c == '\r' || c == ' ') continue;
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0 || padding) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return padding <= 2;
}

namespace {

// {"text": "bonjour"}: u8[n], the UTF-8 bytes; {"text": ["a", "bc"]}: u8[b,n], one text per row,
// padded with zero bytes to the longest.
bool text_tensor(const json::object& o, const json::value& text, const std::string& who, protocol::tensor& out,
                 std::string& error) {
  for (const auto& [key, value] : o) {
    if (key == "text") continue;
    if (key == "dtype" && value.is_string() && value.as_string() == "u8") continue;
    error = who + " gives \"text\", which is a u8 tensor of UTF-8 bytes: it takes no \"" + std::string(key) + "\"";
    return false;
  }
  out.type = protocol::dtype::u8;
  if (text.is_string()) {
    out.shape = {static_cast<std::int64_t>(text.as_string().size())};
    out.data.assign(text.as_string().data(), text.as_string().size());
    return true;
  }
  if (!text.is_array()) {
    error = who + " has \"text\" that is neither a string nor an array of strings";
    return false;
  }
  std::size_t longest = 0;
  for (const auto& row : text.as_array()) {
    if (!row.is_string()) {
      error = who + " has \"text\" with an item that is not a string";
      return false;
    }
    longest = std::max(longest, row.as_string().size());
  }
  const auto rows = text.as_array().size();
  out.shape = {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(longest)};
  out.data.assign(rows * longest, '\0');
  for (std::size_t i = 0; i < rows; ++i) {
    const auto& row = text.as_array()[i].as_string();
    std::copy(row.begin(), row.end(), out.data.begin() + static_cast<std::ptrdiff_t>(i * longest));
  }
  return true;
}

}  // namespace

bool tensor_from_json(const json::value& v, std::string name, protocol::tensor& out, std::string& error) {
  const std::string who = "input '" + name + "'";
  if (!v.is_object()) {
    error = who + " must be an object like {\"dtype\": \"f32\", \"shape\": [2, 2], \"data\": [1, 2, 3, 4]}";
    return false;
  }
  const auto& o = v.as_object();
  out = {};
  out.name = std::move(name);
  if (auto* text = o.if_contains("text")) return text_tensor(o, *text, who, out, error);
  auto* dt = o.if_contains("dtype");
  if (!dt || !dt->is_string()) {
    error = who + " needs \"dtype\" (f32, f64, i32, i64, u8, i8, f16, bf16 or bool)";
    return false;
  }
  auto type = protocol::parse_dtype(dt->as_string());
  if (!type) {
    error = who + " has unknown dtype \"" + std::string(dt->as_string()) + "\" (f32, f64, i32, i64, u8, i8, f16, bf16 or bool)";
    return false;
  }
  out.type = *type;
  bool has_shape = false;
  if (auto* s = o.if_contains("shape")) {
    if (!s->is_array()) {
      error = who + " has a \"shape\" that is not an array of integers";
      return false;
    }
    for (const auto& d : s->as_array()) {
      if (!d.is_int64() || d.as_int64() < 0) {
        error = who + " has a \"shape\" that is not an array of non-negative integers";
        return false;
      }
      out.shape.push_back(d.as_int64());
    }
    has_shape = true;
  }
  auto* data = o.if_contains("data");
  auto* b64 = o.if_contains("b64");
  if ((data != nullptr) == (b64 != nullptr)) {
    error = who + " needs exactly one of \"data\" (numbers) or \"b64\" (base64 bytes)";
    return false;
  }
  try {
    if (b64) {
      if (!has_shape) {
        error = who + " with \"b64\" needs a \"shape\"";
        return false;
      }
      if (!b64->is_string() || !base64_decode(b64->as_string(), out.data)) {
        error = who + " has \"b64\" that is not valid base64";
        return false;
      }
      out.check();
      return true;
    }
    std::vector<std::int64_t> nested_shape;
    std::vector<const json::value*> leaves;
    std::string why;
    if (!data->is_array()) {
      leaves.push_back(data);  // a scalar
    } else if (!flatten(*data, 0, nested_shape, leaves, why)) {
      error = who + ": " + why;
      return false;
    }
    if (!has_shape) {
      out.shape = nested_shape;
    } else if (nested_shape.size() > 1 && nested_shape != out.shape) {
      error = who + " has nested data of shape " + protocol::shape_string(nested_shape) + " but \"shape\" says " +
              protocol::shape_string(out.shape);
      return false;
    }
    const auto count = protocol::element_count(out.shape);
    if (static_cast<std::int64_t>(leaves.size()) != count) {
      error = who + " has " + std::to_string(leaves.size()) + " elements but shape " +
              protocol::shape_string(out.shape) + " needs " + std::to_string(count);
      return false;
    }
    const auto size = protocol::dtype_size(out.type);
    out.data.resize(leaves.size() * size);
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      if (!put_element(out.type, *leaves[i], out.data.data() + i * size, why, i)) {
        error = who + ": " + why;
        return false;
      }
    }
    return true;
  } catch (const protocol::protocol_error& e) {
    error = who + ": " + e.what();
    return false;
  }
}

void append_tensor_json(std::string& out, const protocol::tensor& t, tensor_encoding encoding) {
  using protocol::dtype;
  out += "{\"dtype\":\"";
  out += protocol::dtype_name(t.type);
  out += "\",\"shape\":";
  out += protocol::shape_string(t.shape);
  bool numbers = encoding != tensor_encoding::base64 && t.type != dtype::f16 && t.type != dtype::bf16;
  if (numbers && encoding == tensor_encoding::automatic &&
      t.data.size() / std::max<std::size_t>(1, protocol::dtype_size(t.type)) > max_numbers_elements)
    numbers = false;
  if (numbers && t.type == dtype::f32) numbers = all_finite<float>(t.data);
  if (numbers && t.type == dtype::f64) numbers = all_finite<double>(t.data);
  if (!numbers) {
    out += ",\"b64\":\"";
    out += base64_encode(t.data);
    out += "\"}";
    return;
  }
  out += ",\"data\":[";
  switch (t.type) {
    case dtype::f32: append_numbers<float>(out, t.data); break;
    case dtype::f64: append_numbers<double>(out, t.data); break;
    case dtype::i32: append_numbers<std::int32_t>(out, t.data); break;
    case dtype::i64: append_numbers<std::int64_t>(out, t.data); break;
    case dtype::u8: append_numbers<std::uint8_t>(out, t.data); break;
    case dtype::i8: append_numbers<std::int8_t>(out, t.data); break;
    case dtype::boolean:
      for (std::size_t i = 0; i < t.data.size(); ++i) out += (i ? "," : ""), out += t.data[i] ? "true" : "false";
      break;
    default: break;
  }
  out += "]}";
}

}  // namespace potluck::daemon::api
