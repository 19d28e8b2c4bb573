// Tests of the account commands (cli/accounts.cpp through cli/app.hpp's run) against a fake
// daemon on loopback that records each request and answers from a script: what is sent (the
// bearer header, bodies, never a token in a URL), what people see (tables, credits, the secret
// shown once with its warning), what is saved in the config file, and the exit statuses and
// hints of refusals.
#define BOOST_TEST_MODULE cli_accounts
#include <boost/test/unit_test.hpp>

#include "cli/app.hpp"
#include "cli/config.hpp"
#include "cli_run.hpp"
#include "fake_daemon.hpp"

#include <boost/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

using namespace potluck::cli;
using namespace potluck::cli::testing;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

struct temp_home {
  fs::path path;
  temp_home() {
    std::string pattern = (fs::temp_directory_path() / "potluck-cli-accounts-XXXXXX").string();
    BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_home() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path config() const { return path / ".config" / "potluck" / "config.json"; }
};

const std::string secret_a = "plk_" + std::string(56, 'a') + "12345678";
const std::string secret_b = "plk_" + std::string(64, 'b');

const std::string alice = R"({"id": 7, "name": "alice", "kind": "user", "balance": 100000000,
                             "created_at": "2026-11-30T08:00:00Z"})";
const std::string default_token = R"({"id": 11, "name": "default", "scopes": ["read", "submit", "publish", "donate"],
                                     "prefix": "plk_aaaaaaaa", "created_at": "2026-11-30T08:00:00Z",
                                     "last_used_at": null, "revoked_at": null})";

std::string with_secret(const std::string& token, const std::string& secret) {
  auto t = json::parse(token).as_object();
  t["secret"] = secret;
  return json::serialize(t);
}

// A terminal as the tests run it: HOME in a temp folder, not a terminal anywhere.
terminal term_in(const temp_home& home) {
  terminal t;
  t.home = home.path.string();
  return t;
}

}  // namespace

BOOST_AUTO_TEST_CASE(account_create_shows_the_secret_once_and_login_saves_it_privately) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{201, R"({"account": )" + alice + R"(, "token": )" + with_secret(default_token, secret_a) + "}"};
  });
  temp_home home;
  auto o = run_cli({"--url", d.url(), "account", "create", "alice", "--login"}, term_in(home));
  BOOST_TEST(o.status == 0, o.err);
  const auto r = d.last();
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.target == "/api/v1/accounts");
  BOOST_TEST(json::parse(r.body).at("name").as_string() == "alice");
  BOOST_TEST(has(o.out, "Created account alice (user) with 100 credits."));
  BOOST_TEST(has(o.out, "\"default\" (read, submit, publish, donate)"));
  BOOST_TEST(has(o.out, "\n  " + secret_a + "\n"));
  BOOST_TEST(has(o.err, "shown only this once"));
  BOOST_TEST(o.err.find(secret_a) == std::string::npos);
  BOOST_TEST(has(o.err, "logged in as alice"));

  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(home.config().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  auto saved = read_config(home.config(), permission_check::enforce).value();
  BOOST_TEST(saved.token.value() == secret_a);
  BOOST_TEST(saved.url.value() == d.url());

  // -q: the secret alone, for scripts; nothing is saved without --login.
  temp_home other;
  auto quiet = run_cli({"--url", d.url(), "account", "create", "-q", "alice"}, term_in(other));
  BOOST_TEST(quiet.status == 0);
  BOOST_TEST(quiet.out == secret_a + "\n");
  BOOST_TEST(!fs::exists(other.config()));
}

BOOST_AUTO_TEST_CASE(the_token_goes_in_the_authorization_header_flag_over_env_over_file) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{200, R"({"account": )" + alice + R"(, "token": )" + default_token + "}"};
  });
  temp_home home;
  config_file saved;
  saved.url = d.url();
  saved.token = secret_a;
  write_config(home.config(), saved);
  auto term = term_in(home);

  // The saved URL and token are used when nothing else is given.
  auto o = run_cli({"account"}, term);
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().authorization == "Bearer " + secret_a);
  BOOST_TEST(d.last().target == "/api/v1/account");
  BOOST_TEST(has(o.out, "Account:  alice (user)"));
  BOOST_TEST(has(o.out, "Balance:  100 credits"));
  BOOST_TEST(has(o.out, "Token:    default: read, submit, publish, donate"));
  BOOST_TEST(has(o.out, home.config().string()));
  BOOST_TEST(o.out.find(secret_a) == std::string::npos);

  term.token = secret_b;
  BOOST_TEST(run_cli({"account", "show"}, term).status == 0);
  BOOST_TEST(d.last().authorization == "Bearer " + secret_b);

  const std::string from_flag = "plk_" + std::string(64, 'f');
  BOOST_TEST(run_cli({"account", "--token", from_flag}, term).status == 0);
  BOOST_TEST(d.last().authorization == "Bearer " + from_flag);
  for (const auto& r : d.requests()) BOOST_TEST(r.target.find("plk_") == std::string::npos);

  BOOST_TEST(run_cli({"account", "-q"}, term).out == "alice\n");
}

