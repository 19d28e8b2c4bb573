// Implements format.hpp; plain functions without state.
#include "cli/format.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace json = boost::json;

namespace potluck::cli {

std::string paint(std::string_view text, tone t, bool color) {
  if (!color || t == tone::none || text.empty()) return std::string(text);
  const char* code = "";
  switch (t) {
    case tone::bold: code = "1"; break;
    case tone::dim: code = "2"; break;
    case tone::red: code = "31"; break;
    case tone::green: code = "32"; break;
    case tone::yellow: code = "33"; break;
    case tone::blue: code = "34"; break;
    case tone::cyan: code = "36"; break;
    case tone::none: break;
  }
  std::string out = "\x1b[";
  out += code;
  out += 'm';
  out += text;
  out += "\x1b[0m";
  return out;
}

tone state_tone(std::string_view state) {
  if (state == "succeeded") return tone::green;
  if (state == "failed") return tone::red;
  if (state == "cancelled") return tone::yellow;
  if (state == "running") return tone::cyan;
  if (state == "queued") return tone::dim;
  return tone::none;
}

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      i += 2;
      while (i < text.size() && !(text[i] >= '@' && text[i] <= '~')) ++i;  // up to the final byte
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;  // count lead bytes, not continuation bytes
  }
  return width;
}

std::string truncate_to_width(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width == 0) return {};
  std::string out;
  std::size_t used = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) {
      if (used + 1 >= width) break;
      ++used;
    }
    out += text[i];
  }
  return out + "…";
}

text_table::text_table(std::vector<std::string> headers)
    : headers_(std::move(headers)), aligns_(headers_.size(), align::left) {}

void text_table::set_align(std::size_t column, align a) {
  if (column < aligns_.size()) aligns_[column] = a;
}

void text_table::add_row(std::vector<table_cell> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

std::string text_table::render(bool color) const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) widths[c] = display_width(headers_[c]);
  for (const auto& row : rows_)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c].text));

  std::string out;
  auto emit = [&](const std::vector<table_cell>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const bool last = c + 1 == row.size();
      const auto pad = widths[c] - display_width(row[c].text);
      if (c) line += "  ";
      if (aligns_[c] == align::right) line.append(pad, ' ');
      line += paint(row[c].text, row[c].color, color);
      if (aligns_[c] == align::left && !last) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  std::vector<table_cell> head;
  for (const auto& h : headers_) head.push_back({h, tone::bold});
  emit(head);
  for (const auto& row : rows_) emit(row);
  return out;
}

std::string with_thousands(std::int64_t n) {
  const bool negative = n < 0;
  // Through unsigned so that the most negative value has a magnitude too.
  std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
  std::string digits = std::to_string(magnitude);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::string format_credits(std::int64_t micro_credits, sign_display sign) {
  const bool negative = micro_credits < 0;
  // Through unsigned so that the most negative amount has a magnitude too.
  const std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(micro_credits) : static_cast<std::uint64_t>(micro_credits);
  constexpr auto per_credit = static_cast<std::uint64_t>(micro_credits_per_credit);
  const std::uint64_t whole = magnitude / per_credit;
  std::string digits = std::to_string(whole);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  if (const auto fraction = magnitude % per_credit; fraction != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06llu", static_cast<unsigned long long>(fraction));
    std::string decimals = buf;
    while (decimals.back() == '0') decimals.pop_back();
    out += '.' + decimals;
  }
  if (negative) return "-" + out;
  if (sign == sign_display::always && magnitude != 0) return "+" + out;
  return out;
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) v /= 1024, ++unit;
  char buf[32];
  if (unit == 0 || v >= 10 || std::fabs(v - std::round(v)) < 0.05)
    std::snprintf(buf, sizeof buf, "%.0f %s", std::round(v), units[unit]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[unit]);
  return buf;
}

