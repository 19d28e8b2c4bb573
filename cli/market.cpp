// Implements market.hpp: billing lines, workers' prices and quotes, donors' workers, earnings
// and the leaderboard, from the daemon's JSON.
#include "cli/market.hpp"

#include "cli/command.hpp"
#include "cli/format.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

namespace json = boost::json;

namespace potluck::cli {
namespace {

bool bool_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

// o[key] when it is a number; nullopt when it is null or missing (the daemon's "unknown").
std::optional<double> optional_number(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::string plural(std::int64_t n, const char* one, const char* many) {
  return with_thousands(n) + " " + (n == 1 ? one : many);
}

// "Key:   value" lines, the values aligned, as print_fields writes them.
std::string fields_text(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t key_width = 0;
  for (const auto& [k, _] : rows) key_width = std::max(key_width, k.size() + 1);
  std::string out;
  for (const auto& [k, v] : rows) {
    std::string key = k + ":";
    key.append(key_width - key.size(), ' ');
    out += key + "  " + v + '\n';
  }
  return out;
}

std::string indented(const std::string& text, const std::string& indent) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    const auto end = nl == std::string::npos ? text.size() : nl + 1;
    out += indent + text.substr(pos, end - pos);
    pos = end;
  }
  return out;
}

const json::array& array_field(const json::object& o, std::string_view key) {
  static const json::array empty;
  auto* v = o.if_contains(key);
  return v && v->is_array() ? v->as_array() : empty;
}

const json::object& object_at(const json::object& o, std::string_view key) {
  static const json::object empty;
  auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : empty;
}

// "dora-box (cpu)": an offer's worker and backend.
std::string offer_name(const json::object& offer) {
  return string_field(offer, "worker") + " (" + string_field(offer, "backend") + ")";
}

}  // namespace

std::string billing_text(const json::object& job) {
  auto* billing_value = job.if_contains("billing");
  if (!billing_value || !billing_value->is_object()) return {};
  const auto& billing = billing_value->as_object();
  const auto units = plural(int_field(billing, "units"), "unit", "units");
  const auto bid = int_field(billing, "bid");
  const auto replicas = int_field(billing, "replicas", 1);
  const std::string copies = replicas > 1 ? ", " + std::to_string(replicas) + " replicas" : "";
  if (!bool_field(billing, "settled")) {
    if (bid == 0) return "free job (" + units + copies + ")";
    return "reserved " + credits_text(int_field(billing, "reserved")) + " (bid " + format_credits(bid) +
           " per million units, " + units + copies + ")";
  }
  const auto charged = int_field(billing, "charged");
  const auto refunded = int_field(billing, "refunded");
  const std::string refund = refunded > 0 ? "; refunded " + format_credits(refunded) : "";
  if (charged == 0) return bid == 0 ? "free job (" + units + copies + "): nothing charged" : "nothing charged" + refund;
  const auto fee = int_field(billing, "fee");
  const std::string fee_text = fee > 0 ? ", fee " + format_credits(fee) : "";
  if (replicas > 1) {
    // Each replica ran at its own worker's ask, so no one price; payments_text says who got what.
    std::string line = "charged " + credits_text(charged) + " for " + std::to_string(replicas) + " replicas";
    const auto& payments = array_field(billing, "payments");
    const auto paid = std::count_if(payments.begin(), payments.end(), [](const json::value& p) {
      return p.is_object() && string_field(p.as_object(), "kind") == "charge";
    });
    if (!payments.empty() && paid < replicas) line += ", " + std::to_string(paid) + " paid";
    return line + " (" + units + " each" + fee_text + ")" + refund;
  }
  std::string line = "charged " + credits_text(charged) + " (" + units + " at " + format_credits(int_field(billing, "price")) +
                     " per million";
  // paid_to is null for an account the daemon cannot name, and in the final event of a stream.
  if (auto to = string_field(billing, "paid_to"); !to.empty()) line += ", paid to " + to;
  return line + fee_text + ")" + refund;
}

