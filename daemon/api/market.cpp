// Market routes: what a donor's workers earned (per day and per job), their settings (pause,
// slot cap, hours, free jobs), the donor leaderboard.
// Amounts are micro-credits. Reads run on the HTTP thread: each is one indexed query of the
// journal, and the leaderboard, which adds up every donor's jobs of the period, is kept for a
// few seconds so that a busy dashboard does not repeat it.
#include "daemon/api/routes.hpp"
#include "daemon/api/settings_json.hpp"
#include "daemon/app/app.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <chrono>
#include <map>
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

// "22-7" -> (22, 7); the problem otherwise.
std::string parse_hours(std::string_view text, int& from, int& to) {
  const auto dash = text.find('-');
  auto hour = [](std::string_view part, int& out) {
    auto r = std::from_chars(part.data(), part.data() + part.size(), out);
    return !part.empty() && r.ec == std::errc() && r.ptr == part.data() + part.size() && out >= 0 && out <= 23;
  };
  if (dash == std::string_view::npos || !hour(text.substr(0, dash), from) || !hour(text.substr(dash + 1), to))
    return "\"hours\" is FROM-TO in whole hours of the worker's local time, like \"9-17\" or \"22-7\" (from 22:00 "
           "to 07:00), or null for all day";
  if (from == to) return "\"hours\" " + std::string(text) + " is an empty window: use null for all day";
  return {};
}

