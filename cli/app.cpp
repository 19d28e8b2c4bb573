// The commands of the potluck CLI (see app.hpp): a flat table of command specs (flags, help,
// examples, handler), a parser that accepts global flags before or after the command, and the
// job commands' handlers, which talk to the daemon through http_client and print through
// format.hpp, market.hpp and tensor_print.hpp (the account commands' handlers are in
// accounts.cpp, the organisations' in orgs.cpp, the donor's in donate.cpp, the model hub's in
// models.cpp, potluck run's in run.cpp). run() finds the
// daemon's URL and the API token (config.hpp) and turns errors into exit statuses, in one place
// at its end.
#include "cli/app.hpp"

#include "cli/command.hpp"
#include "cli/config.hpp"
#include "cli/errors.hpp"
#include "cli/format.hpp"
#include "cli/http_client.hpp"
#include "cli/inputs.hpp"
#include "cli/market.hpp"
#include "cli/tensor_print.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <map>
#include <ostream>
#include <set>
#include <thread>

namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr std::chrono::milliseconds request_timeout{30'000};
constexpr std::chrono::milliseconds event_idle_timeout{60'000};  // the daemon sends a keepalive every 15 s
constexpr std::chrono::milliseconds redraw_interval{100};
constexpr int default_jobs_limit = 20;
constexpr int max_jobs_limit = 1000;
constexpr int max_replicas = 5;  // the daemon's limit
constexpr int max_stream_reconnects = 20;  // stream closes in a row without an event
constexpr std::chrono::milliseconds reconnect_window{30'000};
constexpr std::chrono::milliseconds reconnect_backoff_first{100};
constexpr std::chrono::milliseconds reconnect_backoff_last{2'000};
constexpr const char* default_workers_endpoint = "tcp://127.0.0.1:5555";

// ---------------------------------------------------------------------------------------------
// Global flags

const std::vector<option_spec>& global_options() {
  static const std::vector<option_spec> options = {
      {"url", 0, "URL", "the daemon's URL (default $POTLUCK_URL, the saved one, or http://127.0.0.1:8080)"},
      {"token", 0, "TOKEN", "the API token (default $POTLUCK_TOKEN or the saved one; ps shows flags to all users)"},
      {"json", 0, "", "print the daemon's JSON instead of text, for scripts"},
      {"quiet", 'q', "", "print only what a script needs: IDs, names, results; no progress"},
      {"no-color", 0, "", "no colours (also when NO_COLOR is set or the output is not a terminal)"},
      {"help", 'h', "", "show help for the command"},
  };
  return options;
}

double number_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<double>() : 0.0;
}

std::string error_text(const json::value& body) {
  if (!body.is_object()) return {};
  auto* e = body.as_object().if_contains("error");
  if (!e || !e->is_object()) return {};
  return string_field(e->as_object(), "message");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Running a command (shared with accounts.cpp through command.hpp)

bool is_terminal_state(std::string_view state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string string_field(const json::object& o, std::string_view key, std::string fallback) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : fallback;
}

std::int64_t int_field(const json::object& o, std::string_view key, std::int64_t fallback) {
  auto* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return fallback;
}

std::optional<std::int64_t> time_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return parse_iso8601_ms(v->as_string());
}

const json::object& object_field(const json::value& v, std::string_view key) {
  static const json::object empty;
  if (!v.is_object()) return empty;
  auto* f = v.as_object().if_contains(key);
  return f && f->is_object() ? f->as_object() : empty;
}

json::value reply_json(const http_response& res, std::string_view method, std::string_view target,
                       std::initializer_list<unsigned> ok_statuses) {
  boost::system::error_code ec;
  auto parsed = json::parse(res.body, ec);
  if (std::find(ok_statuses.begin(), ok_statuses.end(), res.status) == ok_statuses.end()) {
    if (!ec && parsed.is_object()) {
      if (auto* e = parsed.as_object().if_contains("error"); e && e->is_object())
        throw api_error(res.status, string_field(e->as_object(), "code"), string_field(e->as_object(), "message"),
                        res.retry_after);
    }
    std::string excerpt = res.body.substr(0, 200);
    while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == '\r')) excerpt.pop_back();
    throw api_error(res.status, "http_" + std::to_string(res.status),
                    "the daemon answered " + std::string(method) + " " + std::string(target) + " with HTTP " +
                        std::to_string(res.status) + (excerpt.empty() ? "" : ": " + excerpt),
                    res.retry_after);
  }
  if (ec) throw api_error(res.status, "bad_reply", "the daemon's answer to " + std::string(target) + " is not JSON");
  return parsed;
}

json::value call(context& ctx, std::string_view method, const std::string& target, std::string_view body,
                 std::initializer_list<unsigned> ok_statuses, const header_list& headers) {
  return reply_json(ctx.client.request(method, target, body, headers), method, target, ok_statuses);
}

void print_json(context& ctx, const json::value& v) {
  ctx.out << (ctx.term.stdout_tty ? pretty_json(v) : compact_json(v)) << '\n';
}

void print_fields(context& ctx, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t key_width = 0;
  for (const auto& [k, _] : rows) key_width = std::max(key_width, k.size() + 1);
  for (const auto& [k, v] : rows) {
    std::string key = k + ":";
    key.append(key_width - key.size(), ' ');
    ctx.out << key << "  " << v << '\n';
  }
}

int parse_positive(const std::string& flag, const std::string& text, int max) {
  int n = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), n);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || n < 1 || n > max)
    throw usage_error("--" + flag + " takes a number from 1 to " + std::to_string(max) + " (got '" + text + "')");
  return n;
}

std::string workers_endpoint(context& ctx) {
  try {
    auto health = call(ctx, "GET", "/healthz", {}, {200});
    if (health.is_object()) {
      auto endpoint = string_field(health.as_object(), "workers_endpoint");
      if (!endpoint.empty()) return endpoint;
    }
  } catch (const std::exception&) {
  }
  return default_workers_endpoint;
}

namespace {

std::int64_t parse_job_id(const std::string& text) {
  std::int64_t id = 0;
  std::string_view t = text;
  if (!t.empty() && t.front() == '#') t.remove_prefix(1);
  auto r = std::from_chars(t.data(), t.data() + t.size(), id);
  if (r.ec != std::errc() || r.ptr != t.data() + t.size() || id <= 0)
    throw usage_error("'" + text + "' is not a job ID; job IDs are positive integers, like 12 (list them: potluck jobs)");
  return id;
}

// ---------------------------------------------------------------------------------------------
// Showing jobs

std::string job_duration(const json::object& job, std::int64_t now) {
  const auto started = time_field(job, "started_at");
  if (!started) return "-";
  const auto finished = time_field(job, "finished_at");
  if (finished) return format_duration(*finished - *started);
  return is_terminal_state(string_field(job, "state")) ? "-" : format_duration(now - *started);
}

}  // namespace

std::string failure_line(const json::object& job) {
  const auto id = std::to_string(int_field(job, "id"));
  const auto state = string_field(job, "state");
  std::string line = state == "cancelled" ? "job " + id + " was cancelled" : "job " + id + " " + state;
  if (auto* e = job.if_contains("error"); e && e->is_object()) {
    const auto code = string_field(e->as_object(), "code");
    const auto message = string_field(e->as_object(), "message");
    if (!code.empty() && code != "cancelled") line += ": " + code;
    if (!message.empty()) line += ": " + message;
  }
  return line;
}

void print_outputs(context& ctx, const json::object& job, const std::string& indent) {
  auto* result = job.if_contains("result");
  if (!result || !result->is_object()) return;
  auto* outputs = result->as_object().if_contains("outputs");
  if (!outputs || !outputs->is_object()) return;
  if (outputs->as_object().empty()) {
    ctx.out << indent << "(no outputs)\n";
    return;
  }
  print_limits limits;
  limits.width = std::max<std::size_t>(40, ctx.term.stdout_tty ? ctx.term.columns : 100);
  for (const auto& [name, value] : outputs->as_object()) {
    decoded_tensor t;
    std::string error;
    if (!decode_tensor(value, t, error)) {
      ctx.out << indent << paint(name, tone::bold, ctx.color_out) << "  (" << error << ")\n";
      continue;
    }
    ctx.out << indent << paint(name, tone::bold, ctx.color_out) << "  "
            << paint(tensor_signature(t.dtype, t.shape), tone::dim, ctx.color_out) << '\n';
    ctx.out << render_tensor(t, limits, indent + "  ");
  }
}

namespace {

void print_job_detail(context& ctx, const json::object& job) {
  const auto now = now_ms();
  const auto state = string_field(job, "state");
  ctx.out << paint("Job " + std::to_string(int_field(job, "id")), tone::bold, ctx.color_out) << "  "
          << string_field(job, "task") << "  " << paint(state, state_tone(state), ctx.color_out) << '\n';
  std::vector<std::pair<std::string, std::string>> rows;
  const auto backend = string_field(job, "backend");
  rows.emplace_back("Backend", backend.empty() ? "any" : backend);
  if (auto model = string_field(job, "model"); !model.empty()) rows.emplace_back("Model", model);
  const auto worker = string_field(job, "worker");
  std::string attempt = "attempt " + std::to_string(int_field(job, "attempt")) + " of " +
                        std::to_string(int_field(job, "max_attempts"));
  rows.emplace_back("Worker", worker.empty() ? "- (" + attempt + ")" : worker + " (" + attempt + ")");
  if (auto created = time_field(job, "created_at"))
    rows.emplace_back("Created", format_utc(*created) + " (" + format_age(now - *created) + ")");
  if (auto* t = job.if_contains("timings_ms"); t && t->is_object()) {
    const auto& timings = t->as_object();
    if (auto* q = timings.if_contains("queued"); q && q->is_number())
      rows.emplace_back("Queued", format_duration(int_field(timings, "queued")));
    if (auto* r = timings.if_contains("run"); r && r->is_number())
      rows.emplace_back("Ran", format_duration(int_field(timings, "run")));
    else if (state == "running")
      rows.emplace_back("Running", job_duration(job, now));
  }
  if (auto billing = billing_text(job); !billing.empty())
    rows.emplace_back("Billing", billing);
  if (auto paid = payments_text(job); !paid.empty()) rows.emplace_back("Paid", paid);
  if (state == "running" || state == "queued") {
    const auto progress = number_field(job, "progress");
    std::string p = std::to_string(static_cast<int>(progress * 100)) + "%";
    if (auto message = string_field(job, "message"); !message.empty()) p += "  " + message;
    rows.emplace_back("Progress", p);
  }
  if (auto* p = job.if_contains("params"); p && p->is_object() && !p->as_object().empty())
    rows.emplace_back("Params", json::serialize(*p));
  if (auto* in = job.if_contains("inputs"); in && in->is_array()) {
    std::string text;
    for (const auto& i : in->as_array()) {
      if (!i.is_object()) continue;
      std::vector<std::int64_t> shape;
      if (auto* s = i.as_object().if_contains("shape"); s && s->is_array())
        for (const auto& d : s->as_array())
          if (d.is_int64()) shape.push_back(d.as_int64());
      text += (text.empty() ? "" : ", ") + string_field(i.as_object(), "name") + " " +
              tensor_signature(string_field(i.as_object(), "dtype"), shape);
    }
    if (!text.empty()) rows.emplace_back("Inputs", text);
  }
  if (auto* e = job.if_contains("error"); e && e->is_object()) {
    const auto code = string_field(e->as_object(), "code");
    rows.emplace_back("Error", (code.empty() ? "" : code + ": ") + string_field(e->as_object(), "message"));
  }
  std::size_t key_width = 0;
  for (const auto& [k, _] : rows) key_width = std::max(key_width, k.size() + 1);
  for (const auto& [k, v] : rows) {
    std::string key = k + ":";
    key.append(key_width - key.size(), ' ');
    const bool is_error = k == "Error";
    ctx.out << key << "  " << (is_error ? paint(v, tone::red, ctx.color_out) : v) << '\n';
  }
  if (state == "succeeded") {
    ctx.out << "\n" << paint("Outputs:", tone::bold, ctx.color_out) << '\n';
    print_outputs(ctx, job, "  ");
  }
}

// Thrown by a tick of the event stream at follow_options::deadline: it ends the stream.
struct deadline_passed {};

}  // namespace

