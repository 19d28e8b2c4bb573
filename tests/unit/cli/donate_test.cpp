// Tests of the donor's commands (cli/donate.cpp through cli/app.hpp's run) against a fake
// daemon: what donate pause / resume / set send (only the settings given, in the daemon's
// form) and confirm, the values refused before anything is sent (exit 2), the daemon's
// refusals (exit 4), donate workers, donate earnings and donors with --json and -q.
#define BOOST_TEST_MODULE cli_donate
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

// The daemon's answer to a settings change: the body's fields over the defaults.
std::string saved(const recorded_request& r) {
  json::object out{{"paused", false}, {"max_slots", 0}, {"hours", nullptr}, {"free_jobs", nullptr}};
  const auto body = json::parse(r.body);
  for (const auto& [k, v] : body.as_object()) out[k] = v;
  return json::serialize(out);
}

const std::string dora_box_connected = R"({"workers":[{"name":"dora-box",
  "settings":{"paused":true,"max_slots":0,"hours":null,"free_jobs":null},
  "connected":[{"id":"w-1","hostname":"dora-pc","taking_jobs":false,"accepts_free":true,"prices":{"cpu":2000000},
                "slots":{"cpu":2},"busy":{"cpu":0},"jobs_done":3,"jobs_failed":0,"utc_offset_minutes":0,
                "connected_at":"2026-11-30T08:00:00.000Z"}]}]})";

// Answers settings changes as the daemon would, and lists dora-box as connected.
scripted_reply settings_daemon(const recorded_request& r) {
  if (r.method == "PUT") return {200, saved(r)};
  return {200, dora_box_connected};
}

