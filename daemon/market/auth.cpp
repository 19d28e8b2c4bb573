#include "daemon/market/auth.hpp"

#include "daemon/market/tokens.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace potluck::daemon::market {
namespace {

constexpr std::array<std::pair<std::string_view, std::uint32_t>, 5> scopes{{
    {"read", token_scope::read},
    {"submit", token_scope::submit},
    {"publish", token_scope::publish},
    {"donate", token_scope::donate},
    {"admin", token_scope::admin},
}};
constexpr std::size_t max_buckets = 100000;  // past this, full (idle) buckets are forgotten

const char* const how_to_get_one =
    "send 'Authorization: Bearer TOKEN'; get a token with 'potluck account create NAME' (or POST "
    "/api/v1/accounts), or use the operator's token in the daemon's data folder (admin-token)";

}  // namespace

std::optional<std::uint32_t> parse_scope(std::string_view name) noexcept {
  for (const auto& [n, bit] : scopes)
    if (n == name) return bit;
  return std::nullopt;
}

std::vector<std::string> scope_names(std::uint32_t bits) {
  std::vector<std::string> out;
  for (const auto& [n, bit] : scopes)
    if (bits & bit) out.emplace_back(n);
  return out;
}

std::variant<caller, refusal> authenticator::check(const std::string* authorization, std::uint32_t scope,
                                                   std::int64_t now_ms) {
  if (!authorization || authorization->empty())
    return refusal{401, "missing_token", std::string("this needs an API token: ") + how_to_get_one};
  std::string_view value = *authorization;
  constexpr std::string_view bearer = "Bearer ";
  if (value.size() < bearer.size() || !std::equal(bearer.begin(), bearer.end(), value.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      }))
    return refusal{401, "bad_token", std::string("the Authorization header must be 'Bearer TOKEN'; ") + how_to_get_one};
  value.remove_prefix(bearer.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (!looks_like_token(value))
    return refusal{401, "bad_token", "that is not a Potluck API token (they look like plk_ and 64 hex digits)"};
  auto match = accounts_.find_token(hash_token(value));
  if (!match) return refusal{401, "bad_token", std::string("unknown API token; ") + how_to_get_one};
  if (!match->token.live())
    return refusal{401, "revoked_token",
                   "API token '" + match->token.name + "' (" + match->token.prefix + "…) was revoked; use another or create one"};
  if ((match->token.scopes & scope) != scope) {
    std::string needed;
    for (const auto& n : scope_names(scope & ~match->token.scopes)) needed += (needed.empty() ? "" : ", ") + n;
    return refusal{403, "missing_scope",
                   "API token '" + match->token.name + "' lacks the scope this needs: " + needed};
  }
  if (auto limited = charge("token:" + std::to_string(match->token.id), limit_)) return *limited;
  accounts_.touch_token(match->token.id, now_ms);
  return caller{std::move(match->account), std::move(match->token)};
}

std::optional<refusal> authenticator::charge(const std::string& key, const rate_limit& limit) {
  if (limit.rate <= 0) return std::nullopt;  // no limit
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (buckets_.size() > max_buckets) {
    std::erase_if(buckets_, [&](const auto& kv) {
      const double idle = std::chrono::duration<double>(now - kv.second.at).count();
      return kv.second.level + idle * limit.rate >= limit.burst;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(key, bucket{limit.burst, now});
  auto& b = it->second;
  if (!fresh) {
    b.level = std::min(limit.burst, b.level + std::chrono::duration<double>(now - b.at).count() * limit.rate);
    b.at = now;
  }
  if (b.level < 1) {
    const int wait = std::max(1, static_cast<int>(std::ceil((1 - b.level) / limit.rate)));
    return refusal{429, "rate_limited",
                   "too many requests (at most " + std::to_string(static_cast<int>(limit.rate)) +
                       " a second, bursts of " + std::to_string(static_cast<int>(limit.burst)) + "); retry in " +
                       std::to_string(wait) + " s",
                   wait};
  }
  b.level -= 1;
  return std::nullopt;
}

}  // namespace potluck::daemon::market
