// Tests of cli/market.hpp and the commands that show the market (quote, job, workers, submit's
// price flags, jobs --mine and --paid-to): billing lines, workers' prices, quotes, a donor's
// workers, earnings and the leaderboard rendered from canned daemon JSON, and, against a fake
// daemon, what the commands send, print and exit with.
#define BOOST_TEST_MODULE cli_market
#include <boost/test/unit_test.hpp>

#include "cli/app.hpp"
#include "cli/market.hpp"
#include "cli_run.hpp"
#include "fake_daemon.hpp"

#include <boost/json.hpp>

#include <sstream>

using namespace potluck::cli;
using namespace potluck::cli::testing;
namespace json = boost::json;

namespace {

json::object parse_object(std::string_view text) { return json::parse(text).as_object(); }

// A 2x3 by 3x2 matmul is 24 work units. dora-box asks 2 credits per million units on the CPU
// and has a free slot; gpu-box asks 4 on CUDA.
const std::string covered_quote = R"({"task":"linalg.matmul","backend":null,"units":24,"bid":3000000,"reserved":72,
  "free":false,"lowest_ask":2000000,
  "cheapest":{"worker":"dora-box","backend":"cpu","ask":2000000,"accepts_free":true,"slots":2,"free_slots":1,
              "covered":true,"cost":48},
  "cost":48,"workers_covered":1,
  "offers":[{"worker":"dora-box","backend":"cpu","ask":2000000,"accepts_free":true,"slots":2,"free_slots":1,
             "covered":true,"cost":48},
            {"worker":"gpu-box","backend":"cuda","ask":4000000,"accepts_free":false,"slots":1,"free_slots":1,
             "covered":false,"cost":96}],
  "queued_ahead":0,"run_ms":3.5,"expected_wait_ms":0,"note":null})";

const std::string uncovered_quote = R"json({"task":"linalg.matmul","backend":"cpu","units":24,"bid":1000000,"reserved":24,
  "free":false,"lowest_ask":2000000,"cheapest":null,"cost":null,"workers_covered":0,
  "offers":[{"worker":"dora-box","backend":"cpu","ask":2000000,"accepts_free":true,"slots":1,"free_slots":0,
             "covered":false,"cost":48}],
  "queued_ahead":3,"run_ms":1200,"expected_wait_ms":null,
  "note":"the bid is below every connected worker's ask (lowest: 2000000)"})json";

const std::string job_head = R"({"id":12,"task":"linalg.matmul","backend":null,"state":"succeeded","progress":1,
  "message":"","attempt":1,"max_attempts":3,"worker":"dora-box","account_id":7,)";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Billing lines

BOOST_AUTO_TEST_CASE(billing_says_what_a_job_reserves_until_it_ends) {
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":24,"bid":3000000,"reserved":72,"settled":false}})")) ==
             "reserved 0.000072 credits (bid 3 per million units, 24 units)");
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":1,"bid":500000,"reserved":1,"settled":false}})")) ==
             "reserved 0.000001 credits (bid 0.5 per million units, 1 unit)");
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":2000000,"bid":0,"reserved":0,"settled":false}})")) ==
             "free job (2,000,000 units)");
}

BOOST_AUTO_TEST_CASE(billing_says_what_a_job_was_charged_whom_it_paid_and_what_came_back) {
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":24,"bid":3000000,"reserved":72,"settled":true,
      "price":2000000,"charged":48,"fee":4,"refunded":24,"paid_to":"dora"}})")) ==
             "charged 0.000048 credits (24 units at 2 per million, paid to dora, fee 0.000004); refunded 0.000024");
  // No fee, nothing to refund, and a payee the daemon did not name: each part left out.
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":2000000,"bid":500000,"reserved":1000000,"settled":true,
      "price":500000,"charged":1000000,"fee":0,"refunded":0,"paid_to":null}})")) ==
             "charged 1 credit (2,000,000 units at 0.5 per million)");
  // A cancelled or failed job: its whole reserve comes back.
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":24,"bid":1000000,"reserved":24,"settled":true,
      "price":0,"charged":0,"fee":0,"refunded":24,"paid_to":null}})")) == "nothing charged; refunded 0.000024");
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":24,"bid":0,"reserved":0,"settled":true,
      "price":0,"charged":0,"fee":0,"refunded":0,"paid_to":null}})")) == "free job (24 units): nothing charged");
  // A daemon from before the market sends no billing: nothing to say.
  BOOST_TEST(billing_text(parse_object(R"({"id":1})")).empty());
}

// ---------------------------------------------------------------------------------------------
// Workers' prices

