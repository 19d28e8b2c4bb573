// Market routes: what a donor's workers earned (per day and per job), the donor leaderboard.
// Amounts are micro-credits. Reads run on the HTTP thread: each is one indexed query of the
// journal, and the leaderboard, which adds up every donor's jobs of the period, is kept for a
// few seconds so that a busy dashboard does not repeat it.
#include "daemon/api/routes.hpp"
#include "daemon/app/app.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <chrono>
#include <mutex>

namespace json = boost::json;

namespace potluck::daemon::api {
namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t default_days = 30, max_days = 366;
constexpr int default_donors = 20, max_donors = 100;
constexpr std::int64_t leaderboard_cache_ms = 5'000;

// ?NAME=N within [1, limit], or `fallback`; false (after answering 400) when malformed.
bool count_param(const http::request& req, http::responder& res, const char* name, std::int64_t limit,
                 std::int64_t fallback, std::int64_t& out) {
  out = fallback;
  const auto* text = req.query_param(name);
  if (!text || text->empty()) return true;
  std::int64_t n = 0;
  auto r = std::from_chars(text->data(), text->data() + text->size(), n);
  if (r.ec != std::errc() || r.ptr != text->data() + text->size() || n < 1 || n > limit) {
    res.send(http::json_error(400, "invalid_request", std::string(name) + " must be an integer from 1 to " +
                                                          std::to_string(limit)));
    return false;
  }
  out = n;
  return true;
}

// Midnight UTC `days - 1` days before today: a window of `days` whole days with today.
std::int64_t window_start(std::int64_t now, std::int64_t days) { return (now / day_ms - (days - 1)) * day_ms; }

std::string day_string(std::int64_t ms) { return iso8601(ms).substr(0, 10); }

struct leaderboard_cache {
  std::mutex mutex;
  std::int64_t days = 0, limit = 0, made_ms = 0;
  std::string body;
};

}  // namespace

void add_market_routes(http::router& router, daemon_app& app) {
  // The caller's earnings as a donor: per UTC day (every day of the window, zeros included,
  // so that a chart needs no gaps filled), totals, and the latest jobs their workers ran.
  router.add("GET", "/api/v1/account/earnings", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::read);
    if (!who) return;
    std::int64_t days = 0;
    if (!count_param(req, res, "days", max_days, default_days, days)) return;
    const auto now = now_ms();
    const auto since = window_start(now, days);
    const auto rows = app.store().earnings(who->account.id, since);
    json::array per_day;
    std::int64_t jobs = 0, units = 0, earned = 0;
    auto row = rows.begin();
    for (std::int64_t day = since; day <= now; day += day_ms) {
      json::object d{{"date", day_string(day)}, {"jobs", 0}, {"units", 0}, {"earned", 0}};
      if (row != rows.end() && row->day_ms == day) {
        d["jobs"] = row->jobs;
        d["units"] = row->units;
        d["earned"] = row->earned;
        jobs += row->jobs;
        units += row->units;
        earned += row->earned;
        ++row;
      }
      per_day.push_back(std::move(d));
    }
    job_list_query recent_query;
    recent_query.payee_id = who->account.id;
    recent_query.limit = 20;
    json::array recent;
    for (const auto& j : app.store().list(recent_query)) {
      if (!is_terminal(j.state)) continue;
      recent.push_back(json::object{{"id", j.id},
                                    {"task", j.task},
                                    {"state", to_string(j.state)},
                                    {"worker", j.worker},
                                    {"units", j.units},
                                    {"price", j.price},
                                    {"charged", j.charged},
                                    {"fee", j.fee},
                                    {"earned", j.charged - j.fee},
                                    {"finished_at", iso8601(j.finished_ms)}});
    }
    json::array workers;
    for (const auto& w : app.jobs().workers()) {
      if (w.owner != who->account.name) continue;
      workers.push_back(json::object{{"id", w.id}, {"name", w.name}, {"jobs_done", w.jobs_done},
                                     {"jobs_failed", w.jobs_failed}, {"connected_at", iso8601(w.connected_ms)}});
    }
    json::object out{{"account", who->account.name},
                     {"days", std::move(per_day)},
                     {"total", json::object{{"jobs", jobs}, {"units", units}, {"earned", earned}}},
                     {"recent", std::move(recent)},
                     {"workers", std::move(workers)}};
    res.send(http::json(200, json::serialize(out)));
  });

  // The donors whose workers did most in the last `days` days: public, like a volunteer
  // project's credit table. Ranked by credits earned, then by work units (free work counts).
  auto cache = std::make_shared<leaderboard_cache>();
  router.add("GET", "/api/v1/donors", [&app, cache](http::request& req, http::responder res) {
    std::int64_t days = 0, limit = 0;
    if (!count_param(req, res, "days", max_days, default_days, days)) return;
    if (!count_param(req, res, "limit", max_donors, default_donors, limit)) return;
    const auto now = now_ms();
    {
      std::lock_guard lock(cache->mutex);
      if (cache->days == days && cache->limit == limit && now - cache->made_ms < leaderboard_cache_ms) {
        res.send(http::json(200, cache->body));
        return;
      }
    }
    const auto since = window_start(now, days);
    json::array donors;
    std::int64_t rank = 0;
    for (const auto& d : app.store().top_donors(since, static_cast<int>(limit))) {
      const auto account = app.accounts().get_account(d.account_id);
      donors.push_back(json::object{{"rank", ++rank},
                                    {"account", account ? json::value(account->name) : json::value(nullptr)},
                                    {"jobs", d.jobs},
                                    {"units", d.units},
                                    {"earned", d.earned}});
    }
    auto body = json::serialize(json::object{{"days", days}, {"since", iso8601(since)}, {"donors", std::move(donors)}});
    {
      std::lock_guard lock(cache->mutex);
      cache->days = days;
      cache->limit = limit;
      cache->made_ms = now;
      cache->body = body;
    }
    res.send(http::json(200, std::move(body)));
  });
}

}  // namespace potluck::daemon::api
