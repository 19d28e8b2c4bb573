// The donor's commands of the potluck CLI (their specs are in app.cpp's table): donate workers,
// donate pause / resume / set (a worker's settings), donate earnings, and the public donors
// leaderboard.
//
// A worker donates for the account whose token it connects with (potluck-worker --token); the
// daemon keeps the donor's settings per worker name, so they apply to every worker of that
// name, now and when it reconnects, and may be saved before one ever connects. Values are
// checked here first (exit 2) so that a typo never reaches the daemon; its own refusals exit 4.
#include "cli/command.hpp"

#include "cli/errors.hpp"
#include "cli/format.hpp"
#include "cli/market.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <ostream>

namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr int default_earnings_days = 30;
constexpr int max_days = 366;  // the daemon's longest window
constexpr int max_donors = 100;
constexpr int max_slot_cap = 256;  // the daemon's max_worker_slots
constexpr std::size_t max_worker_name_bytes = 64;
constexpr const char* hours_form =
    "write FROM-TO in whole hours of the worker's local time, like --hours 9-17 or --hours 22-7 (from 22:00 to "
    "07:00), or --hours all for all day";

constexpr const char* donate_scope_hint =
    "Changing a worker's settings takes a token with the donate scope, like the one the worker connects with.\n"
    "Make one: potluck tokens create NAME --scope donate";

const std::string& worker_name(const parsed_command& p) {
  const auto& name = p.args.at(0);
  if (name.empty() || name.size() > max_worker_name_bytes)
    throw usage_error("a worker's NAME is 1 to 64 bytes, as potluck-worker --name gave it (list yours: potluck donate "
                      "workers)");
  return name;
}

// --hours: "22-7" stays as it is; "all" is null (all day).
json::value parse_hours(const std::string& text) {
  if (text == "all") return nullptr;
  const auto dash = text.find('-');
  if (dash == std::string::npos) throw usage_error("--hours '" + text + "': " + hours_form);
  int ends[2] = {0, 0};
  const std::string parts[2] = {text.substr(0, dash), text.substr(dash + 1)};
  for (int i = 0; i < 2; ++i) {
    const auto& part = parts[i];
    auto r = std::from_chars(part.data(), part.data() + part.size(), ends[i]);
    if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size())
      throw usage_error("--hours '" + text + "': " + hours_form);
    if (ends[i] < 0 || ends[i] > 23)
      throw usage_error("--hours '" + text + "': " + part + " is not an hour; hours go from 0 to 23 (--hours 22-0 ends "
                                                            "at midnight)");
  }
  if (ends[0] == ends[1])
    throw usage_error("--hours '" + text + "' is an empty window: it starts and ends at " + parts[0] +
                      ". For all day: --hours all");
  return json::string(std::to_string(ends[0]) + "-" + std::to_string(ends[1]));
}

// --max-slots: 0 or "all" for every slot, else 1 to 256.
std::int64_t parse_slot_cap(const std::string& text) {
  if (text == "all") return 0;
  int n = -1;
  auto r = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || n < 0 || n > max_slot_cap)
    throw usage_error("--max-slots takes a number from 1 to " + std::to_string(max_slot_cap) +
                      ", or 0 or all for every slot (got '" + text + "')");
  return n;
}

// --free-jobs: yes, no, or worker (null: the worker's own --free-jobs decides).
json::value parse_free_jobs(const std::string& text) {
  if (text == "yes") return true;
  if (text == "no") return false;
  if (text == "worker") return nullptr;
  throw usage_error("--free-jobs must be yes, no, or worker (to follow the worker's own --free-jobs) (got '" + text +
                    "')");
}