BOOST_AUTO_TEST_CASE(workers_prices_name_the_backends_they_ask_for) {
  BOOST_TEST(ask_text(0) == "free");
  BOOST_TEST(ask_text(500'000) == "0.5");
  BOOST_TEST(ask_text(1'234'000'000) == "1,234");
  BOOST_TEST(worker_prices_text(parse_object(R"({"slots":{"cpu":2},"prices":{"cpu":0}})")) == "free");
  BOOST_TEST(worker_prices_text(parse_object(R"({"slots":{"cpu":2},"prices":{"cpu":2000000}})")) == "cpu 2");
  BOOST_TEST(worker_prices_text(parse_object(R"({"slots":{"cpu":2,"cuda":1},"prices":{"cpu":0,"cuda":4000000}})")) ==
             "cpu free, cuda 4");
  // A price for a backend it has no slot for is not on offer.
  BOOST_TEST(worker_prices_text(parse_object(R"({"slots":{"cpu":1},"prices":{"cpu":500000,"cuda":500000}})")) ==
             "cpu 0.5");
  BOOST_TEST(worker_prices_text(parse_object(R"({"slots":{"cpu":1}})")) == "-");
  BOOST_TEST(worker_has_price(parse_object(R"({"slots":{"cpu":1},"prices":{"cpu":1}})")));
  BOOST_TEST(!worker_has_price(parse_object(R"({"slots":{"cpu":1},"prices":{"cpu":0}})")));
}

// ---------------------------------------------------------------------------------------------
// Quotes

BOOST_AUTO_TEST_CASE(a_quote_shows_units_bid_reserve_the_cheapest_worker_the_cost_and_the_offers) {
  const auto quote = parse_object(covered_quote);
  BOOST_TEST(quote_covered(quote));
  BOOST_TEST(render_quote(quote, bid_source::bid, false) ==
             "Quote  linalg.matmul  any backend\n"
             "Work units:     24\n"
             "Bid:            3 credits per million units\n"
             "Reserves:       0.000072 credits until the job ends\n"
             "Cheapest:       dora-box (cpu) asks 2 per million units\n"
             "Cost:           0.000048 credits there\n"
             "Expected wait:  none: a worker that takes it has a free slot\n"
             "Queued ahead:   0 jobs\n"
             "\n"
             "Offers (asks in credits per million work units):\n"
             "  WORKER    BACKEND  ASK  FREE SLOTS  COVERED      COST\n"
             "  dora-box  cpu        2         1/2  yes      0.000048\n"
             "  gpu-box   cuda       4         1/1  no       0.000096\n");
  BOOST_TEST(quote_hint(quote).empty());
  // Where the bid came from is said with it.
  BOOST_TEST(has(render_quote(quote, bid_source::lowest_ask, false), "3 credits per million units (the lowest ask now)"));
  BOOST_TEST(has(render_quote(quote, bid_source::max_price, false), "(the most --max-price pays for these units)"));
  auto one = quote;
  one["bid"] = 1'000'000;
  BOOST_TEST(has(render_quote(one, bid_source::bid, false), "Bid:            1 credit per million units\n"));
  // Colour only when asked for, and the table stays aligned.
  BOOST_TEST(render_quote(quote, bid_source::bid, true).find('\x1b') != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_quote_no_worker_covers_says_why_and_what_bid_would_do) {
  const auto quote = parse_object(uncovered_quote);
  BOOST_TEST(!quote_covered(quote));
  const auto text = render_quote(quote, bid_source::bid, false);
  BOOST_TEST(has(text, "Quote  linalg.matmul  cpu\n"));
  BOOST_TEST(has(text, "Cheapest:       none: no connected worker takes this job at its bid now\n"));
  BOOST_TEST(text.find("Cost:") == std::string::npos);
  BOOST_TEST(has(text, "Expected wait:  unknown: the bid is below every connected worker's ask (lowest: 2000000)\n"));
  BOOST_TEST(has(text, "Queued ahead:   3 jobs\n"));
  BOOST_TEST(has(text, "  dora-box  cpu        2         0/1  no       0.000048\n"));
  BOOST_TEST(quote_hint(quote) == "A bid of at least 2 credits per million units is covered now: --bid 2");
}

BOOST_AUTO_TEST_CASE(a_quote_shows_waits_free_jobs_and_an_empty_market) {
  auto waiting = parse_object(covered_quote);
  waiting["expected_wait_ms"] = 2400.2;
  waiting["queued_ahead"] = 1;
  BOOST_TEST(has(render_quote(waiting, bid_source::bid, false), "Expected wait:  about 2.4s\nQueued ahead:   1 job\n"));
  waiting["expected_wait_ms"] = nullptr;
  waiting["run_ms"] = nullptr;
  BOOST_TEST(has(render_quote(waiting, bid_source::bid, false), "Expected wait:  unknown: no run of this task has been timed yet\n"));

  const auto free_job = parse_object(R"({"task":"test.sleep","backend":null,"units":0,"bid":0,"reserved":0,"free":true,
    "lowest_ask":0,"cheapest":{"worker":"w1","backend":"cpu","ask":0,"accepts_free":true,"slots":1,"free_slots":1,
    "covered":true,"cost":0},"cost":0,"workers_covered":1,
    "offers":[{"worker":"w1","backend":"cpu","ask":0,"accepts_free":true,"slots":1,"free_slots":1,"covered":true,"cost":0}],
    "queued_ahead":0,"run_ms":null,"expected_wait_ms":0,"note":null})");
  const auto text = render_quote(free_job, bid_source::lowest_ask, false);
  BOOST_TEST(has(text, "Bid:            free job (bid 0: the lowest ask now)\n"));
  BOOST_TEST(has(text, "Reserves:       nothing\n"));
  BOOST_TEST(has(text, "Cheapest:       w1 (cpu) takes free jobs\n"));
  BOOST_TEST(has(text, "Cost:           nothing\n"));
  BOOST_TEST(has(text, "  w1      cpu      free         1/1  yes         0\n"));

  const auto nobody = parse_object(R"({"task":"test.sleep","backend":"cuda","units":0,"bid":0,"reserved":0,"free":true,
    "lowest_ask":null,"cheapest":null,"cost":null,"workers_covered":0,"offers":[],"queued_ahead":0,"run_ms":null,
    "expected_wait_ms":null,"note":"no connected worker offers this task on this backend now"})");
  const auto empty = render_quote(nobody, bid_source::lowest_ask, false);
  BOOST_TEST(has(empty, "Bid:            free job (bid 0)\n"));
  BOOST_TEST(has(empty, "Expected wait:  unknown: no connected worker offers this task on this backend now\n"));
  BOOST_TEST(has(empty, "\nNo connected worker offers test.sleep on cuda.\n"));
  BOOST_TEST(quote_hint(nobody) == "See which tasks the connected workers offer: potluck tasks");

  auto refused_free = parse_object(uncovered_quote);
  refused_free["free"] = true;
  refused_free["bid"] = 0;
  BOOST_TEST(quote_hint(refused_free) == "No worker that offers it takes free jobs now. Offer a price: --bid 2");
}

// ---------------------------------------------------------------------------------------------
// The commands, against a fake daemon

BOOST_AUTO_TEST_CASE(quote_sends_the_job_and_its_bid_and_prints_the_quote) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, covered_quote}; });
  auto o = run_cli({"--url", d.url(), "quote", "linalg.matmul", "--input", "a=[[1,2,3],[4,5,6]]", "--input",
                    "b=[[1,0],[0,1],[1,1]]", "--bid", "3"});
  BOOST_TEST(o.status == 0, o.err);
  const auto r = d.last();
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.target == "/api/v1/jobs/quote");
  const auto body = json::parse(r.body).as_object();
  BOOST_TEST(body.at("task").as_string() == "linalg.matmul");
  BOOST_TEST(body.at("bid").as_int64() == 3'000'000);
  BOOST_TEST(!body.contains("max_price"));
  BOOST_TEST(body.at("inputs").as_object().size() == 2u);
  BOOST_TEST(o.out.starts_with("Quote  linalg.matmul  any backend\nWork units:     24\n"));
  BOOST_TEST(has(o.out, "Cost:           0.000048 credits there\n"));
  BOOST_TEST(o.err.empty());

  auto capped = run_cli({"--url", d.url(), "quote", "linalg.matmul", "--max-price", "0.00005"});
  BOOST_TEST(capped.status == 0, capped.err);
  BOOST_TEST(json::parse(d.last().body).at("max_price").as_int64() == 50);
  BOOST_TEST(!json::parse(d.last().body).as_object().contains("bid"));
}