// Follows a job's event stream until it ends; draws the progress line on a terminal (unless
// options.progress is false).
follow_outcome follow_job(context& ctx, std::int64_t id, const std::string& task, const follow_options& options) {
  const bool draw = options.progress && ctx.term.stderr_tty && ctx.term.ansi && !ctx.quiet;
  const bool lines = options.progress && !draw && !ctx.quiet;
  const bool say_lost = !draw && !ctx.quiet;
  bool timed_out = false;
  const auto past_deadline = [&] { return options.deadline && std::chrono::steady_clock::now() >= *options.deadline; };
  const auto started = std::chrono::steady_clock::now();
  progress_view view;
  view.job_id = id;
  view.task = task;
  view.state = "queued";
  std::string printed_state;
  bool drawn = false;
  auto last_draw = started - std::chrono::seconds(1);
  std::optional<json::object> final_job;
  bool terminal_seen = false;

  const std::size_t width = ctx.term.columns > 1 ? ctx.term.columns - 1 : 79;
  auto redraw = [&] {
    view.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    ctx.err << "\r\x1b[2K" << progress_line(view, width, ctx.term.unicode, ctx.color_err) << std::flush;
    drawn = true;
    last_draw = std::chrono::steady_clock::now();
  };
  auto clear = [&] {
    if (drawn) ctx.err << "\r\x1b[2K" << std::flush;
    drawn = false;
  };
  int events_seen = 0;
  auto on_event = [&](const sse_parser::event& e) {
    ++events_seen;
    boost::system::error_code ec;
    auto v = json::parse(e.data, ec);
    if (ec || !v.is_object()) return true;
    const auto& o = v.as_object();
    const auto state = string_field(o, "state", view.state);
    const bool state_changed = state != view.state;
    if (state_changed) view.progress = 0;
    view.state = state;
    if (o.contains("progress")) view.progress = number_field(o, "progress");
    if (auto* m = o.if_contains("message"); m && m->is_string()) view.message = std::string(m->as_string());
    if (auto w = string_field(o, "worker"); !w.empty()) view.worker = w;
    if (view.task.empty()) view.task = string_field(o, "task");
    if (lines && state != printed_state && !is_terminal_state(state)) {
      ctx.err << "job " << id << " " << state << (state == "running" && !view.worker.empty() ? " on " + view.worker : "")
              << '\n' << std::flush;
      printed_state = state;
    }
    if (is_terminal_state(state)) {
      terminal_seen = true;
      if (o.contains("result")) final_job = o;
      return false;
    }
    if (options.on_update) options.on_update(o);
    if (past_deadline()) {
      timed_out = true;
      return false;
    }
    // Plugins may report progress far more often than a terminal can show it.
    if (draw && (state_changed || std::chrono::steady_clock::now() - last_draw >= redraw_interval / 2)) redraw();
    return true;
  };
  // The stream's ticks also end it at the deadline, when only keepalives come.
  std::function<void()> on_tick;
  if (draw || options.deadline) on_tick = [&] {
    if (past_deadline()) throw deadline_passed{};
    if (!draw) return;
    ++view.frame;
    redraw();
  };
  if (draw) redraw();

  // When the stream breaks before the job ends (the daemon restarts, a proxy cuts it), ask for
  // the job and follow again; a daemon that stays away longer than reconnect_window ends the wait.
  const auto target = "/api/v1/jobs/" + std::to_string(id) + "/events";
  bool losing = false;  // the daemon went away; since lost_since
  std::chrono::steady_clock::time_point lost_since{};
  auto backoff = reconnect_backoff_first;
  int early_closes = 0;
  while (!terminal_seen) {
    if (timed_out || past_deadline()) {
      clear();
      return {follow_end::timed_out, std::nullopt};
    }
    http_response refused;
    stream_end end = stream_end::server_closed;
    bool lost = false;
    const int events_before = events_seen;
    try {
      end = ctx.client.follow_events(target, on_event, on_tick, redraw_interval, event_idle_timeout, refused);
    } catch (const deadline_passed&) {
      timed_out = true;
      continue;
    } catch (const unreachable_error&) {
      if (!losing && events_seen == 0) {
        clear();
        throw;  // never reached: the usual message, not a reconnection
      }
      lost = true;
    }
    if (!lost) {
      if (end == stream_end::interrupted) {
        clear();
        if (options.stop_message)
          ctx.err << "Stopped waiting; job " << id << " goes on.\n"
                  << "Follow it: potluck job " << id << " --wait    Cancel it: potluck cancel " << id << '\n';
        return {follow_end::interrupted, std::nullopt};
      }
      if (refused.status) {
        clear();
        boost::system::error_code ec;
        auto body = json::parse(refused.body, ec);
        std::string code, message = ec ? refused.body : error_text(body);
        if (!ec && body.is_object())
          if (auto* e = body.as_object().if_contains("error"); e && e->is_object()) code = string_field(e->as_object(), "code");
        throw api_error(refused.status, code, message.empty() ? "HTTP " + std::to_string(refused.status) : message);
      }
      if (terminal_seen) break;
      if (timed_out) continue;
      early_closes = events_seen > events_before ? 0 : early_closes + 1;
      if (early_closes > max_stream_reconnects) {
        clear();
        throw unreachable_error(ctx.client.url().text, "the event stream of job " + std::to_string(id) + " keeps closing");
      }
      try {
        auto job = call(ctx, "GET", "/api/v1/jobs/" + std::to_string(id), {}, {200});
        if (job.is_object() && is_terminal_state(string_field(job.as_object(), "state"))) {
          final_job = job.as_object();
          break;
        }
      } catch (const unreachable_error&) {
        lost = true;
      }
    }
    if (!lost) {
      losing = false;
      backoff = reconnect_backoff_first;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!losing) {
      losing = true;
      lost_since = now;
      if (say_lost) ctx.err << "job " << id << ": lost the daemon, reconnecting\n" << std::flush;
    }
    if (now - lost_since > reconnect_window) {
      clear();
      throw unreachable_error(ctx.client.url().text, "it went away while job " + std::to_string(id) +
                                                         " was followed and did not come back within " +
                                                         format_duration(reconnect_window.count()));
    }
    view.state = "reconnecting";
    if (draw) redraw();
    // A pause between attempts, growing; Ctrl-C here ends the program as usual.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, reconnect_backoff_last);
  }
  clear();
  if (!final_job) {
    auto job = call(ctx, "GET", "/api/v1/jobs/" + std::to_string(id), {}, {200});
    if (!job.is_object()) throw api_error(200, "bad_reply", "the daemon's answer about job " + std::to_string(id) + " is not an object");
    final_job = job.as_object();
  }
  return {follow_end::finished, std::move(final_job)};
}

namespace {

// Shows a finished job the way `submit --wait` and `job --wait` do; returns the exit status.
int report_finished(context& ctx, const json::object& job) {
  const auto state = string_field(job, "state");
  const auto id = int_field(job, "id");
  if (ctx.json) print_json(ctx, job);
  if (state == "succeeded") {
    if (!ctx.json) {
      if (!ctx.quiet) {
        std::string line = (ctx.term.unicode ? "✓ " : "") + std::string("job ") + std::to_string(id) + " " +
                           string_field(job, "task") + " succeeded";
        if (auto* t = job.if_contains("timings_ms"); t && t->is_object())
          if (auto* r = t->as_object().if_contains("run"); r && r->is_number())
            line += " in " + format_duration(int_field(t->as_object(), "run"));
        if (auto w = string_field(job, "worker"); !w.empty()) line += " on " + w;
        ctx.err << paint(line, tone::green, ctx.color_err) << '\n';
        if (auto billing = billing_text(job); !billing.empty()) ctx.err << "  " << billing << '\n';
        if (auto paid = payments_text(job); !paid.empty()) ctx.err << "  paid " << paid << '\n';
      }
      print_outputs(ctx, job, "");
    }
    return exit_ok;
  }
  ctx.err << paint(ctx.term.unicode ? "✗ " : "", tone::red, ctx.color_err)
          << paint(failure_line(job), tone::red, ctx.color_err) << '\n';
  // What the failed job cost, or that its reserve came back; -q keeps stderr to the failure.
  if (!ctx.quiet)
    if (auto billing = billing_text(job); !billing.empty()) ctx.err << "  " << billing << '\n';
  return exit_job_failed;
}

// ---------------------------------------------------------------------------------------------
// The commands

// The job that submit and quote describe with the same flags.
submit_request job_request(const parsed_command& p) {
  submit_request request;
  request.task = p.args.at(0);
  request.inputs = p.all("input");
  request.params = p.all("param");
  request.params_json = p.value("params");
  request.backend = p.value("backend");
  if (p.has("bid")) request.bid = p.value("bid");
  if (p.has("max-price")) request.max_price = p.value("max-price");
  if (p.has("replicas")) request.replicas = parse_positive("replicas", p.value("replicas"), max_replicas);
  return request;
}

// --bill-to ORG: the X-Potluck-Bill-To header, after a check that it is a name and nothing that
// could end the header.
header_list bill_to_header(context& ctx, const parsed_command& p) {
  if (!p.has("bill-to")) return {};
  const auto org = p.value("bill-to");
  if (org.empty()) throw usage_error("--bill-to needs an organisation's name, like --bill-to acme");
  if (std::any_of(org.begin(), org.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; }))
    throw usage_error("--bill-to '" + org + "' is not an organisation's name; names are lowercase letters, digits "
                      "and hyphens, like acme or team-7");
  ctx.org = org;
  return {{"X-Potluck-Bill-To", org}};
}

int cmd_submit(context& ctx, const parsed_command& p) {
  auto request = job_request(p);
  ctx.task = request.task;
  ctx.quote_hint = "See what the job would cost first: potluck quote " + request.task + ", with the same flags.";
  if (p.has("max-attempts")) request.max_attempts = parse_positive("max-attempts", p.value("max-attempts"), 10);
  const auto headers = bill_to_header(ctx, p);
  const auto body = json::serialize(build_job(request));
  auto reply = call(ctx, "POST", "/api/v1/jobs", body, {200, 201, 202}, headers);
  if (!reply.is_object() || !reply.as_object().contains("id"))
    throw api_error(202, "bad_reply", "the daemon accepted the job but its answer holds no job id");
  const auto id = int_field(reply.as_object(), "id");
  if (!p.has("wait")) {
    if (ctx.json) print_json(ctx, reply);
    else if (ctx.quiet) ctx.out << id << '\n';
    else {
      ctx.out << "Submitted job " << id << " (" << request.task << ")"
              << (ctx.org.empty() ? "" : ", billed to " + ctx.org) << ".\n";
      ctx.err << paint("Follow it: potluck job " + std::to_string(id) + " --wait", tone::dim, ctx.color_err) << '\n';
    }
    return exit_ok;
  }
  auto followed = follow_job(ctx, id, request.task);
  if (!followed.job) return exit_interrupted;
  return report_finished(ctx, *followed.job);
}