json::object body_of(const recorded_request& r) { return json::parse(r.body).as_object(); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// pause, resume, set

BOOST_AUTO_TEST_CASE(pause_and_resume_send_only_paused_and_confirm_the_saved_settings) {
  fake_daemon d(settings_daemon);
  auto paused = run_cli({"--url", d.url(), "donate", "pause", "dora-box"});
  BOOST_TEST(paused.status == 0, paused.err);
  auto sent = d.requests();
  BOOST_TEST_REQUIRE(sent.size() == 2u);
  BOOST_TEST(sent[0].method == "PUT");
  BOOST_TEST(sent[0].target == "/api/v1/account/workers/settings");
  BOOST_TEST(sent[0].authorization == "Bearer " + token);
  BOOST_TEST(body_of(sent[0]) == (json::object{{"paused", true}, {"worker", "dora-box"}}));
  BOOST_TEST(sent[1].target == "/api/v1/account/workers");  // is a worker of that name connected?
  BOOST_TEST(paused.out == "Saved dora-box: paused, every slot, all day, free jobs as its --free-jobs says.\n");
  BOOST_TEST(paused.err.empty());

  auto resumed = run_cli({"--url", d.url(), "donate", "resume", "dora-box"});
  BOOST_TEST(resumed.status == 0);
  BOOST_TEST(body_of(d.requests()[2]) == (json::object{{"paused", false}, {"worker", "dora-box"}}));
  BOOST_TEST(resumed.out.starts_with("Saved dora-box: not paused,"));
}

BOOST_AUTO_TEST_CASE(set_sends_the_settings_given_in_the_daemons_form) {
  fake_daemon d(settings_daemon);
  auto o = run_cli({"--url", d.url(), "donate", "set", "dora-box", "--hours", "22-07", "--max-slots", "2", "--free-jobs", "no"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(body_of(d.requests()[0]) ==
             (json::object{{"hours", "22-7"}, {"max_slots", 2}, {"free_jobs", false}, {"worker", "dora-box"}}));
  BOOST_TEST(o.out == "Saved dora-box: not paused, at most 2 slots, hours 22-7 (its local time), no free jobs.\n");

  // all, all and worker: back to every slot, all day, and the worker's own --free-jobs.
  auto reset = run_cli({"--url", d.url(), "donate", "set", "dora-box", "--hours=all", "--max-slots", "all", "--free-jobs",
                        "worker"});
  BOOST_TEST(reset.status == 0, reset.err);
  const auto reset_body = body_of(d.requests()[2]);
  BOOST_TEST(reset_body.at("hours").is_null());
  BOOST_TEST(reset_body.at("max_slots").as_int64() == 0);
  BOOST_TEST(reset_body.at("free_jobs").is_null());

  // One setting alone: the others are left out, so the daemon keeps them.
  BOOST_TEST(run_cli({"--url", d.url(), "donate", "set", "dora-box", "--free-jobs", "yes"}).status == 0);
  BOOST_TEST(body_of(d.requests()[4]) == (json::object{{"free_jobs", true}, {"worker", "dora-box"}}));
  BOOST_TEST(run_cli({"--url", d.url(), "donate", "set", "dora-box", "--max-slots", "0"}).status == 0);
  BOOST_TEST(body_of(d.requests()[6]) == (json::object{{"max_slots", 0}, {"worker", "dora-box"}}));
}

BOOST_AUTO_TEST_CASE(bad_settings_exit_2_before_anything_is_sent) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{500, "{}"}; });
  struct mistake {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::vector<mistake> mistakes = {
      {{"--hours", "25-3"}, "--hours '25-3': 25 is not an hour; hours go from 0 to 23 (--hours 22-0 ends at midnight)"},
      {{"--hours", "9-24"}, "--hours '9-24': 24 is not an hour"},
      {{"--hours", "9-9"}, "--hours '9-9' is an empty window: it starts and ends at 9. For all day: --hours all"},
      {{"--hours", "nine-five"}, "--hours 'nine-five': write FROM-TO in whole hours of the worker's local time, like "
                                 "--hours 9-17 or --hours 22-7 (from 22:00 to 07:00), or --hours all for all day"},
      {{"--hours", "9:30-17"}, "--hours '9:30-17': write FROM-TO"},
      {{"--hours", ""}, "--hours '': write FROM-TO"},
      {{"--max-slots", "257"}, "--max-slots takes a number from 1 to 256, or 0 or all for every slot (got '257')"},
      {{"--max-slots", "two"}, "--max-slots takes a number from 1 to 256, or 0 or all for every slot (got 'two')"},
      {{"--free-jobs", "maybe"}, "--free-jobs must be yes, no, or worker (to follow the worker's own --free-jobs) (got "
                                 "'maybe')"},
      {{}, "potluck donate set needs --max-slots, --hours or --free-jobs (to pause: potluck donate pause dora-box)"},
      {{"--hours", "9-17", "--hours", "10-18"}, "--hours is given twice"},
      {{"--paused"}, "unknown flag '--paused'"},
  };
  for (const auto& m : mistakes) {
    std::vector<std::string> args = {"--url", d.url(), "donate", "set", "dora-box"};
    args.insert(args.end(), m.flags.begin(), m.flags.end());
    auto o = run_cli(args);
    BOOST_TEST(o.status == 2, (m.flags.empty() ? "" : m.flags.back()) << ": status " << o.status << ", stderr: " << o.err);
    BOOST_TEST(has(o.err, "error: " + m.says));
    BOOST_TEST(has(o.err, "Run 'potluck donate set --help' for usage."));
    BOOST_TEST(o.out.empty());
  }
  auto too_long = run_cli({"--url", d.url(), "donate", "pause", std::string(65, 'x')});
  BOOST_TEST(too_long.status == 2);
  BOOST_TEST(has(too_long.err, "a worker's NAME is 1 to 64 bytes"));
  BOOST_TEST(d.requests().empty());
}

BOOST_AUTO_TEST_CASE(the_daemons_refusal_exits_4_with_its_message) {
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{400, error_body("bad_settings", "\"max_slots\" must be an integer from 0 (every slot) to 256")};
  });
  auto o = run_cli({"--url", d.url(), "donate", "set", "dora-box", "--max-slots", "3"});
  BOOST_TEST(o.status == 4);
  BOOST_TEST(o.err == "error: \"max_slots\" must be an integer from 0 (every slot) to 256\n");
  BOOST_TEST(o.out.empty());
  BOOST_TEST(d.requests().size() == 1u);

  fake_daemon scoped([](const recorded_request&) {
    return scripted_reply{403, error_body("missing_scope", "API token 'ci' lacks the scope this needs: donate")};
  });
  auto refused = run_cli({"--url", scoped.url(), "donate", "pause", "dora-box"});
  BOOST_TEST(refused.status == 4);
  BOOST_TEST(has(refused.err, "error: API token 'ci' lacks the scope this needs: donate\n"));
  BOOST_TEST(has(refused.err, "Make one: potluck tokens create NAME --scope donate\n"));
}