BOOST_AUTO_TEST_CASE(quote_q_prints_only_the_cost_and_exits_1_when_no_worker_takes_the_job) {
  {
    fake_daemon d([](const recorded_request&) { return scripted_reply{200, covered_quote}; });
    auto o = run_cli({"--url", d.url(), "quote", "-q", "linalg.matmul"});
    BOOST_TEST(o.status == 0);
    BOOST_TEST(o.out == "0.000048\n");
    BOOST_TEST(o.err.empty());
    auto as_json = run_cli({"--url", d.url(), "quote", "--json", "linalg.matmul"});
    BOOST_TEST(as_json.status == 0);
    BOOST_TEST(json::parse(as_json.out) == json::parse(covered_quote));
  }
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, uncovered_quote}; });
  auto quiet = run_cli({"--url", d.url(), "quote", "-q", "linalg.matmul", "--bid", "1"});
  BOOST_TEST(quiet.status == 1);
  BOOST_TEST(quiet.out.empty());
  auto human = run_cli({"--url", d.url(), "quote", "linalg.matmul", "--bid", "1"});
  BOOST_TEST(human.status == 1);
  BOOST_TEST(has(human.out, "Cheapest:       none"));
  BOOST_TEST(human.err == "A bid of at least 2 credits per million units is covered now: --bid 2\n");
  BOOST_TEST(run_cli({"--url", d.url(), "quote", "--json", "linalg.matmul"}).status == 1);
}

BOOST_AUTO_TEST_CASE(bad_prices_are_usage_mistakes_caught_before_anything_is_sent) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{500, "{}"}; });
  struct mistake {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::vector<mistake> mistakes = {
      {{"--bid", "-1"}, "--bid '-1': it is negative; a bid is credits per million work units, like --bid 0.5"},
      {{"--bid=-1"}, "--bid '-1': it is negative"},
      {{"--bid", "1e6"}, "--bid '1e6': it is not a number of credits like 2.5 or 1000"},
      {{"--bid", "0.1234567"}, "--bid '0.1234567': it has more than 6 decimals"},
      {{"--bid", "1000001"}, "--bid '1000001': it is above the highest bid per million work units, 1000000 credits"},
      {{"--max-price", "two"}, "--max-price 'two': it is not a number of credits like 2.5 or 1000; --max-price is "
                               "credits for the whole job, like --max-price 2"},
      {{"--bid", "1", "--max-price", "2"}, "give --bid (a price per million work units) or --max-price (a total for "
                                           "the job), not both"},
  };
  for (const auto& command : {"submit", "quote"}) {
    for (const auto& m : mistakes) {
      std::vector<std::string> args = {"--url", d.url(), command, "linalg.matmul"};
      args.insert(args.end(), m.flags.begin(), m.flags.end());
      auto o = run_cli(args);
      BOOST_TEST(o.status == 2, command << " " << m.flags.front() << ": status " << o.status << ", stderr: " << o.err);
      BOOST_TEST(has(o.err, "error: " + m.says));
      BOOST_TEST(has(o.err, std::string("Run 'potluck ") + command + " --help' for usage."));
      BOOST_TEST(o.out.empty());
    }
  }
  BOOST_TEST(d.requests().empty());
}