std::string payments_text(const json::object& job) {
  const auto& billing = object_at(job, "billing");
  std::string out;
  bool paid = false;
  for (const auto& p : array_field(billing, "payments")) {
    if (!p.is_object()) continue;
    const auto& payment = p.as_object();
    const auto kind = string_field(payment, "kind");
    const auto to = string_field(payment, "to", "?");
    const auto amount = format_credits(int_field(payment, "amount"));
    paid = paid || kind != "refund";
    out += (out.empty() ? "" : ", ") + (kind == "charge" ? "" : kind + " ") + amount + " to " + to;
  }
  return paid ? out : std::string();
}

std::string ask_text(std::int64_t ask_micro_credits) {
  return ask_micro_credits == 0 ? "free" : format_credits(ask_micro_credits);
}

namespace {

// The backends a worker has slots for, with their asks; its prices' backends when it lists no
// slots.
std::vector<std::pair<std::string, std::int64_t>> worker_asks(const json::object& worker) {
  static const json::object none;
  auto object_at = [&](std::string_view key) -> const json::object& {
    auto* v = worker.if_contains(key);
    return v && v->is_object() ? v->as_object() : none;
  };
  std::vector<std::pair<std::string, std::int64_t>> asks;
  const auto& prices = object_at("prices");
  const auto& slots = object_at("slots");
  for (const auto& [backend, _] : slots.empty() ? prices : slots)
    asks.emplace_back(std::string(backend), int_field(prices, backend));
  return asks;
}

}  // namespace

std::string worker_prices_text(const json::object& worker) {
  if (!worker.contains("prices")) return "-";  // a daemon before the market
  const auto asks = worker_asks(worker);
  if (std::all_of(asks.begin(), asks.end(), [](const auto& a) { return a.second == 0; })) return "free";
  std::string out;
  for (const auto& [backend, ask] : asks) out += (out.empty() ? "" : ", ") + backend + " " + ask_text(ask);
  return out;
}

bool worker_has_price(const json::object& worker) {
  const auto asks = worker_asks(worker);
  return std::any_of(asks.begin(), asks.end(), [](const auto& a) { return a.second > 0; });
}

bool quote_covered(const json::object& quote) {
  auto* cheapest = quote.if_contains("cheapest");
  return cheapest && cheapest->is_object();
}

