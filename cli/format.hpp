// Text formatting for the potluck CLI: colours, aligned tables, numbers, ages and durations,
// the progress lines of `submit --wait` and of file transfers, and indented JSON.
//
// Pure functions of their arguments (the current time is passed in), so that unit tests pin
// what a user sees. Colour is a parameter everywhere: the caller decides it from the terminal
// and --no-color / NO_COLOR.
#pragma once

#include <boost/json/fwd.hpp>

#include "potluck/protocol/credits.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::cli {

enum class tone { none, bold, dim, red, green, yellow, blue, cyan };

// Wraps `text` in the ANSI escape of `t` when `color` is true; otherwise returns it unchanged.
std::string paint(std::string_view text, tone t, bool color);
// The tone a job state is shown in: succeeded green, failed red, cancelled yellow, running cyan.
tone state_tone(std::string_view state);

// Terminal columns `text` takes: UTF-8 code points, ANSI escapes not counted.
std::size_t display_width(std::string_view text);
// Cuts `text` (plain, UTF-8) to at most `width` columns, ending with "…" when cut.
std::string truncate_to_width(std::string_view text, std::size_t width);

enum class align { left, right };

struct table_cell {
  std::string text;
  tone color = tone::none;
};

// An aligned table: an upper-case header row, then rows; columns two spaces apart, no
// trailing spaces. Widths are measured on the plain text, so colour never breaks alignment.
class text_table {
 public:
  explicit text_table(std::vector<std::string> headers);
  void set_align(std::size_t column, align a);
  void add_row(std::vector<table_cell> row);
  bool empty() const { return rows_.empty(); }
  std::string render(bool color) const;

 private:
  std::vector<std::string> headers_;
  std::vector<align> aligns_;
  std::vector<std::vector<table_cell>> rows_;
};

// 1234567 -> "1,234,567"; -5000 -> "-5,000".
std::string with_thousands(std::int64_t n);
// Credits: amounts travel as integer micro-credits (1 credit = 1,000,000) and are shown as
// credits with up to 6 decimals, trailing zeros trimmed, thousands separated:
// 1234500000 -> "1,234.5", 1 -> "0.000001", -2500000 -> "-2.5"; with sign_display::always,
// 5000000 -> "+5" (0 stays "0").
using protocol::micro_credits_per_credit;
enum class sign_display { negative_only, always };
std::string format_credits(std::int64_t micro_credits, sign_display sign = sign_display::negative_only);
// The other way (protocol/credits.hpp): "2.5" -> 2500000.
using protocol::parse_credits;

// 0 -> "0 B", 1536 -> "1.5 KiB", 17179869184 -> "16 GiB".
std::string format_bytes(std::uint64_t bytes);
// How long ago, for tables: "just now", "3s ago", "5m ago", "2h ago", "4d ago".
std::string format_age(std::int64_t elapsed_ms);
// A duration: "0ms", "350ms", "1.2s", "42s", "2m 05s", "1h 02m", "3d 04h".
std::string format_duration(std::int64_t ms);
// "2024-05-01T12:00:03.123Z" -> Unix milliseconds; nullopt when it is not that form.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);
// Unix milliseconds -> "2024-05-01 12:00:03 UTC".
std::string format_utc(std::int64_t unix_ms);

// JSON indented by two spaces, keys in their order, arrays of numbers on one line; for --json
// on a terminal. compact_json is the same on one line. Both write numbers in their shortest
// form, as the daemon does ("0.5", not "5E-1").
std::string pretty_json(const boost::json::value& v);
std::string compact_json(const boost::json::value& v);

// What the progress line of `submit --wait` shows.
struct progress_view {
  std::int64_t job_id = 0;
  std::string task;
  std::string state;    // queued, running, ...
  double progress = 0;  // 0..1; 0 means "no report yet" and shows no bar
  std::string message;  // the plugin's progress message
  std::string worker;
  std::int64_t elapsed_ms = 0;
  unsigned frame = 0;  // spinner frame
};
// One line, at most `width` columns, without "\r" or a newline:
//   ⠹ job 12 test.sleep  running  [██████░░░░░░░░░░]  40%  slept 400 of 1000 ms  1.2s
std::string progress_line(const progress_view& v, std::size_t width, bool unicode, bool color);

// What the progress line of a file transfer (potluck models push, pull) shows.
struct transfer_view {
  std::string verb;             // "Hashing", "Uploading", "Downloading"
  std::string file;             // the file in progress
  std::size_t file_index = 0;   // 1-based
  std::size_t file_count = 0;
  std::uint64_t done_bytes = 0;  // of all the files together
  std::uint64_t total_bytes = 0;
  std::int64_t elapsed_ms = 0;  // since the transfer began; the rate shows from half a second
};
// One line, at most `width` columns, without "\r" or a newline; the file's name is cut first,
// then the rate, then the bar:
//   Uploading 2/3 model/weights.pt  [██████░░░░░░░░░░]  40%  1.2 GiB of 3 GiB  35 MiB/s
std::string transfer_line(const transfer_view& v, std::size_t width, bool unicode, bool color);

}  // namespace potluck::cli