BOOST_AUTO_TEST_CASE(submit_sends_the_bid_or_the_maximum_as_micro_credits) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{202, R"({"id":5,"state":"queued"})"}; });
  BOOST_TEST(run_cli({"--url", d.url(), "submit", "-q", "test.sleep", "--bid", "0.5"}).out == "5\n");
  BOOST_TEST(json::parse(d.last().body).at("bid").as_int64() == 500'000);
  BOOST_TEST(run_cli({"--url", d.url(), "submit", "-q", "test.sleep", "--bid", "0"}).status == 0);
  BOOST_TEST(json::parse(d.last().body).at("bid").as_int64() == 0);
  BOOST_TEST(run_cli({"--url", d.url(), "submit", "-q", "test.sleep", "--max-price", "1,000"}).status == 0);
  BOOST_TEST(json::parse(d.last().body).at("max_price").as_int64() == 1'000'000'000);
  // Neither: the daemon picks the bid, so none is sent.
  BOOST_TEST(run_cli({"--url", d.url(), "submit", "-q", "test.sleep"}).status == 0);
  const auto plain = json::parse(d.last().body).as_object();
  BOOST_TEST(!plain.contains("bid"));
  BOOST_TEST(!plain.contains("max_price"));
}

BOOST_AUTO_TEST_CASE(a_refusal_for_funds_or_price_exits_4_with_the_daemons_message_and_the_flags) {
  const std::string funds = "your balance is 0.00001 credits, and this job reserves up to 0.000072 credits until it "
                            "ends: lower the bid or max_price, or wait for running jobs to settle";
  {
    fake_daemon d([&](const recorded_request&) { return scripted_reply{402, error_body("insufficient_funds", funds)}; });
    auto o = run_cli({"--url", d.url(), "submit", "linalg.matmul", "--bid", "3", "--wait"});
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "error: " + funds + "\n"));
    BOOST_TEST(has(o.err, "See your balance: potluck account.\n"
                          "See what the job would cost first: potluck quote linalg.matmul, with the same flags.\n"));
    BOOST_TEST(o.out.empty());
  }
  {
    fake_daemon d([](const recorded_request&) {
      return scripted_reply{402, error_body("free_tier_off", "this daemon runs no free jobs: give a \"bid\" above 0")};
    });
    auto o = run_cli({"--url", d.url(), "quote", "test.sleep"});
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "this daemon runs no free jobs"));
    BOOST_TEST(has(o.err, "Offer a price: --bid CREDITS (per million work units) or --max-price CREDITS (for the job).\n"));
    BOOST_TEST(o.err.find("potluck quote") == std::string::npos);  // it is the quote
  }
  fake_daemon d([](const recorded_request&) {
    return scripted_reply{422, error_body("invalid_price", "\"max_price\" 1 micro-credits does not cover 24000000 work units")};
  });
  auto o = run_cli({"--url", d.url(), "submit", "linalg.matmul", "--max-price", "0.000001"});
  BOOST_TEST(o.status == 4);
  BOOST_TEST(has(o.err, "does not cover 24000000 work units"));
  BOOST_TEST(has(o.err, "--bid is credits per million work units, --max-price credits for the whole job.\n"
                        "See what the job would cost first: potluck quote linalg.matmul, with the same flags.\n"));
}

BOOST_AUTO_TEST_CASE(job_shows_its_billing) {
  const std::string settled = job_head + R"("billing":{"units":24,"bid":3000000,"reserved":72,"settled":true,
    "price":2000000,"charged":48,"fee":0,"refunded":24,"paid_to":"dora"},
    "created_at":"2026-11-30T08:00:00.000Z","started_at":"2026-11-30T08:00:00.010Z",
    "finished_at":"2026-11-30T08:00:00.020Z","timings_ms":{"queued":10,"run":10},"params":{},"inputs":[],
    "result":{"outputs":{}}})";
  fake_daemon d([&](const recorded_request&) { return scripted_reply{200, settled}; });
  auto o = run_cli({"--url", d.url(), "job", "12"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(has(o.out, "\nBilling:  charged 0.000048 credits (24 units at 2 per million, paid to dora); refunded 0.000024\n"));

  const std::string queued = job_head + R"("billing":{"units":24,"bid":3000000,"reserved":72,"settled":false},
    "created_at":"2026-11-30T08:00:00.000Z","started_at":null,"finished_at":null,
    "timings_ms":{"queued":null,"run":null},"params":{},"inputs":[]})";
  std::string waiting = queued;
  waiting.replace(waiting.find("succeeded"), 9, "queued");
  fake_daemon q([&](const recorded_request&) { return scripted_reply{200, waiting}; });
  auto shown = run_cli({"--url", q.url(), "job", "12"});
  BOOST_TEST(has(shown.out, "Billing:   reserved 0.000072 credits (bid 3 per million units, 24 units)\n"));
}

BOOST_AUTO_TEST_CASE(workers_show_prices_and_whether_they_take_free_jobs) {
  const std::string workers = R"({"workers":[
    {"id":"w-1","name":"dora-box","devices":{"cpu":{"cores":8}},"plugins":[{"name":"blas"}],"slots":{"cpu":2},
     "busy":{"cpu":0},"prices":{"cpu":2000000},"accepts_free":false,"slots_total":2,"slots_busy":0,"jobs_done":3,
     "last_seen_at":"2026-11-30T08:00:00.000Z","load_errors":[]},
    {"id":"w-2","name":"lab","devices":{"cpu":{"cores":4}},"plugins":[{"name":"testing"}],"slots":{"cpu":1},
     "busy":{"cpu":0},"prices":{"cpu":0},"accepts_free":true,"slots_total":1,"slots_busy":0,"jobs_done":0,
     "last_seen_at":"2026-11-30T08:00:00.000Z","load_errors":[]}]})";
  fake_daemon d([&](const recorded_request&) { return scripted_reply{200, workers}; });
  auto o = run_cli({"--url", d.url(), "workers"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(has(o.out, "PLUGINS  PRICE  FREE JOBS  BUSY"));
  BOOST_TEST(has(o.out, "blas     cpu 2  no"));
  BOOST_TEST(has(o.out, "testing  free   yes"));
  BOOST_TEST(has(o.err, "Prices are credits per million work units."));
}

// ---------------------------------------------------------------------------------------------
// The donor's side: settings, workers, earnings, the leaderboard

namespace {

// kate-box is paused; lab runs 22-7 and is outside those hours; old-box has settings but is not
// connected; twin runs on two machines.
const std::string my_workers = R"({"workers":[
  {"name":"kate-box","settings":{"paused":true,"max_slots":0,"hours":null,"free_jobs":null},
   "connected":[{"id":"w-1","hostname":"kate-pc","taking_jobs":false,"accepts_free":true,"prices":{"cpu":2000000},
                 "slots":{"cpu":2},"busy":{"cpu":1},"jobs_done":1234,"jobs_failed":0,"utc_offset_minutes":60,
                 "connected_at":"2026-11-30T08:00:00.000Z"}]},
  {"name":"lab","settings":{"paused":false,"max_slots":1,"hours":"22-7","free_jobs":false},
   "connected":[{"id":"w-2","hostname":"lab","taking_jobs":false,"accepts_free":false,"prices":{"cpu":0},
                 "slots":{"cpu":4},"busy":{"cpu":0},"jobs_done":0,"jobs_failed":0,"utc_offset_minutes":0,
                 "connected_at":"2026-11-30T08:00:00.000Z"}]},
  {"name":"old-box","settings":{"paused":false,"max_slots":2,"hours":null,"free_jobs":null},"connected":[]},
  {"name":"twin","settings":{"paused":false,"max_slots":0,"hours":null,"free_jobs":true},
   "connected":[{"id":"w-3","hostname":"a","taking_jobs":true,"accepts_free":true,"prices":{"cpu":500000,"cuda":4000000},
                 "slots":{"cpu":1,"cuda":1},"busy":{"cpu":1,"cuda":1},"jobs_done":5,"jobs_failed":1,
                 "utc_offset_minutes":0,"connected_at":"2026-11-30T08:00:00.000Z"},
                {"id":"w-4","hostname":"b","taking_jobs":true,"accepts_free":true,"prices":{"cpu":500000},
                 "slots":{"cpu":1},"busy":{"cpu":0},"jobs_done":2,"jobs_failed":0,
                 "utc_offset_minutes":0,"connected_at":"2026-11-30T08:00:00.000Z"}]}]})";