// Whether some worker of the caller's named `name` is connected now; nullopt when that cannot
// be told (a token without the read scope, say).
std::optional<bool> connected_now(context& ctx, const std::string& name) {
  try {
    auto v = call(ctx, "GET", "/api/v1/account/workers", {}, {200});
    if (!v.is_object()) return std::nullopt;
    auto* list = v.as_object().if_contains("workers");
    if (!list || !list->is_array()) return std::nullopt;
    for (const auto& w : list->as_array()) {
      if (!w.is_object() || string_field(w.as_object(), "name") != name) continue;
      auto* connected = w.as_object().if_contains("connected");
      return connected && connected->is_array() && !connected->as_array().empty();
    }
    return false;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Sends the settings in `body` for the worker named in p.args[0] and confirms what was saved.
int save_settings(context& ctx, const parsed_command& p, json::object body) {
  const auto& name = worker_name(p);
  body["worker"] = name;
  ctx.missing_scope_hint = donate_scope_hint;
  auto v = call(ctx, "PUT", "/api/v1/account/workers/settings", json::serialize(body), {200});
  if (!v.is_object()) throw api_error(200, "bad_reply", "the daemon's answer about the settings is not an object");
  const auto& saved = v.as_object();
  if (ctx.json) print_json(ctx, v);
  else if (ctx.quiet) ctx.out << string_field(saved, "worker", name) << '\n';
  else ctx.out << "Saved " << string_field(saved, "worker", name) << ": " << worker_settings_text(saved) << ".\n";
  // The daemon keeps settings for any name, so that they wait for a worker that has not
  // connected yet; a mistyped name would wait forever, so say so.
  if (!ctx.json && !ctx.quiet && connected_now(ctx, name) == false)
    ctx.err << paint("note: no worker of yours named " + name +
                         " is connected now; these settings apply when one connects (potluck-worker --name " + name +
                         "). Yours: potluck donate workers",
                     tone::dim, ctx.color_err)
            << '\n';
  return exit_ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// donate workers, pause, resume, set

int cmd_donate_workers(context& ctx, const parsed_command&) {
  auto v = call(ctx, "GET", "/api/v1/account/workers", {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto* workers = v.is_object() ? v.as_object().if_contains("workers") : nullptr;
  if (!workers || !workers->is_array()) throw api_error(200, "bad_reply", "the daemon's worker list holds no \"workers\"");
  if (ctx.quiet) {
    for (const auto& w : workers->as_array())
      if (w.is_object()) ctx.out << string_field(w.as_object(), "name") << '\n';
    return exit_ok;
  }
  if (workers->as_array().empty()) {
    ctx.out << "You have no workers. Donate this machine: potluck-worker --daemon " << workers_endpoint(ctx)
            << " --token-file FILE\n"
            << "(FILE holds a token of yours with the donate scope: potluck tokens create NAME --scope donate)\n";
    return exit_ok;
  }
  ctx.out << render_my_workers(v.as_object(), ctx.color_out);
  ctx.err << paint("Change them: potluck donate pause NAME, potluck donate set NAME --max-slots N --hours 22-7 "
                   "--free-jobs yes|no|worker",
                   tone::dim, ctx.color_err)
          << '\n';
  return exit_ok;
}

int cmd_donate_pause(context& ctx, const parsed_command& p) {
  return save_settings(ctx, p, json::object{{"paused", true}});
}

int cmd_donate_resume(context& ctx, const parsed_command& p) {
  return save_settings(ctx, p, json::object{{"paused", false}});
}

int cmd_donate_set(context& ctx, const parsed_command& p) {
  json::object body;
  if (p.has("max-slots")) body["max_slots"] = parse_slot_cap(p.value("max-slots"));
  if (p.has("hours")) body["hours"] = parse_hours(p.value("hours"));
  if (p.has("free-jobs")) body["free_jobs"] = parse_free_jobs(p.value("free-jobs"));
  worker_name(p);
  if (body.empty())
    throw usage_error("potluck donate set needs --max-slots, --hours or --free-jobs (to pause: potluck donate pause " +
                      p.args.at(0) + ")");
  return save_settings(ctx, p, std::move(body));
}

// ---------------------------------------------------------------------------------------------
// donate earnings, donors

int cmd_donate_earnings(context& ctx, const parsed_command& p) {
  const int days = p.has("days") ? parse_positive("days", p.value("days"), max_days) : default_earnings_days;
  auto v = call(ctx, "GET", "/api/v1/account/earnings?days=" + std::to_string(days), {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  if (!v.is_object() || !v.as_object().contains("total"))
    throw api_error(200, "bad_reply", "the daemon's earnings hold no \"total\"");
  if (ctx.quiet) {
    // Plain credits, no separators, for scripts.
    ctx.out << protocol::credits_string(int_field(object_field(v, "total"), "earned")) << '\n';
    return exit_ok;
  }
  ctx.out << render_earnings(v.as_object(), now_ms(), ctx.term.unicode, ctx.color_out);
  return exit_ok;
}

int cmd_donors(context& ctx, const parsed_command& p) {
  std::string target = "/api/v1/donors";
  const int days = p.has("days") ? parse_positive("days", p.value("days"), max_days) : default_earnings_days;
  target += "?days=" + std::to_string(days);
  if (p.has("limit")) target += "&limit=" + std::to_string(parse_positive("limit", p.value("limit"), max_donors));
  auto v = call(ctx, "GET", target, {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto* donors = v.is_object() ? v.as_object().if_contains("donors") : nullptr;
  if (!donors || !donors->is_array()) throw api_error(200, "bad_reply", "the daemon's leaderboard holds no \"donors\"");
  if (ctx.quiet) {
    for (const auto& d : donors->as_array())
      if (d.is_object()) ctx.out << string_field(d.as_object(), "account", "-") << '\n';
    return exit_ok;
  }
  if (donors->as_array().empty()) {
    const auto period = days == 1 ? std::string("today") : "in the last " + std::to_string(days) + " days";
    ctx.out << "No donor's worker ran a job " << period << ". Donate this machine: potluck-worker --daemon "
            << workers_endpoint(ctx) << " --token-file FILE\n";
    return exit_ok;
  }
  ctx.out << render_donors(v.as_object(), ctx.color_out);
  return exit_ok;
}

}  // namespace potluck::cli