int cmd_quote(context& ctx, const parsed_command& p) {
  const auto request = job_request(p);
  ctx.task = request.task;
  auto v = call(ctx, "POST", "/api/v1/jobs/quote", json::serialize(build_job(request)), {200});
  if (!v.is_object() || !v.as_object().contains("units"))
    throw api_error(200, "bad_reply", "the daemon's quote holds no \"units\"");
  const auto& quote = v.as_object();
  const bool covered = quote_covered(quote);
  if (ctx.json) {
    print_json(ctx, v);
  } else if (ctx.quiet) {
    // Plain credits, no separators, for scripts; nothing when no worker takes the job.
    if (auto* cost = quote.if_contains("cost"); covered && cost && cost->is_number())
      ctx.out << protocol::credits_string(int_field(quote, "cost")) << '\n';
  } else {
    const auto source = request.bid ? bid_source::bid : request.max_price ? bid_source::max_price : bid_source::lowest_ask;
    ctx.out << render_quote(quote, source, ctx.color_out);
    if (auto hint = quote_hint(quote); !hint.empty()) ctx.err << paint(hint, tone::dim, ctx.color_err) << '\n';
  }
  return covered ? exit_ok : exit_not_covered;
}

int cmd_job(context& ctx, const parsed_command& p) {
  const auto id = parse_job_id(p.args.at(0));
  auto v = call(ctx, "GET", "/api/v1/jobs/" + std::to_string(id), {}, {200});
  if (!v.is_object()) throw api_error(200, "bad_reply", "the daemon's answer is not a job");
  auto job = std::move(v.as_object());
  if (p.has("wait")) {
    if (!is_terminal_state(string_field(job, "state"))) {
      auto done = follow_job(ctx, id, string_field(job, "task"));
      if (!done.job) return exit_interrupted;
      job = std::move(*done.job);
    }
    if (!ctx.json && !ctx.quiet) {
      print_job_detail(ctx, job);
      return is_terminal_state(string_field(job, "state")) && string_field(job, "state") != "succeeded"
                 ? exit_job_failed
                 : exit_ok;
    }
    return report_finished(ctx, job);
  }
  if (ctx.json) print_json(ctx, job);
  else if (ctx.quiet) ctx.out << string_field(job, "state") << '\n';
  else print_job_detail(ctx, job);
  return exit_ok;
}