// Four days; two had jobs: on the 28th two paid matmuls, on the 30th one paid and one free job.
const std::string four_days = R"({"account":"dora",
  "days":[{"date":"2026-11-27","jobs":0,"units":0,"earned":0},
          {"date":"2026-11-28","jobs":2,"units":48,"earned":88},
          {"date":"2026-11-29","jobs":0,"units":0,"earned":0},
          {"date":"2026-11-30","jobs":2,"units":2000024,"earned":44}],
  "total":{"jobs":4,"units":2000072,"earned":132},
  "recent":[{"id":14,"task":"test.sleep","state":"succeeded","worker":"dora-box","units":2000000,"price":0,
             "charged":0,"fee":0,"earned":0,"finished_at":"2026-11-30T11:59:00.000Z"},
            {"id":12,"task":"linalg.matmul","state":"succeeded","worker":"dora-box","units":24,"price":2000000,
             "charged":48,"fee":4,"earned":44,"finished_at":"2026-11-30T10:00:00.000Z"},
            {"id":9,"task":"linalg.matmul","state":"failed","worker":"","units":24,"price":0,
             "charged":0,"fee":0,"earned":0,"finished_at":"2026-11-28T10:00:00.000Z"}],
  "workers":[{"id":"w-1","name":"dora-box","jobs_done":4,"jobs_failed":1,"connected_at":"2026-11-27T00:00:00.000Z"}]})";

// 2026-11-30T12:00:00Z
constexpr std::int64_t noon_ms = 1'796'040'000'000;

}  // namespace

BOOST_AUTO_TEST_CASE(a_workers_settings_read_as_one_line) {
  BOOST_TEST(worker_settings_text(parse_object(R"({"paused":true,"max_slots":0,"hours":null,"free_jobs":null})")) ==
             "paused, every slot, all day, free jobs as its --free-jobs says");
  BOOST_TEST(worker_settings_text(parse_object(R"({"paused":false,"max_slots":2,"hours":"22-7","free_jobs":false})")) ==
             "not paused, at most 2 slots, hours 22-7 (its local time), no free jobs");
  BOOST_TEST(worker_settings_text(parse_object(R"({"paused":false,"max_slots":1,"hours":"9-17","free_jobs":true})")) ==
             "not paused, at most 1 slot, hours 9-17 (its local time), takes free jobs");
}

BOOST_AUTO_TEST_CASE(a_workers_state_says_why_it_takes_no_jobs) {
  const auto open = parse_object(R"({"taking_jobs":true})");
  const auto closed = parse_object(R"({"taking_jobs":false})");
  BOOST_TEST(worker_state_text(parse_object(R"({"paused":false,"hours":null})"), &open) == "taking jobs");
  BOOST_TEST(worker_state_text(parse_object(R"({"paused":true,"hours":"9-17"})"), &closed) == "paused");
  BOOST_TEST(worker_state_text(parse_object(R"({"paused":false,"hours":"9-17"})"), &closed) == "outside its hours");
  BOOST_TEST(worker_state_text(parse_object(R"({"paused":false,"hours":null})"), &closed) == "not taking jobs");
  BOOST_TEST(worker_state_text(parse_object(R"({"paused":true})"), nullptr) == "not connected");
}

BOOST_AUTO_TEST_CASE(my_workers_show_state_settings_prices_and_busy_slots) {
  BOOST_TEST(render_my_workers(parse_object(my_workers), false) ==
             "NAME       STATE              PRICE            BUSY  JOBS DONE  MAX SLOTS  HOURS    FREE JOBS\n"
             "kate-box   paused             cpu 2             1/2      1,234  all        all day  yes\n"
             "lab        outside its hours  free              0/4          0  1          22-7     no\n"
             "old-box    not connected      -                   -          -  2          all day  its flag\n"
             "twin on a  taking jobs        cpu 0.5, cuda 4   2/2          5  all        all day  yes\n"
             "twin on b  taking jobs        cpu 0.5           0/1          2  all        all day  yes\n");
  BOOST_TEST(render_my_workers(parse_object(my_workers), true).find('\x1b') != std::string::npos);
}

