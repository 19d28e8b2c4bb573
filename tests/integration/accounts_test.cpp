// End-to-end tests of accounts, API tokens and the operator's audit and grants: a real potluckd
// with its journal in a temp folder, plain HTTP requests.
#define BOOST_TEST_MODULE integration_accounts
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <boost/json.hpp>

#include <sys/stat.h>

#include <fstream>
#include <string>

namespace json = boost::json;
using namespace potluck::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t micro = 1'000'000;

std::string admin_token(const daemon_process& d) {
  std::ifstream in(d.data_dir() / "admin-token");
  std::string token;
  std::getline(in, token);
  return token;
}

// Signs up `name`; returns the reply's JSON (account and token, with its secret).
json::object sign_up(const daemon_process& d, const std::string& name) {
  auto r = http(d.http_port(), "POST", "/api/v1/accounts", R"({"name":")" + name + R"("})");
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  return r.json().as_object();
}

std::string secret_of(const json::object& signed_up) {
  return std::string(signed_up.at("token").at("secret").as_string());
}

std::string error_code(const http_reply& r) { return std::string(r.json().at("error").at("code").as_string()); }

std::int64_t balance(const daemon_process& d, const std::string& token) {
  auto r = http_as(token, d.http_port(), "GET", "/api/v1/account");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  return r.json().at("account").at("balance").as_int64();
}

}  // namespace

