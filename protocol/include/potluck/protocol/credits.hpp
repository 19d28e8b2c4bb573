// credits: amounts of credits and prices, shared by the daemon, the worker and the CLI.
//
// Amounts travel as integer micro-credits (1 credit = 1,000,000). A price (a donor's ask, a
// user's bid) is in micro-credits per million work units, the units a task's cost
// expression gives for a job's inputs: like a price per million tokens. What a job costs at
// a price is rounded up to the next micro-credit, so a priced job never runs for nothing and
// a job's cost never falls when its price rises.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace potluck::protocol {

inline constexpr std::int64_t micro_credits_per_credit = 1'000'000;
inline constexpr std::int64_t units_per_price_unit = 1'000'000;  // prices are per million units
// The most a price may be (a million credits per million units), and the most one job may
// cost (a billion credits): beyond them a figure is a mistake, not a price.
inline constexpr std::int64_t max_price = 1'000'000 * micro_credits_per_credit;
inline constexpr std::int64_t max_job_cost = 1'000'000'000 * micro_credits_per_credit;

// "2.5" -> 2500000, "1,234.5" -> 1234500000 (separators only in groups of three),
// "0.000001" -> 1. nullopt with `problem` saying why for anything else: empty, negative, more
// than 6 decimals, not a plain decimal number ("1e6", "+3", " 1"), or too large.
std::optional<std::int64_t> parse_credits(std::string_view text, std::string& problem);

// 2500000 -> "2.5", 1 -> "0.000001", 0 -> "0": no separators, for flags and messages.
std::string credits_string(std::int64_t micro_credits);

// What `units` work units cost at `price` (micro-credits per million units), rounded up;
// nullopt when it would be over max_job_cost (or units or price is negative).
std::optional<std::int64_t> cost_at(std::int64_t units, std::int64_t price);

// The highest price at which `units` units cost at most `budget` micro-credits: the price a
// maximum total stands for. For units == 0 any price fits: max_price.
std::int64_t price_within(std::int64_t units, std::int64_t budget);

}  // namespace potluck::protocol