BOOST_AUTO_TEST_CASE(earnings_show_totals_the_days_with_jobs_and_the_latest_jobs) {
  BOOST_TEST(render_earnings(parse_object(four_days), noon_ms, true, false) ==
             "Earnings of dora  the last 4 days, 2026-11-27 to 2026-11-30 (UTC)\n"
             "Earned:     0.000132 credits\n"
             "Jobs:       4 (2,000,072 work units)\n"
             "Connected:  dora-box (4 done, 1 failed since it connected)\n"
             "\n"
             "  DATE        JOBS      UNITS    EARNED\n"
             "  2026-11-28     2         48  0.000088  ████████████████████\n"
             "  2026-11-30     2  2,000,024  0.000044  ██████████\n"
             "  (2 other days without jobs)\n"
             "\n"
             "Latest jobs your workers ran (prices in credits per million work units):\n"
             "  ID  TASK           STATE      WORKER        UNITS  PRICE    EARNED  FINISHED\n"
             "  14  test.sleep     succeeded  dora-box  2,000,000   free         0  1m ago\n"
             "  12  linalg.matmul  succeeded  dora-box         24      2  0.000044  2h ago\n"
             "   9  linalg.matmul  failed     -                24   free         0  2d ago\n");
  // Without UTF-8 the bars are #.
  BOOST_TEST(has(render_earnings(parse_object(four_days), noon_ms, false, false), "0.000044  ##########\n"));
}

BOOST_AUTO_TEST_CASE(earnings_of_free_work_draw_bars_by_units_and_an_idle_window_says_so) {
  auto free_only = parse_object(four_days);
  free_only["total"].as_object()["earned"] = 0;
  for (auto& d : free_only["days"].as_array()) d.as_object()["earned"] = 0;
  const auto text = render_earnings(free_only, noon_ms, false, false);
  BOOST_TEST(has(text, "Earned:     0 credits\n"));
  BOOST_TEST(has(text, "  2026-11-28     2         48       0  #\n"));  // the least day still shows
  BOOST_TEST(has(text, "  2026-11-30     2  2,000,024       0  ####################\n"));

  const auto idle = parse_object(R"({"account":"leo","days":[{"date":"2026-11-30","jobs":0,"units":0,"earned":0}],
    "total":{"jobs":0,"units":0,"earned":0},"recent":[],"workers":[]})");
  BOOST_TEST(render_earnings(idle, noon_ms, true, false) ==
             "Earnings of leo  today, 2026-11-30 (UTC)\n"
             "Earned:     0 credits\n"
             "Jobs:       0 (0 work units)\n"
             "Connected:  none of your workers now\n"
             "\n"
             "No jobs ran on your workers today.\n");
}

BOOST_AUTO_TEST_CASE(the_leaderboard_names_the_period_and_ranks_donors) {
  const auto board = parse_object(R"({"days":7,"since":"2026-11-24T00:00:00.000Z","donors":[
    {"rank":1,"account":"dora","jobs":3,"units":72,"earned":132},
    {"rank":2,"account":null,"jobs":1200,"units":2400000,"earned":0}]})");
  BOOST_TEST(render_donors(board, false) ==
             "Donors of the last 7 days (since 2026-11-24), by credits earned:\n"
             "RANK  ACCOUNT    EARNED   JOBS  WORK UNITS\n"
             "   1  dora     0.000132      3          72\n"
             "   2  -               0  1,200   2,400,000\n");
}

// ---------------------------------------------------------------------------------------------
// jobs --mine and --paid-to

BOOST_AUTO_TEST_CASE(jobs_mine_asks_whose_token_it_is_then_filters_by_that_account) {
  const std::string list = R"({"jobs":[{"id":3,"task":"test.sleep","state":"succeeded","worker":"dora-box",
    "created_at":"2026-11-30T08:00:00.000Z","started_at":"2026-11-30T08:00:00.000Z",
    "finished_at":"2026-11-30T08:00:00.002Z"}],"next_cursor":null})";
  fake_daemon d([&](const recorded_request& r) {
    if (r.target == "/api/v1/account")
      return scripted_reply{200, R"({"account":{"id":7,"name":"alice","kind":"user","balance":0},"token":{}})"};
    return scripted_reply{200, list};
  });
  auto o = run_cli({"--url", d.url(), "jobs", "--mine", "--state", "succeeded"});
  BOOST_TEST(o.status == 0, o.err);
  const auto sent = d.requests();
  BOOST_TEST_REQUIRE(sent.size() == 2u);
  BOOST_TEST(sent[0].target == "/api/v1/account");
  BOOST_TEST(sent[0].authorization == "Bearer plk_" + std::string(64, 'a'));
  BOOST_TEST(sent[1].target == "/api/v1/jobs?limit=20&state=succeeded&account=alice");
  BOOST_TEST(has(o.out, "test.sleep"));

  auto both = run_cli({"--url", d.url(), "jobs", "-q", "--mine", "--paid-to", "dora"});
  BOOST_TEST(both.status == 0);
  BOOST_TEST(both.out == "3\n");
  BOOST_TEST(d.last().target == "/api/v1/jobs?limit=20&account=alice&paid_to=dora");

  // A longer list: the way to more of it keeps the filters.
  fake_daemon more([&](const recorded_request& r) {
    if (r.target == "/api/v1/account")
      return scripted_reply{200, R"({"account":{"id":7,"name":"alice","kind":"user","balance":0},"token":{}})"};
    auto page = json::parse(list).as_object();
    page["next_cursor"] = 3;
    return scripted_reply{200, json::serialize(page)};
  });
  auto paged = run_cli({"--url", more.url(), "jobs", "--mine", "--state", "succeeded", "--limit", "1"});
  BOOST_TEST(paged.status == 0);
  BOOST_TEST(paged.err == "Showing the 1 newest succeeded jobs. More: potluck jobs --limit 5 --state succeeded --mine\n");
}