std::string render_quote(const json::object& quote, bid_source source, bool color) {
  const auto task = string_field(quote, "task");
  const auto backend = string_field(quote, "backend");
  const bool free_job = bool_field(quote, "free");
  const auto bid = int_field(quote, "bid");
  const auto reserved = int_field(quote, "reserved");
  const json::array empty;
  const auto* offers_value = quote.if_contains("offers");
  const auto& offers = offers_value && offers_value->is_array() ? offers_value->as_array() : empty;

  const auto replicas = int_field(quote, "replicas", 1);
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Work units", with_thousands(int_field(quote, "units")) + (replicas > 1 ? " each" : ""));
  if (replicas > 1)
    rows.emplace_back("Replicas",
                      std::to_string(replicas) + " (on distinct donors' workers; results must agree, each is paid)");
  std::string why;
  if (source == bid_source::lowest_ask && !offers.empty()) why = "the lowest ask now";
  if (source == bid_source::max_price && !free_job) why = "the most --max-price pays for these units";
  if (free_job) rows.emplace_back("Bid", "free job (bid 0" + (why.empty() ? "" : ": " + why) + ")");
  else rows.emplace_back("Bid", credits_text(bid) + " per million units" + (why.empty() ? "" : " (" + why + ")"));
  rows.emplace_back("Reserves", reserved == 0 ? "nothing" : credits_text(reserved) + " until the job ends");
  if (quote_covered(quote)) {
    const auto& cheapest = quote.at("cheapest").as_object();
    const auto ask = int_field(cheapest, "ask");
    rows.emplace_back("Cheapest", offer_name(cheapest) + (free_job  ? " takes free jobs"
                                                          : ask == 0 ? " asks nothing"
                                                                     : " asks " + format_credits(ask) + " per million units"));
    const auto cost = optional_number(quote, "cost");
    rows.emplace_back("Cost", !cost      ? "-"
                              : *cost == 0 ? "nothing"
                                           : credits_text(int_field(quote, "cost")) + " there" +
                                                 (replicas > 1 ? ", for each replica" : ""));
  } else {
    rows.emplace_back("Cheapest", "none: no connected worker takes this job at its bid now");
  }
  // The wait: 0 when a covering slot is free now; null when it cannot be told, with the
  // daemon's note saying why, or else for want of a measured run of the task.
  std::string wait;
  auto note = string_field(quote, "note");
  if (const auto ms = optional_number(quote, "expected_wait_ms")) {
    wait = *ms <= 0 ? "none: a worker that takes it has a free slot"
                    : "about " + format_duration(static_cast<std::int64_t>(std::ceil(*ms)));
  } else if (!note.empty()) {
    wait = "unknown: " + note;
    note.clear();
  } else {
    wait = "unknown: no run of this task has been timed yet";
  }
  rows.emplace_back("Expected wait", wait);
  rows.emplace_back("Queued ahead", plural(int_field(quote, "queued_ahead"), "job", "jobs"));
  // A note the wait did not say: fewer donors than replicas take the bid now.
  if (!note.empty()) rows.emplace_back("Note", note);

  std::string out = paint("Quote", tone::bold, color) + "  " + task + "  " +
                    (backend.empty() ? std::string("any backend") : backend) + '\n';
  out += fields_text(rows);
  out += '\n';
  if (offers.empty()) {
    out += "No connected worker offers " + task + (backend.empty() ? "" : " on " + backend) + ".\n";
    return out;
  }
  out += paint("Offers (asks in credits per million work units):", tone::bold, color) + '\n';
  text_table table({"WORKER", "BACKEND", "ASK", "FREE SLOTS", "COVERED", "COST"});
  table.set_align(2, align::right);
  table.set_align(3, align::right);
  table.set_align(5, align::right);
  for (const auto& o : offers) {
    if (!o.is_object()) continue;
    const auto& offer = o.as_object();
    const bool covered = bool_field(offer, "covered");
    const auto cost = optional_number(offer, "cost");
    table.add_row({{string_field(offer, "worker")},
                   {string_field(offer, "backend")},
                   {ask_text(int_field(offer, "ask"))},
                   {std::to_string(int_field(offer, "free_slots")) + "/" + std::to_string(int_field(offer, "slots"))},
                   {covered ? "yes" : "no", covered ? tone::green : tone::dim},
                   {cost ? format_credits(int_field(offer, "cost")) : "-"}});
  }
  out += indented(table.render(color), "  ");
  return out;
}

// ---------------------------------------------------------------------------------------------
// The donor's side

namespace {

// The sum of a {"cpu": 2, "cuda": 1} object.
std::int64_t slot_sum(const json::object& by_backend) {
  std::int64_t n = 0;
  for (const auto& [_, v] : by_backend)
    if (v.is_int64()) n += v.as_int64();
  return n;
}

std::string hours_text(const json::object& settings) {
  const auto hours = string_field(settings, "hours");
  return hours.empty() ? "all day" : hours;
}

// {"free_jobs": true|false|null}: the donor's choice, or nullopt when the worker's flag decides.
std::optional<bool> free_jobs_setting(const json::object& settings) {
  auto* v = settings.if_contains("free_jobs");
  if (v && v->is_bool()) return v->as_bool();
  return std::nullopt;
}

}  // namespace

std::string worker_settings_text(const json::object& settings) {
  std::string out = bool_field(settings, "paused") ? "paused" : "not paused";
  const auto cap = int_field(settings, "max_slots");
  out += cap == 0 ? ", every slot" : ", at most " + plural(cap, "slot", "slots");
  const auto hours = string_field(settings, "hours");
  out += hours.empty() ? ", all day" : ", hours " + hours + " (its local time)";
  const auto free_jobs = free_jobs_setting(settings);
  out += !free_jobs ? ", free jobs as its --free-jobs says" : *free_jobs ? ", takes free jobs" : ", no free jobs";
  return out;
}

std::string worker_state_text(const json::object& settings, const json::object* connected) {
  if (!connected) return "not connected";
  if (bool_field(*connected, "taking_jobs")) return "taking jobs";
  if (bool_field(settings, "paused")) return "paused";
  if (!string_field(settings, "hours").empty()) return "outside its hours";
  return "not taking jobs";
}