std::string format_age(std::int64_t elapsed_ms) {
  if (elapsed_ms < 1000) return "just now";
  const auto s = elapsed_ms / 1000;
  if (s < 60) return std::to_string(s) + "s ago";
  if (s < 3600) return std::to_string(s / 60) + "m ago";
  if (s < 86400) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

std::string format_duration(std::int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[48];
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 10'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms / 100) / 10.0);
    return buf;
  }
  const auto s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
    return buf;
  }
  if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%lldd %02lldh", static_cast<long long>(s / 86400),
                static_cast<long long>(s % 86400 / 3600));
  return buf;
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') ||
      text[13] != ':' || text[16] != ':' || text.back() != 'Z')
    return std::nullopt;
  auto number = [&](std::size_t pos, std::size_t len, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day) || !number(11, 2, hour) ||
      !number(14, 2, minute) || !number(17, 2, second))
    return std::nullopt;
  int millis = 0;
  const auto rest = text.substr(19, text.size() - 20);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2) return std::nullopt;
    int scale = 100;
    for (std::size_t i = 1; i < rest.size(); ++i) {
      if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
      millis += (rest[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t seconds = timegm(&tm);
  return static_cast<std::int64_t>(seconds) * 1000 + millis;
}

std::string format_utc(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

namespace {

void write_scalar(const json::value& v, std::string& out) {
  if (v.is_double()) {
    // Shortest round-trip form ("0.5", "1e-07"), as the daemon writes numbers; not "5E-1".
    const double d = v.as_double();
    if (!std::isfinite(d)) {
      out += "null";
      return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
    return;
  }
  out += json::serialize(v);
}

// `indent` < 0: compact, on one line.
void write_json(const json::value& v, std::string& out, int indent) {
  const bool pretty = indent >= 0;
  const auto newline = [&](int level) {
    if (!pretty) return;
    out += '\n';
    out.append(static_cast<std::size_t>(level) * 2, ' ');
  };
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    std::size_t i = 0;
    for (const auto& [key, value] : o) {
      if (i++) out += ',';
      newline(indent + 1);
      out += json::serialize(json::string(key));
      out += pretty ? ": " : ":";
      write_json(value, out, pretty ? indent + 1 : -1);
    }
    newline(indent);
    out += '}';
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    // Arrays of numbers (tensor data, shapes) stay on one line.
    const bool flat = std::all_of(a.begin(), a.end(), [](const json::value& e) { return !e.is_structured(); });
    out += '[';
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i) out += ',';
      if (!flat) newline(indent + 1);
      write_json(a[i], out, flat || !pretty ? -1 : indent + 1);
    }
    if (!flat && !a.empty()) newline(indent);
    out += ']';
  } else {
    write_scalar(v, out);
  }
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  write_json(v, out, 0);
  return out;
}

std::string compact_json(const json::value& v) {
  std::string out;
  write_json(v, out, -1);
  return out;
}

namespace {

// "[██████░░░░]" with `cells` cells for `p` from 0 to 1.
std::string bar_text(double p, int cells, bool unicode, bool color) {
  const int full = static_cast<int>(std::lround(std::clamp(p, 0.0, 1.0) * cells));
  std::string filled, empty;
  for (int i = 0; i < cells; ++i) (i < full ? filled : empty) += unicode ? (i < full ? "█" : "░") : (i < full ? "#" : "-");
  return "[" + paint(filled, tone::cyan, color) + paint(empty, tone::dim, color) + "]";
}

std::string percent_text(double p) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%3d%%", static_cast<int>(std::floor(std::clamp(p, 0.0, 1.0) * 100)));
  return buf;
}

}  // namespace

std::string progress_line(const progress_view& v, std::size_t width, bool unicode, bool color) {
  static const char* braille[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
  static const char* ascii[] = {"|", "/", "-", "\\"};
  const std::string spinner = unicode ? braille[v.frame % 10] : ascii[v.frame % 4];
  const std::string head = "job " + std::to_string(v.job_id) + " " + v.task;
  std::string state = v.state;
  if (v.state == "running" && !v.worker.empty()) state += " on " + v.worker;
  const std::string elapsed = format_duration(v.elapsed_ms);

  std::string bar, percent;
  if (v.progress > 0) {
    const int bar_cells = width >= 110 ? 24 : width >= 90 ? 16 : 10;
    bar = bar_text(v.progress, bar_cells, unicode, color);
    percent = percent_text(v.progress);
  }

  // Parts in order of importance; the message is cut first, then the bar, to fit.
  std::string line = paint(spinner, tone::cyan, color) + " " + head + "  " + paint(state, state_tone(v.state), color);
  std::size_t used = display_width(line);
  const std::string tail = "  " + elapsed;
  const std::size_t tail_width = display_width(tail);
  if (!bar.empty() && used + 2 + display_width(bar) + 2 + percent.size() + tail_width <= width) {
    line += "  " + bar + "  " + percent;
    used = display_width(line);
  }
  if (!v.message.empty() && used + 2 + 4 + tail_width <= width) {
    line += "  " + truncate_to_width(v.message, width - used - 2 - tail_width);
    used = display_width(line);
  }
  if (used + tail_width <= width) line += paint(tail, tone::dim, color);
  if (display_width(line) > width) {
    // Very narrow terminal: plain text, cut.
    return truncate_to_width(spinner + " " + head + " " + v.state, width);
  }
  return line;
}

std::string transfer_line(const transfer_view& v, std::size_t width, bool unicode, bool color) {
  const double p = v.total_bytes ? static_cast<double>(v.done_bytes) / static_cast<double>(v.total_bytes) : 1.0;
  const std::string head =
      v.verb + (v.file_count > 1 ? " " + std::to_string(v.file_index) + "/" + std::to_string(v.file_count) : "");
  const std::string amounts = format_bytes(v.done_bytes) + " of " + format_bytes(v.total_bytes);
  std::string rate;
  if (v.elapsed_ms >= 500)
    rate = format_bytes(static_cast<std::uint64_t>(static_cast<double>(v.done_bytes) * 1000.0 /
                                                   static_cast<double>(v.elapsed_ms))) + "/s";
  const std::string bar = bar_text(p, width >= 110 ? 24 : width >= 90 ? 16 : 10, unicode, color);
  // The least a file's name is cut to before the rate, then the bar, give way.
  constexpr std::size_t min_file_columns = 12;
  for (int drop = 0; drop < 3; ++drop) {
    std::string tail;
    if (drop < 2) tail += "  " + bar;
    tail += "  " + percent_text(p) + "  " + amounts;
    if (drop < 1 && !rate.empty()) tail += "  " + paint(rate, tone::dim, color);
    const auto fixed = display_width(head) + 1 + display_width(tail);
    if (fixed + std::min(min_file_columns, display_width(v.file)) > width) continue;
    return head + " " + truncate_to_width(v.file, width - fixed) + tail;
  }
  // Very narrow terminal: plain text, cut.
  return truncate_to_width(head + " " + v.file + " " + percent_text(p), width);
}

}  // namespace potluck::cli