BOOST_AUTO_TEST_CASE(a_token_in_a_file_others_may_read_is_refused_and_nothing_is_sent) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, "{}"}; });
  temp_home home;
  config_file saved;
  saved.url = d.url();
  saved.token = secret_a;
  write_config(home.config(), saved);
  BOOST_TEST_REQUIRE(::chmod(home.config().c_str(), 0644) == 0);
  auto o = run_cli({"account"}, term_in(home));
  BOOST_TEST(o.status == 2);
  BOOST_TEST(has(o.err, "chmod 600 " + home.config().string()));
  BOOST_TEST(o.err.find(secret_a) == std::string::npos);
  BOOST_TEST(d.requests().empty());
  // POTLUCK_TOKEN and --url together do not need the file.
  auto term = term_in(home);
  term.token = secret_b;
  term.url = d.url();
  BOOST_TEST(run_cli({"tokens", "--json"}, term).status == 0);
  // logout fixes it: it rewrites the file 0600 without the token.
  auto out = run_cli({"logout"}, term_in(home));
  BOOST_TEST(out.status == 0, out.err);
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(home.config().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(!read_config(home.config(), permission_check::enforce)->token.has_value());
}

BOOST_AUTO_TEST_CASE(a_saved_token_is_not_sent_to_another_daemon) {
  fake_daemon d([](const recorded_request& r) {
    if (!r.authorization.empty()) return scripted_reply{200, "{}"};
    return scripted_reply{401, error_body("missing_token", "this needs an API token")};
  });
  temp_home home;
  config_file saved;
  saved.url = "http://127.0.0.1:1";
  saved.token = secret_a;
  write_config(home.config(), saved);
  auto o = run_cli({"--url", d.url(), "account"}, term_in(home));
  BOOST_TEST(o.status == 4);
  BOOST_TEST(d.last().authorization.empty());
  BOOST_TEST(has(o.err, "error: this needs an API token"));
  BOOST_TEST(has(o.err, "is for http://127.0.0.1:1, not " + d.url()));
  BOOST_TEST(has(o.err, "potluck --url " + d.url() + " login"));
}

BOOST_AUTO_TEST_CASE(no_token_exits_4_with_the_login_hint) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{401, error_body("missing_token", "this needs an API token")};
  });
  temp_home home;
  auto o = run_cli({"--url", d.url(), "ledger"}, term_in(home));
  BOOST_TEST(o.status == 4);
  BOOST_TEST(has(o.err, "error: this needs an API token\n"));
  BOOST_TEST(has(o.err, "potluck login"));
  BOOST_TEST(has(o.err, "POTLUCK_TOKEN"));
  BOOST_TEST(o.out.empty());
}

