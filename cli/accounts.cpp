// The account commands of the potluck CLI (their specs are in app.cpp's table): account
// [show|create] (account transfer is in orgs.cpp), login, logout, tokens [create|revoke],
// ledger, admin audit, admin grant and admin settings, and the hints under the daemon's refusals
// about tokens and accounts.
//
// A token's secret is printed only where it is made (account create, tokens create), once, to
// stdout, with a warning on stderr; it never goes into a URL or a message. Amounts travel as
// micro-credits and are shown as credits (format.hpp).
#include "cli/command.hpp"

#include "cli/config.hpp"
#include "cli/errors.hpp"
#include "cli/format.hpp"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <charconv>
#include <ostream>
#include <sstream>

namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr int default_ledger_limit = 20;
constexpr int max_ledger_limit = 500;  // the daemon's largest ledger page
constexpr const char* token_prefix = "plk_";

const std::vector<std::string>& known_scopes() {
  static const std::vector<std::string> scopes = {"read", "submit", "publish", "donate", "admin"};
  return scopes;
}

std::string scopes_text(const json::object& token) {
  std::string out;
  if (auto* s = token.if_contains("scopes"); s && s->is_array())
    for (const auto& scope : s->as_array())
      if (scope.is_string()) out += (out.empty() ? "" : ", ") + std::string(scope.as_string());
  return out.empty() ? "no scopes" : out;
}

std::string plural(std::int64_t n, const char* one, const char* many) {
  return with_thousands(n) + " " + (n == 1 ? one : many);
}

std::string time_text(const json::object& o, std::string_view key, const char* never, std::int64_t now) {
  auto t = time_field(o, key);
  return t ? format_age(now - *t) : never;
}

// The secret of a TOKEN_WITH_SECRET; a reply without one is not what this version expects.
std::string secret_of(const json::object& token) {
  auto secret = string_field(token, "secret");
  if (secret.empty()) throw api_error(201, "bad_reply", "the daemon's answer holds no token secret");
  return secret;
}

// Prints a secret made for the user, once: the secret on stdout, the warning on stderr, so that
// `token=$(potluck tokens create -q ci)` keeps only the secret.
void show_secret_once(context& ctx, const std::string& secret) {
  ctx.out << "\n  " << secret << "\n\n";
  ctx.err << paint("Keep this token secret and safe: it is shown only this once, and anyone who has it can act "
                   "for your account.",
                   tone::yellow, ctx.color_err)
          << '\n';
}

// Saves the URL in use and `token` in the config file; keeps the file's other keys.
std::string save_login(context& ctx, const std::string& token) {
  if (!ctx.config_path)
    throw config_error("cannot tell where the config file goes: set HOME or XDG_CONFIG_HOME");
  auto config = read_config(*ctx.config_path, permission_check::skip).value_or(config_file{});
  config.url = ctx.client.url().text;
  config.token = token;
  write_config(*ctx.config_path, config);
  return ctx.config_path->string();
}

void note_environment_token(context& ctx) {
  if (ctx.term.token && !ctx.quiet)
    ctx.err << paint("note: POTLUCK_TOKEN is set and wins over the saved token; unset it to use the saved one.",
                     tone::dim, ctx.color_err)
            << '\n';
}

std::int64_t parse_token_id(const std::string& text) {
  // Someone may paste a secret where the ID goes; never echo that.
  if (text.starts_with(token_prefix))
    throw usage_error("that is a token's secret, not its ID; token IDs are numbers, like 3 (list them: potluck tokens)");
  std::int64_t id = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), id);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || id <= 0)
    throw usage_error("'" + text + "' is not a token ID; token IDs are positive integers, like 3 (list them: potluck tokens)");
  return id;
}

}  // namespace

std::string encode_query_value(std::string_view value) {
  return boost::urls::encode(value, boost::urls::unreserved_chars);
}

std::string encode_path_segment(std::string_view value) {
  // Unreserved characters only: a '/' or a '?' in a name must not change the route.
  return boost::urls::encode(value, boost::urls::unreserved_chars);
}

std::string credits_text(std::int64_t micro_credits) {
  return format_credits(micro_credits) + (micro_credits == micro_credits_per_credit ? " credit" : " credits");
}

// ---------------------------------------------------------------------------------------------
// Hints