BOOST_AUTO_TEST_CASE(first_start_makes_an_admin_token_only_the_operator_can_read_and_keeps_it) {
  daemon_process d;
  const auto file = d.data_dir() / "admin-token";
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(file.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  const auto token = admin_token(d);
  BOOST_TEST(token.starts_with("plk_"));
  BOOST_TEST(d.process().log().find(token) != std::string::npos, "printed once at the first start");

  auto me = http_as(token, d.http_port(), "GET", "/api/v1/account");
  BOOST_TEST_REQUIRE(me.status == 200, me.body);
  BOOST_TEST(me.json().at("account").at("name").as_string() == "operator");
  const auto scopes = json::serialize(me.json().at("token").at("scopes"));
  BOOST_TEST(scopes.find("admin") != std::string::npos, scopes);

  // A restart keeps the token and does not print it again.
  d.restart();
  BOOST_TEST(admin_token(d) == token);
  BOOST_TEST(d.process().log().find(token) == std::string::npos);
  BOOST_TEST(http_as(token, d.http_port(), "GET", "/api/v1/account").status == 200);

  // A lost file gets a fresh token at the next start.
  std::filesystem::remove(file);
  d.restart();
  const auto fresh = admin_token(d);
  BOOST_TEST(fresh != token);
  BOOST_TEST(http_as(fresh, d.http_port(), "GET", "/api/v1/admin/audit").status == 200);
}

BOOST_AUTO_TEST_CASE(sign_up_grants_the_starter_credits_and_shows_the_secret_once) {
  daemon_process d({"--starter-grant", "5"});
  const auto alice = sign_up(d, "alice");
  BOOST_TEST(alice.at("account").at("balance").as_int64() == 5 * micro);
  const auto secret = secret_of(alice);
  BOOST_TEST(balance(d, secret) == 5 * micro);

  // Lists never show a secret again.
  auto tokens = http_as(secret, d.http_port(), "GET", "/api/v1/account/tokens");
  BOOST_TEST_REQUIRE(tokens.status == 200, tokens.body);
  BOOST_TEST(tokens.body.find(secret) == std::string::npos);
  BOOST_TEST(tokens.json().at("tokens").as_array().size() == 1u);

  auto ledger = http_as(secret, d.http_port(), "GET", "/api/v1/account/ledger");
  BOOST_TEST_REQUIRE(ledger.status == 200, ledger.body);
  const auto page = ledger.json();
  const auto& entries = page.at("entries").as_array();
  BOOST_TEST_REQUIRE(entries.size() == 1u);
  BOOST_TEST(entries[0].at("kind").as_string() == "grant");
  BOOST_TEST(entries[0].at("amount").as_int64() == 5 * micro);
  BOOST_TEST(entries[0].at("counterparty").as_string() == "mint");

  // The books: the operator's and alice's grants, held by them, and nothing else.
  auto audit = http_as(admin_token(d), d.http_port(), "GET", "/api/v1/admin/audit");
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  BOOST_TEST(audit.json().at("ok").as_bool());
  BOOST_TEST(audit.json().at("minted").as_int64() == 10 * micro);
  BOOST_TEST(audit.json().at("sum_of_balances").as_int64() == 0);
}

BOOST_AUTO_TEST_CASE(bad_sign_ups_get_clear_errors_and_write_nothing) {
  daemon_process d;
  sign_up(d, "bob");
  auto taken = http(d.http_port(), "POST", "/api/v1/accounts", R"({"name":"bob"})");
  BOOST_TEST(taken.status == 409);
  BOOST_TEST(error_code(taken) == "name_taken");
  for (const char* body : {R"({"name":"Bob"})", R"({"name":"-bob"})", R"({"name":""})", R"({"name":42})",
                           R"({"name":"a-very-long-name-that-goes-on-and-on-and-on"})"}) {
    auto r = http(d.http_port(), "POST", "/api/v1/accounts", body);
    BOOST_TEST(r.status == 400, body);
    BOOST_TEST(error_code(r) == "bad_name", body);
    BOOST_TEST(!r.json().at("error").at("message").as_string().empty());
  }
  auto not_json = http(d.http_port(), "POST", "/api/v1/accounts", "{name: bob");
  BOOST_TEST(not_json.status == 400);
  BOOST_TEST(error_code(not_json) == "invalid_json");
  auto not_object = http(d.http_port(), "POST", "/api/v1/accounts", "[1, 2]");
  BOOST_TEST(not_object.status == 400);

  // Nothing of it reached the books: the operator's and bob's grants only.
  auto audit = http_as(admin_token(d), d.http_port(), "GET", "/api/v1/admin/audit");
  BOOST_TEST(audit.json().at("ok").as_bool());
  BOOST_TEST(audit.json().at("minted").as_int64() == 200 * micro);

  // Sign-ups from one address are rate limited, with Retry-After.
  http_reply limited;
  for (int i = 0; i < 50 && limited.status != 429; ++i)
    limited = http(d.http_port(), "POST", "/api/v1/accounts", R"({"name":"spam-)" + std::to_string(i) + R"("})");
  BOOST_TEST_REQUIRE(limited.status == 429, limited.body);
  BOOST_TEST(error_code(limited) == "rate_limited");
  BOOST_TEST(std::stoi(limited.header("retry-after")) >= 1);
}

BOOST_AUTO_TEST_CASE(a_closed_daemon_refuses_sign_ups) {
  daemon_process d({"--signup", "closed"});
  auto r = http(d.http_port(), "POST", "/api/v1/accounts", R"({"name":"carol"})");
  BOOST_TEST(r.status == 403);
  BOOST_TEST(error_code(r) == "signup_closed");
}

BOOST_AUTO_TEST_CASE(tokens_are_checked_scoped_and_revocable) {
  daemon_process d;
  const auto dave = secret_of(sign_up(d, "dave"));
  const auto port = d.http_port();

  auto none = http(port, "GET", "/api/v1/account");
  BOOST_TEST(none.status == 401);
  BOOST_TEST(error_code(none) == "missing_token");
  BOOST_TEST(none.json().at("error").at("message").as_string().find("potluck account create") != json::string::npos);
  for (const auto& bad : {"plk_" + std::string(64, '0'), std::string("nonsense"), dave + "x"}) {
    auto r = http_as(bad, port, "GET", "/api/v1/account");
    BOOST_TEST(r.status == 401, bad);
    BOOST_TEST(error_code(r) == "bad_token", bad);
  }
  auto basic = http(port, "GET", "/api/v1/account", {}, "application/json", {{"Authorization", "Basic " + dave}});
  BOOST_TEST(basic.status == 401);

  // A read-only token can read but not give itself more.
  auto made = http_as(dave, port, "POST", "/api/v1/account/tokens", R"({"name":"reader","scopes":["read"]})");
  BOOST_TEST_REQUIRE(made.status == 201, made.body);
  const auto reader = std::string(made.json().at("token").at("secret").as_string());
  const auto reader_id = made.json().at("token").at("id").as_int64();
  BOOST_TEST(http_as(reader, port, "GET", "/api/v1/account/ledger").status == 200);
  auto escalate = http_as(reader, port, "POST", "/api/v1/account/tokens", R"({"name":"x","scopes":["read","submit"]})");
  BOOST_TEST(escalate.status == 403);
  BOOST_TEST(error_code(escalate) == "missing_scope");
  auto admin_only = http_as(dave, port, "POST", "/api/v1/account/tokens", R"({"name":"x","scopes":["admin"]})");
  BOOST_TEST(admin_only.status == 403);
  for (const char* body : {R"({"scopes":["read"]})", R"({"name":"x","scopes":["everything"]})", R"({"name":"x","scopes":"read"})"}) {
    auto r = http_as(dave, port, "POST", "/api/v1/account/tokens", body);
    BOOST_TEST(r.status == 400, body);
  }

  // Another account cannot revoke dave's token; dave can, once.
  const auto erin = secret_of(sign_up(d, "erin"));
  BOOST_TEST(http_as(erin, port, "DELETE", "/api/v1/account/tokens/" + std::to_string(reader_id)).status == 404);
  BOOST_TEST(http_as(dave, port, "DELETE", "/api/v1/account/tokens/" + std::to_string(reader_id)).status == 200);
  BOOST_TEST(http_as(dave, port, "DELETE", "/api/v1/account/tokens/" + std::to_string(reader_id)).status == 404);
  BOOST_TEST(http_as(dave, port, "DELETE", "/api/v1/account/tokens/abc").status == 400);
  auto revoked = http_as(reader, port, "GET", "/api/v1/account");
  BOOST_TEST(revoked.status == 401);
  BOOST_TEST(error_code(revoked) == "revoked_token");

  // The listing shows when a token was last used, and that one revoked.
  const auto listing = http_as(dave, port, "GET", "/api/v1/account/tokens").json();
  const auto& list = listing.at("tokens").as_array();
  BOOST_TEST_REQUIRE(list.size() == 2u);
  for (const auto& t : list) {
    if (t.at("id").as_int64() == reader_id) BOOST_TEST(!t.at("revoked_at").is_null());
    else BOOST_TEST(t.at("revoked_at").is_null());
  }
}

BOOST_AUTO_TEST_CASE(only_admin_tokens_audit_and_grant_and_grants_reach_the_books) {
  daemon_process d({"--starter-grant", "1"});
  const auto frank = secret_of(sign_up(d, "frank"));
  const auto admin = admin_token(d);
  const auto port = d.http_port();

  for (const auto& [method, target] : {std::pair{"GET", "/api/v1/admin/audit"}, std::pair{"POST", "/api/v1/admin/grants"}}) {
    auto r = http_as(frank, port, method, target, R"({"account":"frank","amount":5})");
    BOOST_TEST(r.status == 403, target);
    BOOST_TEST(error_code(r) == "missing_scope", target);
  }
  BOOST_TEST(http_as(admin, port, "POST", "/api/v1/admin/grants", R"({"account":"nobody","amount":5})").status == 404);
  for (const char* body : {R"({"account":"frank","amount":0})", R"({"account":"frank","amount":-5})",
                           R"({"account":"frank","amount":1.5})", R"({"account":"frank"})", R"({"amount":5})"}) {
    auto r = http_as(admin, port, "POST", "/api/v1/admin/grants", body);
    BOOST_TEST(r.status == 400, body);
  }

  auto granted = http_as(admin, port, "POST", "/api/v1/admin/grants",
                         R"({"account":"frank","amount":2500000,"memo":"thanks for testing"})");
  BOOST_TEST_REQUIRE(granted.status == 201, granted.body);
  BOOST_TEST(granted.json().at("entry").at("amount").as_int64() == 2'500'000);
  BOOST_TEST(granted.json().at("entry").at("memo").as_string() == "thanks for testing");
  BOOST_TEST(balance(d, frank) == 3'500'000);

  const auto audit = http_as(admin, port, "GET", "/api/v1/admin/audit").json();
  BOOST_TEST(audit.at("ok").as_bool());
  BOOST_TEST(audit.at("minted").as_int64() == 1 * micro + 1 * micro + 2'500'000);

  // The books survive kill -9.
  d.restart();
  BOOST_TEST(balance(d, frank) == 3'500'000);
  BOOST_TEST(http_as(admin, port, "GET", "/api/v1/admin/audit").json().at("ok").as_bool());
}

BOOST_AUTO_TEST_CASE(a_token_used_too_fast_gets_429_with_retry_after) {
  // 20 a second, bursts of 200: 2000 requests pass it however slow this machine is.
  daemon_process d({"--rate-limit", "20"});
  const auto token = secret_of(sign_up(d, "grace"));
  http_reply r;
  for (int i = 0; i < 2000 && r.status != 429; ++i) r = http_as(token, d.http_port(), "GET", "/api/v1/account");
  BOOST_TEST_REQUIRE(r.status == 429, r.body);
  BOOST_TEST(error_code(r) == "rate_limited");
  BOOST_TEST(std::stoi(r.header("retry-after")) >= 1);
  // Other tokens are not affected.
  BOOST_TEST(http_as(admin_token(d), d.http_port(), "GET", "/api/v1/account").status == 200);
}

BOOST_AUTO_TEST_CASE(submitting_and_cancelling_need_a_token_and_only_the_owner_cancels) {
  daemon_process d;
  const auto port = d.http_port();
  const std::string job = R"({"task":"test.sleep","params":{"ms":60000}})";
  // No worker offers test.sleep yet: the checks below come before any task lookup matters.
  auto none = http(port, "POST", "/api/v1/jobs", job);
  BOOST_TEST(none.status == 401);
  BOOST_TEST(error_code(none) == "missing_token");
  BOOST_TEST(http(port, "POST", "/api/v1/jobs/batch", R"({"jobs":[)" + job + "]}").status == 401);

  const auto hank_signed_up = sign_up(d, "hank");
  const auto hank = secret_of(hank_signed_up);
  auto reader = http_as(hank, port, "POST", "/api/v1/account/tokens", R"({"name":"r","scopes":["read"]})");
  const auto read_only = std::string(reader.json().at("token").at("secret").as_string());
  auto refused = http_as(read_only, port, "POST", "/api/v1/jobs", job);
  BOOST_TEST(refused.status == 403);
  BOOST_TEST(error_code(refused) == "missing_scope");

  auto worker = start_worker(d, "w");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  auto mine = http_as(hank, port, "POST", "/api/v1/jobs", job);
  BOOST_TEST_REQUIRE(mine.status == 202, mine.body);
  const auto id = mine.json().at("id").as_int64();
  const auto cancel_path = "/api/v1/jobs/" + std::to_string(id) + "/cancel";

  BOOST_TEST(http(port, "POST", cancel_path).status == 401);
  const auto ivy = secret_of(sign_up(d, "ivy"));
  auto not_hers = http_as(ivy, port, "POST", cancel_path);
  BOOST_TEST(not_hers.status == 403);
  BOOST_TEST(error_code(not_hers) == "not_your_job");
  auto job_now = http(port, "GET", "/api/v1/jobs/" + std::to_string(id)).json();
  BOOST_TEST(job_now.at("state").as_string() != "cancelled");
  BOOST_TEST(job_now.at("account_id").as_int64() == hank_signed_up.at("account").at("id").as_int64());
  BOOST_TEST(http_as(hank, port, "POST", cancel_path).status == 200);

  // The operator may cancel anyone's job.
  auto again = http_as(hank, port, "POST", "/api/v1/jobs", job);
  BOOST_TEST(http_as(admin_token(d), port, "POST", "/api/v1/jobs/" + std::to_string(again.json().at("id").as_int64()) + "/cancel").status == 200);
}

BOOST_AUTO_TEST_CASE(workers_donate_with_a_token_and_are_refused_without_one) {
  daemon_process d;
  // An empty token file is a usage error, said at once.
  auto empty = start_worker(d, "empty", 1, {"--token-file", "/dev/null"});
  const auto status = empty->wait(30s);
  BOOST_TEST_REQUIRE(status.has_value(), empty->log());
  BOOST_TEST(WEXITSTATUS(*status) == 2);
  BOOST_TEST(empty->log().find("is empty") != std::string::npos, empty->log());
  const auto jill = sign_up(d, "jill");
  const auto token_id = jill.at("token").at("id").as_int64();
  const auto token_file = d.data_dir() / "jill-token";
  std::ofstream(token_file) << secret_of(jill) << "\n";

  auto donor = start_worker(d, "donor", 1, {"--token-file", token_file.string()});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), donor->log());
  const auto workers = http(d.http_port(), "GET", "/api/v1/workers").json();
  BOOST_TEST(workers.at("workers").as_array()[0].at("owner").as_string() == "jill");

  // Revoking the token disconnects the worker at once, and its next hello is refused, saying why.
  BOOST_TEST(http_as(secret_of(jill), d.http_port(), "DELETE", "/api/v1/account/tokens/" + std::to_string(token_id)).status == 200);
  BOOST_TEST(eventually([&] { return donor->log().find("donor token was revoked") != std::string::npos; }, 30s),
             donor->log());
  auto refusals = [&] {
    const auto log = donor->log();
    std::size_t n = 0;
    for (auto at = log.find("hello refused"); at != std::string::npos; at = log.find("hello refused", at + 1)) ++n;
    return n;
  };
  BOOST_TEST(eventually([&] { return refusals() >= 1; }, 30s), donor->log());
  BOOST_TEST(donor->log().find("was revoked") != std::string::npos);
  BOOST_TEST(http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array().empty());
  // A restart changes nothing: the next hello with the revoked token is refused too.
  const auto before = refusals();
  d.restart();
  BOOST_TEST(eventually([&] { return refusals() > before; }, 30s), donor->log());
  BOOST_TEST(http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array().empty());
}

