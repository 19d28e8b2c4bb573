// System routes: liveness, Prometheus metrics, the dashboard's event stream, and the route
// table itself.
#include "daemon/api/routes.hpp"
#include "daemon/app/app.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <ctime>

namespace json = boost::json;

namespace potluck::daemon::api {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601(std::int64_t unix_ms) {
  if (unix_ms <= 0) return {};
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, static_cast<int>(unix_ms % 1000));
  return out;
}

void add_system_routes(http::router& router, daemon_app& app) {
  router.add("GET", "/healthz", [&app](http::request&, http::responder res) {
    const auto now = now_ms();
    json::object o{{"status", "ok"},
                   {"version", "0.1.0"},
                   {"uptime_s", (now - app.started_ms()) / 1000},
                   {"workers", app.counters().workers_connected.load()},
                   {"queue_depth", app.counters().queue_depth.load()},
                   {"workers_endpoint", app.workers_endpoint()}};
    // Workers on other machines need this key (--server-key) when the link is encrypted.
    o["worker_link"] = json::object{{"encrypted", !app.worker_link_key().empty()},
                                    {"server_key", app.worker_link_key().empty() ? json::value(nullptr)
                                                                                 : json::value(app.worker_link_key())}};
    res.send(http::json(200, json::serialize(o)));
  });

  router.add("GET", "/metrics", [&app](http::request&, http::responder res) {
    std::string out = app.counters().render();
    out += "# HELP potluck_jobs Jobs in the journal by state.\n# TYPE potluck_jobs gauge\n";
    const auto counts = app.store().count_by_state();
    for (auto state : {job_state::queued, job_state::running, job_state::succeeded, job_state::failed,
                       job_state::cancelled}) {
      auto it = counts.find(state);
      out += std::string("potluck_jobs{state=\"") + to_string(state) + "\"} " +
             std::to_string(it == counts.end() ? 0 : it->second) + "\n";
    }
    http::response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = std::move(out);
    res.send(std::move(r));
  });

  // Counters for the dashboard's charts: totals since start and the current gauges; clients
  // derive rates from two readings.
  router.add("GET", "/api/v1/stats", [&app](http::request&, http::responder res) {
    const auto& m = app.counters();
    const auto now = now_ms();
    json::object o{{"time_ms", now},
                   {"uptime_s", (now - app.started_ms()) / 1000},
                   {"jobs_submitted", m.jobs_submitted.load()},
                   {"jobs_succeeded", m.jobs_succeeded.load()},
                   {"jobs_failed", m.jobs_failed.load()},
                   {"jobs_cancelled", m.jobs_cancelled.load()},
                   {"queue_depth", m.queue_depth.load()},
                   {"jobs_running", m.jobs_running.load()},
                   {"workers", m.workers_connected.load()},
                   {"slots_total", m.slots_total.load()},
                   {"slots_busy", m.slots_busy.load()}};
    res.send(http::json(200, json::serialize(o)));
  });

  router.add("GET", "/api/v1/events", [&app](http::request&, http::responder res) {
    auto stream = res.start_events();
    auto token = app.events().subscribe(0, [stream](const event& e) { return stream->send(e.kind, e.json); });
    stream->on_close([&app, token] { app.events().unsubscribe(token); });
    stream->send("hello", "{\"version\":\"0.1.0\"}");
  });

  router.add("GET", "/api/v1", [](http::request&, http::responder res) {
    json::array routes = {
        "GET /healthz", "GET /metrics", "GET /api/v1/stats", "GET /api/v1/tasks", "GET /api/v1/workers", "POST /api/v1/jobs",
        "POST /api/v1/jobs/batch", "GET /api/v1/jobs", "GET /api/v1/jobs/{id}", "POST /api/v1/jobs/{id}/cancel",
        "GET /api/v1/jobs/{id}/events", "GET /api/v1/events", "POST /api/v1/accounts", "GET /api/v1/account",
        "GET /api/v1/account/ledger", "GET /api/v1/account/tokens", "POST /api/v1/account/tokens",
        "DELETE /api/v1/account/tokens/{id}", "GET /api/v1/admin/audit", "POST /api/v1/admin/grants",
        "POST /api/v1/session/local"};
    res.send(http::json(200, json::serialize(json::object{{"routes", std::move(routes)}})));
  });
}

void add_routes(http::router& router, daemon_app& app) {
  add_system_routes(router, app);
  add_catalog_routes(router, app);
  add_job_routes(router, app);
  add_account_routes(router, app);
  add_market_routes(router, app);
  add_hub_routes(router, app);
}

}  // namespace potluck::daemon::api
