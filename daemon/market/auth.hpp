// Authentication of HTTP callers by API token, with per-token rate limits.
//
// A request names its caller with "Authorization: Bearer plk_…". check() looks the token's hash
// up in the journal (a read, no commit), refuses unknown and revoked tokens and tokens without
// the scope the route needs, and charges one request to the token's bucket (a token bucket:
// `rate` requests a second on average, bursts up to `burst`). Refusals carry the HTTP status,
// a code and a message that says what to do.
//
// Threads: check() may be called from any thread; the buckets are under one mutex.
#pragma once

#include "daemon/store/account_store.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace potluck::daemon::market {

struct caller {
  account_record account;
  token_record token;
};

struct refusal {
  unsigned status = 401;
  std::string code, message;
  int retry_after_s = 0;  // > 0 with 429
};

struct rate_limit {
  double rate = 100;    // requests a second, sustained; 0: no limit
  double burst = 1000;  // requests at once
};

// "read", "submit", "publish", "donate", "admin" <-> token_scope bits.
std::optional<std::uint32_t> parse_scope(std::string_view name) noexcept;
std::vector<std::string> scope_names(std::uint32_t scopes);

class authenticator {
 public:
  authenticator(account_store& accounts, rate_limit limit) : accounts_(accounts), limit_(limit) {}

  // The caller, or why not. `authorization` is the request's Authorization header, if any.
  std::variant<caller, refusal> check(const std::string* authorization, std::uint32_t scope,
                                      std::int64_t now_ms);
  // Charges one request to `key`'s bucket (a token id, or a client address for routes that
  // take no token); a refusal when it is empty.
  std::optional<refusal> charge(const std::string& key, const rate_limit& limit);

 private:
  struct bucket {
    double level = 0;
    std::chrono::steady_clock::time_point at{};
  };
  account_store& accounts_;
  rate_limit limit_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace potluck::daemon::market