int cmd_jobs(context& ctx, const parsed_command& p) {
  std::string target = "/api/v1/jobs?limit=";
  const int limit = p.has("limit") ? parse_positive("limit", p.value("limit"), max_jobs_limit) : default_jobs_limit;
  target += std::to_string(limit);
  const auto state = p.value("state");
  if (!state.empty()) {
    static const std::set<std::string> states = {"queued", "running", "succeeded", "failed", "cancelled"};
    if (!states.count(state))
      throw usage_error("--state must be one of queued, running, succeeded, failed, cancelled (got '" + state + "')");
    target += "&state=" + state;
  }
  // The filters, as the hint about more jobs repeats them.
  std::string filters = state.empty() ? "" : " --state " + state;
  const auto paid_to = p.value("paid-to");
  if (p.has("paid-to") && paid_to.empty()) throw usage_error("--paid-to needs an account's name, like --paid-to dora");
  if (p.has("mine")) {
    // The daemon filters by name; the token in use tells whose.
    auto me = call(ctx, "GET", "/api/v1/account", {}, {200});
    const auto name = string_field(object_field(me, "account"), "name");
    if (name.empty()) throw api_error(200, "bad_reply", "the daemon's answer about your account holds no name");
    target += "&account=" + encode_query_value(name);
    filters += " --mine";
  }
  if (!paid_to.empty()) {
    target += "&paid_to=" + encode_query_value(paid_to);
    filters += " --paid-to " + paid_to;
    ctx.not_found_hint = "Is the account name right? Names are lowercase, like dora; see the donors: potluck donors";
  }
  auto v = call(ctx, "GET", target, {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto* jobs = v.is_object() ? v.as_object().if_contains("jobs") : nullptr;
  if (!jobs || !jobs->is_array()) throw api_error(200, "bad_reply", "the daemon's job list holds no \"jobs\"");
  if (ctx.quiet) {
    for (const auto& j : jobs->as_array())
      if (j.is_object()) ctx.out << int_field(j.as_object(), "id") << '\n';
    return exit_ok;
  }
  if (jobs->as_array().empty()) {
    if (p.has("mine") || !paid_to.empty()) {
      std::string whose = p.has("mine") ? " you submitted" : "";
      if (!paid_to.empty()) whose += (whose.empty() ? " " : " and ") + paid_to + "'s workers ran";
      ctx.out << "No " << (state.empty() ? "" : state + " ") << "jobs" << whose << ". All jobs: potluck jobs\n";
    } else if (state.empty()) {
      ctx.out << "No jobs yet. Submit one:\n"
              << "  potluck submit linalg.matmul --input a='[[1,2],[3,4]]' --input b='[[5,6],[7,8]]' --wait\n"
              << "See which tasks the connected workers offer: potluck tasks\n";
    } else {
      ctx.out << "No " << state << " jobs. All jobs: potluck jobs\n";
    }
    return exit_ok;
  }
  const auto now = now_ms();
  text_table table({"ID", "TASK", "STATE", "WORKER", "AGE", "DURATION"});
  table.set_align(0, align::right);
  table.set_align(5, align::right);
  for (const auto& j : jobs->as_array()) {
    if (!j.is_object()) continue;
    const auto& job = j.as_object();
    const auto job_state = string_field(job, "state");
    const auto created = time_field(job, "created_at");
    const auto worker = string_field(job, "worker");
    table.add_row({{std::to_string(int_field(job, "id"))},
                   {string_field(job, "task")},
                   {job_state, state_tone(job_state)},
                   {worker.empty() ? "-" : worker},
                   {created ? format_age(now - *created) : "-"},
                   {job_duration(job, now)}});
  }
  ctx.out << table.render(ctx.color_out);
  if (auto* next = v.as_object().if_contains("next_cursor"); next && !next->is_null()) {
    ctx.err << paint("Showing the " + std::to_string(limit) + " newest" + (state.empty() ? "" : " " + state) +
                         " jobs. More: potluck jobs --limit " + std::to_string(std::min(limit * 5, max_jobs_limit)) +
                         filters,
                     tone::dim, ctx.color_err)
            << '\n';
  }
  return exit_ok;
}

int cmd_cancel(context& ctx, const parsed_command& p) {
  std::vector<std::int64_t> ids;
  for (const auto& a : p.args) ids.push_back(parse_job_id(a));
  int status = exit_ok;
  for (auto id : ids) {
    try {
      auto v = call(ctx, "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "", {200, 202});
      if (ctx.json) print_json(ctx, v);
      else if (ctx.quiet) ctx.out << id << '\n';
      else ctx.out << "Cancelled job " << id << ".\n";
    } catch (const api_error& e) {
      if (ids.size() == 1) throw;
      ctx.err << paint("error:", tone::red, ctx.color_err) << " " << e.what() << '\n';
      status = exit_api_error;
    }
  }
  return status;
}

std::string describe_cpu(const json::object& devices) {
  auto* cpu = devices.if_contains("cpu");
  if (!cpu || !cpu->is_object()) return "-";
  const auto cores = int_field(cpu->as_object(), "cores");
  const auto memory = int_field(cpu->as_object(), "memory_bytes");
  std::string out = std::to_string(cores) + (cores == 1 ? " core" : " cores");
  if (memory > 0) out += ", " + format_bytes(static_cast<std::uint64_t>(memory));
  return out;
}

std::string describe_gpus(const json::object& devices) {
  auto* gpus = devices.if_contains("gpus");
  if (!gpus || !gpus->is_array() || gpus->as_array().empty()) return "-";
  std::map<std::string, int> by_name;
  for (const auto& g : gpus->as_array())
    if (g.is_object()) ++by_name[string_field(g.as_object(), "name", "GPU")];
  std::string out;
  for (const auto& [name, count] : by_name) out += (out.empty() ? "" : ", ") + (count > 1 ? std::to_string(count) + "× " : "") + name;
  return out;
}

int cmd_workers(context& ctx, const parsed_command&) {
  auto v = call(ctx, "GET", "/api/v1/workers", {}, {200});
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
    ctx.out << "No worker connected. Start one: potluck-worker --daemon " << workers_endpoint(ctx) << '\n';
    return exit_ok;
  }
  const auto now = now_ms();
  text_table table({"NAME", "CPU", "GPUs", "PLUGINS", "PRICE", "FREE JOBS", "BUSY", "JOBS DONE", "LAST SEEN"});
  table.set_align(6, align::right);
  table.set_align(7, align::right);
  std::vector<std::string> warnings;
  bool priced = false;
  for (const auto& w : workers->as_array()) {
    if (!w.is_object()) continue;
    const auto& worker = w.as_object();
    json::object devices;
    if (auto* d = worker.if_contains("devices"); d && d->is_object()) devices = d->as_object();
    std::string plugins;
    if (auto* ps = worker.if_contains("plugins"); ps && ps->is_array())
      for (const auto& pl : ps->as_array())
        if (pl.is_object()) plugins += (plugins.empty() ? "" : ", ") + string_field(pl.as_object(), "name");
    const auto busy = int_field(worker, "slots_busy"), total = int_field(worker, "slots_total");
    const auto seen = time_field(worker, "last_seen_at");
    const auto name = string_field(worker, "name");
    const auto* accepts = worker.if_contains("accepts_free");
    const bool accepts_free = accepts && accepts->is_bool() && accepts->as_bool();
    priced = priced || worker_has_price(worker);
    table.add_row({{name},
                   {describe_cpu(devices)},
                   {describe_gpus(devices)},
                   {plugins.empty() ? "-" : plugins},
                   {worker_prices_text(worker)},
                   {worker.contains("accepts_free") ? (accepts_free ? "yes" : "no") : "-"},
                   {std::to_string(busy) + "/" + std::to_string(total), busy >= total && total > 0 ? tone::yellow : tone::none},
                   {with_thousands(int_field(worker, "jobs_done"))},
                   {seen ? format_age(now - *seen) : "-"}});
    if (auto* errors = worker.if_contains("load_errors"); errors && errors->is_array())
      for (const auto& e : errors->as_array())
        if (e.is_string()) warnings.push_back(name + ": " + std::string(e.as_string()));
  }
  ctx.out << table.render(ctx.color_out);
  if (priced)
    ctx.err << paint("Prices are credits per million work units. What a job would cost: potluck quote TASK --input ...",
                     tone::dim, ctx.color_err)
            << '\n';
  for (const auto& w : warnings) ctx.err << paint("warning:", tone::yellow, ctx.color_err) << " " << w << '\n';
  return exit_ok;
}

std::string describe_tensors(const json::value* list) {
  std::string out;
  if (!list || !list->is_array()) return "-";
  for (const auto& t : list->as_array()) {
    if (!t.is_object()) continue;
    out += (out.empty() ? "" : ", ") + string_field(t.as_object(), "name") + ": " + string_field(t.as_object(), "spec");
  }
  return out.empty() ? "-" : out;
}

int show_task(context& ctx, const json::object& task) {
  const auto name = string_field(task, "name");
  ctx.out << paint(name, tone::bold, ctx.color_out);
  if (auto d = string_field(task, "description"); !d.empty()) ctx.out << " - " << d;
  ctx.out << '\n';
  auto section = [&](const char* title, const json::value* list) {
    ctx.out << '\n' << paint(title, tone::bold, ctx.color_out) << '\n';
    if (!list || !list->is_array() || list->as_array().empty()) {
      ctx.out << "  (none)\n";
      return;
    }
    text_table t({"NAME", "TENSOR", "DESCRIPTION"});
    for (const auto& item : list->as_array()) {
      if (!item.is_object()) continue;
      const auto& o = item.as_object();
      t.add_row({{string_field(o, "name")}, {string_field(o, "spec")}, {string_field(o, "description")}});
    }
    std::string rendered = t.render(ctx.color_out);
    // Indent the table under its title.
    std::size_t pos = 0;
    while (pos < rendered.size()) {
      ctx.out << "  ";
      auto nl = rendered.find('\n', pos);
      ctx.out << rendered.substr(pos, nl - pos + 1);
      pos = nl + 1;
    }
  };
  section("Inputs:", task.if_contains("inputs"));
  section("Outputs:", task.if_contains("outputs"));
  ctx.out << '\n' << paint("Params:", tone::bold, ctx.color_out) << '\n';
  if (auto* schema = task.if_contains("params_schema"); schema && schema->is_object()) {
    if (auto* props = schema->as_object().if_contains("properties"); props && props->is_object() && !props->as_object().empty()) {
      for (const auto& [key, spec] : props->as_object()) {
        ctx.out << "  " << std::string(key);
        if (spec.is_object()) {
          if (auto type = string_field(spec.as_object(), "type"); !type.empty()) ctx.out << " (" << type << ")";
          if (auto d = string_field(spec.as_object(), "description"); !d.empty()) ctx.out << "  " << d;
        }
        ctx.out << '\n';
      }
    } else {
      ctx.out << "  " << json::serialize(*schema) << '\n';
    }
  } else {
    ctx.out << "  (none)\n";
  }
  ctx.out << '\n' << paint("Backends:", tone::bold, ctx.color_out) << '\n';
  if (auto* backends = task.if_contains("backends"); backends && backends->is_array()) {
    for (const auto& b : backends->as_array()) {
      if (!b.is_object()) continue;
      const auto& o = b.as_object();
      const auto workers = int_field(o, "workers");
      ctx.out << "  " << string_field(o, "backend") << "  plugin " << string_field(o, "plugin") << " "
              << string_field(o, "plugin_version") << ", " << workers << (workers == 1 ? " worker" : " workers") << ", "
              << int_field(o, "slots") << " slots\n";
    }
  }
  std::string example = "potluck submit " + name;
  if (auto* inputs = task.if_contains("inputs"); inputs && inputs->is_array())
    for (const auto& i : inputs->as_array())
      if (i.is_object()) {
        const auto n = string_field(i.as_object(), "name");
        example += " --input " + n + "=@" + n + ".json";
      }
  ctx.out << '\n' << paint("Example:", tone::bold, ctx.color_out) << "\n  " << example << " --wait\n";
  return exit_ok;
}

int cmd_tasks(context& ctx, const parsed_command& p) {
  auto v = call(ctx, "GET", "/api/v1/tasks", {}, {200});
  const auto* tasks = v.is_object() ? v.as_object().if_contains("tasks") : nullptr;
  if (!tasks || !tasks->is_array()) throw api_error(200, "bad_reply", "the daemon's task list holds no \"tasks\"");
  if (!p.args.empty()) {
    const auto& wanted = p.args[0];
    for (const auto& t : tasks->as_array()) {
      if (!t.is_object() || string_field(t.as_object(), "name") != wanted) continue;
      if (ctx.json) {
        print_json(ctx, t);
        return exit_ok;
      }
      return show_task(ctx, t.as_object());
    }
    std::string names;
    for (const auto& t : tasks->as_array())
      if (t.is_object()) names += (names.empty() ? "" : ", ") + string_field(t.as_object(), "name");
    throw api_error(404, "unknown_task", "no connected worker offers task '" + wanted + "'" +
                                             (names.empty() ? " (no worker is connected)" : " (offered: " + names + ")"));
  }
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  if (ctx.quiet) {
    for (const auto& t : tasks->as_array())
      if (t.is_object()) ctx.out << string_field(t.as_object(), "name") << '\n';
    return exit_ok;
  }
  if (tasks->as_array().empty()) {
    ctx.out << "No tasks on offer: no worker with plugins is connected.\n"
            << "Start one: potluck-worker --daemon " << workers_endpoint(ctx) << " --plugins DIR\n";
    return exit_ok;
  }
  text_table table({"TASK", "INPUTS", "OUTPUTS", "BACKENDS", "WORKERS"});
  table.set_align(4, align::right);
  for (const auto& t : tasks->as_array()) {
    if (!t.is_object()) continue;
    const auto& task = t.as_object();
    std::string backends;
    if (auto* bs = task.if_contains("backends"); bs && bs->is_array())
      for (const auto& b : bs->as_array())
        if (b.is_object()) backends += (backends.empty() ? "" : ", ") + string_field(b.as_object(), "backend");
    table.add_row({{string_field(task, "name")},
                   {describe_tensors(task.if_contains("inputs"))},
                   {describe_tensors(task.if_contains("outputs"))},
                   {backends.empty() ? "-" : backends},
                   {std::to_string(int_field(task, "workers"))}});
  }
  ctx.out << table.render(ctx.color_out);
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// Command table, parsing and help

// The flags that describe a job, which submit and quote share, then `more`.
std::vector<option_spec> job_options(std::vector<option_spec> more) {
  std::vector<option_spec> options = {
      {"input", 'i', "NAME=VALUE", "an input tensor: inline JSON, @FILE or a path (repeat for each input)", true},
      {"param", 'p', "KEY=VALUE", "a parameter: a JSON value, or else a string (repeatable)", true},
      {"params", 0, "JSON", "all parameters as one JSON object; --param entries override its keys"},
      {"backend", 0, "cpu|cuda", "run only on this backend (default: any)"},
      {"bid", 0, "CREDITS", "the most to pay per million work units, like 0.5; 0 asks for a free job"},
      {"max-price", 0, "CREDITS", "the most to pay for the whole job, like 2 (instead of --bid)"},
      {"replicas", 0, "N", "run it on N donors' workers (1-5) whose results must agree; each is paid"},
  };
  options.insert(options.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  return options;
}

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> list = {
      {"submit", "Submit a job; with --wait, follow it and print its result",
       "potluck submit TASK [--input NAME=VALUE]... [--param KEY=VALUE]... [--bid CREDITS | --max-price CREDITS] [flags]",
       "Submits a job for TASK with named input tensors and parameters. Without --wait it prints the\n"
       "job's ID and returns at once; with --wait it shows the job's progress and prints the output\n"
       "tensors, and exits 1 with the plugin's message when the job fails.\n\n"
       "An input VALUE is JSON: a (nested) array of numbers is an f32 tensor, an object is a tensor\n"
       "as the HTTP API takes it ({\"dtype\":\"i64\",\"shape\":[2],\"data\":[1,2]}). @FILE or a file's\n"
       "path reads that JSON from a file.\n\n"
       "What the job may cost: --bid is a price in credits per million work units (a task counts\n"
       "its work units from its inputs' sizes), --max-price a total for the job. The job reserves\n"
       "that much of your balance until it ends, pays the ask of the worker that runs it, and gets\n"
       "the rest back. Without either it bids the lowest ask of a connected worker. A bid of 0 is a\n"
       "free job, which waits for a worker that takes free jobs. See what a job would cost first:\n"
       "potluck quote, with the same flags.\n\n"
       "--replicas N runs the job on the workers of N different donors. Their results must agree:\n"
       "the majority's result stands and each donor in it is paid; without a majority the job fails\n"
       "(replicas_disagree) and its reserve comes back. A bid reserves N times the job's cost;\n"
       "--max-price is the total for all N.\n\n"
       "--bill-to ORG has an organisation you belong to pay for the job, which it then owns (see\n"
       "potluck org).",
       job_options({{"max-attempts", 0, "N", "how often the job may be tried when workers vanish (1-10)"},
                    {"bill-to", 0, "ORG", "an organisation you belong to pays for the job"},
                    {"wait", 'w', "", "follow the job until it ends, then print its result and what it cost"}}),
       1, 1, "needs a TASK, like: potluck submit linalg.matmul --input a='[[1,2],[3,4]]' --input b='[[5,6],[7,8]]'\n"
             "See the tasks on offer: potluck tasks",
       {"potluck submit linalg.matmul --input a='[[1,2],[3,4]]' --input b='[[5,6],[7,8]]' --wait",
        "potluck submit linalg.matmul --input a=@a.json --input b=@b.json --wait --json > result.json",
        "potluck submit linalg.matmul --input a=@a.json --input b=@b.json --bid 0.5 --wait",
        "potluck submit linalg.matmul --input a=@a.json --input b=@b.json --max-price 2",
        "potluck submit linalg.matmul --input a=@a.json --input b=@b.json --bid 3 --replicas 2 --wait",
        "potluck submit linalg.matmul --input a=@a.json --input b=@b.json --bid 3 --bill-to acme",
        "potluck submit test.sleep --param ms=5000 --wait",
        "id=$(potluck submit -q test.sleep --param ms=60000)"},
       cmd_submit},
      {"quote", "Show what a job would cost and how long it would wait, without submitting it",
       "potluck quote TASK [--input NAME=VALUE]... [--param KEY=VALUE]... [--bid CREDITS | --max-price CREDITS] [flags]",
       "Asks the daemon what a job would cost, without submitting it (no token needed): its work\n"
       "units, its bid and what it would reserve, the cheapest connected worker that takes that bid\n"
       "and the job's cost there, the expected wait and the jobs queued ahead, and every worker's\n"
       "offer. It takes the inputs and flags of potluck submit. Prices are credits per million work\n"
       "units; without --bid or --max-price the job bids the lowest ask of a connected worker.\n"
       "With --replicas N it reserves N times as much (the cost it shows, and -q prints, is one\n"
       "replica's) and says when fewer than N donors' workers take the bid now: the rest would wait.\n\n"
       "With -q it prints only the cost in credits. It exits 1 when no connected worker takes the\n"
       "job at its bid now.",
       job_options({}),
       1, 1, "needs a TASK, like: potluck quote linalg.matmul --input a='[[1,2],[3,4]]' --input b='[[5,6],[7,8]]'\n"
             "See the tasks on offer: potluck tasks",
       {"potluck quote linalg.matmul --input a='[[1,2],[3,4]]' --input b='[[5,6],[7,8]]'",
        "potluck quote linalg.matmul --input a=@a.json --input b=@b.json --bid 0.5",
        "potluck quote linalg.matmul --input a=@a.json --input b=@b.json --max-price 2 --json",
        "potluck quote linalg.matmul --input a=@a.json --input b=@b.json --bid 3 --replicas 3",
        "cost=$(potluck quote -q linalg.matmul --input a=@a.json --input b=@b.json) && echo \"it costs $cost credits\""},
       cmd_quote},
      {"jobs", "List recent jobs, newest first", "potluck jobs [--state STATE] [--mine] [--paid-to ACCOUNT] [--limit N] [flags]",
       "Lists the newest jobs with their state, worker, age and run time. --mine keeps the jobs\n"
       "you submitted (the account of the token in use), --paid-to the jobs an account's workers\n"
       "ran; the filters combine.",
       {{"state", 's', "STATE", "only jobs in this state: queued, running, succeeded, failed or cancelled"},
        {"mine", 0, "", "only the jobs you submitted (needs a token)"},
        {"paid-to", 0, "ACCOUNT", "only the jobs ACCOUNT's workers ran, like --paid-to dora"},
        {"limit", 'n', "N", "how many jobs to list (default 20, at most 1000)"}},
       0, 0, "takes no arguments; to show one job: potluck job ID",
       {"potluck jobs", "potluck jobs --state failed --limit 100", "potluck jobs --mine --state running",
        "potluck jobs --paid-to dora", "potluck jobs -q --mine --state running | xargs potluck cancel"},
       cmd_jobs},
      {"job", "Show one job: state, timings, cost, result or error", "potluck job ID [--wait] [flags]",
       "Shows a job's state, worker, timings, billing (what it reserved, or once it ended what it\n"
       "was charged and got back, and who was paid what: each donor, the fee, the refund),\n"
       "parameters and inputs, and its output tensors or its error.\n"
       "With --wait, follows a job that has not finished yet and exits 1 if it fails.",
       {{"wait", 'w', "", "follow the job until it ends"}},
       1, 1, "takes a job ID, like: potluck job 12 (list jobs: potluck jobs)",
       {"potluck job 12", "potluck job 12 --wait", "potluck job 12 --json | jq .result.outputs",
        "potluck job 12 --json | jq .billing.charged", "potluck job 12 --json | jq .billing.payments"},
       cmd_job},
      {"cancel", "Cancel queued or running jobs", "potluck cancel ID... [flags]",
       "Cancels jobs. A queued job is dropped; a running job's worker is told to stop it.",
       {}, 1, 1000, "takes job IDs, like: potluck cancel 12 (running jobs: potluck jobs --state running)",
       {"potluck cancel 12", "potluck cancel 12 13 14"},
       cmd_cancel},
      {"workers", "List connected workers", "potluck workers [flags]",
       "Lists the workers connected to the daemon: their devices, plugins, prices, busy slots and\n"
       "jobs done. A price is what a worker asks, in credits per million work units, for each\n"
       "backend it has slots for (\"free\" when it asks nothing); FREE JOBS says whether it runs\n"
       "jobs that bid 0.",
       {}, 0, 0, "takes no arguments",
       {"potluck workers", "potluck workers --json"},
       cmd_workers},
      {"tasks", "List the tasks connected workers offer, or show one", "potluck tasks [TASK] [flags]",
       "Lists the tasks the connected workers offer, with their inputs, outputs and backends. With a\n"
       "TASK, shows its inputs, outputs, parameters and an example command.",
       {}, 0, 1, "takes at most one TASK, like: potluck tasks linalg.matmul",
       {"potluck tasks", "potluck tasks linalg.matmul"},
       cmd_tasks},

      {"account", "Show your account: name, balance, organisations and the token in use", "potluck account [show] [flags]",
       "Shows the account the API token belongs to: its name, kind and balance, the organisations it\n"
       "belongs to (with your role and their balance), and the token in use (its name and scopes,\n"
       "and where it came from: --token, POTLUCK_TOKEN or the config file).",
       {}, 0, 0, "takes no arguments; to create an account: potluck account create NAME",
       {"potluck account", "potluck account --json | jq .account.balance"},
       cmd_account_show, command_group::accounts},
      {"account create", "Create an account and its first API token", "potluck account create NAME [--login] [flags]",
       "Creates an account on the daemon (no token needed) and its first API token, named \"default\",\n"
       "with the scopes read, submit, publish and donate. The token's secret is printed once and\n"
       "cannot be shown again: keep it. With --login it is also saved in the config file\n"
       "($XDG_CONFIG_HOME/potluck/config.json, mode 0600), as potluck login would.\n\n"
       "Names are 1 to 39 lowercase letters, digits and single hyphens, like alice or team-7.",
       {{"login", 0, "", "save the daemon's URL and the new token in the config file"}},
       1, 1, "needs a NAME, like: potluck account create alice",
       {"potluck account create alice --login", "potluck --url http://potluck.lan:8080 account create alice --login",
        "token=$(potluck account create -q ci-bot)"},
       cmd_account_create, command_group::accounts},
      {"account show", "Show your account: name, balance, organisations and the token in use", "potluck account show [flags]",
       "Shows the account the API token belongs to: its name, kind and balance, the organisations it\n"
       "belongs to (with your role and their balance), and the token in use (its name and scopes,\n"
       "and where it came from: --token, POTLUCK_TOKEN or the config file).",
       {}, 0, 0, "takes no arguments",
       {"potluck account show", "potluck account show -q"},
       cmd_account_show, command_group::alias},
      {"account transfer", "Move credits from your account to another account or an organisation",
       "potluck account transfer ACCOUNT CREDITS [--memo TEXT] [flags]",
       "Moves CREDITS from your account to ACCOUNT, a user or an organisation: this is how members\n"
       "fund an organisation's wallet. CREDITS is a number of credits with up to 6 decimals, like\n"
       "2.5 or 1000. Both ledgers show the transfer (potluck ledger). Needs a token with the submit\n"
       "scope.",
       {{"memo", 'm', "TEXT", "a note kept with the ledger entry"}},
       2, 2, "takes an ACCOUNT and an amount of CREDITS, like: potluck account transfer acme 2.5",
       {"potluck account transfer acme 50 --memo 'GPU jobs in May'", "potluck account transfer bob 0.5",
        "potluck account transfer acme 10 -q"},
       cmd_account_transfer, command_group::accounts, dash_numbers::are_args},
      {"org create", "Create an organisation, with you as its owner", "potluck org create NAME [flags]",
       "Creates an organisation: an account that its members share. Members may bill jobs to it\n"
       "(potluck submit --bill-to NAME); you are its first owner, and owners add members. It starts\n"
       "with no credits: fund it with potluck account transfer NAME CREDITS.\n\n"
       "Names are 1 to 39 lowercase letters, digits and single hyphens, like acme or team-7, and\n"
       "share one namespace with users.",
       {}, 1, 1, "needs a NAME, like: potluck org create acme",
       {"potluck org create acme", "potluck org create team-7 -q"},
       cmd_org_create, command_group::accounts},
      {"org show", "Show an organisation: its balance and members", "potluck org show NAME [flags]",
       "Shows an organisation you belong to: its balance, when it was made, and its members with\n"
       "their roles (an owner may add members). With -q it prints only the balance in credits.",
       {}, 1, 1, "needs an organisation's NAME, like: potluck org show acme (yours: potluck account)",
       {"potluck org show acme", "potluck org show acme -q", "potluck org show acme --json | jq '.org.members'"},
       cmd_org_show, command_group::accounts},
      {"org add", "Add a member to an organisation (owners)", "potluck org add NAME ACCOUNT [--owner] [flags]",
       "Adds the user ACCOUNT to the organisation NAME as a member, who may then bill jobs to it and\n"
       "see it; with --owner, as an owner, who may add members too. For someone already a member it\n"
       "sets the role. Only an owner of NAME may do this.",
       {{"owner", 0, "", "make ACCOUNT an owner, not a plain member"}},
       2, 2, "takes an organisation's NAME and the ACCOUNT to add, like: potluck org add acme bob",
       {"potluck org add acme bob", "potluck org add acme carol --owner"},
       cmd_org_add, command_group::accounts},
      {"login", "Save an API token in the config file after checking it", "potluck login [--token TOKEN] [flags]",
       "Checks an API token with the daemon, then saves it and the daemon's URL in the config file\n"
       "($XDG_CONFIG_HOME/potluck/config.json, else ~/.config/potluck/config.json; mode 0600), where\n"
       "later commands find it. The token comes from --token, else from stdin when that is not a\n"
       "terminal, else from a prompt that does not echo. --token and POTLUCK_TOKEN win over a saved\n"
       "token, and a saved token is sent only to the URL saved with it.",
       {}, 0, 0, "takes no arguments; give the token with --token, on stdin, or at the prompt",
       {"potluck login", "potluck --url http://potluck.lan:8080 login", "potluck login < token.txt",
        "pass show potluck | potluck login"},
       cmd_login, command_group::accounts, dash_numbers::are_flags, saved_token::ignore},
      {"logout", "Remove the saved API token from the config file", "potluck logout [flags]",
       "Removes the API token from the config file; the daemon's URL stays. The token itself still\n"
       "works until it is revoked (potluck tokens revoke ID).",
       {}, 0, 0, "takes no arguments",
       {"potluck logout"},
       cmd_logout, command_group::accounts, dash_numbers::are_flags, saved_token::ignore},
      {"tokens", "List your account's API tokens", "potluck tokens [flags]",
       "Lists the API tokens of your account: ID, name, scopes, the prefix to recognise them by, when\n"
       "they were made and last used, and whether they are live or revoked. Secrets are never shown\n"
       "again after they were made.",
       {}, 0, 0, "takes no arguments; to make a token: potluck tokens create NAME, to revoke one: potluck tokens revoke ID",
       {"potluck tokens", "potluck tokens --json"},
       cmd_tokens, command_group::accounts},
      {"tokens create", "Make a new API token and print its secret once", "potluck tokens create NAME [--scope SCOPE]... [flags]",
       "Makes an API token for your account and prints its secret once: keep it. Scopes say what it\n"
       "may do: read, submit (jobs), publish (models), donate (run a worker), admin. Without --scope\n"
       "it gets the scopes of the token in use, except admin. A token can only give a new one scopes\n"
       "it has itself.",
       {{"scope", 's', "SCOPE", "read, submit, publish, donate or admin (repeatable, or comma-separated)", true}},
       1, 1, "needs a NAME for the token, like: potluck tokens create laptop --scope read --scope submit",
       {"potluck tokens create laptop --scope read --scope submit", "potluck tokens create ci --scope read,submit -q"},
       cmd_tokens_create, command_group::accounts},
      {"tokens revoke", "Revoke an API token", "potluck tokens revoke ID [flags]",
       "Revokes one of your account's API tokens: the daemon refuses it from then on.",
       {}, 1, 1, "takes a token ID, like: potluck tokens revoke 3 (list them: potluck tokens)",
       {"potluck tokens revoke 3"},
       cmd_tokens_revoke, command_group::accounts},
      {"ledger", "List your account's credit movements, newest first", "potluck ledger [--limit N] [flags]",
       "Lists the movements of credits into (+) and out of (-) your account, newest first: grants,\n"
       "reservations and charges for jobs, payouts for running them, refunds and transfers.",
       {{"limit", 'n', "N", "how many entries to list (default 20, at most 500)"},
        {"cursor", 0, "CURSOR", "start after this point: the cursor a longer list ends with"}},
       0, 0, "takes no arguments",
       {"potluck ledger", "potluck ledger --limit 100", "potluck ledger --json | jq '.entries[].amount'"},
       cmd_ledger, command_group::accounts},
      {"models push", "Publish a folder as a new revision of a model on the hub",
       "potluck models push DIR OWNER/NAME [--message TEXT] [flags]",
       "Publishes the files in DIR as a new revision of the model OWNER/NAME: its card (README.md),\n"
       "its config and tokenizer files, and its weights. Each file is hashed (sha256) and uploaded as\n"
       "it is read, so that a large file never has to fit in memory, and the daemon checks that it\n"
       "arrived whole; then one commit names them all, so a revision is made whole or not at all.\n"
       "OWNER is your account or an organisation you belong to; the first push makes the model, and\n"
       "each later one follows the latest revision (a push made meanwhile by someone else is\n"
       "refused, not overwritten). A folder that holds what the latest revision holds is not pushed.\n\n"
       "README.md starts with front matter that names the task and the weights' format:\n\n"
       "  ---\n"
       "  task: text-classification\n"
       "  format: torchscript\n"
       "  license: mit\n"
       "  labels: [negative, positive]\n"
       "  ---\n"
       "  # word-lang\n\n"
       "Tasks: text-classification, text-generation, image-classification, tensor. Formats:\n"
       "torchscript, safetensors, onnx; pickled weights are refused, since they run code when they\n"
       "are loaded. The hub keeps .md, .json, .txt, .model, .pt, .ts, .torchscript, .safetensors and\n"
       ".onnx files. Files and folders whose names start with '.' are left out, and links may not\n"
       "lead out of DIR. Needs a token with the publish scope (an account's first token has it).\n"
       "With -q it prints only the new revision's ID.",
       {{"message", 'm', "TEXT", "what changed, kept with the revision (default: \"Push N files\")"}},
       2, 2, "takes a folder DIR and the model's OWNER/NAME, like: potluck models push ./word-lang alice/word-lang",
       {"potluck models push ./word-lang alice/word-lang",
        "potluck models push ./word-lang alice/word-lang --message 'trained on more data'",
        "potluck models push ./detector acme/detector --json | jq .siblings",
        "rev=$(potluck models push -q ./word-lang alice/word-lang)"},
       cmd_models_push, command_group::models},
      {"models ls", "List the models on the hub", "potluck models ls [--search TEXT] [--task TASK] [--sort recent|downloads] [--limit N] [flags]",
       "Lists the models on the hub: their task, the format of their weights, how often they were\n"
       "downloaded and when they last changed, the latest changed first (--sort downloads: the\n"
       "most downloaded first). --search finds TEXT in names, owners, tags and labels. No token\n"
       "needed.",
       {{"search", 's', "TEXT", "only models whose name, owner, tags or labels hold TEXT"},
        {"task", 't', "TASK", "only models for TASK, like text-classification or tensor"},
        {"sort", 0, "recent|downloads", "the latest changed first (default), or the most downloaded first"},
        {"limit", 'n', "N", "how many models to list (default 20, at most 100)"}},
       0, 0, "takes no arguments; to show one model: potluck models show OWNER/NAME",
       {"potluck models ls", "potluck models ls --task text-classification --sort downloads",
        "potluck models ls --search lang -q", "potluck models ls --json | jq '.[].id'"},
       cmd_models_ls, command_group::models},
      {"models show", "Show a model: its card, files and revisions", "potluck models show OWNER/NAME [--revision REV] [flags]",
       "Shows a model: its task, format, license, labels and tags, its downloads, the files of its\n"
       "latest revision (or of --revision) with their sizes and sha256 (the first 12 digits), and\n"
       "its revisions, newest first. REV is a revision's ID, or its first few digits as this lists\n"
       "them. With -q it prints only the revision's ID; --json prints the daemon's answer with the\n"
       "revisions added under \"revisions\". No token needed.",
       {{"revision", 'r', "REV", "a revision's ID or its first digits (default: the latest)"}},
       1, 1, "needs a model's OWNER/NAME, like: potluck models show alice/word-lang (all: potluck models ls)",
       {"potluck models show alice/word-lang", "potluck models show alice/word-lang --revision 3f9c0d2b",
        "potluck models show alice/word-lang --json | jq '.siblings[].rfilename'"},
       cmd_models_show, command_group::models},
      {"models pull", "Download a model's files into a folder, checking each one's sha256",
       "potluck models pull OWNER/NAME [DIR] [--revision REV] [flags]",
       "Downloads the files of a model's latest revision (or of --revision) into DIR, by default a\n"
       "folder named after the model. Each file is written as it arrives and checked against the\n"
       "sha256 the hub lists: a file that does not match is an error and is not kept. Files that\n"
       "are in DIR already with the right content are not downloaded again, and a pull that was\n"
       "interrupted goes on where it stopped. Other files in DIR are left alone. With -q it prints\n"
       "only the revision's ID; --json prints the daemon's description of the revision pulled. No\n"
       "token needed.",
       {{"revision", 'r', "REV", "a revision's ID or its first digits (default: the latest)"}},
       1, 2, "needs a model's OWNER/NAME and optionally a folder, like: potluck models pull alice/word-lang ./word-lang",
       {"potluck models pull alice/word-lang", "potluck models pull alice/word-lang ./models/word-lang --revision 3f9c0d2b",
        "potluck models pull alice/word-lang -q"},
       cmd_models_pull, command_group::models},
      {"models rm", "Remove a model and all its revisions from the hub", "potluck models rm OWNER/NAME [--yes] [flags]",
       "Removes the model OWNER/NAME with all its revisions, for good; files no other model holds\n"
       "leave the daemon's disk. Only OWNER (for an organisation: its members) may do this, with a\n"
       "token that has the publish scope. It asks you to type OWNER/NAME to confirm; --yes skips\n"
       "that, and is needed when stdin is not a terminal. With -q it prints only the model's name.",
       {{"yes", 'y', "", "remove it without asking"}},
       1, 1, "needs a model's OWNER/NAME, like: potluck models rm alice/word-lang (yours: potluck models ls --search NAME)",
       {"potluck models rm alice/word-lang", "potluck models rm alice/word-lang --yes",
        "potluck models rm acme/old-detector --yes --json"},
       cmd_models_rm, command_group::models},
      {"run", "Run a model of the hub on your inputs and print its answer",
       "potluck run OWNER/NAME[@REV] [--input NAME=VALUE]... [--param KEY=VALUE]... [--bid CREDITS | --max-price CREDITS] [flags]",
       "Runs a model of the hub as a job on a worker that can load it, waits for it, and prints its\n"
       "answer. MODEL is OWNER/NAME (its latest revision) or OWNER/NAME@REV (a revision's ID, or its\n"
       "first digits as potluck models show lists them). What it takes depends on the model's task\n"
       "(potluck models show names it):\n\n"
       "  text-classification   --input text=TEXT; repeat it to classify several texts at once, or\n"
       "                        text=@FILE for one text per line. Prints each label's score, best\n"
       "                        first (the top 5; --json for all), a block per text.\n"
       "  text-generation       --input prompt=TEXT (or text=TEXT, or prompt=@FILE), with --param\n"
       "                        max_new_tokens=N, temperature=T, top_k=K, seed=S. Prints the new\n"
       "                        text as the model writes it, without the prompt.\n"
       "  image-classification  --input image=VALUE, a u8 tensor [height, width, channels] (a bare\n"
       "                        array of numbers is taken as its bytes)\n"
       "  tensor                --input input=VALUE\n\n"
       "A tensor VALUE is JSON or @FILE, as potluck submit takes it. While no worker can run the job,\n"
       "the reason it waits is shown on stderr. --bid, --max-price and --backend are those of potluck\n"
       "submit. --json prints the answer as the Hugging Face Inference API gives it (a tensor model's\n"
       "output tensors); -q prints only the best label of each text, or the generated text. Exits 1\n"
       "with the job's error when it fails; Ctrl-C, or a --timeout that passes, cancels the job.",
       {{"input", 'i', "NAME=VALUE", "an input: text for text models (@FILE reads it), a tensor for others (repeatable)", true},
        {"param", 'p', "KEY=VALUE", "a parameter, like max_new_tokens=40 (repeatable)", true},
        {"backend", 0, "cpu|cuda", "run only on this backend (default: any)"},
        {"bid", 0, "CREDITS", "the most to pay per million work units, like 0.5; 0 asks for a free job"},
        {"max-price", 0, "CREDITS", "the most to pay for the whole job, like 2 (instead of --bid)"},
        {"timeout", 't', "DURATION", "cancel the job when it has not ended by then: 30s, 10m, 1h (default: wait)"}},
       1, 1, "needs a MODEL, like: potluck run alice/word-lang --input text=bonjour (the models: potluck models ls)",
       {"potluck run alice/word-lang --input text=bonjour",
        "potluck run alice/word-lang --input text='good morning' --input text='guten Morgen'",
        "potluck run alice/word-lang --input text=@sentences.txt --json > scores.json",
        "potluck run alice/tiny-story --input prompt='Once upon a time' --param max_new_tokens=40 --param seed=7",
        "potluck run acme/digits@3f9c0d2b --input image=@digit.json --bid 0.5",
        "lang=$(potluck run -q alice/word-lang --input text=bonjour)"},
       cmd_run, command_group::models},
      {"donate workers", "List your workers: state, settings, prices, busy slots", "potluck donate workers [flags]",
       "Lists the workers that donate for your account (potluck-worker --token with a token of\n"
       "yours) and the names you saved settings for: whether each takes jobs now or why not (paused,\n"
       "outside its hours, not connected), what it asks in credits per million work units, its busy\n"
       "slots and jobs done, and its settings: the most slots it lends (\"all\" or a number), its\n"
       "hours in its own local time, and whether it takes free jobs (\"its flag\" when its own\n"
       "--free-jobs decides).\n\n"
       "The group is called donate, not worker, because it is your side as a donor: potluck workers\n"
       "lists every worker connected to the daemon, whoever runs it.",
       {}, 0, 0, "takes no arguments",
       {"potluck donate workers", "potluck donate workers --json", "potluck donate workers -q"},
       cmd_donate_workers, command_group::donate},
      {"donate pause", "Stop a worker of yours taking new jobs", "potluck donate pause NAME [flags]",
       "Pauses your worker(s) named NAME: the daemon sends them no new jobs; the jobs they are\n"
       "running finish. It holds across reconnections until potluck donate resume. Needs a token\n"
       "with the donate scope.",
       {}, 1, 1, "needs a worker's NAME, like: potluck donate pause dora-box (yours: potluck donate workers)",
       {"potluck donate pause dora-box", "potluck donate pause dora-box -q"},
       cmd_donate_pause, command_group::donate},
      {"donate resume", "Let a paused worker of yours take jobs again", "potluck donate resume NAME [flags]",
       "Resumes your worker(s) named NAME after potluck donate pause: they take jobs again, within\n"
       "their hours. Needs a token with the donate scope.",
       {}, 1, 1, "needs a worker's NAME, like: potluck donate resume dora-box (yours: potluck donate workers)",
       {"potluck donate resume dora-box"},
       cmd_donate_resume, command_group::donate},
      {"donate set", "Cap a worker's slots, limit its hours, choose free jobs",
       "potluck donate set NAME [--max-slots N] [--hours FROM-TO|all] [--free-jobs yes|no|worker] [flags]",
       "Changes the settings of your worker(s) named NAME; the settings not given keep their value.\n"
       "They apply at once and to workers of that name that connect later, so they may be set before\n"
       "the worker first connects. Needs a token with the donate scope.\n\n"
       "--hours FROM-TO is a window in whole hours of the worker's local time: 9-17 from 09:00 to\n"
       "17:00, 22-7 from 22:00 to 07:00 overnight; outside it the worker gets no new jobs.",
       {{"max-slots", 0, "N", "lend at most N slots (1 to 256); 0 or all: every slot"},
        {"hours", 0, "FROM-TO|all", "take jobs only from FROM to TO o'clock, its local time; all: all day"},
        {"free-jobs", 0, "yes|no|worker", "run free jobs (bid 0) or not; worker: as its own --free-jobs says"}},
       1, 1, "needs a worker's NAME, like: potluck donate set dora-box --hours 22-7 (yours: potluck donate workers)",
       {"potluck donate set dora-box --hours 22-7", "potluck donate set dora-box --max-slots 2 --free-jobs no",
        "potluck donate set dora-box --hours all --max-slots all --free-jobs worker"},
       cmd_donate_set, command_group::donate},
      {"donate earnings", "Show what your workers earned, per day, and their latest jobs",
       "potluck donate earnings [--days N] [flags]",
       "Shows what the jobs your workers ran earned your account (what they were charged, less the\n"
       "operator's fee) over the last N days, UTC: the totals, each day that had jobs with a bar,\n"
       "and the latest jobs your workers ran. With -q it prints only the credits earned.",
       {{"days", 'd', "N", "how many days back, today included (default 30, at most 366)"}},
       0, 0, "takes no arguments",
       {"potluck donate earnings", "potluck donate earnings --days 7", "potluck donate earnings -q --days 1",
        "potluck donate earnings --json | jq .total"},
       cmd_donate_earnings, command_group::donate},
      {"donors", "The donors whose workers did the most lately", "potluck donors [--days N] [--limit M] [flags]",
       "Lists the donors whose workers ran jobs in the last N days (UTC), ranked by the credits\n"
       "they earned, then by work units, so that free work counts too. No token needed.",
       {{"days", 'd', "N", "how many days back, today included (default 30, at most 366)"},
        {"limit", 'n', "M", "how many donors to list (default 20, at most 100)"}},
       0, 0, "takes no arguments",
       {"potluck donors", "potluck donors --days 7 --limit 10", "potluck donors -q --limit 3"},
       cmd_donors, command_group::donate},

      {"admin audit", "Check that the credit books balance (admin token)", "potluck admin audit [flags]",
       "Recomputes every balance from the ledger and compares. Exits 0 when the books balance, 1 with\n"
       "the list of problems when they do not. Needs a token with the admin scope: the operator's,\n"
       "which potluckd writes to admin-token in its data folder on its first start.",
       {}, 0, 0, "takes no arguments",
       {"potluck admin audit", "POTLUCK_TOKEN=$(cat DATA_DIR/admin-token) potluck admin audit --json"},
       cmd_admin_audit, command_group::admin},
      {"admin grant", "Grant credits to an account (admin token)", "potluck admin grant ACCOUNT CREDITS [--memo TEXT] [flags]",
       "Grants CREDITS to ACCOUNT out of the mint. CREDITS is a number of credits with up to 6\n"
       "decimals, like 2.5 or 1000. Needs a token with the admin scope.",
       {{"memo", 'm', "TEXT", "a note kept with the ledger entry"}},
       2, 2, "takes an ACCOUNT and an amount of CREDITS, like: potluck admin grant alice 2.5",
       {"potluck admin grant alice 100 --memo 'welcome'", "potluck admin grant team-7 0.5 -q"},
       cmd_admin_grant, command_group::admin, dash_numbers::are_args},
      {"admin settings", "Show the daemon's market settings (admin token)", "potluck admin settings [flags]",
       "Shows how the operator set up the market, with potluckd's flags: sign-up, the starter grant,\n"
       "the free tier, the fee, whether workers without a donor token are accepted, the rate limit\n"
       "per token and how often a job is tried. Needs a token with the admin scope. With -q it prints\n"
       "KEY=VALUE lines in the daemon's units (micro-credits, millionths).",
       {}, 0, 0, "takes no arguments",
       {"potluck admin settings", "potluck admin settings -q | grep fee_ppm"},
       cmd_admin_settings, command_group::admin},
  };
  return list;
}

const command_spec* find_command(std::string_view name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const auto up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& c : candidates) {
    const auto d = edit_distance(word, c);
    if (d < best_distance || (c.starts_with(word) && word.size() >= 2 && best_distance > 1)) {
      best = c;
      best_distance = c.starts_with(word) ? 1 : d;
    }
  }
  return best;
}

void write_options(std::ostream& os, const std::vector<option_spec>& options) {
  std::vector<std::pair<std::string, std::string>> rows;
  std::size_t width = 0;
  for (const auto& o : options) {
    std::string left = o.short_name ? std::string("-") + o.short_name + ", " : "    ";
    left += "--" + o.name;
    if (!o.value_name.empty()) left += " " + o.value_name;
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), o.help);
  }
  for (const auto& [left, help] : rows) os << "  " << left << std::string(width - left.size() + 3, ' ') << help << '\n';
}