BOOST_AUTO_TEST_CASE(jobs_paid_to_filters_says_when_none_and_an_unknown_account_exits_4) {
  fake_daemon d([](const recorded_request& r) {
    if (r.target.find("nobody") != std::string::npos)
      return scripted_reply{404, error_body("unknown_account", "paid_to: no account named 'nobody'")};
    return scripted_reply{200, R"({"jobs":[],"next_cursor":null})"};
  });
  auto none = run_cli({"--url", d.url(), "jobs", "--paid-to", "dora", "--state", "failed"});
  BOOST_TEST(none.status == 0, none.err);
  BOOST_TEST(d.last().target == "/api/v1/jobs?limit=20&state=failed&paid_to=dora");
  BOOST_TEST(d.requests().size() == 1u);  // no question about the token's account
  BOOST_TEST(none.out == "No failed jobs dora's workers ran. All jobs: potluck jobs\n");

  auto unknown = run_cli({"--url", d.url(), "jobs", "--paid-to", "nobody"});
  BOOST_TEST(unknown.status == 4);
  BOOST_TEST(has(unknown.err, "error: paid_to: no account named 'nobody'\n"));
  BOOST_TEST(has(unknown.err, "Is the account name right?"));
  BOOST_TEST(unknown.out.empty());
}

// ---------------------------------------------------------------------------------------------
// Replicas: a job run on several donors' workers, each paid

namespace {

// Two replicas at a bid of 3: 144 reserved; quinn's and rita's workers ask 2, so each replica
// costs 48, of which the 10% fee is 4; 48 comes back to alice.
const std::string two_replicas_billing = R"("billing":{"units":24,"replicas":2,"bid":3000000,"reserved":144,
  "settled":true,"price":2000000,"charged":96,"fee":8,"refunded":48,"paid_to":"quinn",
  "payments":[{"kind":"charge","to":"quinn","amount":44},{"kind":"charge","to":"rita","amount":44},
              {"kind":"fee","to":"fees","amount":8},{"kind":"refund","to":"alice","amount":48}]})";

const std::string replicated_job = job_head + two_replicas_billing + R"(,
  "created_at":"2026-11-30T08:00:00.000Z","started_at":"2026-11-30T08:00:00.010Z",
  "finished_at":"2026-11-30T08:00:00.020Z","timings_ms":{"queued":10,"run":10},"params":{},"inputs":[],
  "result":{"outputs":{"c":{"dtype":"f32","shape":[1],"data":[7]}}},"error":null})";

}  // namespace

BOOST_AUTO_TEST_CASE(billing_of_replicas_says_how_many_and_whom_each_paid) {
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":24,"replicas":2,"bid":3000000,"reserved":144,
      "settled":false}})")) == "reserved 0.000144 credits (bid 3 per million units, 24 units, 2 replicas)");
  BOOST_TEST(billing_text(parse_object(R"({"billing":{"units":24,"replicas":3,"bid":0,"reserved":0,"settled":false}})")) ==
             "free job (24 units, 3 replicas)");
  const auto settled = parse_object("{" + two_replicas_billing + "}");
  BOOST_TEST(billing_text(settled) == "charged 0.000096 credits for 2 replicas (24 units each, fee 0.000008); refunded 0.000048");
  BOOST_TEST(payments_text(settled) == "0.000044 to quinn, 0.000044 to rita, fee 0.000008 to fees, refund 0.000048 to alice");

  // Three replicas, one outvoted: two are paid, and the line says so.
  const auto outvoted = parse_object(R"({"billing":{"units":24,"replicas":3,"bid":3000000,"reserved":216,"settled":true,
      "price":2000000,"charged":96,"fee":0,"refunded":120,"paid_to":"quinn",
      "payments":[{"kind":"charge","to":"quinn","amount":48},{"kind":"charge","to":"rita","amount":48},
                  {"kind":"refund","to":"acme","amount":120}]}})");
  BOOST_TEST(billing_text(outvoted) == "charged 0.000096 credits for 3 replicas, 2 paid (24 units each); refunded 0.00012");
  BOOST_TEST(payments_text(outvoted) == "0.000048 to quinn, 0.000048 to rita, refund 0.00012 to acme");

  // One replica: the line is as before, and the payments name the donor's share and the fee.
  const auto single = parse_object(R"({"billing":{"units":24,"replicas":1,"bid":3000000,"reserved":72,"settled":true,
      "price":2000000,"charged":48,"fee":4,"refunded":24,"paid_to":"dora",
      "payments":[{"kind":"charge","to":"dora","amount":44},{"kind":"fee","to":"fees","amount":4},
                  {"kind":"refund","to":"alice","amount":24}]}})");
  BOOST_TEST(billing_text(single) ==
             "charged 0.000048 credits (24 units at 2 per million, paid to dora, fee 0.000004); refunded 0.000024");
  BOOST_TEST(payments_text(single) == "0.000044 to dora, fee 0.000004 to fees, refund 0.000024 to alice");

  // Replicas that disagreed: nothing charged, all refunded; the billing line says it all.
  const auto disagreed = parse_object(R"({"billing":{"units":24,"replicas":2,"bid":3000000,"reserved":144,"settled":true,
      "price":0,"charged":0,"fee":0,"refunded":144,"paid_to":null,
      "payments":[{"kind":"refund","to":"alice","amount":144}]}})");
  BOOST_TEST(billing_text(disagreed) == "nothing charged; refunded 0.000144");
  BOOST_TEST(payments_text(disagreed).empty());
  // Nothing listed (a free job, a daemon before payments): nothing to say.
  BOOST_TEST(payments_text(parse_object(R"({"billing":{"units":24,"bid":0,"reserved":0,"settled":true}})")).empty());
  BOOST_TEST(payments_text(parse_object(R"({"id":1})")).empty());
}

