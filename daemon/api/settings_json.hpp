// A donor's settings for a worker as the API shows them (market.cpp, catalog.cpp).
#pragma once

#include "daemon/store/account_store.hpp"

#include <boost/json.hpp>

#include <string>

namespace potluck::daemon::api {

// hours: "22-7" (from 22:00 to 07:00, the worker's local time), or null for all day;
// free_jobs: the donor's choice, or null to follow the worker's --free-jobs.
inline boost::json::object settings_json(const worker_settings& s) {
  boost::json::object o;
  o["paused"] = s.paused;
  o["max_slots"] = s.max_slots;
  o["hours"] = s.hours_from == s.hours_to
                   ? boost::json::value(nullptr)
                   : boost::json::value(std::to_string(s.hours_from) + "-" + std::to_string(s.hours_to));
  o["free_jobs"] = s.accept_free ? boost::json::value(*s.accept_free) : boost::json::value(nullptr);
  return o;
}

}  // namespace potluck::daemon::api