BOOST_AUTO_TEST_CASE(settings_for_a_name_not_connected_are_saved_with_a_note) {
  fake_daemon d(settings_daemon);
  auto o = run_cli({"--url", d.url(), "donate", "pause", "dora-bx"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == "Saved dora-bx: paused, every slot, all day, free jobs as its --free-jobs says.\n");
  BOOST_TEST(o.err == "note: no worker of yours named dora-bx is connected now; these settings apply when one connects "
                      "(potluck-worker --name dora-bx). Yours: potluck donate workers\n");

  // Scripts get the name or the daemon's JSON, and no second request.
  auto quiet = run_cli({"--url", d.url(), "donate", "pause", "-q", "dora-bx"});
  BOOST_TEST(quiet.status == 0);
  BOOST_TEST(quiet.out == "dora-bx\n");
  BOOST_TEST(quiet.err.empty());
  const auto before = d.requests().size();
  auto as_json = run_cli({"--url", d.url(), "donate", "set", "dora-bx", "--hours", "9-17", "--json"});
  BOOST_TEST(as_json.status == 0);
  BOOST_TEST(json::parse(as_json.out).at("hours").as_string() == "9-17");
  BOOST_TEST(json::parse(as_json.out).at("worker").as_string() == "dora-bx");
  BOOST_TEST(d.requests().size() == before + 1);

  // A token that may not read the list: the settings are saved, and nothing is guessed.
  fake_daemon write_only([](const recorded_request& r) {
    if (r.method == "PUT") return scripted_reply{200, saved(r)};
    return scripted_reply{403, error_body("missing_scope", "no read scope")};
  });
  auto blind = run_cli({"--url", write_only.url(), "donate", "resume", "dora-bx"});
  BOOST_TEST(blind.status == 0);
  BOOST_TEST(blind.err.empty());
}

// ---------------------------------------------------------------------------------------------
// workers, earnings, donors

BOOST_AUTO_TEST_CASE(donate_workers_lists_yours_with_a_hint_and_says_how_to_start_one) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, dora_box_connected}; });
  auto o = run_cli({"--url", d.url(), "donate", "workers"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().target == "/api/v1/account/workers");
  BOOST_TEST(d.last().authorization == "Bearer " + token);
  BOOST_TEST(o.out == "NAME      STATE   PRICE  BUSY  JOBS DONE  MAX SLOTS  HOURS    FREE JOBS\n"
                      "dora-box  paused  cpu 2   0/2          3  all        all day  yes\n");
  BOOST_TEST(has(o.err, "Change them: potluck donate pause NAME, potluck donate set NAME"));
  BOOST_TEST(run_cli({"--url", d.url(), "donate", "workers", "-q"}).out == "dora-box\n");
  BOOST_TEST(json::parse(run_cli({"--url", d.url(), "donate", "workers", "--json"}).out) == json::parse(dora_box_connected));

  fake_daemon empty([](const recorded_request& r) {
    if (r.target == "/healthz") return scripted_reply{200, R"({"status":"ok","workers_endpoint":"tcp://hub:5555"})"};
    return scripted_reply{200, R"({"workers":[]})"};
  });
  auto none = run_cli({"--url", empty.url(), "donate", "workers"});
  BOOST_TEST(none.status == 0);
  BOOST_TEST(none.out == "You have no workers. Donate this machine: potluck-worker --daemon tcp://hub:5555 --token-file FILE\n"
                         "(FILE holds a token of yours with the donate scope: potluck tokens create NAME --scope donate)\n");
}

BOOST_AUTO_TEST_CASE(donate_earnings_asks_for_the_days_and_q_prints_the_credits) {
  const std::string one_day = R"({"account":"dora","days":[{"date":"2026-11-30","jobs":3,"units":72,"earned":1500132}],
    "total":{"jobs":3,"units":72,"earned":1500132},"recent":[],"workers":[]})";
  fake_daemon d([&](const recorded_request&) { return scripted_reply{200, one_day}; });
  auto o = run_cli({"--url", d.url(), "donate", "earnings"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().target == "/api/v1/account/earnings?days=30");
  BOOST_TEST(d.last().authorization == "Bearer " + token);
  BOOST_TEST(o.out.starts_with("Earnings of dora  today, 2026-11-30 (UTC)\nEarned:     1.500132 credits\n"));
  BOOST_TEST(has(o.out, "  2026-11-30     3     72  1.500132  ████████████████████\n"));

  auto quiet = run_cli({"--url", d.url(), "donate", "earnings", "-q", "--days", "1"});
  BOOST_TEST(quiet.status == 0);
  BOOST_TEST(d.last().target == "/api/v1/account/earnings?days=1");
  BOOST_TEST(quiet.out == "1.500132\n");
  auto as_json = run_cli({"--url", d.url(), "donate", "earnings", "--json", "-d", "7"});
  BOOST_TEST(d.last().target == "/api/v1/account/earnings?days=7");
  BOOST_TEST(json::parse(as_json.out) == json::parse(one_day));

  fake_daemon anonymous([](const recorded_request&) {
    return scripted_reply{401, error_body("missing_token", "this needs an API token")};
  });
  auto refused = run_cli({"--url", anonymous.url(), "donate", "earnings"});
  BOOST_TEST(refused.status == 4);
  BOOST_TEST(has(refused.err, "error: this needs an API token\n"));
}

