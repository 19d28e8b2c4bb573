// Tests of the organisations' commands (cli/orgs.cpp through cli/app.hpp's run) against a fake
// daemon: org create, show and add, account transfer, submit --bill-to and the organisations
// potluck account lists. What is sent (paths, bodies, the X-Potluck-Bill-To header), what people
// see, what scripts get (-q, --json), and the exit statuses and hints of mistakes and refusals.
#define BOOST_TEST_MODULE cli_orgs
#include <boost/test/unit_test.hpp>

#include "cli/app.hpp"
#include "cli_run.hpp"
#include "fake_daemon.hpp"

#include <boost/json.hpp>

#include <sstream>

using namespace potluck::cli;
using namespace potluck::cli::testing;
namespace json = boost::json;

namespace {

const std::string acme = R"({"org": {"id": 9, "name": "acme", "kind": "org", "balance": 12500000,
  "created_at": "2026-11-30T08:00:00Z",
  "members": [{"account": "alice", "role": "owner"}, {"account": "bob", "role": "member"}]}})";

const std::string new_acme = R"({"org": {"id": 9, "name": "acme", "kind": "org", "balance": 0,
  "created_at": "2026-11-30T08:00:00Z", "members": [{"account": "alice", "role": "owner"}]}})";

}  // namespace

BOOST_AUTO_TEST_CASE(org_create_sends_the_name_and_says_how_to_fund_it) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{201, new_acme}; });
  auto o = run_cli({"--url", d.url(), "org", "create", "acme"});
  BOOST_TEST(o.status == 0, o.err);
  const auto r = d.last();
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.target == "/api/v1/orgs");
  BOOST_TEST(r.authorization == "Bearer " + token);
  BOOST_TEST(json::parse(r.body) == json::parse(R"({"name": "acme"})"));
  BOOST_TEST(o.out == "Created organisation acme; you are its owner.\n");
  BOOST_TEST(o.err == "Fund it: potluck account transfer acme CREDITS\nAdd members: potluck org add acme ACCOUNT\n");

  auto quiet = run_cli({"--url", d.url(), "org", "create", "acme", "-q"});
  BOOST_TEST(quiet.status == 0);
  BOOST_TEST(quiet.out == "acme\n");
  BOOST_TEST(quiet.err.empty());
  auto as_json = run_cli({"--url", d.url(), "org", "create", "acme", "--json"});
  BOOST_TEST(json::parse(as_json.out) == json::parse(new_acme));
}