BOOST_AUTO_TEST_CASE(a_quote_for_replicas_says_the_cost_is_each_ones_and_when_donors_are_too_few) {
  auto quote = parse_object(covered_quote);
  quote["replicas"] = 3;
  quote["reserved"] = 216;
  quote["note"] = "3 replicas need workers of 3 donors, and 1 connected now take this bid: the rest wait";
  BOOST_TEST(render_quote(quote, bid_source::bid, false) ==
             "Quote  linalg.matmul  any backend\n"
             "Work units:     24 each\n"
             "Replicas:       3 (on distinct donors' workers; results must agree, each is paid)\n"
             "Bid:            3 credits per million units\n"
             "Reserves:       0.000216 credits until the job ends\n"
             "Cheapest:       dora-box (cpu) asks 2 per million units\n"
             "Cost:           0.000048 credits there, for each replica\n"
             "Expected wait:  none: a worker that takes it has a free slot\n"
             "Queued ahead:   0 jobs\n"
             "Note:           3 replicas need workers of 3 donors, and 1 connected now take this bid: the rest wait\n"
             "\n"
             "Offers (asks in credits per million work units):\n"
             "  WORKER    BACKEND  ASK  FREE SLOTS  COVERED      COST\n"
             "  dora-box  cpu        2         1/2  yes      0.000048\n"
             "  gpu-box   cuda       4         1/1  no       0.000096\n");
  // One replica (or a daemon before replicas): no such rows.
  quote["replicas"] = 1;
  quote["note"] = nullptr;
  const auto one = render_quote(quote, bid_source::bid, false);
  BOOST_TEST(has(one, "Work units:     24\n"));
  BOOST_TEST(one.find("Replicas") == std::string::npos);
  BOOST_TEST(one.find("Note") == std::string::npos);
  BOOST_TEST(has(one, "Cost:           0.000048 credits there\n"));
}

BOOST_AUTO_TEST_CASE(replicas_are_sent_with_the_job_and_bad_counts_exit_2_before_anything_is_sent) {
  fake_daemon d([](const recorded_request& r) {
    if (r.target == "/api/v1/jobs/quote") return scripted_reply{200, covered_quote};
    return scripted_reply{202, R"({"id":12,"state":"queued"})"};
  });
  auto quote = run_cli({"--url", d.url(), "quote", "linalg.matmul", "--bid", "3", "--replicas", "2"});
  BOOST_TEST(quote.status == 0, quote.err);
  BOOST_TEST(json::parse(d.last().body).at("replicas").as_int64() == 2);
  auto submitted = run_cli({"--url", d.url(), "submit", "-q", "linalg.matmul", "--bid", "3", "--replicas=5"});
  BOOST_TEST(submitted.status == 0, submitted.err);
  BOOST_TEST(submitted.out == "12\n");
  BOOST_TEST(d.last().target == "/api/v1/jobs");
  BOOST_TEST(json::parse(d.last().body).at("replicas").as_int64() == 5);
  // Without the flag the daemon's default stands: nothing is sent.
  BOOST_TEST(run_cli({"--url", d.url(), "submit", "linalg.matmul"}).status == 0);
  BOOST_TEST(!json::parse(d.last().body).as_object().contains("replicas"));

  const auto sent = d.requests().size();
  for (const std::string bad : {"0", "6", "two", "-1", "1.5", ""}) {
    for (const char* command : {"submit", "quote"}) {
      auto o = run_cli({"--url", d.url(), command, "linalg.matmul", "--replicas", bad});
      BOOST_TEST(o.status == 2, command << " --replicas '" << bad << "': " << o.err);
      BOOST_TEST(has(o.err, "error: --replicas takes a number from 1 to 5 (got '" + bad + "')\n"));
      BOOST_TEST(has(o.err, std::string("Run 'potluck ") + command + " --help' for usage."));
    }
  }
  BOOST_TEST(d.requests().size() == sent);
}

BOOST_AUTO_TEST_CASE(job_and_submit_wait_show_the_replicas_and_whom_they_paid) {
  fake_daemon d([](const recorded_request& r) {
    if (r.method == "POST") return scripted_reply{202, R"({"id":12,"state":"queued"})"};
    if (r.target.ends_with("/events")) {
      // The stream's final event: the job on one line.
      return scripted_reply{200, "event: job\ndata: " + json::serialize(json::parse(replicated_job)) + "\n\n"};
    }
    return scripted_reply{200, replicated_job};
  });
  auto shown = run_cli({"--url", d.url(), "job", "12"});
  BOOST_TEST(shown.status == 0, shown.err);
  BOOST_TEST(has(shown.out, "\nBilling:  charged 0.000096 credits for 2 replicas (24 units each, fee 0.000008); "
                            "refunded 0.000048\n"
                            "Paid:     0.000044 to quinn, 0.000044 to rita, fee 0.000008 to fees, refund 0.000048 to alice\n"));

  auto waited = run_cli({"--url", d.url(), "submit", "linalg.matmul", "--bid", "3", "--replicas", "2", "--wait"});
  BOOST_TEST(waited.status == 0, waited.err);
  BOOST_TEST(has(waited.err, "job 12 linalg.matmul succeeded"));
  BOOST_TEST(has(waited.err, "\n  charged 0.000096 credits for 2 replicas (24 units each, fee 0.000008); refunded 0.000048\n"
                             "  paid 0.000044 to quinn, 0.000044 to rita, fee 0.000008 to fees, refund 0.000048 to alice\n"));
  BOOST_TEST(has(waited.out, "c  f32[1]\n"));
  // -q keeps stderr to nothing but failures.
  auto quiet = run_cli({"--url", d.url(), "submit", "-q", "linalg.matmul", "--replicas", "2", "--wait"});
  BOOST_TEST(quiet.status == 0, quiet.err);
  BOOST_TEST(quiet.err.empty());
}