// The commands of a group ("admin" for "admin audit", "admin grant"); empty when `word` names none.
std::vector<const command_spec*> group_commands(std::string_view word) {
  std::vector<const command_spec*> out;
  for (const auto& c : commands())
    if (c.name.size() > word.size() && c.name.starts_with(word) && c.name[word.size()] == ' ') out.push_back(&c);
  return out;
}

void write_command_help(std::ostream& os, const command_spec& c) {
  os << c.description << "\n\nUsage:\n  " << c.usage << '\n';
  if (!c.options.empty()) {
    os << "\nFlags:\n";
    write_options(os, c.options);
  }
  os << "\nGlobal flags:\n";
  write_options(os, global_options());
  os << "\nExamples:\n";
  for (const auto& e : c.examples) os << "  " << e << '\n';
  if (const auto more = group_commands(c.name); !more.empty()) {
    os << "\nMore commands:\n";
    for (const auto* m : more)
      if (m->group != command_group::alias) os << "  potluck " << m->name << "   " << m->summary << '\n';
  }
}

// A few lines above a group's commands, for the groups that need them.
std::string_view group_description(std::string_view word) {
  if (word == "org")
    return "An organisation is an account its members share: they fund it with potluck account transfer\n"
           "and bill jobs to it with potluck submit --bill-to NAME. Its owners add members.\n\n";
  if (word == "models")
    return "The model hub: models published as folders of files (a card, a config, weights), each push\n"
           "an immutable revision. Anyone may list, show and pull them; pushing and removing take a\n"
           "token with the publish scope. Run one on your inputs: potluck run OWNER/NAME --input ...\n\n";
  if (word == "donate")
    return "Your side as a donor: the workers that run with a token of yours (potluck-worker --token or\n"
           "--token-file), their settings, and what they earned. It is called donate, not worker,\n"
           "because potluck workers lists every worker on the daemon, whoever runs it; and changing\n"
           "settings takes a token with the donate scope, as running a worker does.\n\n";
  return {};
}

