// Tests of protocol/tensor.hpp: the dtype table (names, values, sizes), shape arithmetic and its
// limits, and the journal's binary tensor blob with every way a blob can be malformed.
#define BOOST_TEST_MODULE protocol_tensor
#include <boost/test/unit_test.hpp>

#include "potluck/plugin.h"
#include "potluck/protocol/tensor.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace pp = potluck::protocol;

namespace {

// A predicate for BOOST_CHECK_EXCEPTION: the message holds `needle`.
auto says(std::string needle) {
  return [needle](const std::exception& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos) return true;
    BOOST_TEST_MESSAGE("error message \"" << what << "\" lacks \"" << needle << "\"");
    return false;
  };
}

std::string bytes_of(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

template <typename T>
void put(std::string& blob, std::size_t offset, T value) {
  BOOST_REQUIRE_LE(offset + sizeof value, blob.size());
  std::memcpy(blob.data() + offset, &value, sizeof value);
}

// One tensor "x" (name length 1) of dtype u8 and shape [2,3]: offsets of its fields.
constexpr std::size_t off_count = 4, off_name_len = 8, off_name = 12, off_dtype = 13, off_rank = 17,
                      off_dims = 21, off_data = 37;

pp::tensor small_u8() {
  pp::tensor t;
  t.name = "x";
  t.type = pp::dtype::u8;
  t.shape = {2, 3};
  t.data = bytes_of({0, 1, 0xff, 0x7f, 0x80, 0});
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dtypes)

struct dtype_row {
  const char* name;
  pp::dtype type;
  int value;
  std::size_t size;
};
const dtype_row all_dtypes[] = {
    {"f32", pp::dtype::f32, PLK_DTYPE_F32, 4},   {"f64", pp::dtype::f64, PLK_DTYPE_F64, 8},
    {"i32", pp::dtype::i32, PLK_DTYPE_I32, 4},   {"i64", pp::dtype::i64, PLK_DTYPE_I64, 8},
    {"u8", pp::dtype::u8, PLK_DTYPE_U8, 1},      {"i8", pp::dtype::i8, PLK_DTYPE_I8, 1},
    {"f16", pp::dtype::f16, PLK_DTYPE_F16, 2},   {"bf16", pp::dtype::bf16, PLK_DTYPE_BF16, 2},
    {"bool", pp::dtype::boolean, PLK_DTYPE_BOOL, 1},
};

BOOST_AUTO_TEST_CASE(names_values_and_sizes_match_the_table_and_the_sdk) {
  for (const auto& row : all_dtypes) {
    BOOST_TEST_CONTEXT("dtype " << row.name) {
      BOOST_TEST(static_cast<int>(row.type) == row.value);
      BOOST_TEST(row.value == static_cast<int>(row.type));
      auto parsed = pp::parse_dtype(row.name);
      BOOST_REQUIRE(parsed.has_value());
      BOOST_TEST(static_cast<int>(*parsed) == row.value);
      auto from_int = pp::dtype_from_int(row.value);
      BOOST_REQUIRE(from_int.has_value());
      BOOST_TEST(static_cast<int>(*from_int) == row.value);
      BOOST_TEST(std::string(pp::dtype_name(row.type)) == row.name);
      BOOST_TEST(pp::dtype_size(row.type) == row.size);
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_names_and_values_are_refused) {
  for (const char* name : {"", "F32", "float32", "f32 ", " f32", "boolean", "any", "u16", "f8"})
    BOOST_TEST(!pp::parse_dtype(name).has_value(), "parse_dtype(\"" << name << "\")");
  for (std::int64_t value : {std::int64_t{0}, std::int64_t{10}, std::int64_t{-1}, std::int64_t{255},
                             std::int64_t{1} << 32 | 1})
    BOOST_TEST(!pp::dtype_from_int(value).has_value(), "dtype_from_int(" << value << ")");
  const auto bogus = static_cast<pp::dtype>(99);
  BOOST_TEST(std::string(pp::dtype_name(bogus)) == "invalid");
  BOOST_TEST(pp::dtype_size(bogus) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(shapes)

BOOST_AUTO_TEST_CASE(element_count_of_ordinary_shapes) {
  BOOST_TEST(pp::element_count({}) == 1);  // a scalar
  BOOST_TEST(pp::element_count({7}) == 7);
  BOOST_TEST(pp::element_count({2, 3, 4}) == 24);
  BOOST_TEST(pp::element_count({0, 5}) == 0);
  BOOST_TEST(pp::element_count({5, 0}) == 0);
  BOOST_TEST(pp::element_count(std::vector<std::int64_t>(pp::max_tensor_rank, 2)) == 1 << 16);
  BOOST_TEST(pp::element_count({std::int64_t{1} << 20, std::int64_t{1} << 20}) == pp::max_tensor_elements);
}

BOOST_AUTO_TEST_CASE(element_count_refuses_negative_dims) {
  BOOST_CHECK_EXCEPTION(pp::element_count({-1}), pp::protocol_error, says("negative"));
  BOOST_CHECK_EXCEPTION(pp::element_count({2, -3, 4}), pp::protocol_error, says("[2,-3,4]"));
  BOOST_CHECK_EXCEPTION(pp::element_count({0, -1}), pp::protocol_error, says("negative"));
  BOOST_CHECK_EXCEPTION(pp::element_count({std::numeric_limits<std::int64_t>::min()}), pp::protocol_error,
                        says("negative"));
}

BOOST_AUTO_TEST_CASE(element_count_refuses_overflow_and_the_element_limit) {
  BOOST_CHECK_EXCEPTION(pp::element_count({std::int64_t{1} << 20, std::int64_t{1} << 20, 2}), pp::protocol_error,
                        says("too large"));
  BOOST_CHECK_EXCEPTION(pp::element_count({pp::max_tensor_elements + 1}), pp::protocol_error, says("too large"));
  const auto big = std::numeric_limits<std::int64_t>::max();
  BOOST_CHECK_EXCEPTION(pp::element_count({big, big}), pp::protocol_error, says("too large"));
  // 2^32 * 2^32 wraps to 0 in 64 bits: the check must catch it before multiplying.
  BOOST_CHECK_EXCEPTION(pp::element_count({std::int64_t{1} << 32, std::int64_t{1} << 32}), pp::protocol_error,
                        says("too large"));
}

BOOST_AUTO_TEST_CASE(element_count_refuses_rank_over_16) {
  BOOST_CHECK_EXCEPTION(pp::element_count(std::vector<std::int64_t>(pp::max_tensor_rank + 1, 1)),
                        pp::protocol_error, says("rank 17"));
  BOOST_CHECK_EXCEPTION(pp::element_count(std::vector<std::int64_t>(1000, 1)), pp::protocol_error,
                        says("over the limit"));
}

BOOST_AUTO_TEST_CASE(shape_string_is_compact) {
  BOOST_TEST(pp::shape_string({}) == "[]");
  BOOST_TEST(pp::shape_string({3}) == "[3]");
  BOOST_TEST(pp::shape_string({2, 3, 4}) == "[2,3,4]");
}

BOOST_AUTO_TEST_CASE(tensor_check_compares_bytes_with_shape_and_dtype) {
  pp::tensor t;
  t.name = "a";
  t.type = pp::dtype::f64;
  t.shape = {2, 2};
  t.data.assign(32, '\0');
  BOOST_CHECK_NO_THROW(t.check());
  t.data.pop_back();
  BOOST_CHECK_EXCEPTION(t.check(), pp::protocol_error, says("needs 32 bytes, got 31"));
  t.data.append(2, '\0');
  BOOST_CHECK_EXCEPTION(t.check(), pp::protocol_error, says("tensor 'a'"));
  t.shape = {};  // scalar f64: 8 bytes
  t.data.assign(8, '\x01');
  BOOST_CHECK_NO_THROW(t.check());
  t.shape = {-1};
  BOOST_CHECK_THROW(t.check(), pp::protocol_error);
  const auto meta = small_u8().meta();
  BOOST_TEST(meta.name == "x");
  BOOST_TEST(static_cast<int>(meta.type) == static_cast<int>(pp::dtype::u8));
  BOOST_TEST(meta.shape == (std::vector<std::int64_t>{2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(blob)

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_byte_of_every_dtype) {
  std::vector<pp::tensor> in;
  std::uint32_t seed = 1;  // unsigned: the LCG wraps by design
  for (const auto& row : dtypes::all_dtypes) {
    pp::tensor t;
    t.name = std::string("t_") + row.name;
    t.type = row.type;
    t.shape = {3, 1, 2};
    t.data.resize(6 * row.size);
    for (auto& c : t.data) {
      seed = seed * 1103515245 + 12345;
      c = static_cast<char>(seed >> 16);
    }
    in.push_back(std::move(t));
  }
  pp::tensor scalar;
  scalar.name = "scalar";
  scalar.type = pp::dtype::f32;
  const float pi = 3.14159f;
  scalar.data.assign(reinterpret_cast<const char*>(&pi), sizeof pi);
  in.push_back(scalar);
  pp::tensor empty;
  empty.name = "empty";
  empty.type = pp::dtype::i64;
  empty.shape = {0, 4};
  in.push_back(empty);
  in.push_back(small_u8());  // NULs and high bytes
  pp::tensor odd_name = small_u8();
  odd_name.name = std::string("n\0ul\xff", 5);  // the blob does not care what a name holds
  in.push_back(odd_name);

  const auto blob = pp::encode_tensors(in);
  const auto out = pp::decode_tensors(blob);
  BOOST_REQUIRE_EQUAL(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    BOOST_TEST_CONTEXT("tensor " << i) {
      BOOST_TEST(out[i].name == in[i].name);
      BOOST_TEST(static_cast<int>(out[i].type) == static_cast<int>(in[i].type));
      BOOST_TEST(out[i].shape == in[i].shape, boost::test_tools::per_element());
      BOOST_TEST(out[i].data == in[i].data);
      BOOST_CHECK_NO_THROW(out[i].check());
    }
  }
  // Encoding is deterministic: the same tensors give the same bytes.
  BOOST_TEST(pp::encode_tensors(out) == blob);
}

BOOST_AUTO_TEST_CASE(layout_is_little_endian_and_documented) {
  const auto blob = pp::encode_tensors({small_u8()});
  BOOST_REQUIRE_EQUAL(blob.size(), off_data + 6);
  BOOST_TEST(blob.substr(0, 4) == "PLT1");
  BOOST_TEST(blob.substr(off_count, 4) == bytes_of({1, 0, 0, 0}));
  BOOST_TEST(blob.substr(off_name_len, 4) == bytes_of({1, 0, 0, 0}));
  BOOST_TEST(blob.substr(off_name, 1) == "x");
  BOOST_TEST(blob.substr(off_dtype, 4) == bytes_of({PLK_DTYPE_U8, 0, 0, 0}));
  BOOST_TEST(blob.substr(off_rank, 4) == bytes_of({2, 0, 0, 0}));
  BOOST_TEST(blob.substr(off_dims, 8) == bytes_of({2, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_TEST(blob.substr(off_dims + 8, 8) == bytes_of({3, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_TEST(blob.substr(off_data) == small_u8().data);
}

BOOST_AUTO_TEST_CASE(empty_list_and_empty_blob) {
  const auto blob = pp::encode_tensors({});
  BOOST_TEST(blob.size() == 8u);
  BOOST_TEST(pp::decode_tensors(blob).empty());
  BOOST_TEST(pp::decode_tensors("").empty());  // a job without inputs journals ""
}

BOOST_AUTO_TEST_CASE(every_truncation_is_refused) {
  const auto blob = pp::encode_tensors({small_u8(), small_u8()});
  for (std::size_t n = 1; n < blob.size(); ++n)
    BOOST_CHECK_EXCEPTION(pp::decode_tensors(std::string_view(blob).substr(0, n)), pp::protocol_error,
                          says("truncated"));
}

BOOST_AUTO_TEST_CASE(bad_magic_is_refused) {
  auto blob = pp::encode_tensors({small_u8()});
  blob[0] = 'Q';
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("magic"));
  BOOST_CHECK_EXCEPTION(pp::decode_tensors("PLK1\0\0\0\0"), pp::protocol_error, says("magic"));
}

BOOST_AUTO_TEST_CASE(unknown_dtype_is_refused) {
  for (std::uint32_t bad : {0u, 10u, 0xffffffffu}) {
    auto blob = pp::encode_tensors({small_u8()});
    put(blob, off_dtype, bad);
    BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("unknown dtype"));
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_refused) {
  auto blob = pp::encode_tensors({small_u8()});
  blob.push_back('\0');
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("trailing"));
  // A count smaller than what follows also leaves trailing bytes.
  auto two = pp::encode_tensors({small_u8(), small_u8()});
  put(two, off_count, std::uint32_t{1});
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(two), pp::protocol_error, says("trailing"));
}

BOOST_AUTO_TEST_CASE(counts_and_lengths_beyond_the_blob_are_refused) {
  auto blob = pp::encode_tensors({small_u8()});
  put(blob, off_count, std::uint32_t{2});
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("truncated"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_count, std::uint32_t{0xffffffff});
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("too many tensors"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_name_len, std::uint32_t{0xffffffff});
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("truncated"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_rank, std::uint32_t{17});
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("rank"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_rank, std::uint32_t{3});  // one dim more than the bytes hold
  BOOST_CHECK_THROW(pp::decode_tensors(blob), pp::protocol_error);
}

BOOST_AUTO_TEST_CASE(bad_dims_are_refused) {
  auto blob = pp::encode_tensors({small_u8()});
  put(blob, off_dims, std::int64_t{-2});
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("negative"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_dims, std::numeric_limits<std::int64_t>::max());
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("too large"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_dims, std::int64_t{3});  // [3,3] needs 9 bytes; 6 are there
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("truncated"));
  blob = pp::encode_tensors({small_u8()});
  put(blob, off_dims, std::int64_t{1});  // [1,3] needs 3 bytes; 3 are left over
  BOOST_CHECK_EXCEPTION(pp::decode_tensors(blob), pp::protocol_error, says("trailing"));
}

BOOST_AUTO_TEST_SUITE_END()
