// Pretty-printing of the tensors in the HTTP API's JSON, for `potluck job` and `submit --wait`.
//
//   {"dtype":"f32","shape":[2,2],"data":[19,22,43,50]}   ->   19  22
//                                                             43  50
// Accepts the three forms the daemon reads and writes: flat "data" with "shape", nested "data"
// without it, and little-endian "b64" bytes with "shape" (f16 and bf16 always come as b64).
// Large tensors are summarised: a few items at each edge of every dimension, and min/max/mean.
#pragma once

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace potluck::cli {

struct decoded_tensor {
  std::string dtype;                // "f32", "i64", "bool", ...
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::vector<double> values;       // every element, C order (i64 beyond 2^53 loses digits)
};

// Decodes a tensor object; on failure returns false with `error` saying what is wrong.
bool decode_tensor(const boost::json::value& v, decoded_tensor& out, std::string& error);

// "f32[2,2]", "i64[]" for a scalar.
std::string tensor_signature(const std::string& dtype, const std::vector<std::int64_t>& shape);

struct print_limits {
  std::size_t summarise_above = 256;  // more elements than this: edges only, with statistics
  std::size_t edge_items = 3;         // items kept at each end of a dimension when summarising
  std::size_t width = 100;             // columns a vector is wrapped to
};

// The tensor as text lines, each ending in '\n', each prefixed with `indent`. Matrices are
// right-aligned columns; higher ranks print one matrix per leading index, headed "[i, j, :, :]".
std::string render_tensor(const decoded_tensor& t, const print_limits& limits, const std::string& indent);

// Formats one value the way render_tensor would in a tensor of that dtype alone.
std::string format_element(double value, const std::string& dtype);

}  // namespace potluck::cli