std::string render_my_workers(const json::object& reply, bool color) {
  text_table table({"NAME", "STATE", "PRICE", "BUSY", "JOBS DONE", "MAX SLOTS", "HOURS", "FREE JOBS"});
  table.set_align(3, align::right);
  table.set_align(4, align::right);
  for (const auto& w : array_field(reply, "workers")) {
    if (!w.is_object()) continue;
    const auto& worker = w.as_object();
    const auto name = string_field(worker, "name");
    const auto& settings = object_at(worker, "settings");
    const auto cap = int_field(settings, "max_slots");
    const std::string cap_text = cap == 0 ? "all" : std::to_string(cap);
    const auto free_jobs = free_jobs_setting(settings);
    const auto& connected = array_field(worker, "connected");
    if (connected.empty()) {
      table.add_row({{name},
                     {worker_state_text(settings, nullptr), tone::dim},
                     {"-"},
                     {"-"},
                     {"-"},
                     {cap_text},
                     {hours_text(settings)},
                     {!free_jobs ? "its flag" : *free_jobs ? "yes" : "no"}});
      continue;
    }
    for (const auto& c : connected) {
      if (!c.is_object()) continue;
      const auto& conn = c.as_object();
      const auto state = worker_state_text(settings, &conn);
      const auto busy = slot_sum(object_at(conn, "busy")), total = slot_sum(object_at(conn, "slots"));
      // Two machines may run under one name: the host tells them apart.
      const auto host = string_field(conn, "hostname");
      const bool accepts_free = free_jobs ? *free_jobs : bool_field(conn, "accepts_free");
      table.add_row({{connected.size() > 1 && !host.empty() ? name + " on " + host : name},
                     {state, state == "taking jobs" ? tone::green : tone::yellow},
                     {worker_prices_text(conn)},
                     {std::to_string(busy) + "/" + std::to_string(total)},
                     {with_thousands(int_field(conn, "jobs_done"))},
                     {cap_text},
                     {hours_text(settings)},
                     {accepts_free ? "yes" : "no"}});
    }
  }
  return table.render(color);
}

std::string render_earnings(const json::object& earnings, std::int64_t now, bool unicode, bool color) {
  const auto& days = array_field(earnings, "days");
  const auto& total = object_at(earnings, "total");
  const auto account = string_field(earnings, "account");
  std::string out = paint("Earnings of " + account, tone::bold, color);
  if (!days.empty() && days.front().is_object() && days.back().is_object()) {
    const auto first = string_field(days.front().as_object(), "date");
    const auto last = string_field(days.back().as_object(), "date");
    out += days.size() == 1 ? "  today, " + last
                            : "  the last " + std::to_string(days.size()) + " days, " + first + " to " + last;
    out += " (UTC)";
  }
  out += '\n';
  const auto total_jobs = int_field(total, "jobs");
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Earned", credits_text(int_field(total, "earned")));
  rows.emplace_back("Jobs", with_thousands(total_jobs) + " (" +
                                plural(int_field(total, "units"), "work unit", "work units") + ")");
  std::string connected;
  for (const auto& w : array_field(earnings, "workers")) {
    if (!w.is_object()) continue;
    const auto& worker = w.as_object();
    connected += (connected.empty() ? "" : ", ") + string_field(worker, "name") + " (" +
                 with_thousands(int_field(worker, "jobs_done")) + " done, " +
                 with_thousands(int_field(worker, "jobs_failed")) + " failed since it connected)";
  }
  rows.emplace_back("Connected", connected.empty() ? "none of your workers now" : connected);
  out += fields_text(rows);

  // The days that had jobs, each with a bar for what it earned (for what it ran, when every
  // job was free); the days without any are counted, not listed.
  if (total_jobs > 0) {
    const bool by_earned = int_field(total, "earned") > 0;
    const auto measure = [&](const json::object& day) { return int_field(day, by_earned ? "earned" : "units"); };
    std::int64_t most = 0;
    for (const auto& d : days)
      if (d.is_object()) most = std::max(most, measure(d.as_object()));
    constexpr std::int64_t bar_cells = 20;
    text_table table({"DATE", "JOBS", "UNITS", "EARNED", ""});
    table.set_align(1, align::right);
    table.set_align(2, align::right);
    table.set_align(3, align::right);
    std::size_t idle_days = 0;
    for (const auto& d : days) {
      if (!d.is_object()) continue;
      const auto& day = d.as_object();
      if (int_field(day, "jobs") == 0) {
        ++idle_days;
        continue;
      }
      const auto value = measure(day);
      const auto cells = most <= 0 || value <= 0 ? 0 : std::max<std::int64_t>(1, (value * bar_cells + most / 2) / most);
      std::string bar;
      for (std::int64_t i = 0; i < cells; ++i) bar += unicode ? "█" : "#";
      table.add_row({{string_field(day, "date")},
                     {with_thousands(int_field(day, "jobs"))},
                     {with_thousands(int_field(day, "units"))},
                     {format_credits(int_field(day, "earned"))},
                     {bar, tone::green}});
    }
    out += '\n' + indented(table.render(color), "  ");
    if (idle_days > 0)
      out += "  (" + plural(static_cast<std::int64_t>(idle_days), "other day", "other days") + " without jobs)\n";
  } else {
    out += "\nNo jobs ran on your workers " +
           (days.size() == 1 ? std::string("today") : "in these " + std::to_string(days.size()) + " days") + ".\n";
  }

  const auto& recent = array_field(earnings, "recent");
  if (!recent.empty()) {
    out += '\n' + paint("Latest jobs your workers ran (prices in credits per million work units):", tone::bold, color) +
           '\n';
    text_table table({"ID", "TASK", "STATE", "WORKER", "UNITS", "PRICE", "EARNED", "FINISHED"});
    table.set_align(0, align::right);
    table.set_align(4, align::right);
    table.set_align(5, align::right);
    table.set_align(6, align::right);
    for (const auto& j : recent) {
      if (!j.is_object()) continue;
      const auto& job = j.as_object();
      const auto state = string_field(job, "state");
      const auto finished = time_field(job, "finished_at");
      const auto worker = string_field(job, "worker");
      table.add_row({{std::to_string(int_field(job, "id"))},
                     {string_field(job, "task")},
                     {state, state_tone(state)},
                     {worker.empty() ? "-" : worker},
                     {with_thousands(int_field(job, "units"))},
                     {ask_text(int_field(job, "price"))},
                     {format_credits(int_field(job, "earned"))},
                     {finished ? format_age(now - *finished) : "-"}});
    }
    out += indented(table.render(color), "  ");
  }
  return out;
}