BOOST_AUTO_TEST_CASE(refusals_exit_4_with_the_daemons_message_and_a_hint) {
  std::string code, message;
  unsigned status = 0;
  std::string headers;
  fake_daemon d([&](const recorded_request&) { return scripted_reply{status, error_body(code, message), headers}; });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  term.token = secret_a;
  struct refusal {
    unsigned status;
    std::string code, message;
    std::vector<std::string> args;
    std::string hint;
    std::string headers;
  };
  const std::vector<refusal> refusals = {
      {401, "revoked_token", "this token was revoked", {"account"}, "The token from POTLUCK_TOKEN has been revoked", ""},
      {401, "bad_token", "unknown token", {"tokens"}, "potluck login", ""},
      {403, "missing_scope", "this needs the admin scope", {"admin", "audit"}, "admin-token", ""},
      {403, "missing_scope", "this needs the admin scope", {"admin", "settings"}, "admin-token", ""},
      {403, "missing_scope", "the calling token lacks admin", {"tokens", "create", "x", "--scope", "admin"},
       "scopes it has itself", ""},
      {403, "signup_closed", "sign-up is closed", {"account", "create", "bob"}, "ask its operator", ""},
      {409, "name_taken", "the name 'alice' is taken", {"account", "create", "alice"}, "Pick another name", ""},
      {400, "bad_name", "bad name", {"account", "create", "x--y"}, "lowercase letters", ""},
      {404, "not_found", "no token 99", {"tokens", "revoke", "99"}, "potluck tokens", ""},
      {429, "rate_limited", "slow down", {"account"}, "try again in 7 s", "Retry-After: 7\r\n"},
  };
  for (const auto& r : refusals) {
    status = r.status;
    code = r.code;
    message = r.message;
    headers = r.headers;
    auto o = run_cli(r.args, term);
    BOOST_TEST(o.status == 4, r.code);
    BOOST_TEST(has(o.err, "error: " + r.message + "\n"));
    BOOST_TEST(has(o.err, r.hint));
    BOOST_TEST(o.err.find(secret_a) == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(login_checks_the_token_then_saves_it) {
  fake_daemon d([](const recorded_request& r) {
    if (r.authorization == "Bearer " + secret_a)
      return scripted_reply{200, R"({"account": )" + alice + R"(, "token": )" + default_token + "}"};
    return scripted_reply{401, error_body("bad_token", "unknown token")};
  });
  temp_home home;
  // From stdin, when it is not a terminal; spaces and the newline around it are dropped.
  auto term = term_in(home);
  term.url = d.url();
  term.read_line = [] { return std::optional<std::string>("  " + secret_a + "\n"); };
  auto o = run_cli({"login"}, term);
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(has(o.out, "Logged in as alice at " + d.url()));
  BOOST_TEST(d.last().authorization == "Bearer " + secret_a);
  BOOST_TEST(read_config(home.config(), permission_check::enforce)->token.value() == secret_a);
  BOOST_TEST(read_config(home.config(), permission_check::enforce)->url.value() == d.url());
  BOOST_TEST(o.out.find(secret_a) == std::string::npos);
  BOOST_TEST(o.err.find(secret_a) == std::string::npos);

  // A token the daemon does not know: exit 4, and the saved one stays.
  auto bad = run_cli({"login", "--token", secret_b}, term);
  BOOST_TEST(bad.status == 4);
  BOOST_TEST(has(bad.err, "copied whole"));
  BOOST_TEST(read_config(home.config(), permission_check::enforce)->token.value() == secret_a);

  // On a terminal: the prompt, without echo (read_secret), names the daemon.
  temp_home fresh;
  auto tty = term_in(fresh);
  tty.url = d.url();
  tty.stdin_tty = true;
  std::string prompt;
  tty.read_secret = [&](std::string_view p) {
    prompt = p;
    return std::optional<std::string>(secret_a);
  };
  BOOST_TEST(run_cli({"login"}, tty).status == 0);
  BOOST_TEST(has(prompt, d.url()));
  BOOST_TEST(read_config(fresh.config(), permission_check::enforce)->token.value() == secret_a);

  // Nothing on stdin: a usage error.
  auto empty = term_in(fresh);
  empty.read_line = [] { return std::optional<std::string>(); };
  auto none = run_cli({"--url", d.url(), "login"}, empty);
  BOOST_TEST(none.status == 2);
  BOOST_TEST(has(none.err, "no token given"));

  // POTLUCK_TOKEN would win over the saved token: login says so.
  auto env = term;
  env.token = secret_b;
  auto noted = run_cli({"login"}, env);
  BOOST_TEST(noted.status == 0, noted.err);
  BOOST_TEST(has(noted.err, "POTLUCK_TOKEN is set"));
}

BOOST_AUTO_TEST_CASE(logout_removes_the_token_and_keeps_the_url) {
  temp_home home;
  config_file saved;
  saved.url = "http://127.0.0.1:1";
  saved.token = secret_a;
  write_config(home.config(), saved);
  auto o = run_cli({"logout"}, term_in(home));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(has(o.out, "removed the token from " + home.config().string()));
  auto after = read_config(home.config(), permission_check::enforce).value();
  BOOST_TEST(!after.token.has_value());
  BOOST_TEST(after.url.value() == "http://127.0.0.1:1");
  auto again = run_cli({"logout"}, term_in(home));
  BOOST_TEST(again.status == 0);
  BOOST_TEST(has(again.out, "Not logged in"));
}

BOOST_AUTO_TEST_CASE(tokens_list_create_and_revoke) {
  const std::string laptop = R"({"id": 12, "name": "laptop", "scopes": ["read", "submit"], "prefix": "plk_bbbbbbbb",
                                "created_at": "2026-11-30T08:00:00Z", "last_used_at": null, "revoked_at": null})";
  const std::string old = R"({"id": 3, "name": "old", "scopes": ["read"], "prefix": "plk_cccccccc",
                             "created_at": "2026-11-30T08:00:00Z", "last_used_at": "2026-11-30T09:00:00Z",
                             "revoked_at": "2026-11-30T10:00:00Z"})";
  fake_daemon d([&](const recorded_request& r) {
    if (r.method == "GET") return scripted_reply{200, R"({"tokens": [)" + default_token + "," + old + "]}"};
    if (r.method == "POST") return scripted_reply{201, R"({"token": )" + with_secret(laptop, secret_b) + "}"};
    return scripted_reply{200, R"({"revoked": true})"};
  });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  term.token = secret_a;

  auto list = run_cli({"tokens"}, term);
  BOOST_TEST(list.status == 0, list.err);
  BOOST_TEST(list.out.starts_with("ID  NAME     SCOPES                      PREFIX        CREATED"));
  BOOST_TEST(has(list.out, "LAST USED  STATE"));
  BOOST_TEST(has(list.out, "11  default  read,submit,publish,donate  plk_aaaaaaaa"));
  BOOST_TEST(has(list.out, "never      live, in use"));  // secret_a starts with that prefix
  BOOST_TEST(has(list.out, " 3  old"));
  BOOST_TEST(has(list.out, "revoked"));
  BOOST_TEST(run_cli({"tokens", "-q"}, term).out == "11\n3\n");

  auto made = run_cli({"tokens", "create", "laptop", "--scope", "read", "-s", "submit,read"}, term);
  BOOST_TEST(made.status == 0, made.err);
  BOOST_TEST(d.last().target == "/api/v1/account/tokens");
  auto body = json::parse(d.last().body);
  BOOST_TEST(body.at("name").as_string() == "laptop");
  BOOST_TEST(json::serialize(body.at("scopes")) == R"(["read","submit"])");
  BOOST_TEST(has(made.out, "Created token 12 \"laptop\" (read, submit)"));
  BOOST_TEST(has(made.out, "\n  " + secret_b + "\n"));
  BOOST_TEST(has(made.err, "shown only this once"));
  BOOST_TEST(run_cli({"tokens", "create", "ci", "-q"}, term).out == secret_b + "\n");
  // Without --scope the daemon picks the scopes (those of the calling token, admin left out).
  BOOST_TEST(!json::parse(d.last().body).as_object().contains("scopes"));

  auto revoked = run_cli({"tokens", "revoke", "12"}, term);
  BOOST_TEST(revoked.status == 0);
  BOOST_TEST(revoked.out == "Revoked token 12.\n");
  BOOST_TEST(d.last().method == "DELETE");
  BOOST_TEST(d.last().target == "/api/v1/account/tokens/12");
}