void write_group_help(std::ostream& os, std::string_view word) {
  os << group_description(word) << "Commands:\n";
  std::size_t width = 0;
  const auto list = group_commands(word);
  for (const auto* c : list) width = std::max(width, c->name.size());
  for (const auto* c : list) os << "  potluck " << c->name << std::string(width - c->name.size() + 3, ' ') << c->summary << '\n';
  os << "\nRun 'potluck help " << word << " COMMAND' for a command's flags and examples.\n";
}

void write_overview(std::ostream& os) {
  os << "potluck - submit jobs to a Potluck daemon, follow them and read their results.\n\n"
        "Usage:\n  potluck COMMAND [ARGS] [flags]\n";
  std::size_t width = 4;  // "help"
  for (const auto& c : commands()) width = std::max(width, c.name.size());
  width += 2;
  const std::pair<command_group, const char*> sections[] = {
      {command_group::jobs, "Commands"},
      {command_group::accounts, "Accounts, organisations and tokens"},
      {command_group::models, "Models (the hub)"},
      {command_group::donate, "Donating compute (your workers, what they earned)"},
      {command_group::admin, "Operators (need a token with the admin scope)"}};
  for (const auto& [group, title] : sections) {
    os << '\n' << title << ":\n";
    for (const auto& c : commands())
      if (c.group == group) os << "  " << c.name << std::string(width - c.name.size(), ' ') << c.summary << '\n';
  }
  os << "\n  help" << std::string(width - 4, ' ') << "Show help for a command\n\nGlobal flags:\n";
  auto options = global_options();
  options.push_back({"version", 0, "", "print the version"});
  write_options(os, options);
  os << "\nEnvironment:\n"
        "  POTLUCK_URL       the daemon's URL (default: the config file's, else http://127.0.0.1:8080)\n"
        "  POTLUCK_TOKEN     the API token to send (default: the config file's)\n"
        "  XDG_CONFIG_HOME   the config file is $XDG_CONFIG_HOME/potluck/config.json\n"
        "                    (default ~/.config/potluck/config.json); potluck login writes it\n"
        "  NO_COLOR          any value turns colours off\n"
        "\nExit status:\n"
        "  0 success, 1 the job failed or was cancelled (or no worker takes a quoted job, or admin\n"
        "  audit found problems), 2 a usage mistake, an unusable config file or a local file or\n"
        "  folder that cannot be used, 3 the daemon cannot be reached, 4 the daemon refused the\n"
        "  request (its message is shown)\n"
        "\nExamples:\n"
        "  potluck tasks\n"
        "  potluck submit linalg.matmul --input a='[[1,2],[3,4]]' --input b='[[5,6],[7,8]]' --wait\n"
        "  potluck quote linalg.matmul --input a=@a.json --input b=@b.json --bid 0.5\n"
        "  potluck jobs --state failed\n"
        "  potluck account create alice --login\n"
        "  potluck org create acme && potluck account transfer acme 10\n"
        "  potluck models push ./word-lang alice/word-lang\n"
        "  potluck run alice/word-lang --input text=bonjour\n"
        "  potluck donate earnings --days 7\n"
        "\nRun 'potluck help COMMAND' or 'potluck COMMAND --help' for a command's flags and examples.\n";
}

