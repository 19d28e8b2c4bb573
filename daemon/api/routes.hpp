// The HTTP API of potluckd (v1, JSON), by area: jobs.cpp, catalog.cpp (tasks, workers),
// system.cpp (health, metrics, events), accounts.cpp (sign-up, tokens, ledger, audit),
// market.cpp (donors' earnings and settings, the leaderboard), hub.cpp (models).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace potluck::daemon {
class daemon_app;
namespace http {
class router;
class responder;
struct request;
}
namespace market {
struct caller;
}
}  // namespace potluck::daemon

namespace potluck::daemon::api {

void add_routes(http::router& router, daemon_app& app);
void add_job_routes(http::router& router, daemon_app& app);
void add_catalog_routes(http::router& router, daemon_app& app);
void add_system_routes(http::router& router, daemon_app& app);
void add_account_routes(http::router& router, daemon_app& app);
void add_market_routes(http::router& router, daemon_app& app);
void add_hub_routes(http::router& router, daemon_app& app);

// The caller named by the request's API token when it has `scope` (token_scope bits); or
// nothing, after answering the request 401, 403 or 429 with what to do (accounts.cpp).
std::optional<market::caller> authenticate(daemon_app& app, const http::request& req, http::responder& res,
                                           std::uint32_t scope);

// Wall-clock time, unix epoch milliseconds (what the journal records).
std::int64_t now_ms();

// "2026-11-22T07:26:25.123Z"; "" for 0.
std::string iso8601(std::int64_t unix_ms);

}  // namespace potluck::daemon::api