BOOST_AUTO_TEST_CASE(the_ledger_shows_signed_credits) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{200, R"({"entries": [
      {"id": 9, "kind": "charge", "amount": -2500000, "counterparty": "escrow", "job_id": 42,
       "time": "2026-11-30T09:30:00Z", "memo": ""},
      {"id": 2, "kind": "grant", "amount": 1234500000, "counterparty": "mint", "job_id": null,
       "time": "2026-11-30T08:00:00.250Z", "memo": "welcome"}], "next_cursor": 2})"};
  });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  term.token = secret_a;
  auto o = run_cli({"ledger", "--limit", "2"}, term);
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().target == "/api/v1/account/ledger?limit=2");
  BOOST_TEST(o.out ==
             "TIME                     KIND      AMOUNT  COUNTERPARTY  JOB  MEMO\n"
             "2026-11-30 09:30:00 UTC  charge      -2.5  escrow         42\n"
             "2026-11-30 08:00:00 UTC  grant   +1,234.5  mint            -  welcome\n");
  BOOST_TEST(has(o.err, "potluck ledger --limit 2 --cursor 2"));
  BOOST_TEST(run_cli({"ledger", "--cursor", "a b&c"}, term).status == 0);
  BOOST_TEST(d.last().target == "/api/v1/account/ledger?limit=20&cursor=a%20b%26c");
}

