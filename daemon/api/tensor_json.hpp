// Tensors in the HTTP API's JSON:
//   {"dtype": "f32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}     flat data with a shape
//   {"dtype": "f32", "data": [[1, 2, 3], [4, 5, 6]]}                  nested data, shape inferred
//   {"dtype": "f32", "shape": [2, 3], "b64": "..."}                   little-endian bytes, C order
//   {"text": "bonjour"}                                               u8[n]: the UTF-8 bytes
//   {"text": ["a", "bc"]}                                             u8[b,n]: a row per text, padded with zero bytes
#pragma once

#include "potluck/protocol/tensor.hpp"

#include <boost/json/fwd.hpp>

#include <string>
#include <string_view>

namespace potluck::daemon::api {

// Parses one tensor; on failure returns false with a message naming the tensor and the problem.
bool tensor_from_json(const boost::json::value& v, std::string name, protocol::tensor& out, std::string& error);

enum class tensor_encoding { automatic, numbers, base64 };
// Appends the JSON of `t` (without its name). Automatic: numbers up to 65,536 elements, else b64;
// f16/bf16 and tensors holding NaN or infinities are always b64.
void append_tensor_json(std::string& out, const protocol::tensor& t, tensor_encoding encoding);

std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& out);

}  // namespace potluck::daemon::api