std::string render_donors(const json::object& board, bool color) {
  const auto days = int_field(board, "days");
  std::string out = "Donors of " + (days == 1 ? std::string("today") : "the last " + std::to_string(days) + " days");
  // The window starts at midnight UTC: its date says it.
  if (const auto since = string_field(board, "since"); since.size() >= 10)
    out += " (since " + since.substr(0, 10) + ")";
  out += ", by credits earned:\n";
  text_table table({"RANK", "ACCOUNT", "EARNED", "JOBS", "WORK UNITS"});
  table.set_align(0, align::right);
  table.set_align(2, align::right);
  table.set_align(3, align::right);
  table.set_align(4, align::right);
  for (const auto& d : array_field(board, "donors")) {
    if (!d.is_object()) continue;
    const auto& donor = d.as_object();
    // A donor whose account is gone is ranked but not named.
    const auto account = string_field(donor, "account");
    table.add_row({{std::to_string(int_field(donor, "rank"))},
                   {account.empty() ? "-" : account},
                   {format_credits(int_field(donor, "earned"))},
                   {with_thousands(int_field(donor, "jobs"))},
                   {with_thousands(int_field(donor, "units"))}});
  }
  return out + table.render(color);
}

std::string quote_hint(const json::object& quote) {
  if (quote_covered(quote)) return {};
  auto* offers = quote.if_contains("offers");
  if (!offers || !offers->is_array() || offers->as_array().empty())
    return "See which tasks the connected workers offer: potluck tasks";
  // Offers come cheapest first: the lowest ask is the bid that the first of them takes.
  const auto lowest = std::max<std::int64_t>(int_field(quote, "lowest_ask"), 1);
  const auto bid = protocol::credits_string(lowest);
  if (bool_field(quote, "free"))
    return "No worker that offers it takes free jobs now. Offer a price: --bid " + bid;
  return "A bid of at least " + credits_text(lowest) + " per million units is covered now: --bid " + bid;
}

}  // namespace potluck::cli