BOOST_AUTO_TEST_CASE(admin_audit_exits_0_when_the_books_balance_and_1_with_the_problems) {
  bool ok = true;
  fake_daemon d([&](const recorded_request&) {
    if (ok)
      return scripted_reply{200, R"({"ok": true, "minted": 1234500000, "sum_of_balances": 0,
                                    "accounts_checked": 5, "entries_checked": 17, "problems": []})"};
    return scripted_reply{200, R"({"ok": false, "minted": 5000000, "sum_of_balances": 3,
                                  "accounts_checked": 5, "entries_checked": 17,
                                  "problems": ["account alice: cached balance 8 but the ledger says 5"]})"};
  });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  term.token = secret_a;
  auto good = run_cli({"admin", "audit"}, term);
  BOOST_TEST(good.status == 0);
  BOOST_TEST(good.out == "books balance: 1,234.5 credits minted, held by 5 accounts, 17 ledger rows checked\n");
  BOOST_TEST(d.last().target == "/api/v1/admin/audit");
  ok = false;
  auto bad = run_cli({"admin", "audit"}, term);
  BOOST_TEST(bad.status == 1);
  BOOST_TEST(has(bad.out, "books do not balance: 1 problem"));
  BOOST_TEST(has(bad.out, "  account alice: cached balance 8 but the ledger says 5\n"));
  BOOST_TEST(run_cli({"admin", "audit", "--json"}, term).status == 1);
}

BOOST_AUTO_TEST_CASE(admin_grant_sends_micro_credits) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{201, R"({"entry": {"id": 31, "kind": "grant", "amount": 2500000, "counterparty": "mint",
                                  "job_id": null, "time": "2026-11-30T09:30:00Z", "memo": "thanks"}})"};
  });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  term.token = secret_a;
  auto o = run_cli({"admin", "grant", "alice", "2.5", "--memo", "thanks"}, term);
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == "Granted 2.5 credits to alice (ledger entry 31).\n");
  auto body = json::parse(d.last().body);
  BOOST_TEST(body.at("account").as_string() == "alice");
  BOOST_TEST(body.at("amount").as_int64() == 2'500'000);
  BOOST_TEST(body.at("memo").as_string() == "thanks");
  BOOST_TEST(run_cli({"admin", "grant", "alice", "1,000", "-q"}, term).out == "31\n");
  BOOST_TEST(json::parse(d.last().body).at("amount").as_int64() == 1'000'000'000);
  BOOST_TEST(!json::parse(d.last().body).as_object().contains("memo"));
}

BOOST_AUTO_TEST_CASE(admin_settings_shows_the_market_as_the_operator_set_it) {
  std::string settings = R"({"starter_grant": 10000000, "signup": "open", "free_tier": true, "fee_ppm": 25000,
                             "anonymous_workers": false, "rate_limit": 0.5, "max_attempts": 3})";
  fake_daemon d([&](const recorded_request&) { return scripted_reply{200, settings}; });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  term.token = secret_a;
  auto o = run_cli({"admin", "settings"}, term);
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().method == "GET");
  BOOST_TEST(d.last().target == "/api/v1/admin/settings");
  BOOST_TEST(d.last().authorization == "Bearer " + secret_a);
  BOOST_TEST(o.out == "Sign-up:            open: anyone may create an account\n"
                      "Starter grant:      10 credits for each new account\n"
                      "Free tier:          on: jobs may bid 0 and run on workers that take free jobs\n"
                      "Fee:                2.5% of each charge, paid into the fees account\n"
                      "Anonymous workers:  refused: workers need a donor token\n"
                      "Rate limit:         0.5 requests a second per token, bursts of 10 times that\n"
                      "Max attempts:       3 dispatches of a job before it fails\n");
  BOOST_TEST(has(o.err, "potluckd's flags set these: --signup, --starter-grant"));
  // Scripts: KEY=VALUE in the daemon's units, or its JSON.
  auto quiet = run_cli({"admin", "settings", "-q"}, term);
  BOOST_TEST(quiet.out == "starter_grant=10000000\nsignup=open\nfree_tier=true\nfee_ppm=25000\n"
                          "anonymous_workers=false\nrate_limit=0.5\nmax_attempts=3\n");
  BOOST_TEST(quiet.err.empty());
  BOOST_TEST(json::parse(run_cli({"admin", "settings", "--json"}, term).out) == json::parse(settings));

  settings = R"({"starter_grant": 0, "signup": "closed", "free_tier": false, "fee_ppm": 0,
                 "anonymous_workers": true, "rate_limit": 0, "max_attempts": 1})";
  auto closed = run_cli({"admin", "settings"}, term);
  BOOST_TEST(has(closed.out, "Sign-up:            closed: nobody may create an account\n"
                             "Starter grant:      none\n"
                             "Free tier:          off: every job pays\n"
                             "Fee:                none\n"
                             "Anonymous workers:  accepted (workers without a donor token)\n"
                             "Rate limit:         none\n"
                             "Max attempts:       1 dispatch of a job before it fails\n"));
}

