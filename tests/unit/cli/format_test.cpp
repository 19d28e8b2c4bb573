// Tests of cli/format.hpp: aligned tables (with and without colour), thousands separators,
// byte sizes, ages, durations, timestamps, indented JSON and the progress line.
#define BOOST_TEST_MODULE cli_format
#include <boost/test/unit_test.hpp>

#include "cli/format.hpp"

#include <boost/json.hpp>

#include <limits>
#include <sstream>

using namespace potluck::cli;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string strip_ansi(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(tables_align_columns_two_spaces_apart) {
  text_table t({"ID", "TASK", "STATE"});
  t.set_align(0, align::right);
  t.add_row({{"9"}, {"linalg.matmul"}, {"succeeded"}});
  t.add_row({{"10"}, {"test.sleep"}, {"running"}});
  const auto text = t.render(false);
  BOOST_TEST(text ==
             "ID  TASK           STATE\n"
             " 9  linalg.matmul  succeeded\n"
             "10  test.sleep     running\n");
}

BOOST_AUTO_TEST_CASE(tables_have_no_trailing_spaces_and_fill_missing_cells) {
  text_table t({"NAME", "NOTE"});
  t.add_row({{"a-long-name"}, {""}});
  t.add_row({{"b"}});
  for (const auto& line : lines_of(t.render(false))) BOOST_TEST((line.empty() || line.back() != ' '), "'" << line << "'");
}

BOOST_AUTO_TEST_CASE(colour_does_not_break_alignment) {
  text_table t({"STATE", "WORKER"});
  t.add_row({{"failed", tone::red}, {"w1"}});
  t.add_row({{"succeeded", tone::green}, {"w2"}});
  const auto coloured = t.render(true);
  BOOST_TEST(coloured.find("\x1b[31mfailed\x1b[0m") != std::string::npos);
  BOOST_TEST(strip_ansi(coloured) == t.render(false));
  BOOST_TEST(t.render(false).find('\x1b') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(unicode_cells_count_as_one_column_each) {
  text_table t({"GPUs", "X"});
  t.add_row({{"2× A100"}, {"x"}});
  t.add_row({{"-"}, {"y"}});
  const auto lines = lines_of(t.render(false));
  BOOST_TEST(display_width(lines[1]) == display_width(lines[2]));
  BOOST_TEST(display_width("\x1b[1mab\x1b[0m") == 2u);
  BOOST_TEST(truncate_to_width("slept 1000 of 60000 ms", 10) == "slept 100…");
  BOOST_TEST(truncate_to_width("short", 10) == "short");
}

BOOST_AUTO_TEST_CASE(thousands_separators) {
  BOOST_TEST(with_thousands(0) == "0");
  BOOST_TEST(with_thousands(999) == "999");
  BOOST_TEST(with_thousands(1000) == "1,000");
  BOOST_TEST(with_thousands(1234567) == "1,234,567");
  BOOST_TEST(with_thousands(-5000) == "-5,000");
  BOOST_TEST(with_thousands(INT64_MIN) == "-9,223,372,036,854,775,808");
}

BOOST_AUTO_TEST_CASE(byte_sizes) {
  BOOST_TEST(format_bytes(0) == "0 B");
  BOOST_TEST(format_bytes(1536) == "1.5 KiB");
  BOOST_TEST(format_bytes(std::uint64_t{16} << 30) == "16 GiB");
  BOOST_TEST(format_bytes(std::uint64_t{25} << 30) == "25 GiB");
}

BOOST_AUTO_TEST_CASE(ages) {
  BOOST_TEST(format_age(-200) == "just now");
  BOOST_TEST(format_age(999) == "just now");
  BOOST_TEST(format_age(3000) == "3s ago");
  BOOST_TEST(format_age(59'999) == "59s ago");
  BOOST_TEST(format_age(5 * 60'000) == "5m ago");
  BOOST_TEST(format_age(2 * 3'600'000 + 5) == "2h ago");
  BOOST_TEST(format_age(4 * 86'400'000LL) == "4d ago");
}

BOOST_AUTO_TEST_CASE(durations) {
  BOOST_TEST(format_duration(0) == "0ms");
  BOOST_TEST(format_duration(350) == "350ms");
  BOOST_TEST(format_duration(1250) == "1.2s");
  BOOST_TEST(format_duration(9999) == "9.9s");
  BOOST_TEST(format_duration(42'000) == "42s");
  BOOST_TEST(format_duration(125'000) == "2m 05s");
  BOOST_TEST(format_duration(3'720'000) == "1h 02m");
  BOOST_TEST(format_duration(3 * 86'400'000LL + 4 * 3'600'000) == "3d 04h");
  BOOST_TEST(format_duration(-5) == "0ms");
}

BOOST_AUTO_TEST_CASE(timestamps_round_trip) {
  auto ms = parse_iso8601_ms("2024-05-01T12:00:03.123Z");
  BOOST_TEST_REQUIRE(ms.has_value());
  BOOST_TEST(*ms == 1714564803123LL);
  BOOST_TEST(format_utc(*ms) == "2024-05-01 12:00:03 UTC");
  BOOST_TEST(parse_iso8601_ms("2024-05-01T12:00:03Z").value() == 1714564803000LL);
  BOOST_TEST(!parse_iso8601_ms("").has_value());
  BOOST_TEST(!parse_iso8601_ms("yesterday").has_value());
  BOOST_TEST(!parse_iso8601_ms("2024-13-01T12:00:03.123Z").has_value());
}

BOOST_AUTO_TEST_CASE(pretty_json_indents_and_keeps_number_arrays_on_one_line) {
  auto v = boost::json::parse(R"({"id":1,"result":{"outputs":{"c":{"shape":[2,2],"data":[19,22,43,50]}}},"e":{},"l":[]})");
  BOOST_TEST(pretty_json(v) ==
             "{\n"
             "  \"id\": 1,\n"
             "  \"result\": {\n"
             "    \"outputs\": {\n"
             "      \"c\": {\n"
             "        \"shape\": [2,2],\n"
             "        \"data\": [19,22,43,50]\n"
             "      }\n"
             "    }\n"
             "  },\n"
             "  \"e\": {},\n"
             "  \"l\": []\n"
             "}");
  BOOST_TEST(boost::json::parse(pretty_json(v)) == v);
  BOOST_TEST(compact_json(v) == R"({"id":1,"result":{"outputs":{"c":{"shape":[2,2],"data":[19,22,43,50]}}},"e":{},"l":[]})");
}

BOOST_AUTO_TEST_CASE(json_numbers_keep_their_short_form) {
  auto v = boost::json::parse(R"({"p":0.5,"small":1e-7,"list":[1.5,-2,3],"nested":[{"x":0.25}]})");
  BOOST_TEST(compact_json(v) == R"({"p":0.5,"small":1e-07,"list":[1.5,-2,3],"nested":[{"x":0.25}]})");
  BOOST_TEST(pretty_json(v) ==
             "{\n"
             "  \"p\": 0.5,\n"
             "  \"small\": 1e-07,\n"
             "  \"list\": [1.5,-2,3],\n"
             "  \"nested\": [\n"
             "    {\n"
             "      \"x\": 0.25\n"
             "    }\n"
             "  ]\n"
             "}");
}

BOOST_AUTO_TEST_CASE(the_progress_line_shows_state_bar_percent_message_and_time) {
  progress_view v;
  v.job_id = 12;
  v.task = "test.sleep";
  v.state = "running";
  v.worker = "w1";
  v.progress = 0.4;
  v.message = "slept 400 of 1000 ms";
  v.elapsed_ms = 1200;
  const auto line = progress_line(v, 120, false, false);
  BOOST_TEST(line == "| job 12 test.sleep  running on w1  [##########--------------]   40%  slept 400 of 1000 ms  1.2s");
  const auto unicode = progress_line(v, 120, true, false);
  BOOST_TEST(unicode.find("█") != std::string::npos);
  BOOST_TEST(display_width(progress_line(v, 120, true, true)) == display_width(unicode));
}

BOOST_AUTO_TEST_CASE(the_progress_line_fits_narrow_terminals) {
  progress_view v;
  v.job_id = 12345;
  v.task = "linalg.matmul";
  v.state = "running";
  v.worker = "a-worker-with-a-long-name";
  v.progress = 0.5;
  v.message = std::string(200, 'm');
  v.elapsed_ms = 65'000;
  for (std::size_t width : {20u, 40u, 60u, 79u, 100u, 200u}) {
    const auto line = progress_line(v, width, true, true);
    BOOST_TEST(display_width(line) <= width, "width " << width << ": " << line);
  }
  // Without a progress report there is no bar.
  v.progress = 0;
  v.message.clear();
  BOOST_TEST(progress_line(v, 200, false, false).find('[') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_transfer_line_shows_the_file_bar_amounts_and_rate) {
  transfer_view v;
  v.verb = "Uploading";
  v.file = "model/weights.pt";
  v.file_index = 2;
  v.file_count = 3;
  v.done_bytes = 3ull << 29;  // 1.5 GiB
  v.total_bytes = 3ull << 30;
  v.elapsed_ms = 2'000;
  BOOST_TEST(transfer_line(v, 120, false, false) ==
             "Uploading 2/3 model/weights.pt  [############------------]   50%  1.5 GiB of 3 GiB  768 MiB/s");
  // No rate before half a second, and no count for a single file.
  v.elapsed_ms = 100;
  v.file_count = 1;
  BOOST_TEST(transfer_line(v, 80, false, false) == "Uploading model/weights.pt  [#####-----]   50%  1.5 GiB of 3 GiB");
  const auto unicode = transfer_line(v, 120, true, false);
  BOOST_TEST(unicode.find("█") != std::string::npos);
  BOOST_TEST(display_width(transfer_line(v, 120, true, true)) == display_width(unicode));
}

BOOST_AUTO_TEST_CASE(the_transfer_line_fits_narrow_terminals) {
  transfer_view v;
  v.verb = "Downloading";
  v.file = "a/very/long/path/to/the/weights/of/the/model/model-00001-of-00009.safetensors";
  v.file_index = 1;
  v.file_count = 9;
  v.done_bytes = 123'456'789;
  v.total_bytes = 9'876'543'210;
  v.elapsed_ms = 10'000;
  for (std::size_t width : {10u, 20u, 40u, 60u, 79u, 100u, 200u}) {
    const auto line = transfer_line(v, width, true, true);
    BOOST_TEST(display_width(line) <= width, "width " << width << ": " << line);
  }
  // The name is cut before the amounts go.
  const auto line = transfer_line(v, 79, false, false);
  BOOST_TEST(line.find("118 MiB of 9.2 GiB") != std::string::npos, line);
  BOOST_TEST(line.find("…") != std::string::npos, line);
}

BOOST_AUTO_TEST_CASE(credits_show_up_to_six_decimals_trimmed_with_separators) {
  BOOST_TEST(format_credits(0) == "0");
  BOOST_TEST(format_credits(1) == "0.000001");
  BOOST_TEST(format_credits(500'000) == "0.5");
  BOOST_TEST(format_credits(1'000'000) == "1");
  BOOST_TEST(format_credits(1'234'500'000) == "1,234.5");
  BOOST_TEST(format_credits(1'234'567'890'123) == "1,234,567.890123");
  BOOST_TEST(format_credits(-2'500'000) == "-2.5");
  BOOST_TEST(format_credits(100'000'000) == "100");
  BOOST_TEST(format_credits(std::numeric_limits<std::int64_t>::max()) == "9,223,372,036,854.775807");
  BOOST_TEST(format_credits(std::numeric_limits<std::int64_t>::min()) == "-9,223,372,036,854.775808");
  // Signed, for the ledger.
  BOOST_TEST(format_credits(5'000'000, sign_display::always) == "+5");
  BOOST_TEST(format_credits(-5'000'000, sign_display::always) == "-5");
  BOOST_TEST(format_credits(0, sign_display::always) == "0");
}

BOOST_AUTO_TEST_CASE(credits_parse_from_what_people_type) {
  std::string problem;
  auto parse = [&](std::string_view text) { return parse_credits(text, problem); };
  BOOST_TEST(parse("2.5").value() == 2'500'000);
  BOOST_TEST(parse("1000").value() == 1'000'000'000);
  BOOST_TEST(parse("0.000001").value() == 1);
  BOOST_TEST(parse("0").value() == 0);
  BOOST_TEST(parse("1.").has_value() == false);
  BOOST_TEST(parse(".5").value() == 500'000);
  BOOST_TEST(parse("007").value() == 7'000'000);
  BOOST_TEST(parse("1,234.5").value() == 1'234'500'000);  // what format_credits prints
  BOOST_TEST(parse("1,234,567").value() == 1'234'567'000'000);
  BOOST_TEST(parse("9223372036854.775807").value() == std::numeric_limits<std::int64_t>::max());
  // Round trip.
  for (std::int64_t micro : {std::int64_t{1}, std::int64_t{1'234'500'000}, std::int64_t{987'654'321}})
    BOOST_TEST(parse(format_credits(micro)).value() == micro);
}

BOOST_AUTO_TEST_CASE(bad_credits_say_why) {
  struct bad {
    std::string text, says;
  };
  const std::vector<bad> cases = {
      {"", "empty"},
      {"-5", "negative"},
      {"-0.5", "negative"},
      {"1.1234567", "more than 6 decimals"},
      {"abc", "not a number"},
      {"1e6", "not a number"},
      {"+3", "not a number"},
      {" 1", "not a number"},
      {"1 ", "not a number"},
      {"1.2.3", "not a number"},
      {".", "not a number"},
      {"1,23", "not a number"},
      {"1234,567", "not a number"},
      {",123", "not a number"},
      {"1,234.", "not a number"},
      {"0x10", "not a number"},
      {"9223372036854.775808", "too large"},
      {"99999999999999999999", "too large"},
  };
  for (const auto& c : cases) {
    std::string problem;
    BOOST_TEST(!parse_credits(c.text, problem).has_value(), "'" << c.text << "' parsed");
    BOOST_TEST(problem.find(c.says) != std::string::npos, "'" << c.text << "': " << problem);
  }
}