BOOST_AUTO_TEST_CASE(a_worker_without_a_token_is_refused_unless_the_daemon_takes_anonymous_ones) {
  {
    daemon_process d;
    auto w = std::make_unique<child_process>(
        std::vector<std::string>{(build_dir() / "bin" / "potluck-worker").string(), "--daemon", d.workers_endpoint(),
                                 "--plugins", plugin_dir().string(), "--name", "nobody", "--gpus", "none"},
        d.data_dir() / "worker-nobody.log");
    BOOST_TEST(eventually([&] { return w->log().find("donor token") != std::string::npos; }, 30s), w->log());
    BOOST_TEST(http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array().empty());
  }
  daemon_process open({"--anonymous-workers"});
  auto w = std::make_unique<child_process>(
      std::vector<std::string>{(build_dir() / "bin" / "potluck-worker").string(), "--daemon", open.workers_endpoint(),
                               "--plugins", plugin_dir().string(), "--name", "nobody", "--gpus", "none"},
      open.data_dir() / "worker-nobody.log");
  BOOST_TEST_REQUIRE(wait_for_workers(open, 1), w->log());
  BOOST_TEST(http(open.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array()[0].at("owner").is_null());
}

BOOST_AUTO_TEST_CASE(the_local_session_is_only_for_this_machine_and_only_when_asked_for) {
  daemon_process plain;
  auto r = http(plain.http_port(), "POST", "/api/v1/session/local");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(error_code(r) == "no_local_session");

  daemon_process local({"--local-session"});
  auto ok = http(local.http_port(), "POST", "/api/v1/session/local");
  BOOST_TEST_REQUIRE(ok.status == 200, ok.body);
  const auto token = std::string(ok.json().at("token").as_string());
  BOOST_TEST(ok.json().at("account").at("name").as_string() == "operator");
  BOOST_TEST(http_as(token, local.http_port(), "GET", "/api/v1/account").status == 200);
  BOOST_TEST(http_as(token, local.http_port(), "GET", "/api/v1/admin/audit").status == 403);  // not an admin token
  // A page of another site whose name resolves to 127.0.0.1 gets nothing.
  auto rebound = http(local.http_port(), "POST", "/api/v1/session/local", {}, "application/json",
                      {{"Host", "evil.example:" + std::to_string(local.http_port())}});
  BOOST_TEST(rebound.status == 404);
  // A restart hands out a new one and the old one stops working.
  local.restart();
  auto fresh = http(local.http_port(), "POST", "/api/v1/session/local");
  BOOST_TEST(std::string(fresh.json().at("token").as_string()) != token);
  BOOST_TEST(http_as(token, local.http_port(), "GET", "/api/v1/account").status == 401);
}
