// Tests of protocol/wire.hpp: the frames of every message, decoding of good and bad frame
// sequences, tensor lists with their payload frames, and sending over real ZeroMQ sockets.
#define BOOST_TEST_MODULE protocol_wire
#include <boost/test/unit_test.hpp>

#include "potluck/protocol/wire.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace pp = potluck::protocol;
namespace json = boost::json;

namespace {

auto says(std::string needle) {
  return [needle](const std::exception& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos) return true;
    BOOST_TEST_MESSAGE("error message \"" << what << "\" lacks \"" << needle << "\"");
    return false;
  };
}

std::vector<zmq::message_t> frames_of(std::initializer_list<std::string> parts) {
  std::vector<zmq::message_t> frames;
  for (const auto& p : parts) frames.emplace_back(p.data(), p.size());
  return frames;
}

std::string cmd_byte(std::uint8_t v) { return std::string(1, static_cast<char>(v)); }

std::string f32_bytes(std::initializer_list<float> values) {
  std::string s;
  for (float v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(commands)

BOOST_AUTO_TEST_CASE(values_and_names_are_the_documented_ones) {
  const std::pair<pp::command, const char*> table[] = {
      {pp::command::hello, "hello"},         {pp::command::welcome, "welcome"},   {pp::command::heartbeat, "heartbeat"},
      {pp::command::job, "job"},             {pp::command::progress, "progress"}, {pp::command::result, "result"},
      {pp::command::failed, "failed"},       {pp::command::cancel, "cancel"},     {pp::command::cancelled, "cancelled"},
      {pp::command::returned, "returned"},   {pp::command::disconnect, "disconnect"},
  };
  int expected_value = 1;
  for (const auto& [cmd, name] : table) {
    BOOST_TEST(static_cast<int>(cmd) == expected_value);
    BOOST_TEST(std::string(pp::command_name(cmd)) == name);
    BOOST_TEST(pp::is_known_command(static_cast<std::uint8_t>(expected_value)));
    ++expected_value;
  }
  for (int v : {0, 12, 0x7f, 0xff}) BOOST_TEST(!pp::is_known_command(static_cast<std::uint8_t>(v)), "value " << v);
  BOOST_TEST(std::string(pp::command_name(static_cast<pp::command>(0x42))) == "unknown");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(encoding)

BOOST_AUTO_TEST_CASE(frames_are_id_command_header_payload) {
  std::vector<zmq::message_t> payload;
  payload.emplace_back("abc", 3);
  auto frames = pp::encode(pp::command::welcome, json::object{{"worker_id", "w-1"}}, std::move(payload));
  BOOST_REQUIRE_EQUAL(frames.size(), 4u);
  BOOST_TEST(frames[0].to_string() == "PLK1");
  BOOST_TEST(frames[1].to_string() == cmd_byte(0x02));
  BOOST_TEST(json::parse(frames[2].to_string_view()) == (json::value{{"worker_id", "w-1"}}));
  BOOST_TEST(frames[3].to_string() == "abc");
}

BOOST_AUTO_TEST_CASE(heartbeat_is_three_frames_with_an_empty_object) {
  auto frames = pp::encode_heartbeat();
  BOOST_REQUIRE_EQUAL(frames.size(), 3u);
  BOOST_TEST(frames[0].to_string() == "PLK1");
  BOOST_TEST(frames[1].to_string() == cmd_byte(0x03));
  BOOST_TEST(frames[2].to_string() == "{}");
  const auto m = pp::decode(std::move(frames));
  BOOST_TEST(static_cast<int>(m.cmd) == static_cast<int>(pp::command::heartbeat));
  BOOST_TEST(m.header.empty());
  BOOST_TEST(m.payload.empty());
}

BOOST_AUTO_TEST_CASE(round_trip_with_tensor_payload) {
  pp::tensor a{"a", pp::dtype::f32, {2, 2}, f32_bytes({1.0f, -2.5f, 0.0f, 1e30f})};
  pp::tensor mask{"mask", pp::dtype::u8, {3}, std::string("\0\xff\n", 3)};
  json::object header{{"job_id", 42}, {"task", "linalg.matmul"}, {"backend", "cpu"},
                      {"params", json::object{{"alpha", 0.5}}}, {"attempt", 1},
                      {"inputs", pp::tensor_list({a.meta(), mask.meta()})}};
  std::vector<zmq::message_t> payload;
  payload.emplace_back(a.data.data(), a.data.size());
  payload.emplace_back(mask.data.data(), mask.data.size());
  auto frames = pp::encode(pp::command::job, header, std::move(payload));
  BOOST_REQUIRE_EQUAL(frames.size(), 5u);

  auto m = pp::decode(std::move(frames));
  BOOST_TEST(static_cast<int>(m.cmd) == static_cast<int>(pp::command::job));
  BOOST_TEST(m.header == header);
  BOOST_REQUIRE_EQUAL(m.payload.size(), 2u);
  const auto tensors = pp::take_tensors(m.header, "inputs", m.payload);
  BOOST_REQUIRE_EQUAL(tensors.size(), 2u);
  BOOST_TEST(tensors[0].name == "a");
  BOOST_TEST(static_cast<int>(tensors[0].type) == static_cast<int>(pp::dtype::f32));
  BOOST_TEST(tensors[0].shape == (std::vector<std::int64_t>{2, 2}), boost::test_tools::per_element());
  BOOST_TEST(tensors[0].data == a.data);
  BOOST_TEST(tensors[1].name == "mask");
  BOOST_TEST(tensors[1].data == mask.data);
}

BOOST_AUTO_TEST_CASE(tensor_list_is_name_dtype_shape) {
  const auto list = pp::tensor_list({{"c", pp::dtype::bf16, {4, 0}}, {"s", pp::dtype::boolean, {}}});
  BOOST_TEST(json::serialize(list) ==
             R"([{"name":"c","dtype":"bf16","shape":[4,0]},{"name":"s","dtype":"bool","shape":[]}])");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(decoding_garbage)

BOOST_AUTO_TEST_CASE(too_few_frames) {
  BOOST_CHECK_EXCEPTION(pp::decode({}), pp::protocol_error, says("0 frames"));
  BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", cmd_byte(3)})), pp::protocol_error, says("2 frames"));
}

BOOST_AUTO_TEST_CASE(wrong_protocol_id) {
  for (const char* id : {"PLK2", "plk1", "PLK", "PLK1 ", "", "MDPW01"})
    BOOST_CHECK_EXCEPTION(pp::decode(frames_of({id, cmd_byte(3), "{}"})), pp::protocol_error, says("PLK1"));
}

BOOST_AUTO_TEST_CASE(unknown_command) {
  for (int v : {0, 12, 0xff})
    BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", cmd_byte(static_cast<std::uint8_t>(v)), "{}"})),
                          pp::protocol_error, says("unknown command " + std::to_string(v)));
}

BOOST_AUTO_TEST_CASE(command_frame_must_be_one_byte) {
  BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", std::string("\x03\x00", 2), "{}"})), pp::protocol_error,
                        says("not one byte"));
  BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", "", "{}"})), pp::protocol_error, says("not one byte"));
  BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", "3", "{}"})), pp::protocol_error, says("unknown command 51"));
}

BOOST_AUTO_TEST_CASE(header_must_be_a_json_object) {
  for (const char* header : {"[]", "\"{}\"", "null", "42", "", "{", "{\"a\":1,}", "{'a':1}", "{} {}", "{\"a\":1}x"})
    BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", cmd_byte(1), header})), pp::protocol_error,
                          says("not a JSON object"));
  // Invalid UTF-8 inside a string.
  BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", cmd_byte(1), "{\"name\":\"\xff\xfe\"}"})), pp::protocol_error,
                        says("not a JSON object"));
  BOOST_CHECK_NO_THROW(pp::decode(frames_of({"PLK1", cmd_byte(1), " { \"name\" : \"w\" } "})));
}