const option_spec* find_option(const command_spec* c, std::string_view name, char short_name) {
  auto match = [&](const option_spec& o) { return short_name ? o.short_name == short_name : o.name == name; };
  for (const auto& o : global_options())
    if (match(o)) return &o;
  if (c)
    for (const auto& o : c->options)
      if (match(o)) return &o;
  return nullptr;
}

// The command is the first word that is neither a flag nor a global flag's value.
std::size_t command_position(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") return i + 1 < args.size() ? i + 1 : args.size();
    if (a.size() > 1 && a[0] == '-') {
      for (const auto& o : global_options())
        if (!o.value_name.empty() && a == "--" + o.name) ++i;
      continue;
    }
    return i;
  }
  return args.size();
}

// The command named by args[at] and, for a group's command, args[at + 1]; `words` says how many.
const command_spec* find_command_at(const std::vector<std::string>& args, std::size_t at, std::size_t& words) {
  words = 1;
  if (at >= args.size()) return nullptr;
  if (at + 1 < args.size())
    if (auto* c = find_command(args[at] + " " + args[at + 1])) {
      words = 2;
      return c;
    }
  return find_command(args[at]);
}

bool looks_like_a_negative_number(std::string_view a) {
  return a.size() > 1 && a[0] == '-' && ((a[1] >= '0' && a[1] <= '9') || a[1] == '.');
}

