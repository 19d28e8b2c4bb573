// Tests of cli/tensor_print.hpp: decoding the API's three tensor forms (flat with shape, nested,
// base64 bytes) and how results look: aligned matrices, one number style per tensor, summaries
// of large tensors, slices of higher ranks.
#define BOOST_TEST_MODULE cli_tensor_print
#include <boost/test/unit_test.hpp>

#include "cli/tensor_print.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>

namespace json = boost::json;
using namespace potluck::cli;

namespace {

decoded_tensor decode(const std::string& text) {
  decoded_tensor t;
  std::string error;
  const bool ok = decode_tensor(json::parse(text), t, error);
  BOOST_TEST_REQUIRE(ok, "decode failed: " << error);
  return t;
}

std::string render(const std::string& text, print_limits limits = {}) {
  return render_tensor(decode(text), limits, "");
}

std::string decode_error(const std::string& text) {
  decoded_tensor t;
  std::string error;
  BOOST_TEST(!decode_tensor(json::parse(text), t, error));
  return error;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_matrix_prints_as_aligned_rows) {
  BOOST_TEST(render(R"({"dtype":"f32","shape":[2,2],"data":[19,22,43,50]})") == "19  22\n43  50\n");
  BOOST_TEST(render(R"({"dtype":"i64","shape":[2,3],"data":[1,-2,300,4,5,6]})") ==
             "1  -2  300\n"
             "4   5    6\n");
}

BOOST_AUTO_TEST_CASE(nested_data_gives_the_shape) {
  auto t = decode(R"({"dtype":"f32","data":[[1,2,3],[4,5,6]]})");
  BOOST_TEST((t.shape == std::vector<std::int64_t>{2, 3}));
  BOOST_TEST(t.values.size() == 6u);
  BOOST_TEST(tensor_signature(t.dtype, t.shape) == "f32[2,3]");
}

BOOST_AUTO_TEST_CASE(indent_prefixes_every_line) {
  auto t = decode(R"({"dtype":"f32","shape":[2,2],"data":[19,22,43,50]})");
  BOOST_TEST(render_tensor(t, {}, "  ") == "  19  22\n  43  50\n");
}

BOOST_AUTO_TEST_CASE(floats_share_one_number_of_decimals) {
  BOOST_TEST(render(R"({"dtype":"f32","shape":[3],"data":[0.5,2,-3.25]})") == " 0.50   2.00  -3.25\n");
  BOOST_TEST(render(R"({"dtype":"f32","shape":[2],"data":[2205.1682,1.0]})") == "2205.17     1.00\n");
  BOOST_TEST(render(R"({"dtype":"f64","shape":[2],"data":[1e-7,3]})") == "1.0000e-07  3.0000e+00\n");
  BOOST_TEST(render(R"({"dtype":"f32","shape":[],"data":3.5})") == "3.5\n");
  BOOST_TEST(format_element(19, "f32") == "19");
  BOOST_TEST(format_element(1, "bool") == "true");
}

BOOST_AUTO_TEST_CASE(booleans_print_as_words) {
  BOOST_TEST(render(R"({"dtype":"bool","shape":[2],"data":[true,false]})") == " true  false\n");
}

BOOST_AUTO_TEST_CASE(base64_tensors_decode_for_every_dtype) {
  // f32 [1, -2] little-endian: 0x3f800000, 0xc0000000.
  auto f32 = decode(R"({"dtype":"f32","shape":[2],"b64":"AACAPwAAAMA="})");
  BOOST_TEST((f32.values == std::vector<double>{1, -2}));
  // f16 [1, -2]: 0x3c00, 0xc000.
  auto f16 = decode(R"({"dtype":"f16","shape":[2],"b64":"ADwAwA=="})");
  BOOST_TEST((f16.values == std::vector<double>{1, -2}));
  // bf16 [1, -2]: 0x3f80, 0xc000.
  auto bf16 = decode(R"({"dtype":"bf16","shape":[2],"b64":"gD8AwA=="})");
  BOOST_TEST((bf16.values == std::vector<double>{1, -2}));
  // i64 [-1].
  auto i64 = decode(R"({"dtype":"i64","shape":[1],"b64":"//////////8="})");
  BOOST_TEST((i64.values == std::vector<double>{-1}));
}

BOOST_AUTO_TEST_CASE(malformed_tensors_say_what_is_wrong) {
  BOOST_TEST(decode_error(R"([1,2])").find("object") != std::string::npos);
  BOOST_TEST(decode_error(R"({"dtype":"f33","data":[1]})").find("dtype") != std::string::npos);
  BOOST_TEST(decode_error(R"({"dtype":"f32","shape":[3],"data":[1,2]})").find("needs 3") != std::string::npos);
  BOOST_TEST(decode_error(R"({"dtype":"f32","shape":[2],"b64":"AACAPw=="})").find("bytes") != std::string::npos);
  BOOST_TEST(decode_error(R"({"dtype":"f32","data":[[1,2],[3]]})").find("rows of different lengths") != std::string::npos);
  BOOST_TEST(decode_error(R"({"dtype":"f32","shape":[1]})").find("neither") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(large_matrices_show_their_corners_and_statistics) {
  json::array data;
  for (int i = 0; i < 200 * 4; ++i) data.push_back(i);
  json::object t{{"dtype", "f32"}, {"shape", json::array{200, 4}}, {"data", data}};
  const auto text = render(json::serialize(t));
  BOOST_TEST(text ==
             "  0    1    2    3\n"
             "  4    5    6    7\n"
             "  8    9   10   11\n"
             "  ⋮    ⋮    ⋮    ⋮\n"
             "788  789  790  791\n"
             "792  793  794  795\n"
             "796  797  798  799\n"
             "800 values, min 0, max 799, mean 399.5\n");
}

BOOST_AUTO_TEST_CASE(large_vectors_are_cut_in_the_middle) {
  json::array data;
  for (int i = 0; i < 5000; ++i) data.push_back(i);
  json::object t{{"dtype", "i32"}, {"shape", json::array{5000}}, {"data", data}};
  BOOST_TEST(render(json::serialize(t)) ==
             "   0     1     2     …  4997  4998  4999\n"
             "5,000 values, min 0, max 4999, mean 2499.5\n");
}

BOOST_AUTO_TEST_CASE(small_vectors_wrap_to_the_width) {
  json::array data;
  for (int i = 0; i < 40; ++i) data.push_back(i);
  json::object t{{"dtype", "i32"}, {"shape", json::array{40}}, {"data", data}};
  print_limits limits;
  limits.width = 40;
  const auto text = render(json::serialize(t), limits);
  BOOST_TEST(text.substr(0, text.find('\n')) == " 0   1   2   3   4   5   6   7   8   9");
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 4);
}

BOOST_AUTO_TEST_CASE(higher_ranks_print_one_matrix_per_leading_index) {
  BOOST_TEST(render(R"({"dtype":"f32","data":[[[1,2],[3,4]],[[5,6],[7,8]]]})") ==
             "[0, :, :]\n"
             "  1  2\n"
             "  3  4\n"
             "[1, :, :]\n"
             "  5  6\n"
             "  7  8\n");
}

BOOST_AUTO_TEST_CASE(empty_and_non_finite_tensors) {
  BOOST_TEST(render(R"({"dtype":"f32","shape":[0,3],"data":[]})") == "(empty)\n");
  decoded_tensor t;
  t.dtype = "f32";
  t.shape = {3};
  t.values = {1.5, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()};
  BOOST_TEST(render_tensor(t, {}, "") == "1.5  inf  nan\n");
}