BOOST_AUTO_TEST_CASE(mistakes_in_the_new_commands_exit_2_before_anything_is_sent) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, "{}"}; });
  temp_home home;
  auto term = term_in(home);
  term.url = d.url();
  struct mistake {
    std::vector<std::string> args;
    std::string says, help;
  };
  const std::vector<mistake> mistakes = {
      {{"account", "create"}, "potluck account create needs a NAME", "potluck account create --help"},
      {{"account", "alice"}, "potluck account takes no arguments", "potluck account --help"},
      {{"acount"}, "did you mean 'account'?", "potluck --help"},
      {{"tokens", "create", "x", "--scope", "write"}, "'write' is not a scope", "potluck tokens create --help"},
      {{"tokens", "create", "x", "--scope", ","}, "--scope is empty", "potluck tokens create --help"},
      {{"tokens", "revoke"}, "takes a token ID", "potluck tokens revoke --help"},
      {{"tokens", "revoke", "three"}, "'three' is not a token ID", "potluck tokens revoke --help"},
      {{"tokens", "revoke", secret_a}, "that is a token's secret, not its ID", "potluck tokens revoke --help"},
      {{"tokens", "remove", "3"}, "potluck tokens takes no arguments", "potluck tokens --help"},
      {{"ledger", "--limit", "0"}, "--limit takes a number from 1 to 500", "potluck ledger --help"},
      {{"ledger", "--limit", "501"}, "--limit takes a number from 1 to 500", "potluck ledger --help"},
      {{"admin"}, "potluck admin needs a command: audit, grant, settings", "potluck help admin"},
      {{"admin", "audti"}, "did you mean 'admin audit'?", "potluck help admin"},
      {{"admin", "grant", "alice"}, "takes an ACCOUNT and an amount of CREDITS", "potluck admin grant --help"},
      {{"admin", "grant", "alice", "-5"}, "CREDITS '-5': it is negative", "potluck admin grant --help"},
      {{"admin", "grant", "alice", "1.0000001"}, "more than 6 decimals", "potluck admin grant --help"},
      {{"admin", "grant", "alice", "2,5"}, "not a number of credits", "potluck admin grant --help"},
      {{"admin", "grant", "alice", "0"}, "CREDITS must be more than 0", "potluck admin grant --help"},
      {{"account", "--token", ""}, "--token is empty", "potluck account --help"},
      {{"account", "--token", "plk_a b"}, "the token from --token cannot be sent", "potluck account --help"},
      {{"login", "--token", "plk_a\tb"}, "that cannot be a token", "potluck login --help"},
      {{"--tokn=" + secret_a, "account"}, "unknown flag '--tokn'; did you mean --token?", "potluck account --help"},
  };
  for (const auto& m : mistakes) {
    auto o = run_cli(m.args, term);
    BOOST_TEST(o.status == 2, m.says << ": status " << o.status << ", stderr: " << o.err);
    BOOST_TEST(has(o.err, m.says));
    BOOST_TEST(has(o.err, "Run '" + m.help + "' for usage."));
    BOOST_TEST(o.err.find(secret_a) == std::string::npos);
    BOOST_TEST(o.out.empty());
  }
  BOOST_TEST(d.requests().empty());
}

BOOST_AUTO_TEST_CASE(global_flags_with_values_go_before_the_command) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{200, R"({"account": )" + alice + R"(, "token": )" + default_token + "}"};
  });
  temp_home home;
  auto o = run_cli({"--token", secret_a, "--url", d.url(), "account", "show", "-q"}, term_in(home));
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == "alice\n");
  BOOST_TEST(d.last().authorization == "Bearer " + secret_a);
}