// Parses the flags and arguments around the command's words, args[command_at, command_at + words).
parsed_command parse(const std::vector<std::string>& args, const command_spec* command, std::size_t command_at,
                     std::size_t words) {
  parsed_command p;
  p.command = command;
  const auto is_command_word = [&](std::size_t i) { return i >= command_at && i < command_at + words; };
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (is_command_word(i)) continue;
    const auto& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-' ||
        (command && command->numbers == dash_numbers::are_args && looks_like_a_negative_number(a))) {
      p.args.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name;
    std::optional<std::string> inline_value;
    const option_spec* spec = nullptr;
    if (a[1] == '-') {
      name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      spec = find_option(command, name, 0);
      if (!spec && name == "version") {
        p.values["version"].push_back("");
        continue;
      }
    } else {
      spec = find_option(command, {}, a[1]);
      if (a.size() > 2) inline_value = a.substr(2);  // -n5, -ia=[1]
      name = spec ? spec->name : a.substr(1);
    }
    if (!spec) {
      std::vector<std::string> names;
      for (const auto& o : global_options()) names.push_back(o.name);
      if (command)
        for (const auto& o : command->options) names.push_back(o.name);
      const auto near = suggestion(name, names);
      // The name only: an unknown "--tokn=SECRET" must not print the secret.
      throw usage_error("unknown flag '" + (a[1] == '-' ? "--" + name : a) + "'" +
                        (near.empty() ? "" : "; did you mean --" + near + "?") +
                        (command ? "" : " (flags of a command go after it: potluck COMMAND --flag)"));
    }
    if (spec->value_name.empty()) {
      if (inline_value) throw usage_error("--" + spec->name + " takes no value (got '--" + spec->name + "=...')");
      p.values[spec->name].push_back("");
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size() || is_command_word(i + 1))
        throw usage_error("--" + spec->name + " needs a value: --" + spec->name + " " + spec->value_name);
      inline_value = args[++i];
    }
    auto& slot = p.values[spec->name];
    if (!slot.empty() && !spec->repeated)
      throw usage_error("--" + spec->name + " is given twice");
    slot.push_back(*inline_value);
  }
  return p;
}

void report_usage_error(std::ostream& err, bool color, const std::string& message, const std::string& help_command) {
  err << paint("error:", tone::red, color) << " " << message << '\n';
  err << "Run '" << help_command << "' for usage.\n";
}

void report_usage_error(std::ostream& err, bool color, const std::string& message, const command_spec* command) {
  report_usage_error(err, color, message,
                     command ? "potluck " + command->name + " --help" : std::string("potluck --help"));
}

std::string api_hint(const api_error& e, const context& ctx) {
  if (auto hint = model_hint(e, ctx); !hint.empty()) return hint;
  if (auto hint = org_hint(e, ctx); !hint.empty()) return hint;
  if (auto hint = account_hint(e, ctx); !hint.empty()) return hint;
  if (e.code == "unknown_task") return "See the tasks the connected workers offer: potluck tasks";
  if (e.code == "invalid_input" || e.code == "invalid_params" || e.code == "unknown_backend")
    return ctx.task.empty() ? "" : "See what the task takes: potluck tasks " + ctx.task;
  if (e.code == "job_not_found") return "List jobs: potluck jobs";
  // The daemon's messages about prices name its JSON fields; these name the flags.
  const auto then_quote = ctx.quote_hint.empty() ? "" : "\n" + ctx.quote_hint;
  if (e.code == "insufficient_funds") return "See your balance: potluck account." + then_quote;
  if (e.code == "free_tier_off")
    return "Offer a price: --bid CREDITS (per million work units) or --max-price CREDITS (for the job)." + then_quote;
  if (e.code == "invalid_price")
    return "--bid is credits per million work units, --max-price credits for the whole job." + then_quote;
  if (e.status == 404 && e.code != "unknown_task")
    return "Is " + ctx.client.url().text + " a Potluck daemon of this version? Check --url or POTLUCK_URL.";
  return {};
}

// Finds the daemon's URL and the token (flags, environment, config file) and makes the context.
// Throws usage_error or config_error.
void make_context(std::optional<context>& ctx, const parsed_command& p, const terminal& term, std::ostream& out,
                  std::ostream& err) {
  const auto path = config_path(term.xdg_config_home, term.home);
  credential_sources sources;
  if (p.has("url")) sources.flag_url = p.value("url");
  sources.env_url = term.url;
  if (p.has("token")) {
    sources.flag_token = p.value("token");
    if (sources.flag_token->empty()) throw usage_error("--token is empty");
  }
  sources.env_token = term.token;
  const bool token_used = p.command->token_use == saved_token::use;
  const bool url_known = sources.flag_url || sources.env_url;
  const bool token_known = sources.flag_token || sources.env_token;
  std::optional<config_file> config;
  if (path && (!url_known || (token_used && !token_known)))
    config = read_config(*path, token_used ? permission_check::enforce : permission_check::skip);
  if (config && !token_used) config->token.reset();
  if (config) sources.config = &*config;
  auto creds = resolve_credentials(sources, default_url);

  std::optional<base_url> url;
  try {
    url = parse_base_url(creds.url);
  } catch (const usage_error& e) {
    if (url_known || !config || !config->url) throw;
    throw config_error("the config file " + path->string() + " holds a bad url: " + e.what());
  }
  ctx.emplace(term, out, err, http_client(*url, request_timeout));
  if (!creds.token.empty() && token_used) {
    if (auto problem = token_problem(creds.token); !problem.empty()) {
      if (creds.source == token_source::config_file)
        throw config_error("the token in the config file " + path->string() + " cannot be sent: " + problem +
                           ".\nLog in again: potluck login");
      throw usage_error(std::string("the token from ") + to_string(creds.source) + " cannot be sent: " + problem +
                        " (a Potluck token is plk_ followed by 64 hex digits)");
    }
    ctx->client.set_bearer_token(creds.token);
  }
  ctx->creds = std::move(creds);
  ctx->config_path = path;
}

}  // namespace

int run(const std::vector<std::string>& args, const terminal& term, std::ostream& out, std::ostream& err) {
  const bool err_color_default = term.stderr_tty && term.ansi && !term.no_color;
  const auto at = command_position(args);
  std::size_t words = 1;
  const command_spec* command = nullptr;
  std::string command_name = at < args.size() ? args[at] : "";
  if (command_name == "help") {
    std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(at) + 1, args.end());
    if (rest.empty()) {
      write_overview(out);
      return exit_ok;
    }
    if (auto* c = find_command_at(rest, 0, words)) {
      write_command_help(out, *c);
      return exit_ok;
    }
    if (rest.size() == 1 && !group_commands(rest[0]).empty()) {
      write_group_help(out, rest[0]);
      return exit_ok;
    }
    report_usage_error(err, err_color_default, "unknown command '" + rest[0] + "'", nullptr);
    return exit_usage;
  }
  if (!command_name.empty()) {
    command = find_command_at(args, at, words);
    if (!command && !group_commands(command_name).empty()) {
      // A group's name without one of its commands: "potluck admin", "potluck admin frob".
      const auto group = group_commands(command_name);
      const bool has_next = at + 1 < args.size() && !args[at + 1].starts_with("-");
      if (!has_next && std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; })) {
        write_group_help(out, command_name);
        return exit_ok;
      }
      std::vector<std::string> names;
      for (const auto* c : group) names.push_back(c->name);
      std::string message;
      if (has_next) {
        const auto near = suggestion(command_name + " " + args[at + 1], names);
        message = "unknown command '" + command_name + " " + args[at + 1] + "'" +
                  (near.empty() ? "" : "; did you mean '" + near + "'?");
      } else {
        message = "potluck " + command_name + " needs a command:";
        for (std::size_t i = 0; i < names.size(); ++i) message += (i ? ", " : " ") + names[i].substr(command_name.size() + 1);
      }
      report_usage_error(err, err_color_default, message, "potluck help " + command_name);
      return exit_usage;
    }
    if (!command) {
      std::vector<std::string> names = {"help"};
      for (const auto& c : commands()) names.push_back(c.name);
      const auto near = suggestion(command_name, names);
      report_usage_error(err, err_color_default,
                         "unknown command '" + command_name + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?"),
                         nullptr);
      return exit_usage;
    }
  }

  parsed_command p;
  try {
    p = parse(args, command, at, words);
  } catch (const usage_error& e) {
    report_usage_error(err, err_color_default, e.what(), command);
    return exit_usage;
  }
  if (p.has("version")) {
    out << "potluck " << POTLUCK_VERSION << '\n';
    return exit_ok;
  }
  if (p.has("help") || !command) {
    if (command) write_command_help(out, *command);
    else write_overview(out);
    return exit_ok;
  }
  if (p.args.size() < command->min_args || p.args.size() > command->max_args) {
    std::string message = "potluck " + command->name + " " + command->args_hint;
    report_usage_error(err, err_color_default, message, command);
    return exit_usage;
  }

  const bool no_color = term.no_color || p.has("no-color") || !term.ansi;
  std::optional<context> ctx;
  try {
    make_context(ctx, p, term, out, err);
  } catch (const usage_error& e) {
    report_usage_error(err, err_color_default && !no_color, e.what(), command);
    return exit_usage;
  } catch (const config_error& e) {
    err << paint("error:", tone::red, err_color_default && !no_color) << " " << e.what() << '\n';
    return exit_usage;
  }
  ctx->json = p.has("json");
  ctx->quiet = p.has("quiet");
  ctx->color_out = term.stdout_tty && !no_color;
  ctx->color_err = term.stderr_tty && !no_color;
  try {
    return command->handler(*ctx, p);
  } catch (const usage_error& e) {
    report_usage_error(err, ctx->color_err, e.what(), command);
    return exit_usage;
  } catch (const config_error& e) {
    err << paint("error:", tone::red, ctx->color_err) << " " << e.what() << '\n';
    return exit_usage;
  } catch (const file_error& e) {
    err << paint("error:", tone::red, ctx->color_err) << " " << e.what() << '\n';
    if (!e.hint().empty()) err << e.hint() << '\n';
    return exit_usage;
  } catch (const std::filesystem::filesystem_error& e) {
    // A folder or file that changed under a command (models push, pull) as it read or wrote it.
    err << paint("error:", tone::red, ctx->color_err) << " " << e.what() << '\n';
    return exit_usage;
  } catch (const unreachable_error& e) {
    err << paint("error:", tone::red, ctx->color_err) << " cannot reach the Potluck daemon at " << e.url() << ": "
        << e.reason() << ".\n"
        << "Is potluckd running? Start it with ./potluck.sh run, or set POTLUCK_URL.\n";
    return exit_unreachable;
  } catch (const api_error& e) {
    err << paint("error:", tone::red, ctx->color_err) << " " << e.what() << '\n';
    if (auto hint = api_hint(e, *ctx); !hint.empty()) err << hint << '\n';
    return exit_api_error;
  }
}

}  // namespace potluck::cli