std::string account_hint(const api_error& e, const context& ctx) {
  const std::string source = ctx.creds.source == token_source::config_file && ctx.config_path
                                 ? "saved in " + ctx.config_path->string()
                                 : std::string("from ") + to_string(ctx.creds.source);
  const std::string log_in = "potluck login (or set POTLUCK_TOKEN)";
  if (e.status == 401) {
    if (!ctx.unauthorized_hint.empty()) return ctx.unauthorized_hint;
    if (e.code == "missing_token" || !ctx.client.has_bearer_token()) {
      if (ctx.creds.token_saved_for)
        return "The token saved in " + (ctx.config_path ? ctx.config_path->string() : std::string("the config file")) +
               " is for " + *ctx.creds.token_saved_for + ", not " + ctx.client.url().text +
               ". Log in to this daemon: potluck --url " + ctx.client.url().text + " login (or set POTLUCK_TOKEN).";
      return "Log in first: " + log_in + ".\nNo account yet? potluck account create NAME --login";
    }
    if (e.code == "revoked_token") return "The token " + source + " has been revoked. Log in with another: " + log_in + ".";
    if (e.code == "bad_token") return "The token " + source + " is not one this daemon knows. Log in again: " + log_in + ".";
    return "Log in: " + log_in + ".";
  }
  if (e.code == "missing_scope") {
    if (!ctx.missing_scope_hint.empty()) return ctx.missing_scope_hint;
    return "The token " + source + " lacks the scope this needs. See its scopes: potluck account\n"
           "Make a token that has it: potluck tokens create NAME --scope SCOPE";
  }
  if (e.code == "signup_closed") return "This daemon does not take sign-ups; ask its operator for an account.";
  if (e.code == "name_taken") return "Pick another name.";
  if (e.code == "bad_name") return "Names are 1 to 39 lowercase letters, digits and single hyphens, like alice or team-7.";
  if (e.status == 429)
    return e.retry_after.empty() ? "The daemon is rate limiting; try again later."
                                 : "The daemon is rate limiting; try again in " + e.retry_after + " s.";
  if (e.status == 404 && !ctx.not_found_hint.empty() && !std::string_view(e.what()).starts_with("no such path"))
    return ctx.not_found_hint;
  return {};
}

// ---------------------------------------------------------------------------------------------
// account, account create, login, logout