BOOST_AUTO_TEST_CASE(donors_asks_for_the_period_and_limit_and_lists_the_board) {
  const std::string board = R"({"days":7,"since":"2026-11-24T00:00:00.000Z","donors":[
    {"rank":1,"account":"dora","jobs":3,"units":72,"earned":132}]})";
  fake_daemon d([&](const recorded_request&) { return scripted_reply{200, board}; });
  auto o = run_cli({"--url", d.url(), "donors", "--days", "7", "--limit", "5"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().target == "/api/v1/donors?days=7&limit=5");
  BOOST_TEST(o.out == "Donors of the last 7 days (since 2026-11-24), by credits earned:\n"
                      "RANK  ACCOUNT    EARNED  JOBS  WORK UNITS\n"
                      "   1  dora     0.000132     3          72\n");
  BOOST_TEST(run_cli({"--url", d.url(), "donors", "-q"}).out == "dora\n");
  BOOST_TEST(d.last().target == "/api/v1/donors?days=30");

  fake_daemon empty([](const recorded_request& r) {
    if (r.target == "/healthz") return scripted_reply{200, R"({"workers_endpoint":"tcp://hub:5555"})"};
    return scripted_reply{200, R"({"days":1,"since":"2026-11-30T00:00:00.000Z","donors":[]})"};
  });
  auto none = run_cli({"--url", empty.url(), "donors", "--days", "1"});
  BOOST_TEST(none.status == 0);
  BOOST_TEST(none.out == "No donor's worker ran a job today. Donate this machine: potluck-worker --daemon tcp://hub:5555 "
                         "--token-file FILE\n");
}
