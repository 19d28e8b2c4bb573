// Catalog routes: the tasks connected workers offer, and the workers themselves.
#include "daemon/api/routes.hpp"
#include "daemon/api/settings_json.hpp"
#include "daemon/app/app.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>

#include <set>

namespace json = boost::json;

namespace potluck::daemon::api {

void add_catalog_routes(http::router& router, daemon_app& app) {
  router.add("GET", "/api/v1/tasks", [&app](http::request&, http::responder res) {
    const auto catalog = app.jobs().catalog();
    json::array tasks;
    for (const auto& [name, entries] : *catalog) {
      if (entries.empty()) continue;
      auto task = protocol::to_json(entries.front().decl);
      task.erase("backend");
      task.erase("plugin");
      task.erase("plugin_version");
      json::array backends;
      std::set<std::string> workers;
      for (const auto& e : entries) {
        backends.push_back(json::object{{"backend", e.decl.backend},
                                        {"plugin", e.decl.plugin},
                                        {"plugin_version", e.decl.plugin_version},
                                        {"workers", e.worker_ids.size()},
                                        {"slots", e.slots}});
        workers.insert(e.worker_ids.begin(), e.worker_ids.end());
      }
      task["backends"] = std::move(backends);
      task["workers"] = workers.size();
      tasks.push_back(std::move(task));
    }
    res.send(http::json(200, json::serialize(json::object{{"tasks", std::move(tasks)}})));
  });

  router.add("GET", "/api/v1/workers", [&app](http::request&, http::responder res) {
    json::array workers;
    for (const auto& w : app.jobs().workers()) {
      json::object o;
      o["id"] = w.id;
      o["name"] = w.name;
      o["hostname"] = w.hostname;
      o["software"] = w.software;
      o["owner"] = w.owner.empty() ? json::value(nullptr) : json::value(w.owner);
      boost::system::error_code ec;
      auto devices = json::parse(w.devices_json, ec);
      o["devices"] = ec ? json::value(json::object()) : std::move(devices);
      auto plugins = json::parse(w.plugins_json, ec);
      o["plugins"] = ec ? json::value(json::array()) : std::move(plugins);
      json::object slots, busy;
      int total = 0, total_busy = 0;
      for (const auto& [backend, n] : w.slots) slots[backend] = n, total += n;
      for (const auto& [backend, n] : w.busy) busy[backend] = n, total_busy += n;
      o["slots"] = std::move(slots);
      o["busy"] = std::move(busy);
      json::object prices;
      for (const auto& [backend, ask] : w.prices) prices[backend] = ask;
      o["prices"] = std::move(prices);  // asks, micro-credits per million work units
      o["accepts_free"] = w.accepts_free;
      o["settings"] = settings_json(w.settings);
      o["taking_jobs"] = w.taking_jobs;
      o["utc_offset_minutes"] = w.utc_offset_minutes;
      o["slots_total"] = total;
      o["slots_busy"] = total_busy;
      o["jobs_done"] = w.jobs_done;
      o["jobs_failed"] = w.jobs_failed;
      o["checks"] = json::object{{"passed", w.checks_passed}, {"failed", w.checks_failed}};
      o["connected_at"] = iso8601(w.connected_ms);
      o["last_seen_at"] = iso8601(w.last_seen_ms);
      json::array errors;
      for (const auto& e : w.load_errors) errors.push_back(json::string(e));
      o["load_errors"] = std::move(errors);
      json::array models;  // of the hub's models, the ones it holds on disk
      for (const auto& m : w.models) models.push_back(json::string(m));
      o["models"] = std::move(models);
      workers.push_back(std::move(o));
    }
    res.send(http::json(200, json::serialize(json::object{{"workers", std::move(workers)}})));
  });
}

}  // namespace potluck::daemon::api
