// Tensor dtypes, shape arithmetic and the journal's binary tensor encoding.
#include "potluck/protocol/tensor.hpp"

#include <cstring>
#include <limits>

namespace potluck::protocol {
namespace {

struct dtype_row {
  dtype type;
  const char* name;
  std::size_t size;
};
constexpr dtype_row dtype_table[] = {
    {dtype::f32, "f32", 4}, {dtype::f64, "f64", 8}, {dtype::i32, "i32", 4},
    {dtype::i64, "i64", 8}, {dtype::u8, "u8", 1},   {dtype::i8, "i8", 1},
    {dtype::f16, "f16", 2}, {dtype::bf16, "bf16", 2}, {dtype::boolean, "bool", 1},
};

constexpr std::uint32_t blob_magic = 0x31544c50;  // "PLT1" little-endian

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}
void put_i64(std::string& out, std::int64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  std::uint32_t u32() { std::uint32_t v; std::memcpy(&v, take(4).data(), 4); return v; }
  std::int64_t i64() { std::int64_t v; std::memcpy(&v, take(8).data(), 8); return v; }
  std::string_view take(std::size_t n) {
    if (n > in_.size() - pos_) throw protocol_error("tensor blob is truncated");
    auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<dtype> parse_dtype(std::string_view name) noexcept {
  for (const auto& row : dtype_table)
    if (name == row.name) return row.type;
  return std::nullopt;
}

std::optional<dtype> dtype_from_int(std::int64_t value) noexcept {
  for (const auto& row : dtype_table)
    if (static_cast<std::int64_t>(row.type) == value) return row.type;
  return std::nullopt;
}

const char* dtype_name(dtype t) noexcept {
  for (const auto& row : dtype_table)
    if (row.type == t) return row.name;
  return "invalid";
}

std::size_t dtype_size(dtype t) noexcept {
  for (const auto& row : dtype_table)
    if (row.type == t) return row.size;
  return 0;
}

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  if (shape.size() > max_tensor_rank)
    throw protocol_error("tensor rank " + std::to_string(shape.size()) + " is over the limit of " +
                         std::to_string(max_tensor_rank));
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw protocol_error("tensor shape " + shape_string(shape) + " has a negative dimension");
    if (d != 0 && n > max_tensor_elements / d)
      throw protocol_error("tensor shape " + shape_string(shape) + " is too large");
    n *= d;
  }
  return n;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

void tensor::check() const {
  const auto expected = static_cast<std::uint64_t>(element_count(shape)) * dtype_size(type);
  if (data.size() != expected)
    throw protocol_error("tensor '" + name + "' of dtype " + dtype_name(type) + " and shape " +
                         shape_string(shape) + " needs " + std::to_string(expected) +
                         " bytes, got " + std::to_string(data.size()));
}

std::string encode_tensors(const std::vector<tensor>& tensors) {
  std::size_t total = 8;
  for (const auto& t : tensors) total += 16 + t.name.size() + 8 * t.shape.size() + t.data.size();
  std::string out;
  out.reserve(total);
  put_u32(out, blob_magic);
  put_u32(out, static_cast<std::uint32_t>(tensors.size()));
  for (const auto& t : tensors) {
    put_u32(out, static_cast<std::uint32_t>(t.name.size()));
    out += t.name;
    put_u32(out, static_cast<std::uint32_t>(t.type));
    put_u32(out, static_cast<std::uint32_t>(t.shape.size()));
    for (auto d : t.shape) put_i64(out, d);
    out += t.data;
  }
  return out;
}

std::vector<tensor> decode_tensors(std::string_view blob) {
  std::vector<tensor> out;
  if (blob.empty()) return out;
  reader r(blob);
  if (r.u32() != blob_magic) throw protocol_error("tensor blob has a bad magic number");
  const auto count = r.u32();
  if (count > 4096) throw protocol_error("tensor blob holds too many tensors");
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    tensor t;
    const auto name_len = r.u32();
    t.name = std::string(r.take(name_len));
    const auto type = dtype_from_int(r.u32());
    if (!type) throw protocol_error("tensor blob has an unknown dtype");
    t.type = *type;
    const auto rank = r.u32();
    if (rank > max_tensor_rank) throw protocol_error("tensor blob has a rank over the limit");
    t.shape.resize(rank);
    for (auto& d : t.shape) d = r.i64();
    const auto bytes = static_cast<std::uint64_t>(element_count(t.shape)) * dtype_size(t.type);
    t.data = std::string(r.take(bytes));
    out.push_back(std::move(t));
  }
  if (!r.done()) throw protocol_error("tensor blob has trailing bytes");
  return out;
}

}  // namespace potluck::protocol