BOOST_AUTO_TEST_CASE(org_show_lists_the_balance_and_the_members) {
  fake_daemon d([](const recorded_request& r) {
    if (r.target == "/api/v1/orgs/new-lab") return scripted_reply{200, new_acme};
    return scripted_reply{200, acme};
  });
  auto o = run_cli({"--url", d.url(), "org", "show", "acme"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().method == "GET");
  BOOST_TEST(d.last().target == "/api/v1/orgs/acme");
  BOOST_TEST(o.out == "Organisation:  acme\n"
                      "Balance:       12.5 credits\n"
                      "Created:       2026-11-30 08:00:00 UTC\n"
                      "\n"
                      "MEMBER  ROLE\n"
                      "alice   owner\n"
                      "bob     member\n");
  BOOST_TEST(o.err.empty());
  // Scripts: the balance in plain credits, or the daemon's JSON.
  BOOST_TEST(run_cli({"--url", d.url(), "org", "show", "acme", "-q"}).out == "12.5\n");
  BOOST_TEST(json::parse(run_cli({"--url", d.url(), "org", "show", "acme", "--json"}).out) == json::parse(acme));
  // An empty wallet says how to fill it.
  auto empty = run_cli({"--url", d.url(), "org", "show", "new-lab"});
  BOOST_TEST(has(empty.out, "Balance:       0 credits\n"));
  BOOST_TEST(has(empty.err, "It holds no credits. Fund it: potluck account transfer acme CREDITS"));
  // A name that is not one stays inside its path segment.
  run_cli({"--url", d.url(), "org", "show", "a/b?c"});
  BOOST_TEST(d.last().target == "/api/v1/orgs/a%2Fb%3Fc");
}

BOOST_AUTO_TEST_CASE(org_add_sends_the_account_and_its_role) {
  fake_daemon d([](const recorded_request& r) {
    auto reply = json::parse(acme);
    if (json::parse(r.body).at("role") == "owner")
      reply.at("org").at("members").as_array().at(1).as_object()["role"] = "owner";
    return scripted_reply{200, json::serialize(reply)};
  });
  auto o = run_cli({"--url", d.url(), "org", "add", "acme", "bob"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().method == "POST");
  BOOST_TEST(d.last().target == "/api/v1/orgs/acme/members");
  BOOST_TEST(json::parse(d.last().body) == json::parse(R"({"account": "bob", "role": "member"})"));
  BOOST_TEST(o.out == "bob is now a member of acme.\n");

  auto owner = run_cli({"--url", d.url(), "org", "add", "acme", "bob", "--owner"});
  BOOST_TEST(owner.status == 0, owner.err);
  BOOST_TEST(json::parse(d.last().body) == json::parse(R"({"account": "bob", "role": "owner"})"));
  BOOST_TEST(owner.out == "bob is now an owner of acme.\n");
  BOOST_TEST(run_cli({"--url", d.url(), "org", "add", "acme", "bob", "-q"}).out == "bob\n");
}

BOOST_AUTO_TEST_CASE(account_transfer_sends_micro_credits_and_names_the_ledger_entry) {
  fake_daemon d([](const recorded_request& r) {
    const auto body = json::parse(r.body);
    return scripted_reply{200, json::serialize(json::object{{"entry", 42}, {"to", body.at("to")}, {"amount", body.at("amount")}})};
  });
  auto o = run_cli({"--url", d.url(), "account", "transfer", "acme", "2.5", "--memo", "GPU jobs"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().method == "POST");
  BOOST_TEST(d.last().target == "/api/v1/account/transfers");
  BOOST_TEST(json::parse(d.last().body) == json::parse(R"({"to": "acme", "amount": 2500000, "memo": "GPU jobs"})"));
  BOOST_TEST(o.out == "Transferred 2.5 credits to acme (ledger entry 42).\n");
  BOOST_TEST(o.err.empty());

  auto one = run_cli({"--url", d.url(), "account", "transfer", "bob", "1,000", "-q"});
  BOOST_TEST(one.status == 0, one.err);
  BOOST_TEST(one.out == "42\n");
  BOOST_TEST(json::parse(d.last().body) == json::parse(R"({"to": "bob", "amount": 1000000000})"));
  BOOST_TEST(run_cli({"--url", d.url(), "account", "transfer", "bob", "1"}).out ==
             "Transferred 1 credit to bob (ledger entry 42).\n");
}

BOOST_AUTO_TEST_CASE(submit_bill_to_sends_the_header_and_only_then) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{202, R"({"id":12,"state":"queued"})"}; });
  auto o = run_cli({"--url", d.url(), "submit", "linalg.matmul", "--bid", "3", "--bill-to", "acme"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().target == "/api/v1/jobs");
  BOOST_TEST(d.last().header("X-Potluck-Bill-To") == "acme");
  BOOST_TEST(o.out == "Submitted job 12 (linalg.matmul), billed to acme.\n");
  BOOST_TEST(run_cli({"--url", d.url(), "submit", "linalg.matmul", "--bill-to=acme", "-q"}).out == "12\n");
  BOOST_TEST(d.last().header("X-Potluck-Bill-To") == "acme");

  BOOST_TEST(run_cli({"--url", d.url(), "submit", "linalg.matmul"}).status == 0);
  BOOST_TEST(d.last().header("X-Potluck-Bill-To").empty());
  // A quote bills nobody: no such flag.
  auto quote = run_cli({"--url", d.url(), "quote", "linalg.matmul", "--bill-to", "acme"});
  BOOST_TEST(quote.status == 2);
  BOOST_TEST(has(quote.err, "unknown flag '--bill-to'"));
}

BOOST_AUTO_TEST_CASE(account_lists_the_organisations_it_belongs_to) {
  std::string reply = R"({"account": {"id": 7, "name": "bob", "kind": "user", "balance": 3000000,
    "created_at": "2026-11-30T08:00:00Z"},
    "token": {"id": 1, "name": "default", "scopes": ["read", "submit"], "prefix": "plk_aaaaaaaa"},
    "orgs": [{"id": 9, "name": "acme", "kind": "org", "balance": 12500000, "created_at": "2026-11-30T08:00:00Z",
              "role": "owner"},
             {"id": 10, "name": "lab", "kind": "org", "balance": 0, "created_at": "2026-11-30T08:00:00Z",
              "role": "member"}]})";
  fake_daemon d([&](const recorded_request&) { return scripted_reply{200, reply}; });
  auto o = run_cli({"--url", d.url(), "account"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(has(o.out, "Account:  bob (user)\nBalance:  3 credits\n"));
  BOOST_TEST(has(o.out, "\nOrgs:     acme (owner, 12.5 credits), lab (member, 0 credits)\n"));

  auto none = json::parse(reply);
  none.as_object()["orgs"] = json::array();
  reply = json::serialize(none);
  BOOST_TEST(has(run_cli({"--url", d.url(), "account"}).out, "\nOrgs:     none\n"));
  // A daemon before organisations: no such row.
  none.as_object().erase("orgs");
  reply = json::serialize(none);
  BOOST_TEST(run_cli({"--url", d.url(), "account"}).out.find("Orgs") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(refusals_about_organisations_exit_4_with_what_to_do) {
  unsigned status = 0;
  std::string code, message;
  fake_daemon d([&](const recorded_request&) { return scripted_reply{status, error_body(code, message)}; });
  struct refusal {
    unsigned status;
    std::string code, message;
    std::vector<std::string> args;
    std::vector<std::string> hints;
  };
  const std::vector<refusal> refusals = {
      {404, "unknown_org", "X-Potluck-Bill-To: no organisation named 'acme'", {"submit", "t", "--bill-to", "acme"},
       {"See the organisations you belong to: potluck account"}},
      {403, "not_a_member", "X-Potluck-Bill-To: you are not a member of 'acme'", {"submit", "t", "--bill-to", "acme"},
       {"Only members of acme see it and bill jobs to it", "potluck org add acme YOUR-NAME", "potluck account"}},
      {402, "insufficient_funds", "your balance is 0 credits, and this job reserves up to 1 credits",
       {"submit", "t", "--bill-to", "acme"},
       {"See what acme holds: potluck org show acme\nFund it: potluck account transfer acme CREDITS",
        "potluck quote t, with the same flags"}},
      {402, "insufficient_funds", "bob holds 1 credits", {"account", "transfer", "acme", "5"},
       {"See your balance: potluck account."}},
      {404, "unknown_account", "no user or organisation named 'acme'", {"account", "transfer", "acme", "5"},
       {"Is the name right? Names are lowercase"}},
      {404, "unknown_org", "no organisation named 'acme'", {"org", "show", "acme"},
       {"See the organisations you belong to: potluck account"}},
      {403, "not_a_member", "you are not a member of 'acme'", {"org", "show", "acme"}, {"potluck org add acme YOUR-NAME"}},
      {403, "not_an_owner", "only an owner of 'acme' can do that", {"org", "add", "acme", "carol"},
       {"Only an owner of acme adds members. See who its owners are: potluck org show acme"}},
      {404, "unknown_account", "no account named 'carol'", {"org", "add", "acme", "carol"},
       {"Is the account name right?", "carol must sign up first."}},
      {409, "name_taken", "account name 'acme' is taken", {"org", "create", "acme"}, {"Pick another name."}},
      {400, "bad_name", "a name is lowercase", {"org", "create", "Acme"}, {"lowercase letters, digits"}},
  };
  for (const auto& r : refusals) {
    status = r.status;
    code = r.code;
    message = r.message;
    auto args = r.args;
    args.insert(args.begin(), {"--url", d.url()});
    auto o = run_cli(args);
    BOOST_TEST(o.status == 4, r.code);
    BOOST_TEST(has(o.err, "error: " + r.message + "\n"));
    for (const auto& hint : r.hints) BOOST_TEST(has(o.err, hint), r.code << ": " << hint);
    BOOST_TEST(o.out.empty());
  }
}

BOOST_AUTO_TEST_CASE(mistakes_exit_2_before_anything_is_sent) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, "{}"}; });
  struct mistake {
    std::vector<std::string> args;
    std::string says, help;
  };
  const std::vector<mistake> mistakes = {
      {{"org"}, "potluck org needs a command: create, show, add", "potluck help org"},
      {{"org", "craete", "acme"}, "did you mean 'org create'?", "potluck help org"},
      {{"org", "create"}, "potluck org create needs a NAME", "potluck org create --help"},
      {{"org", "show"}, "needs an organisation's NAME", "potluck org show --help"},
      {{"org", "add", "acme"}, "takes an organisation's NAME and the ACCOUNT to add", "potluck org add --help"},
      {{"org", "add", "acme", "bob", "--role", "owner"}, "unknown flag '--role'", "potluck org add --help"},
      {{"account", "transfer", "acme"}, "takes an ACCOUNT and an amount of CREDITS", "potluck account transfer --help"},
      {{"account", "transfer", "acme", "-5"}, "CREDITS '-5': it is negative", "potluck account transfer --help"},
      {{"account", "transfer", "acme", "0"}, "CREDITS must be more than 0", "potluck account transfer --help"},
      {{"account", "transfer", "acme", "1.0000001"}, "more than 6 decimals", "potluck account transfer --help"},
      {{"account", "transfer", "acme", "ten"}, "not a number of credits", "potluck account transfer --help"},
      {{"submit", "t", "--bill-to", ""}, "--bill-to needs an organisation's name", "potluck submit --help"},
      {{"submit", "t", "--bill-to", "acme\r\nX-Evil: 1"}, "is not an organisation's name", "potluck submit --help"},
      {{"submit", "t", "--bill-to", "a b"}, "is not an organisation's name", "potluck submit --help"},
  };
  for (const auto& m : mistakes) {
    auto args = m.args;
    args.insert(args.begin(), {"--url", d.url()});
    auto o = run_cli(args);
    BOOST_TEST(o.status == 2, m.says << ": status " << o.status << ", stderr: " << o.err);
    BOOST_TEST(has(o.err, m.says));
    BOOST_TEST(has(o.err, "Run '" + m.help + "' for usage."));
    BOOST_TEST(o.out.empty());
  }
  BOOST_TEST(d.requests().empty());
}

BOOST_AUTO_TEST_CASE(help_explains_organisations_and_billing_with_examples) {
  auto group = run_cli({"help", "org"});
  BOOST_TEST(group.status == 0);
  BOOST_TEST(has(group.out, "An organisation is an account its members share"));
  for (const char* command : {"create", "show", "add"})
    BOOST_TEST(has(group.out, std::string("  potluck org ") + command + " "));
  BOOST_TEST(has(run_cli({"org", "add", "--help"}).out, "  potluck org add acme carol --owner\n"));
  BOOST_TEST(has(run_cli({"account", "transfer", "--help"}).out, "how members\nfund an organisation's wallet"));
  const auto submit = run_cli({"submit", "--help"}).out;
  BOOST_TEST(has(submit, "--bill-to ORG"));
  BOOST_TEST(has(submit, "--replicas N"));
  BOOST_TEST(has(submit, "--bid 3 --replicas 2 --wait"));
  BOOST_TEST(has(run_cli({"help"}).out, "Accounts, organisations and tokens:\n"));
  BOOST_TEST(has(run_cli({"account", "--help"}).out, "  potluck account transfer "));
}
