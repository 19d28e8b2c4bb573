// Tensors as the daemon and the worker hold them, their dtypes, and a compact binary encoding
// used to journal them. Tensor bytes are little-endian, C order; they travel between daemon
// and worker as raw ZeroMQ frames, never re-encoded as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::protocol {

// Values equal the PLK_DTYPE_* constants of potluck/plugin.h.
enum class dtype : std::int32_t { f32 = 1, f64 = 2, i32 = 3, i64 = 4, u8 = 5, i8 = 6, f16 = 7, bf16 = 8, boolean = 9 };

std::optional<dtype> parse_dtype(std::string_view name) noexcept;  // "f32", ..., "bool"
std::optional<dtype> dtype_from_int(std::int64_t value) noexcept;
const char* dtype_name(dtype t) noexcept;
std::size_t dtype_size(dtype t) noexcept;

class protocol_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Limits that keep a hostile peer from making us allocate absurd amounts.
inline constexpr std::size_t max_tensor_rank = 16;
inline constexpr std::int64_t max_tensor_elements = std::int64_t{1} << 40;

struct tensor_meta {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;
};

// Elements of `shape`; throws protocol_error on a negative dim, rank over the limit or overflow.
std::int64_t element_count(const std::vector<std::int64_t>& shape);
// "[2,3]"
std::string shape_string(const std::vector<std::int64_t>& shape);

struct tensor {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;
  std::string data;  // element_count(shape) * dtype_size(type) bytes

  tensor_meta meta() const { return {name, type, shape}; }
  // Throws protocol_error when data's size does not match the shape and dtype.
  void check() const;
};

// Binary encoding for the journal: magic, count, then per tensor name, dtype, rank, dims, bytes.
std::string encode_tensors(const std::vector<tensor>& tensors);
// Throws protocol_error on anything malformed (truncated, bad dtype, size mismatch).
std::vector<tensor> decode_tensors(std::string_view blob);

}  // namespace potluck::protocol