BOOST_AUTO_TEST_CASE(limits) {
  std::string big = "{\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  BOOST_CHECK_EXCEPTION(pp::decode(frames_of({"PLK1", cmd_byte(1), big})), pp::protocol_error, says("1 MiB"));
  std::vector<zmq::message_t> frames = frames_of({"PLK1", cmd_byte(6), "{}"});
  for (int i = 0; i < 257; ++i) frames.emplace_back();
  BOOST_CHECK_EXCEPTION(pp::decode(std::move(frames)), pp::protocol_error, says("too many payload frames"));
  frames = frames_of({"PLK1", cmd_byte(6), "{}"});
  for (int i = 0; i < 256; ++i) frames.emplace_back();
  BOOST_CHECK_NO_THROW(pp::decode(std::move(frames)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(taking_tensors)

std::vector<zmq::message_t> payload_of(std::initializer_list<std::string> parts) { return frames_of(parts); }

json::object header_with(const char* list_json) {
  return json::object{{"job_id", 1}, {"outputs", json::parse(list_json)}};
}

BOOST_AUTO_TEST_CASE(list_and_frames_must_match_in_number) {
  auto h = header_with(R"([{"name":"c","dtype":"f32","shape":[1]}])");
  auto none = payload_of({});
  BOOST_CHECK_EXCEPTION(pp::take_tensors(h, "outputs", none), pp::protocol_error,
                        says("lists 1 tensors but 0 payload frames came"));
  auto two = payload_of({f32_bytes({1}), f32_bytes({2})});
  BOOST_CHECK_EXCEPTION(pp::take_tensors(h, "outputs", two), pp::protocol_error,
                        says("lists 1 tensors but 2 payload frames came"));
  auto one = payload_of({f32_bytes({1})});
  BOOST_CHECK_EXCEPTION(pp::take_tensors(h, "inputs", one), pp::protocol_error, says("lacks \"inputs\""));
  auto empty_list = header_with("[]");
  auto zero = payload_of({});
  BOOST_TEST(pp::take_tensors(empty_list, "outputs", zero).empty());
}

BOOST_AUTO_TEST_CASE(frame_size_must_match_shape_and_dtype) {
  auto h = header_with(R"([{"name":"c","dtype":"f32","shape":[2,2]}])");
  auto short_frame = payload_of({f32_bytes({1, 2, 3})});
  BOOST_CHECK_EXCEPTION(pp::take_tensors(h, "outputs", short_frame), pp::protocol_error,
                        says("tensor 'c' of dtype f32 and shape [2,2] needs 16 bytes, got 12"));
  auto long_frame = payload_of({f32_bytes({1, 2, 3, 4, 5})});
  BOOST_CHECK_EXCEPTION(pp::take_tensors(h, "outputs", long_frame), pp::protocol_error, says("got 20"));
  auto scalar = header_with(R"([{"name":"s","dtype":"f64","shape":[]}])");
  auto eight = payload_of({std::string(8, '\0')});
  BOOST_TEST(pp::take_tensors(scalar, "outputs", eight).size() == 1u);
  auto zero_size = header_with(R"([{"name":"z","dtype":"i32","shape":[0,3]}])");
  auto empty = payload_of({""});
  BOOST_TEST(pp::take_tensors(zero_size, "outputs", empty).at(0).data.empty());
}

BOOST_AUTO_TEST_CASE(malformed_lists) {
  auto bad = [](const char* list, const char* needle) {
    BOOST_TEST_CONTEXT(list) {
      auto h = header_with(list);
      auto p = payload_of({"1234"});
      BOOST_CHECK_EXCEPTION(pp::take_tensors(h, "outputs", p), pp::protocol_error, says(needle));
    }
  };
  bad(R"({"name":"c"})", "not an array");
  bad(R"([1])", "not an object");
  bad(R"([{"name":"c","dtype":"f32"}])", "needs name, dtype and shape");
  bad(R"([{"name":"c","dtype":"float","shape":[1]}])", "unknown dtype");
  bad(R"([{"name":"c","dtype":"f32","shape":[1.0]}])", "non-integer dimension");
  bad(R"([{"name":"c","dtype":"f32","shape":["1"]}])", "non-integer dimension");
  bad(R"([{"name":"c","dtype":"f32","shape":[-1]}])", "negative");
  bad(R"([{"name":"c","dtype":"f32","shape":[18446744073709551615]}])", "negative");
  bad(R"([{"name":"c","dtype":"f32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}])", "rank 17");
  bad(R"([{"name":"c","dtype":"f32","shape":[1099511627776,2]}])", "too large");
  bad(R"([{"name":1,"dtype":"f32","shape":[1]}])", "needs name, dtype and shape");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sockets)

BOOST_AUTO_TEST_CASE(router_and_dealer_exchange_whole_messages) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router), dealer(ctx, zmq::socket_type::dealer);
  router.set(zmq::sockopt::router_mandatory, 1);
  router.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::routing_id, "worker-1");
  router.bind("inproc://wire-test");
  dealer.connect("inproc://wire-test");

  std::vector<zmq::message_t> payload;
  const auto bytes = f32_bytes({3.5f});
  payload.emplace_back(bytes.data(), bytes.size());
  auto out = pp::encode(pp::command::result,
                        json::object{{"job_id", 7}, {"outputs", pp::tensor_list({{"c", pp::dtype::f32, {1}}})}},
                        std::move(payload));
  BOOST_REQUIRE(pp::send_all(dealer, out, false));

  std::vector<zmq::message_t> in;
  BOOST_REQUIRE(pp::recv_all(router, in, false));
  BOOST_REQUIRE_EQUAL(in.size(), 5u);  // identity + 4
  BOOST_TEST(in[0].to_string() == "worker-1");
  in.erase(in.begin());
  auto m = pp::decode(std::move(in));
  BOOST_TEST(static_cast<int>(m.cmd) == static_cast<int>(pp::command::result));
  const auto tensors = pp::take_tensors(m.header, "outputs", m.payload);
  BOOST_REQUIRE_EQUAL(tensors.size(), 1u);
  BOOST_TEST(tensors[0].data == bytes);

  // Nothing else is waiting: a non-blocking receive says so.
  BOOST_TEST(!pp::recv_all(router, in, true));

  // With ROUTER_MANDATORY, sending to an identity nobody has is reported, not thrown.
  auto hb = pp::encode_heartbeat();
  std::vector<zmq::message_t> to_nobody;
  to_nobody.emplace_back("nobody", 6);
  for (auto& f : hb) to_nobody.push_back(std::move(f));
  BOOST_TEST(!pp::send_all(router, to_nobody));

  // And back: the router addresses the dealer by its identity.
  auto welcome = pp::encode(pp::command::welcome, json::object{{"worker_id", "w-1"}});
  std::vector<zmq::message_t> routed;
  routed.emplace_back("worker-1", 8);
  for (auto& f : welcome) routed.push_back(std::move(f));
  BOOST_REQUIRE(pp::send_all(router, routed, false));
  BOOST_REQUIRE(pp::recv_all(dealer, in, false));
  auto w = pp::decode(std::move(in));
  BOOST_TEST(static_cast<int>(w.cmd) == static_cast<int>(pp::command::welcome));
  BOOST_TEST(w.header.at("worker_id").as_string() == "w-1");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(text_from_plugins_becomes_valid_utf8) {
  using potluck::protocol::to_valid_utf8;
  BOOST_TEST(to_valid_utf8("bonjour, café, 日本, 🍲") == "bonjour, café, 日本, 🍲");
  const std::string replacement = "\xEF\xBF\xBD";
  BOOST_TEST(to_valid_utf8("a\xFF" "b") == "a" + replacement + "b");
  BOOST_TEST(to_valid_utf8("caf\xC3") == "caf" + replacement);                       // cut in the middle
  BOOST_TEST(to_valid_utf8("\xC0\xAF") == replacement + replacement);                // overlong
  BOOST_TEST(to_valid_utf8("\xED\xA0\x80") == replacement + replacement + replacement);  // a surrogate
  BOOST_TEST(to_valid_utf8("\xF4\x90\x80\x80").find('\xF4') == std::string::npos);  // beyond U+10FFFF
  // What comes out always decodes in a header.
  std::string all;
  for (int i = 1; i < 256; ++i) all += static_cast<char>(i);
  boost::json::object h{{"message", to_valid_utf8(all)}};
  auto frames = potluck::protocol::encode(potluck::protocol::command::progress, h);
  BOOST_CHECK_NO_THROW(potluck::protocol::decode(std::move(frames)));
}