// Applies the fields of `body` to `s`; the problem, or "".
std::string apply_settings_body(const json::object& body, worker_settings& s) {
  for (const auto& [key, _] : body)
    if (key != "worker" && key != "paused" && key != "max_slots" && key != "hours" && key != "free_jobs")
      return "unknown field \"" + std::string(key) + "\" (fields: worker, paused, max_slots, hours, free_jobs)";
  if (auto* v = body.if_contains("paused")) {
    if (!v->is_bool()) return "\"paused\" must be true or false";
    s.paused = v->as_bool();
  }
  if (auto* v = body.if_contains("max_slots")) {
    if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > max_worker_slots)
      return "\"max_slots\" must be an integer from 0 (every slot) to " + std::to_string(max_worker_slots);
    s.max_slots = static_cast<int>(v->as_int64());
  }
  if (auto* v = body.if_contains("hours")) {
    if (v->is_null()) {
      s.hours_from = s.hours_to = 0;
    } else if (!v->is_string()) {
      return "\"hours\" must be a string like \"9-17\", or null for all day";
    } else if (auto problem = parse_hours(v->as_string(), s.hours_from, s.hours_to); !problem.empty()) {
      return problem;
    }
  }
  if (auto* v = body.if_contains("free_jobs")) {
    if (v->is_null()) s.accept_free.reset();
    else if (v->is_bool()) s.accept_free = v->as_bool();
    else return "\"free_jobs\" must be true, false, or null to follow the worker's --free-jobs";
  }
  return {};
}

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

  // The caller's workers: those connected now (with their state) and those they have settings
  // for, by name.
  router.add("GET", "/api/v1/account/workers", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::read);
    if (!who) return;
    std::map<std::string, json::object> by_name;
    for (const auto& r : app.accounts().list_worker_settings(who->account.id))
      by_name[r.name] = json::object{{"name", r.name}, {"connected", json::array()}, {"settings", settings_json(r.settings)}};
    for (const auto& w : app.jobs().workers()) {
      if (w.owner != who->account.name) continue;
      auto& entry = by_name[w.name];
      if (entry.empty()) entry = json::object{{"name", w.name}, {"connected", json::array()}};
      entry["settings"] = settings_json(w.settings);
      json::object prices, slots, busy;
      for (const auto& [b, p] : w.prices) prices[b] = p;
      for (const auto& [b, n] : w.slots) slots[b] = n;
      for (const auto& [b, n] : w.busy) busy[b] = n;
      entry["connected"].as_array().push_back(json::object{{"id", w.id},
                                                          {"hostname", w.hostname},
                                                          {"taking_jobs", w.taking_jobs},
                                                          {"accepts_free", w.accepts_free},
                                                          {"prices", std::move(prices)},
                                                          {"slots", std::move(slots)},
                                                          {"busy", std::move(busy)},
                                                          {"jobs_done", w.jobs_done},
                                                          {"jobs_failed", w.jobs_failed},
                                                          {"utc_offset_minutes", w.utc_offset_minutes},
                                                          {"connected_at", iso8601(w.connected_ms)}});
    }
    json::array out;
    for (auto& [_, entry] : by_name) {
      if (!entry.contains("settings")) entry["settings"] = settings_json(worker_settings{});
      out.push_back(std::move(entry));
    }
    res.send(http::json(200, json::serialize(json::object{{"workers", std::move(out)}})));
  });

  // Changes the settings of the caller's worker(s) of one name; fields left out keep their
  // value. Applied at once to the connected workers of that name and to any that connect later.
  router.add("PUT", "/api/v1/account/workers/settings", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::donate);
    if (!who) return;
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    if (ec || !body.is_object()) {
      res.send(http::json_error(400, "invalid_json", "the body must be a JSON object like {\"worker\": \"my-box\", \"paused\": true}"));
      return;
    }
    const auto* name = body.as_object().if_contains("worker");
    if (!name || !name->is_string() || name->as_string().empty() || name->as_string().size() > max_worker_name_bytes) {
      res.send(http::json_error(400, "invalid_request", "\"worker\" must be the worker's name (1 to 64 bytes)"));
      return;
    }
    const std::string worker_name(name->as_string());
    auto settings = app.accounts().find_worker_settings(who->account.id, worker_name).value_or(worker_settings{});
    if (auto problem = apply_settings_body(body.as_object(), settings); !problem.empty()) {
      res.send(http::json_error(400, "bad_settings", problem));
      return;
    }
    settings.updated_ms = now_ms();
    const auto owner = who->account.id;
    app.work().post([&app, owner, worker_name, settings, res = std::make_shared<http::responder>(std::move(res))] {
      try {
        app.accounts().set_worker_settings(owner, worker_name, settings);
      } catch (const store_refused& e) {
        res->send(http::json_error(400, "bad_settings", e.what()));
        return;
      } catch (const std::exception& e) {
        res->send(http::json_error(500, "internal", std::string("the settings could not be saved: ") + e.what()));
        return;
      }
      app.jobs().settings_changed(owner, worker_name, settings);
      auto out = settings_json(settings);
      out["worker"] = worker_name;
      res->send(http::json(200, json::serialize(out)));
    });
  });

  // The operator's market settings (set with potluckd's flags), for the admin page.
  router.add("GET", "/api/v1/admin/settings", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::admin);
    if (!who) return;
    const auto& o = app.options();
    json::object out{{"starter_grant", o.starter_grant},
                     {"signup", o.signup_open ? "open" : "closed"},
                     {"free_tier", o.free_tier},
                     {"fee_ppm", o.fee_ppm},
                     {"anonymous_workers", o.anonymous_workers},
                     {"rate_limit", o.token_rate_limit.rate},
                     {"max_attempts", o.max_attempts},
                     {"check_percent", o.check_rate * 100},
                     {"trusted_after", o.trusted_after}};
    res.send(http::json(200, json::serialize(out)));
  });

  // What the operator should look at: connected workers with flags (results that disagreed
  // with a trusted worker's, jobs dropped, implausibly fast runs) and the donors whose checked
  // results ever disagreed.
  router.add("GET", "/api/v1/admin/flagged", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::admin);
    if (!who) return;
    json::array workers;
    for (const auto& w : app.jobs().workers()) {
      if (w.flags.empty()) continue;
      json::array flags;
      for (const auto& f : w.flags) flags.emplace_back(f);
      workers.push_back(json::object{{"id", w.id},
                                     {"name", w.name},
                                     {"owner", w.owner.empty() ? json::value(nullptr) : json::value(w.owner)},
                                     {"flags", std::move(flags)},
                                     {"jobs_done", w.jobs_done},
                                     {"jobs_failed", w.jobs_failed},
                                     {"checks_passed", w.checks_passed},
                                     {"checks_failed", w.checks_failed}});
    }
    json::array donors;
    for (const auto& t : app.accounts().distrusted()) {
      const auto account = app.accounts().get_account(t.account_id);
      donors.push_back(json::object{{"account", account ? json::value(account->name) : json::value(nullptr)},
                                    {"checked", t.checked},
                                    {"agreed", t.agreed},
                                    {"disagreed", t.disagreed},
                                    {"streak", t.streak},
                                    {"last_disagreement_at", iso8601(t.last_disagreement_ms)}});
    }
    res.send(http::json(200, json::serialize(json::object{{"workers", std::move(workers)}, {"donors", std::move(donors)}})));
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