int cmd_account_show(context& ctx, const parsed_command&) {
  auto v = call(ctx, "GET", "/api/v1/account", {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto& account = object_field(v, "account");
  const auto& token = object_field(v, "token");
  if (ctx.quiet) {
    ctx.out << string_field(account, "name") << '\n';
    return exit_ok;
  }
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Account", string_field(account, "name") + " (" + string_field(account, "kind", "user") + ")");
  rows.emplace_back("Balance", credits_text(int_field(account, "balance")));
  if (auto created = time_field(account, "created_at")) rows.emplace_back("Created", format_utc(*created));
  // The organisations it belongs to: "acme (owner, 12.5 credits), lab (member, 0 credits)".
  if (auto* orgs = v.is_object() ? v.as_object().if_contains("orgs") : nullptr; orgs && orgs->is_array()) {
    std::string text;
    for (const auto& o : orgs->as_array()) {
      if (!o.is_object()) continue;
      const auto& org = o.as_object();
      text += (text.empty() ? "" : ", ") + string_field(org, "name") + " (" + string_field(org, "role", "member") +
              ", " + credits_text(int_field(org, "balance")) + ")";
    }
    rows.emplace_back("Orgs", text.empty() ? "none" : text);
  }
  std::string token_line = string_field(token, "name") + ": " + scopes_text(token);
  if (auto prefix = string_field(token, "prefix"); !prefix.empty()) token_line += " (" + prefix + "…)";
  rows.emplace_back("Token", token_line);
  std::string from = to_string(ctx.creds.source);
  if (ctx.creds.source == token_source::config_file && ctx.config_path) from = ctx.config_path->string();
  rows.emplace_back("From", from);
  rows.emplace_back("Daemon", ctx.client.url().text);
  print_fields(ctx, rows);
  return exit_ok;
}

int cmd_account_create(context& ctx, const parsed_command& p) {
  const auto& name = p.args.at(0);
  json::object body;
  body["name"] = name;
  auto v = call(ctx, "POST", "/api/v1/accounts", json::serialize(body), {200, 201});
  const auto& account = object_field(v, "account");
  const auto& token = object_field(v, "token");
  const auto secret = secret_of(token);
  if (ctx.json) {
    print_json(ctx, v);
  } else if (ctx.quiet) {
    ctx.out << secret << '\n';
  } else {
    ctx.out << "Created account " << string_field(account, "name", name) << " ("
            << string_field(account, "kind", "user") << ") with " << credits_text(int_field(account, "balance"))
            << ".\nIts API token \"" << string_field(token, "name", "default") << "\" (" << scopes_text(token) << "):\n";
    show_secret_once(ctx, secret);
  }
  if (p.has("login")) {
    // After the secret is out: if saving fails, the user still has it.
    const auto file = save_login(ctx, secret);
    if (!ctx.quiet && !ctx.json)
      ctx.err << "Saved it in " << file << ": you are logged in as " << string_field(account, "name", name) << ".\n";
    note_environment_token(ctx);
  } else if (!ctx.quiet && !ctx.json) {
    ctx.err << paint("Use it here: potluck login (paste it at the prompt), or set POTLUCK_TOKEN.", tone::dim, ctx.color_err)
            << '\n';
  }
  return exit_ok;
}

int cmd_login(context& ctx, const parsed_command& p) {
  std::string token;
  if (p.has("token")) {
    token = p.value("token");
  } else if (!ctx.term.stdin_tty) {
    if (ctx.term.read_line)
      if (auto line = ctx.term.read_line()) token = *line;
  } else if (ctx.term.read_secret) {
    if (auto line = ctx.term.read_secret("API token for " + ctx.client.url().text + " (input hidden): ")) token = *line;
  }
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!token.empty() && blank(token.back())) token.pop_back();
  token.erase(token.begin(), std::find_if_not(token.begin(), token.end(), blank));
  if (token.empty())
    throw usage_error("no token given: pass --token TOKEN, pipe it on stdin, or run potluck login on a terminal to "
                      "paste it");
  if (auto problem = token_problem(token); !problem.empty())
    throw usage_error("that cannot be a token: " + problem + " (a Potluck token is plk_ followed by 64 hex digits)");

  ctx.client.set_bearer_token(token);
  ctx.unauthorized_hint = "Check that the token was copied whole: it is shown once, by potluck account create or "
                          "potluck tokens create.";
  auto v = call(ctx, "GET", "/api/v1/account", {}, {200});
  const auto& account = object_field(v, "account");
  const auto& used = object_field(v, "token");
  const auto file = save_login(ctx, token);
  if (ctx.json) {
    print_json(ctx, v);
  } else if (ctx.quiet) {
    ctx.out << string_field(account, "name") << '\n';
  } else {
    ctx.out << "Logged in as " << string_field(account, "name") << " at " << ctx.client.url().text << " (token \""
            << string_field(used, "name") << "\": " << scopes_text(used) << ").\n";
    ctx.err << paint("Saved in " + file + ".", tone::dim, ctx.color_err) << '\n';
  }
  note_environment_token(ctx);
  return exit_ok;
}

int cmd_logout(context& ctx, const parsed_command&) {
  std::optional<config_file> config;
  if (ctx.config_path) config = read_config(*ctx.config_path, permission_check::skip);
  if (!config || !config->token) {
    if (!ctx.quiet)
      ctx.out << "Not logged in: no token saved"
              << (ctx.config_path ? " in " + ctx.config_path->string() : std::string()) << ".\n";
    return exit_ok;
  }
  config->token.reset();
  write_config(*ctx.config_path, *config);
  if (!ctx.quiet) {
    ctx.out << "Logged out: removed the token from " << ctx.config_path->string() << ".\n";
    ctx.err << paint("The token itself works until it is revoked: potluck tokens, then potluck tokens revoke ID.",
                     tone::dim, ctx.color_err)
            << '\n';
  }
  if (ctx.term.token && !ctx.quiet)
    ctx.err << paint("note: POTLUCK_TOKEN is still set.", tone::dim, ctx.color_err) << '\n';
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// tokens, tokens create, tokens revoke

int cmd_tokens(context& ctx, const parsed_command&) {
  auto v = call(ctx, "GET", "/api/v1/account/tokens", {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto* tokens = v.is_object() ? v.as_object().if_contains("tokens") : nullptr;
  if (!tokens || !tokens->is_array()) throw api_error(200, "bad_reply", "the daemon's token list holds no \"tokens\"");
  if (ctx.quiet) {
    for (const auto& t : tokens->as_array())
      if (t.is_object()) ctx.out << int_field(t.as_object(), "id") << '\n';
    return exit_ok;
  }
  if (tokens->as_array().empty()) {
    ctx.out << "No tokens. Make one: potluck tokens create NAME --scope read\n";
    return exit_ok;
  }
  const auto now = now_ms();
  text_table table({"ID", "NAME", "SCOPES", "PREFIX", "CREATED", "LAST USED", "STATE"});
  table.set_align(0, align::right);
  for (const auto& t : tokens->as_array()) {
    if (!t.is_object()) continue;
    const auto& token = t.as_object();
    const bool revoked = token.contains("revoked_at") && !token.at("revoked_at").is_null();
    const auto prefix = string_field(token, "prefix");
    // The secret in use starts with its token's prefix: mark that row.
    const bool in_use = !revoked && !prefix.empty() && ctx.creds.token.starts_with(prefix);
    std::string state = revoked ? "revoked " + time_text(token, "revoked_at", "", now) : in_use ? "live, in use" : "live";
    std::string scopes = scopes_text(token);
    scopes.erase(std::remove(scopes.begin(), scopes.end(), ' '), scopes.end());
    table.add_row({{std::to_string(int_field(token, "id"))},
                   {string_field(token, "name")},
                   {scopes},
                   {prefix.empty() ? "-" : prefix},
                   {time_text(token, "created_at", "-", now)},
                   {time_text(token, "last_used_at", "never", now)},
                   {state, revoked ? tone::dim : tone::green}});
  }
  ctx.out << table.render(ctx.color_out);
  return exit_ok;
}

int cmd_tokens_create(context& ctx, const parsed_command& p) {
  const auto& name = p.args.at(0);
  json::array scopes;
  std::vector<std::string> chosen;
  for (const auto& value : p.all("scope")) {
    std::size_t start = 0;
    while (start <= value.size()) {
      auto end = value.find(',', start);
      if (end == std::string::npos) end = value.size();
      const auto scope = value.substr(start, end - start);
      start = end + 1;
      if (scope.empty()) continue;
      if (std::find(known_scopes().begin(), known_scopes().end(), scope) == known_scopes().end())
        throw usage_error("--scope: '" + scope + "' is not a scope; the scopes are read, submit, publish, donate, admin");
      if (std::find(chosen.begin(), chosen.end(), scope) == chosen.end()) chosen.push_back(scope);
    }
  }
  if (p.has("scope") && chosen.empty())
    throw usage_error("--scope is empty; the scopes are read, submit, publish, donate, admin");
  json::object body;
  body["name"] = name;
  // Without --scope the daemon decides: the scopes of the token in use, admin left out.
  if (!chosen.empty()) {
    for (const auto& s : chosen) scopes.emplace_back(s);
    body["scopes"] = std::move(scopes);
  }
  ctx.missing_scope_hint =
      "A token can only give a new token scopes it has itself. See the scopes of the token in use: potluck account";
  auto v = call(ctx, "POST", "/api/v1/account/tokens", json::serialize(body), {200, 201});
  const auto& token = object_field(v, "token");
  const auto secret = secret_of(token);
  if (ctx.json) {
    print_json(ctx, v);
  } else if (ctx.quiet) {
    ctx.out << secret << '\n';
  } else {
    ctx.out << "Created token " << int_field(token, "id") << " \"" << string_field(token, "name", name) << "\" ("
            << scopes_text(token) << "):\n";
    show_secret_once(ctx, secret);
  }
  return exit_ok;
}

int cmd_tokens_revoke(context& ctx, const parsed_command& p) {
  const auto id = parse_token_id(p.args.at(0));
  ctx.not_found_hint = "List your tokens and their IDs: potluck tokens";
  auto v = call(ctx, "DELETE", "/api/v1/account/tokens/" + std::to_string(id), {}, {200});
  if (ctx.json) print_json(ctx, v);
  else if (ctx.quiet) ctx.out << id << '\n';
  else ctx.out << "Revoked token " << id << ".\n";
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// ledger

int cmd_ledger(context& ctx, const parsed_command& p) {
  const int limit = p.has("limit") ? parse_positive("limit", p.value("limit"), max_ledger_limit) : default_ledger_limit;
  std::string target = "/api/v1/account/ledger?limit=" + std::to_string(limit);
  if (p.has("cursor")) target += "&cursor=" + encode_query_value(p.value("cursor"));
  auto v = call(ctx, "GET", target, {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto* entries = v.is_object() ? v.as_object().if_contains("entries") : nullptr;
  if (!entries || !entries->is_array()) throw api_error(200, "bad_reply", "the daemon's ledger holds no \"entries\"");
  if (ctx.quiet) {
    for (const auto& e : entries->as_array())
      if (e.is_object()) ctx.out << int_field(e.as_object(), "id") << '\n';
    return exit_ok;
  }
  if (entries->as_array().empty()) {
    ctx.out << (p.has("cursor") ? "No older entries.\n" : "No credits have moved into or out of this account yet.\n");
    return exit_ok;
  }
  text_table table({"TIME", "KIND", "AMOUNT", "COUNTERPARTY", "JOB", "MEMO"});
  table.set_align(2, align::right);
  table.set_align(4, align::right);
  for (const auto& e : entries->as_array()) {
    if (!e.is_object()) continue;
    const auto& entry = e.as_object();
    const auto amount = int_field(entry, "amount");
    const auto time = time_field(entry, "time");
    const auto job = int_field(entry, "job_id");
    const auto counterparty = string_field(entry, "counterparty");
    const auto memo = string_field(entry, "memo");
    table.add_row({{time ? format_utc(*time) : "-"},
                   {string_field(entry, "kind")},
                   {format_credits(amount, sign_display::always), amount < 0 ? tone::red : tone::green},
                   {counterparty.empty() ? "-" : counterparty},
                   {job > 0 ? std::to_string(job) : "-"},
                   {memo.empty() ? "" : truncate_to_width(memo, 60)}});
  }
  ctx.out << table.render(ctx.color_out);
  if (auto* next = v.as_object().if_contains("next_cursor"); next && !next->is_null()) {
    const std::string cursor = next->is_string() ? std::string(next->as_string()) : json::serialize(*next);
    ctx.err << paint("Older entries: potluck ledger --limit " + std::to_string(limit) + " --cursor " + cursor, tone::dim,
                     ctx.color_err)
            << '\n';
  }
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// admin audit, admin grant

namespace {
constexpr const char* admin_scope_hint =
    "Admin commands take a token with the admin scope, like the operator's, which potluckd wrote to admin-token "
    "in its data folder:\n  POTLUCK_TOKEN=$(cat DATA_DIR/admin-token) potluck admin audit";
}

int cmd_admin_audit(context& ctx, const parsed_command&) {
  ctx.missing_scope_hint = admin_scope_hint;
  auto v = call(ctx, "GET", "/api/v1/admin/audit", {}, {200});
  if (!v.is_object()) throw api_error(200, "bad_reply", "the daemon's audit is not an object");
  const auto& report = v.as_object();
  auto* ok_field = report.if_contains("ok");
  if (!ok_field || !ok_field->is_bool()) throw api_error(200, "bad_reply", "the daemon's audit holds no \"ok\"");
  const bool ok = ok_field->as_bool();
  std::vector<std::string> problems;
  if (auto* list = report.if_contains("problems"); list && list->is_array())
    for (const auto& problem : list->as_array())
      if (problem.is_string()) problems.emplace_back(problem.as_string());
  if (ctx.json) {
    print_json(ctx, v);
  } else if (ok) {
    if (!ctx.quiet)
      ctx.out << "books balance: " << credits_text(int_field(report, "minted")) << " minted, held by "
              << plural(int_field(report, "accounts_checked"), "account", "accounts") << ", "
              << plural(int_field(report, "entries_checked"), "ledger row", "ledger rows") << " checked\n";
  } else {
    if (!ctx.quiet)
      ctx.out << paint("books do not balance", tone::red, ctx.color_out) << ": "
              << plural(static_cast<std::int64_t>(problems.size()), "problem", "problems") << " ("
              << credits_text(int_field(report, "minted")) << " minted, balances sum to "
              << credits_text(int_field(report, "sum_of_balances")) << ")\n";
    for (const auto& problem : problems) ctx.out << (ctx.quiet ? "" : "  ") << problem << '\n';
  }
  return ok ? exit_ok : exit_check_failed;
}

int cmd_admin_grant(context& ctx, const parsed_command& p) {
  const auto& account = p.args.at(0);
  std::string problem;
  const auto amount = parse_credits(p.args.at(1), problem);
  if (!amount) throw usage_error("CREDITS '" + p.args.at(1) + "': " + problem + "; write credits like 2.5 or 1000");
  if (*amount == 0) throw usage_error("CREDITS must be more than 0");
  json::object body;
  body["account"] = account;
  body["amount"] = *amount;
  if (p.has("memo")) body["memo"] = p.value("memo");
  ctx.missing_scope_hint = admin_scope_hint;
  ctx.not_found_hint = "Is the account name right? Names are lowercase; the account must exist first.";
  auto v = call(ctx, "POST", "/api/v1/admin/grants", json::serialize(body), {200, 201});
  const auto& entry = object_field(v, "entry");
  if (ctx.json) print_json(ctx, v);
  else if (ctx.quiet) ctx.out << int_field(entry, "id") << '\n';
  else
    ctx.out << "Granted " << credits_text(*amount) << " to " << account << " (ledger entry " << int_field(entry, "id")
            << ").\n";
  return exit_ok;
}

int cmd_admin_settings(context& ctx, const parsed_command&) {
  ctx.missing_scope_hint = admin_scope_hint;
  auto v = call(ctx, "GET", "/api/v1/admin/settings", {}, {200});
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  if (!v.is_object() || !v.as_object().contains("fee_ppm"))
    throw api_error(200, "bad_reply", "the daemon's settings hold no \"fee_ppm\"");
  const auto& s = v.as_object();
  if (ctx.quiet) {
    // KEY=VALUE lines in the daemon's units, for scripts.
    for (const auto& [key, value] : s)
      ctx.out << std::string(key) << '=' << (value.is_string() ? std::string(value.as_string()) : compact_json(value))
              << '\n';
    return exit_ok;
  }
  auto flag = [&](std::string_view key) {
    auto* b = s.if_contains(key);
    return b && b->is_bool() && b->as_bool();
  };
  const auto fee_ppm = int_field(s, "fee_ppm");
  const auto grant = int_field(s, "starter_grant");
  // The rate may be fractional; the daemon sends it as a number either way.
  std::string rate = "-";
  if (auto* r = s.if_contains("rate_limit"); r && r->is_number()) {
    const auto per_second = r->to_number<double>();
    std::ostringstream text;
    text << per_second;
    rate = per_second <= 0 ? "none" : text.str() + " requests a second per token, bursts of 10 times that";
  }
  std::ostringstream fee;
  fee << static_cast<double>(fee_ppm) / 10'000.0;
  const auto signup = string_field(s, "signup");
  print_fields(ctx, {
      {"Sign-up", signup == "open"     ? "open: anyone may create an account"
                  : signup == "closed" ? "closed: nobody may create an account"
                                       : signup},
      {"Starter grant", grant == 0 ? "none" : credits_text(grant) + " for each new account"},
      {"Free tier", flag("free_tier") ? "on: jobs may bid 0 and run on workers that take free jobs"
                                      : "off: every job pays"},
      {"Fee", fee_ppm == 0 ? "none" : fee.str() + "% of each charge, paid into the fees account"},
      {"Anonymous workers", flag("anonymous_workers") ? "accepted (workers without a donor token)"
                                                      : "refused: workers need a donor token"},
      {"Rate limit", rate},
      {"Max attempts", plural(int_field(s, "max_attempts"), "dispatch", "dispatches") + " of a job before it fails"},
  });
  ctx.err << paint("potluckd's flags set these: --signup, --starter-grant, --free-tier, --fee-percent, "
                   "--anonymous-workers, --rate-limit, --max-attempts.",
                   tone::dim, ctx.color_err)
          << '\n';
  return exit_ok;
}

}  // namespace potluck::cli
