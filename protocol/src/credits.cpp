// Credits and prices: parsing, formatting and what a job costs at a price.
#include "potluck/protocol/credits.hpp"

#include <charconv>
#include <cstdio>
#include <limits>

namespace potluck::protocol {

std::optional<std::int64_t> parse_credits(std::string_view text, std::string& problem) {
  const auto fail = [&](std::string why) -> std::optional<std::int64_t> {
    problem = std::move(why);
    return std::nullopt;
  };
  if (text.empty()) return fail("it is empty");
  if (text.front() == '-') return fail("it is negative");
  const auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view decimals = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  const auto not_a_number = "it is not a number of credits like 2.5 or 1000";
  if (dot != std::string_view::npos && decimals.empty()) return fail(not_a_number);
  if (whole.empty() && decimals.empty()) return fail(not_a_number);
  // Separators, when there are any, in groups of three: 1,234,567.5
  std::string digits;
  if (whole.find(',') != std::string_view::npos) {
    std::size_t group = 0;
    bool first = true;
    for (std::size_t i = 0; i <= whole.size(); ++i) {
      if (i == whole.size() || whole[i] == ',') {
        if (first ? (group == 0 || group > 3) : group != 3) return fail(not_a_number);
        first = false;
        group = 0;
        continue;
      }
      ++group;
      digits += whole[i];
    }
  } else {
    digits = std::string(whole);
  }
  for (const char c : digits)
    if (c < '0' || c > '9') return fail(not_a_number);
  for (const char c : decimals)
    if (c < '0' || c > '9') return fail(not_a_number);
  if (decimals.size() > 6) return fail("it has more than 6 decimals (the smallest amount is 0.000001)");
  std::uint64_t credits = 0;
  if (!digits.empty()) {
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), credits);
    if (r.ec != std::errc()) return fail("it is too large");
  }
  std::uint64_t fraction = 0;
  for (std::size_t i = 0; i < 6; ++i) fraction = fraction * 10 + (i < decimals.size() ? decimals[i] - '0' : 0);
  constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  constexpr auto per_credit = static_cast<std::uint64_t>(micro_credits_per_credit);
  if (credits > (limit - fraction) / per_credit) return fail("it is too large");
  return static_cast<std::int64_t>(credits * per_credit + fraction);
}

std::string credits_string(std::int64_t micro_credits) {
  const bool negative = micro_credits < 0;
  const std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(micro_credits) : static_cast<std::uint64_t>(micro_credits);
  constexpr auto per_credit = static_cast<std::uint64_t>(micro_credits_per_credit);
  std::string out = (negative ? "-" : "") + std::to_string(magnitude / per_credit);
  if (const auto fraction = magnitude % per_credit; fraction != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06llu", static_cast<unsigned long long>(fraction));
    std::string decimals = buf;
    while (decimals.back() == '0') decimals.pop_back();
    out += '.' + decimals;
  }
  return out;
}

std::optional<std::int64_t> cost_at(std::int64_t units, std::int64_t price) {
  if (units < 0 || price < 0) return std::nullopt;
  const auto product = static_cast<unsigned __int128>(units) * static_cast<unsigned __int128>(price);
  const auto cost = (product + units_per_price_unit - 1) / units_per_price_unit;
  if (cost > static_cast<unsigned __int128>(max_job_cost)) return std::nullopt;
  return static_cast<std::int64_t>(cost);
}

std::int64_t price_within(std::int64_t units, std::int64_t budget) {
  if (units <= 0) return max_price;
  if (budget <= 0) return 0;
  // The largest p with ceil(units * p / 1e6) <= budget, that is units * p <= budget * 1e6.
  const auto top = static_cast<unsigned __int128>(budget) * units_per_price_unit;
  const auto price = top / static_cast<unsigned __int128>(units);
  return price > static_cast<unsigned __int128>(max_price) ? max_price : static_cast<std::int64_t>(price);
}

}  // namespace potluck::protocol
