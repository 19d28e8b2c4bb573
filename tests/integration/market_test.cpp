// End-to-end tests of the compute market: donors' prices, users' bids and maximum totals,
// reservations, charges, refunds and the audit, through a real potluckd, real workers and the
// testing and BLAS plugins.
#define BOOST_TEST_MODULE integration_market
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <boost/json.hpp>
#include <zmq.hpp>

#include <atomic>
#include <csignal>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <thread>

namespace json = boost::json;
using namespace potluck::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t micro = 1'000'000;

// A 2x3 by 3x2 matmul: 2*m*n*k = 2*2*2*3 = 24 work units.
const std::string matmul_inputs =
    R"("inputs":{"a":{"dtype":"f32","data":[[1,2,3],[4,5,6]]},"b":{"dtype":"f32","data":[[1,0],[0,1],[1,1]]}})";
constexpr std::int64_t matmul_units = 24;

std::string error_code(const http_reply& r) { return std::string(r.json().at("error").at("code").as_string()); }
std::string error_message(const http_reply& r) { return std::string(r.json().at("error").at("message").as_string()); }

struct user {
  std::string name, token;
  std::int64_t id = 0;
};

user sign_up(const daemon_process& d, const std::string& name) {
  auto r = http(d.http_port(), "POST", "/api/v1/accounts", R"({"name":")" + name + R"("})");
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  const auto v = r.json();
  return {name, std::string(v.at("token").at("secret").as_string()), v.at("account").at("id").as_int64()};
}

std::int64_t balance(const daemon_process& d, const std::string& token) {
  auto r = http_as(token, d.http_port(), "GET", "/api/v1/account");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  return r.json().at("account").at("balance").as_int64();
}

json::object audit(const daemon_process& d) {
  auto r = http_as(d.admin_token(), d.http_port(), "GET", "/api/v1/admin/audit");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  return r.json().as_object();
}

void require_books_balance(const daemon_process& d) {
  const auto report = audit(d);
  BOOST_TEST(report.at("ok").as_bool(), json::serialize(report));
  BOOST_TEST(report.at("sum_of_balances").as_int64() == 0);
  BOOST_TEST(report.at("escrow").as_int64() == report.at("reserved_by_unfinished_jobs").as_int64());
}

std::int64_t submit_as(const daemon_process& d, const std::string& token, const std::string& body) {
  auto r = http_as(token, d.http_port(), "POST", "/api/v1/jobs", body);
  BOOST_TEST_REQUIRE(r.status == 202, r.body);
  return r.json().at("id").as_int64();
}

json::object billing_of(const json::object& job) { return job.at("billing").as_object(); }

// Starts a worker that donates for `donor` and waits until the daemon lists `expected` workers.
std::unique_ptr<child_process> donor_worker(const daemon_process& d, const std::string& name, const user& donor,
                                            std::vector<std::string> args, std::size_t expected, int slots = 1) {
  args.insert(args.begin(), {"--token", donor.token});
  auto w = start_worker(d, name, slots, std::move(args));
  BOOST_TEST_REQUIRE(wait_for_workers(d, expected), w->log());
  return w;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_paid_job_reserves_its_bid_pays_the_donor_less_the_fee_and_refunds_the_rest) {
  daemon_process d({"--starter-grant", "10", "--fee-percent", "10"});
  const auto dora = sign_up(d, "dora");
  const auto alice = sign_up(d, "alice");
  // Dora asks 2 credits per million units on the CPU.
  auto worker = donor_worker(d, "dora-box", dora, {"--price", "cpu=2"}, 1);

  // The quote: 24 units; the cheapest covering worker asks 2 per million; at a bid of 3 the job
  // reserves ceil(24 * 3) = 72 micro-credits and would cost 48.
  auto quote = http(d.http_port(), "POST", "/api/v1/jobs/quote",
                    R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000})");
  BOOST_TEST_REQUIRE(quote.status == 200, quote.body);
  const auto q = quote.json().as_object();
  BOOST_TEST(q.at("units").as_int64() == matmul_units);
  BOOST_TEST(q.at("reserved").as_int64() == 72);
  BOOST_TEST(q.at("lowest_ask").as_int64() == 2 * micro);
  BOOST_TEST(q.at("cost").as_int64() == 48);
  BOOST_TEST(q.at("workers_covered").as_int64() == 1);
  BOOST_TEST(q.at("cheapest").at("worker").as_string() == "dora-box");
  BOOST_TEST(balance(d, alice.token) == 10 * micro, "a quote moves nothing");

  const auto id = submit_as(d, alice.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000})");
  const auto job = wait_for_job(d, id);
  BOOST_TEST_REQUIRE(job.at("state").as_string() == "succeeded", json::serialize(job));
  const auto bill = billing_of(job);
  BOOST_TEST(bill.at("units").as_int64() == matmul_units);
  BOOST_TEST(bill.at("bid").as_int64() == 3 * micro);
  BOOST_TEST(bill.at("reserved").as_int64() == 72);
  BOOST_TEST(bill.at("price").as_int64() == 2 * micro);
  BOOST_TEST(bill.at("charged").as_int64() == 48);
  BOOST_TEST(bill.at("fee").as_int64() == 4);  // 10% of 48, rounded down
  BOOST_TEST(bill.at("refunded").as_int64() == 24);
  BOOST_TEST(bill.at("paid_to").as_string() == "dora");

  BOOST_TEST(balance(d, alice.token) == 10 * micro - 48);
  BOOST_TEST(balance(d, dora.token) == 10 * micro + 44);
  // Alice's ledger: the reserve and the refund for the job, newest first.
  auto ledger = http_as(alice.token, d.http_port(), "GET", "/api/v1/account/ledger");
  const auto entries = ledger.json().at("entries").as_array();
  BOOST_TEST_REQUIRE(entries.size() == 3u, ledger.body);
  BOOST_TEST(entries[0].at("kind").as_string() == "refund");
  BOOST_TEST(entries[0].at("amount").as_int64() == 24);
  BOOST_TEST(entries[1].at("kind").as_string() == "reserve");
  BOOST_TEST(entries[1].at("amount").as_int64() == -72);
  BOOST_TEST(entries[1].at("job_id").as_int64() == id);
  require_books_balance(d);

  // A maximum total instead of a bid: reserves exactly it, charges the same 48.
  const auto capped = submit_as(d, alice.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"max_price":50})");
  const auto capped_job = wait_for_job(d, capped);
  BOOST_TEST(capped_job.at("state").as_string() == "succeeded");
  BOOST_TEST(billing_of(capped_job).at("reserved").as_int64() == 50);
  BOOST_TEST(billing_of(capped_job).at("charged").as_int64() == 48);

  // No price named: the job bids the lowest ask now (2 per million) and pays exactly that.
  const auto market = submit_as(d, alice.token, R"({"task":"linalg.matmul",)" + matmul_inputs + "}");
  const auto market_job = wait_for_job(d, market);
  BOOST_TEST(billing_of(market_job).at("bid").as_int64() == 2 * micro);
  BOOST_TEST(billing_of(market_job).at("charged").as_int64() == 48);
  BOOST_TEST(billing_of(market_job).at("refunded").as_int64() == 0);
  require_books_balance(d);

  // Dora's earnings: today holds the three jobs (44 + 44 + 44 after 10% fees).
  auto earnings = http_as(dora.token, d.http_port(), "GET", "/api/v1/account/earnings?days=7");
  BOOST_TEST_REQUIRE(earnings.status == 200, earnings.body);
  const auto e = earnings.json();
  const auto& days = e.at("days").as_array();
  BOOST_TEST_REQUIRE(days.size() == 7u);
  BOOST_TEST(days.back().at("jobs").as_int64() == 3);
  BOOST_TEST(days.back().at("earned").as_int64() == 3 * 44);
  BOOST_TEST(days.back().at("units").as_int64() == 3 * matmul_units);
  BOOST_TEST(days.front().at("jobs").as_int64() == 0);
  BOOST_TEST(e.at("total").at("earned").as_int64() == 3 * 44);
  BOOST_TEST(e.at("recent").as_array().size() == 3u);
  BOOST_TEST(e.at("recent").as_array()[0].at("worker").as_string() == "dora-box");
  BOOST_TEST(e.at("workers").as_array().size() == 1u);
  // Alice earned nothing; the leaderboard (public) has dora alone.
  auto none = http_as(alice.token, d.http_port(), "GET", "/api/v1/account/earnings").json();
  BOOST_TEST(none.at("total").at("earned").as_int64() == 0);
  BOOST_TEST(none.at("days").as_array().size() == 30u);
  auto board = http(d.http_port(), "GET", "/api/v1/donors?days=1");
  BOOST_TEST_REQUIRE(board.status == 200, board.body);
  const auto donors = board.json().at("donors").as_array();
  BOOST_TEST_REQUIRE(donors.size() == 1u, board.body);
  BOOST_TEST(donors[0].at("account").as_string() == "dora");
  BOOST_TEST(donors[0].at("rank").as_int64() == 1);
  BOOST_TEST(donors[0].at("earned").as_int64() == 3 * 44);
  for (const char* bad : {"/api/v1/donors?days=0", "/api/v1/donors?days=abc", "/api/v1/donors?limit=1000"})
    BOOST_TEST(http(d.http_port(), "GET", bad).status == 400, bad);
  BOOST_TEST(http(d.http_port(), "GET", "/api/v1/account/earnings").status == 401);
  // The jobs dora's workers ran, and those alice submitted.
  auto paid = http(d.http_port(), "GET", "/api/v1/jobs?paid_to=dora").json();
  BOOST_TEST(paid.at("jobs").as_array().size() == 3u);
  auto mine = http(d.http_port(), "GET", "/api/v1/jobs?account=dora").json();
  BOOST_TEST(mine.at("jobs").as_array().empty());
  BOOST_TEST(http(d.http_port(), "GET", "/api/v1/jobs?account=nobody").status == 404);
}

BOOST_AUTO_TEST_CASE(a_bid_below_every_ask_waits_and_is_refunded_in_full_when_cancelled) {
  daemon_process d({"--starter-grant", "10"});
  const auto dora = sign_up(d, "dora");
  const auto bob = sign_up(d, "bob");
  auto worker = donor_worker(d, "dora-box", dora, {"--price", "cpu=2"}, 1);

  auto quote = http(d.http_port(), "POST", "/api/v1/jobs/quote",
                    R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":1000000})");
  BOOST_TEST_REQUIRE(quote.status == 200, quote.body);
  BOOST_TEST(quote.json().at("workers_covered").as_int64() == 0);
  BOOST_TEST(quote.json().at("cheapest").is_null());
  BOOST_TEST(quote.json().at("expected_wait_ms").is_null());
  BOOST_TEST(std::string(quote.json().at("note").as_string()).find("below every connected worker's ask") != std::string::npos);

  const auto id = submit_as(d, bob.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":1000000})");
  BOOST_TEST(balance(d, bob.token) == 10 * micro - 24);
  // A job that outbids it runs first and alone; the low bid stays queued.
  const auto high = submit_as(d, bob.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":2000000})");
  BOOST_TEST(wait_for_job(d, high).at("state").as_string() == "succeeded");
  auto low = http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json();
  BOOST_TEST(low.at("state").as_string() == "queued");

  auto cancel = http_as(bob.token, d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel");
  BOOST_TEST_REQUIRE(cancel.status == 200, cancel.body);
  const auto cancelled = wait_for_job(d, id);
  BOOST_TEST(billing_of(cancelled).at("charged").as_int64() == 0);
  BOOST_TEST(billing_of(cancelled).at("refunded").as_int64() == 24);
  BOOST_TEST(balance(d, bob.token) == 10 * micro - 48);
  require_books_balance(d);
}

BOOST_AUTO_TEST_CASE(concurrent_submissions_never_overspend_and_the_extras_get_402_with_the_balance) {
  daemon_process d({"--starter-grant", "1"});
  const auto carol = sign_up(d, "carol");
  // A worker declares test.sleep and leaves: its jobs wait, reserved, with nobody to run them.
  {
    auto worker = start_worker(d, "passing", 1);
    BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
    worker->signal(SIGTERM);
    BOOST_TEST_REQUIRE(worker->wait(20s).has_value());
    BOOST_TEST_REQUIRE(wait_for_workers(d, 0));
  }
  constexpr int attempts = 12;
  std::atomic<int> accepted{0}, refused{0}, other{0};
  std::vector<std::string> messages(attempts);
  std::vector<std::thread> threads;
  for (int i = 0; i < attempts; ++i) {
    threads.emplace_back([&, i] {
      // 0.3 credits each: three fit in 1 credit, a fourth does not.
      auto r = http_as(carol.token, d.http_port(), "POST", "/api/v1/jobs",
                       R"({"task":"test.sleep","params":{"ms":1},"max_price":300000})");
      if (r.status == 202) {
        accepted++;
      } else if (r.status == 402 && error_code(r) == "insufficient_funds") {
        refused++;
        messages[i] = error_message(r);
      } else {
        other++;
        messages[i] = r.body;
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(accepted.load() == 3);
  BOOST_TEST(refused.load() == attempts - 3);
  BOOST_TEST(other.load() == 0);
  for (const auto& m : messages) {
    if (m.empty()) continue;
    BOOST_TEST(m.find("your balance is 0.1 credits") != std::string::npos, m);
    BOOST_TEST(m.find("0.3 credits") != std::string::npos, m);
  }
  BOOST_TEST(balance(d, carol.token) == 100'000);
  const auto report = audit(d);
  BOOST_TEST(report.at("ok").as_bool(), json::serialize(report));
  BOOST_TEST(report.at("escrow").as_int64() == 900'000);

  // A batch is all or nothing: two more do not fit, so neither is written.
  auto batch = http_as(carol.token, d.http_port(), "POST", "/api/v1/jobs/batch",
                       R"({"jobs":[{"task":"test.sleep","max_price":50000},{"task":"test.sleep","max_price":60000}]})");
  BOOST_TEST(batch.status == 402, batch.body);
  BOOST_TEST(error_message(batch).find("these 2 jobs reserve up to 0.11 credits") != std::string::npos, batch.body);
  BOOST_TEST(balance(d, carol.token) == 100'000);
  auto queued = http(d.http_port(), "GET", "/api/v1/jobs?state=queued").json();
  BOOST_TEST(queued.at("jobs").as_array().size() == 3u);
}

BOOST_AUTO_TEST_CASE(bad_prices_and_bids_get_clear_errors_and_move_nothing) {
  daemon_process d({"--starter-grant", "10"});
  const auto erin = sign_up(d, "erin");
  auto worker = start_worker(d, "w", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const std::string head = R"({"task":"linalg.matmul",)" + matmul_inputs;
  const std::vector<std::tuple<std::string, int, std::string, std::string>> cases = {
      {head + R"(,"bid":-1})", 400, "invalid_price", "from 0 to"},
      {head + R"(,"bid":1.5})", 400, "invalid_price", "integer number of micro-credits"},
      {head + R"(,"bid":"100"})", 400, "invalid_price", "integer number of micro-credits"},
      {head + R"(,"bid":1e30})", 400, "invalid_price", "integer"},
      {head + R"(,"bid":18446744073709551615})", 400, "invalid_price", "from 0 to"},
      {head + R"(,"bid":1000000000001})", 400, "invalid_price", "from 0 to 1000000000000"},
      {head + R"(,"max_price":-5})", 400, "invalid_price", "for the whole job"},
      {head + R"(,"max_price":true})", 400, "invalid_price", "not true"},
      {head + R"(,"bid":5,"max_price":5})", 400, "invalid_price", "not both"},
      {head + R"(,"max_price":0})", 202, "", ""},  // a free job
  };
  for (const auto& [body, status, code, mention] : cases) {
    auto r = http_as(erin.token, d.http_port(), "POST", "/api/v1/jobs", body);
    BOOST_TEST(r.status == status, body << " -> " << r.body);
    if (status == 202) continue;
    BOOST_TEST(error_code(r) == code, r.body);
    BOOST_TEST(error_message(r).find(mention) != std::string::npos, r.body);
  }
  // A maximum too small for the job's units even at the smallest price (1 micro-credit per
  // million units): a 100x100 by 100x100 matmul is 2,000,000 units.
  std::string row = "[";
  for (int i = 0; i < 100; ++i) row += i ? ",1" : "1";
  row += "]";
  std::string matrix = "[";
  for (int i = 0; i < 100; ++i) matrix += (i ? "," : "") + row;
  matrix += "]";
  const auto big = R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","data":)" + matrix +
                   R"(},"b":{"dtype":"f32","data":)" + matrix + R"(}},"max_price":1})";
  auto tiny = http_as(erin.token, d.http_port(), "POST", "/api/v1/jobs", big);
  BOOST_TEST(tiny.status == 422, tiny.body);
  BOOST_TEST(error_message(tiny).find("does not cover 2000000 work units") != std::string::npos, tiny.body);
  // Erin paid for nothing: the free job cost nothing, the refused ones reserved nothing.
  BOOST_TEST(balance(d, erin.token) == 10 * micro);
  require_books_balance(d);
}

BOOST_AUTO_TEST_CASE(workers_with_bad_prices_are_refused_at_hello) {
  daemon_process d({"--anonymous-workers"});
  zmq::context_t ctx;
  auto refusal_of = [&](const std::string& hello) {
    zmq::socket_t peer(ctx, zmq::socket_type::dealer);
    peer.set(zmq::sockopt::linger, 0);
    peer.connect(d.workers_endpoint());
    for (const std::string& frame : {std::string("PLK1"), std::string(1, '\x01')})
      peer.send(zmq::buffer(frame), zmq::send_flags::sndmore);
    peer.send(zmq::buffer(hello), zmq::send_flags::none);
    zmq::pollitem_t item{peer.handle(), 0, ZMQ_POLLIN, 0};
    std::string seen;
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (seen.find("refused") == std::string::npos && std::chrono::steady_clock::now() < end) {
      zmq::poll(&item, 1, std::chrono::milliseconds(200));
      zmq::message_t part;
      while (peer.recv(part, zmq::recv_flags::dontwait)) seen += part.to_string();
    }
    return seen;
  };
  const std::string slots = R"("name":"x","slots":[{"backend":"cpu"}])";
  BOOST_TEST(refusal_of("{" + slots + R"(,"prices":{"cpu":-1}})").find("from 0 to") != std::string::npos);
  BOOST_TEST(refusal_of("{" + slots + R"(,"prices":{"cpu":0.5}})").find("must be an integer") != std::string::npos);
  BOOST_TEST(refusal_of("{" + slots + R"(,"prices":{"tpu":5}})").find("unknown backend") != std::string::npos);
  BOOST_TEST(refusal_of("{" + slots + R"(,"prices":[5]})").find("must be an object") != std::string::npos);
  BOOST_TEST(refusal_of("{" + slots + R"(,"accept_free":"yes"})").find("true or false") != std::string::npos);
  // An anonymous worker earns nothing, so it may not ask anything.
  BOOST_TEST(refusal_of("{" + slots + R"(,"prices":{"cpu":5}})").find("needs a donor token") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(free_jobs_run_only_on_workers_that_take_them_and_the_free_tier_can_be_off) {
  daemon_process d({"--starter-grant", "10"});
  const auto frank = sign_up(d, "frank");
  const auto gina = sign_up(d, "gina");
  // A priced worker that takes no free jobs.
  auto paid_only = donor_worker(d, "paid-only", frank, {"--price", "1", "--free-jobs", "no"}, 1);
  const auto free_id = submit_as(d, gina.token, R"({"task":"test.sleep","params":{"ms":1},"bid":0})");
  const auto paid_id = submit_as(d, gina.token, R"({"task":"test.sleep","params":{"ms":1},"bid":1000000})");
  BOOST_TEST(wait_for_job(d, paid_id).at("state").as_string() == "succeeded");
  BOOST_TEST(http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(free_id)).json().at("state").as_string() ==
             "queued");
  // A worker that takes free jobs runs it, for nothing.
  auto generous = donor_worker(d, "generous", frank, {"--price", "1"}, 2);
  const auto done = wait_for_job(d, free_id);
  BOOST_TEST(done.at("state").as_string() == "succeeded");
  BOOST_TEST(done.at("worker").as_string() == "generous");
  BOOST_TEST(billing_of(done).at("charged").as_int64() == 0);
  BOOST_TEST(billing_of(done).at("reserved").as_int64() == 0);
  require_books_balance(d);

  // The operator turns the free tier off: a bid of 0 is refused.
  daemon_process strict({"--free-tier", "off"});
  auto w = start_worker(strict, "w", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(strict, 1), w->log());
  const auto hank = sign_up(strict, "hank");
  auto r = http_as(hank.token, strict.http_port(), "POST", "/api/v1/jobs", R"({"task":"test.sleep","bid":0})");
  BOOST_TEST(r.status == 402, r.body);
  BOOST_TEST(error_code(r) == "free_tier_off");
  // With no price named, the job bids the smallest paid price; this worker asks 0, so it pays 0.
  const auto id = submit_as(strict, hank.token, R"({"task":"test.sleep","params":{"ms":1}})");
  const auto job = wait_for_job(strict, id);
  BOOST_TEST(job.at("state").as_string() == "succeeded");
  BOOST_TEST(billing_of(job).at("bid").as_int64() == 1);
  BOOST_TEST(billing_of(job).at("charged").as_int64() == 0);
}

BOOST_AUTO_TEST_CASE(a_daemon_killed_between_reserve_and_charge_settles_each_job_once_after_restart) {
  daemon_process d({"--starter-grant", "10"});
  const auto ivan = sign_up(d, "ivan");
  const auto judy = sign_up(d, "judy");
  auto worker = donor_worker(d, "ivan-box", ivan, {"--price", "cpu=1000"}, 1, 2);
  // Jobs cost 1 unit at 1000 credits per million: 1000 micro-credits each.
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(submit_as(d, judy.token, R"({"task":"test.sleep","params":{"ms":300},"bid":2000000000})"));
  // Some are running, the rest queued, all reserved, none charged: kill -9 now.
  BOOST_TEST_REQUIRE(eventually([&] {
    return http(d.http_port(), "GET", "/api/v1/jobs?state=running").json().at("jobs").as_array().size() >= 1u;
  }, 20s));
  d.restart();
  for (auto id : ids) {
    const auto job = wait_for_job(d, id, 60s);
    BOOST_TEST(job.at("state").as_string() == "succeeded", json::serialize(job));
    BOOST_TEST(billing_of(job).at("charged").as_int64() == 1000);
  }
  BOOST_TEST(balance(d, judy.token) == 10 * micro - 6 * 1000);
  BOOST_TEST(balance(d, ivan.token) == 10 * micro + 6 * 1000);
  require_books_balance(d);
  // Killed again with everything settled: nothing settles twice.
  d.restart();
  BOOST_TEST(balance(d, judy.token) == 10 * micro - 6 * 1000);
  require_books_balance(d);
}

BOOST_AUTO_TEST_CASE(a_randomized_run_with_failures_cancels_and_worker_kills_keeps_the_books) {
  daemon_process d({"--starter-grant", "100", "--fee-percent", "5"});
  std::vector<user> users;
  for (const char* name : {"u1", "u2", "u3"}) users.push_back(sign_up(d, name));
  const auto donor_a = sign_up(d, "donor-a");
  const auto donor_b = sign_up(d, "donor-b");
  auto cheap = donor_worker(d, "cheap", donor_a, {"--price", "cpu=500"}, 1, 2);
  auto dear = donor_worker(d, "dear", donor_b, {"--price", "cpu=1500", "--free-jobs", "no"}, 2, 2);

  std::mt19937 rng(20261130);
  const std::vector<std::string> tasks = {
      R"("task":"test.echo","inputs":{"x":{"dtype":"i32","data":[1,2,3]}})",
      R"("task":"test.sleep","params":{"ms":2})",
      R"("task":"test.fail","params":{"message":"bad input"})",
      R"("task":"test.crash")",
      R"("task":"linalg.matmul",)" + matmul_inputs,
  };
  const std::vector<std::string> prices = {R"("bid":0)", R"("bid":1000000000)", R"("bid":2000000000)",
                                           R"("max_price":5000)", R"("max_price":100)", ""};
  std::vector<std::int64_t> ids;
  constexpr int batches = 8, per_batch = 250;
  for (int b = 0; b < batches; ++b) {
    const auto& who = users[b % users.size()];
    std::string body = R"({"jobs":[)";
    for (int i = 0; i < per_batch; ++i) {
      // Crashes are rare: each costs a runner restart.
      auto task = tasks[rng() % 50 == 0 ? 3 : std::vector<int>{0, 1, 2, 4}[rng() % 4]];
      const auto& price = prices[rng() % prices.size()];
      body += (i ? "," : "") + ("{" + task + (price.empty() ? "" : "," + price) + ",\"max_attempts\":2}");
    }
    body += "]}";
    auto r = http_as(who.token, d.http_port(), "POST", "/api/v1/jobs/batch", body);
    BOOST_TEST_REQUIRE(r.status == 202, r.body.substr(0, 500));
    const auto accepted = r.json();
    for (const auto& j : accepted.at("jobs").as_array()) ids.push_back(j.at("id").as_int64());
    // Cancel a few, whatever their state.
    for (int c = 0; c < 10; ++c) {
      const auto id = ids[rng() % ids.size()];
      http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel");
    }
    // Kill a worker now and then, and bring it back.
    if (b == 2) {
      cheap->signal(SIGKILL);
      cheap->wait(10s);
      cheap = donor_worker(d, "cheap", donor_a, {"--price", "cpu=500"}, 2, 2);
    }
    if (b == 5) {
      dear->signal(SIGKILL);
      dear->wait(10s);
      dear = donor_worker(d, "dear", donor_b, {"--price", "cpu=1500", "--free-jobs", "no"}, 2, 2);
    }
  }
  // Whatever the cheap worker cannot take (bids it does not cover) the dear one may; jobs that
  // neither covers are cancelled at the end.
  BOOST_TEST_REQUIRE(eventually([&] {
    auto s = http(d.http_port(), "GET", "/api/v1/jobs?state=running&limit=1").json();
    return s.at("jobs").as_array().empty();
  }, 120s));
  // The operator's token is rate-limited like any other: a 429 is waited out, as a client does.
  BOOST_TEST_REQUIRE(eventually([&] {
    auto q = http(d.http_port(), "GET", "/api/v1/jobs?state=queued&limit=1000").json();
    const auto& list = q.at("jobs").as_array();
    for (const auto& j : list) {
      auto r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(j.at("id").as_int64()) + "/cancel");
      if (r.status == 429) return false;
    }
    return list.empty();
  }, 60s));
  BOOST_TEST_REQUIRE(eventually([&] {
    auto s = http(d.http_port(), "GET", "/api/v1/jobs?state=running&limit=1").json();
    return s.at("jobs").as_array().empty();
  }, 60s));

  // Every job ended, and what each user paid is what their jobs were charged.
  std::map<std::string, std::int64_t> charged_by_payee;
  std::map<std::int64_t, std::int64_t> charged_by_account;
  std::int64_t fees = 0, succeeded = 0, refunded_failures = 0;
  for (auto id : ids) {
    const auto job = http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json().as_object();
    const auto state = std::string(job.at("state").as_string());
    BOOST_TEST_REQUIRE((state == "succeeded" || state == "failed" || state == "cancelled"), json::serialize(job));
    const auto bill = billing_of(job);
    BOOST_TEST(bill.at("charged").as_int64() + bill.at("refunded").as_int64() == bill.at("reserved").as_int64());
    charged_by_account[job.at("account_id").as_int64()] += bill.at("charged").as_int64();
    fees += bill.at("fee").as_int64();
    if (bill.at("charged").as_int64() > 0)
      charged_by_payee[std::string(bill.at("paid_to").as_string())] += bill.at("charged").as_int64() - bill.at("fee").as_int64();
    if (state == "succeeded") ++succeeded;
    const auto code = job.at("error").is_object() ? std::string(job.at("error").at("code").as_string()) : "";
    if (state == "cancelled" || code == "plugin_crashed" || code == "worker_lost") {
      BOOST_TEST(bill.at("charged").as_int64() == 0, json::serialize(job));
      ++refunded_failures;
    }
  }
  BOOST_TEST(succeeded > 0);
  BOOST_TEST(refunded_failures > 0);
  for (const auto& u : users) BOOST_TEST(balance(d, u.token) == 100 * micro - charged_by_account[u.id], u.name);
  BOOST_TEST(balance(d, donor_a.token) == 100 * micro + charged_by_payee["donor-a"]);
  BOOST_TEST(balance(d, donor_b.token) == 100 * micro + charged_by_payee["donor-b"]);
  BOOST_TEST(charged_by_payee["donor-a"] > 0);
  BOOST_TEST(charged_by_payee["donor-b"] > 0);
  const auto report = audit(d);
  BOOST_TEST(report.at("ok").as_bool(), json::serialize(report));
  BOOST_TEST(report.at("escrow").as_int64() == 0);
  BOOST_TEST(report.at("jobs_checked").as_int64() == static_cast<std::int64_t>(ids.size()));
  BOOST_TEST_MESSAGE("randomized run: " << ids.size() << " jobs, " << succeeded << " succeeded, fees " << fees);
}

BOOST_AUTO_TEST_CASE(a_donor_pauses_caps_and_limits_the_hours_of_a_worker_from_the_api) {
  daemon_process d({"--starter-grant", "10"});
  const auto kate = sign_up(d, "kate");
  const auto leo = sign_up(d, "leo");
  auto worker = donor_worker(d, "kate-box", kate, {}, 1, 2);
  auto settings = [&](const user& who, const std::string& body) {
    return http_as(who.token, d.http_port(), "PUT", "/api/v1/account/workers/settings", body);
  };
  auto state_of = [&](std::int64_t id) {
    return std::string(http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json().at("state").as_string());
  };
  // The broker queues and dispatches a new job in one step: once the quote counts it queued,
  // the broker has decided not to dispatch it (no sleeping for what must not happen).
  auto wait_queued = [&](std::int64_t id) {
    const bool seen = eventually([&] {
      auto q = http(d.http_port(), "POST", "/api/v1/jobs/quote", R"({"task":"test.sleep","bid":0})");
      return q.status == 200 && q.json().at("queued_ahead").as_int64() >= 1;
    }, 10s);
    return seen && state_of(id) == "queued";
  };

  // Paused: a new job waits; resumed: it runs.
  auto r = settings(kate, R"({"worker":"kate-box","paused":true})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST(r.json().at("paused").as_bool());
  BOOST_TEST_REQUIRE(eventually([&] {
    const auto list = http(d.http_port(), "GET", "/api/v1/workers").json();
    return !list.at("workers").as_array()[0].at("taking_jobs").as_bool();
  }, 10s));
  const auto waiting = submit_as(d, leo.token, R"({"task":"test.sleep","params":{"ms":1}})");
  BOOST_TEST(wait_queued(waiting));
  auto mine = http_as(kate.token, d.http_port(), "GET", "/api/v1/account/workers");
  BOOST_TEST_REQUIRE(mine.status == 200, mine.body);
  const auto listed = mine.json().at("workers").as_array();
  BOOST_TEST_REQUIRE(listed.size() == 1u, mine.body);
  BOOST_TEST(listed[0].at("name").as_string() == "kate-box");
  BOOST_TEST(listed[0].at("settings").at("paused").as_bool());
  BOOST_TEST(listed[0].at("connected").as_array().size() == 1u);
  BOOST_TEST(!listed[0].at("connected").as_array()[0].at("taking_jobs").as_bool());
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","paused":false})").status == 200);
  BOOST_TEST(wait_for_job(d, waiting).at("state").as_string() == "succeeded");

  // At most one slot of two: two long jobs run one at a time.
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","max_slots":1})").status == 200);
  const auto first = submit_as(d, leo.token, R"({"task":"test.sleep","params":{"ms":600}})");
  const auto second = submit_as(d, leo.token, R"({"task":"test.sleep","params":{"ms":600}})");
  BOOST_TEST_REQUIRE(eventually([&] { return state_of(first) == "running"; }, 10s));
  BOOST_TEST(state_of(second) == "queued");
  BOOST_TEST(wait_for_job(d, second).at("state").as_string() == "succeeded");

  // Hours that exclude this hour (in the worker's local time): new jobs wait. The window
  // opening is what dispatches them; its end is not tested (it would take an hour).
  const auto local = [] {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm.tm_hour;
  }();
  const auto closed = std::to_string((local + 1) % 24) + "-" + std::to_string((local + 2) % 24);
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","hours":")" + closed + R"("})").status == 200);
  const auto later = submit_as(d, leo.token, R"({"task":"test.sleep","params":{"ms":1}})");
  BOOST_TEST(wait_queued(later));
  const auto open = std::to_string(local) + "-" + std::to_string((local + 1) % 24);
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","hours":")" + open + R"("})").status == 200);
  BOOST_TEST(wait_for_job(d, later).at("state").as_string() == "succeeded");

  // The donor refuses free jobs from the dashboard, overriding --free-jobs yes.
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","hours":null,"free_jobs":false})").status == 200);
  const auto free_job = submit_as(d, leo.token, R"({"task":"test.sleep","params":{"ms":1},"bid":0})");
  BOOST_TEST(wait_queued(free_job));
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","free_jobs":null})").status == 200);
  BOOST_TEST(wait_for_job(d, free_job).at("state").as_string() == "succeeded");

  // Settings outlive a reconnection: paused again, the worker restarts and stays paused.
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","paused":true})").status == 200);
  worker->signal(SIGKILL);
  worker->wait(10s);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 0));
  worker = donor_worker(d, "kate-box", kate, {}, 1, 2);
  const auto after = http(d.http_port(), "GET", "/api/v1/workers").json();
  BOOST_TEST(after.at("workers").as_array()[0].at("settings").at("paused").as_bool());

  // Another account's settings of the same name change nothing here.
  BOOST_TEST_REQUIRE(settings(leo, R"({"worker":"kate-box","paused":false})").status == 200);
  // Kate's next change reaches the broker after leo's: once it shows, leo's was applied too.
  BOOST_TEST_REQUIRE(settings(kate, R"({"worker":"kate-box","max_slots":2})").status == 200);
  BOOST_TEST_REQUIRE(eventually([&] {
    const auto list = http(d.http_port(), "GET", "/api/v1/workers").json();
    return list.at("workers").as_array()[0].at("settings").at("max_slots").as_int64() == 2;
  }, 10s));
  const auto still = http(d.http_port(), "GET", "/api/v1/workers").json();
  BOOST_TEST(!still.at("workers").as_array()[0].at("taking_jobs").as_bool());

  // Bad settings: a clear 400, nothing changed.
  for (const char* bad : {R"({"paused":true})", R"({"worker":"","paused":true})", R"({"worker":"kate-box","paused":"yes"})",
                          R"({"worker":"kate-box","max_slots":-1})", R"({"worker":"kate-box","max_slots":1000})",
                          R"({"worker":"kate-box","hours":"25-3"})", R"({"worker":"kate-box","hours":"9-9"})",
                          R"({"worker":"kate-box","hours":"nine"})", R"({"worker":"kate-box","free_jobs":1})",
                          R"({"worker":"kate-box","colour":"red"})", "not json"}) {
    auto bad_reply = settings(kate, bad);
    BOOST_TEST(bad_reply.status == 400, bad << " -> " << bad_reply.body);
  }
  BOOST_TEST(http(d.http_port(), "PUT", "/api/v1/account/workers/settings", R"({"worker":"kate-box"})").status == 401);
  const auto unchanged = http_as(kate.token, d.http_port(), "GET", "/api/v1/account/workers").json();
  BOOST_TEST(unchanged.at("workers").as_array()[0].at("settings").at("paused").as_bool());
}

BOOST_AUTO_TEST_CASE(checking_catches_a_donor_whose_worker_returns_wrong_results_and_does_not_pay_it) {
  daemon_process d({"--starter-grant", "10", "--check-percent", "100"});
  const auto mallory = sign_up(d, "mallory");
  const auto olive = sign_up(d, "olive");
  const auto user = sign_up(d, "pat");
  // The operator's worker is the trusted reference; it asks more than the user bids, so the
  // user's jobs go to the donors first and the operator's worker only checks.
  auto reference = start_worker(d, "reference", 1, {"--price", "cpu=5"});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), reference->log());
  auto liar = donor_worker(d, "mallory-box", mallory, {"--plugins", POTLUCK_LIAR_PLUGIN_DIR, "--price", "cpu=2"}, 2);

  const auto id = submit_as(d, user.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000})");
  const auto job = wait_for_job(d, id);
  BOOST_TEST_REQUIRE(job.at("state").as_string() == "succeeded", json::serialize(job));
  // The trusted result stands: [[1,2,3],[4,5,6]] . [[1,0],[0,1],[1,1]] = [[4,5],[10,11]].
  const auto c = json::serialize(job.at("result").at("outputs").at("c"));
  BOOST_TEST(c.find("\"data\":[4,5,10,11]") != std::string::npos, c);
  // Mallory is not paid; the operator, whose worker gave the result, is, at mallory's price.
  BOOST_TEST(billing_of(job).at("paid_to").as_string() == "operator");
  BOOST_TEST(billing_of(job).at("charged").as_int64() == 48);
  BOOST_TEST(balance(d, mallory.token) == 10 * micro);
  BOOST_TEST(balance(d, user.token) == 10 * micro - 48);
  // The operator sees it.
  auto flagged = http_as(d.admin_token(), d.http_port(), "GET", "/api/v1/admin/flagged");
  BOOST_TEST_REQUIRE(flagged.status == 200, flagged.body);
  const auto f = flagged.json();
  BOOST_TEST_REQUIRE(f.at("workers").as_array().size() == 1u, flagged.body);
  BOOST_TEST(f.at("workers").as_array()[0].at("name").as_string() == "mallory-box");
  BOOST_TEST(json::serialize(f.at("workers").as_array()[0].at("flags")).find("disagreed with a trusted worker") !=
             std::string::npos);
  BOOST_TEST_REQUIRE(f.at("donors").as_array().size() == 1u, flagged.body);
  BOOST_TEST(f.at("donors").as_array()[0].at("account").as_string() == "mallory");
  BOOST_TEST(f.at("donors").as_array()[0].at("disagreed").as_int64() == 1);
  BOOST_TEST(http_as(user.token, d.http_port(), "GET", "/api/v1/admin/flagged").status == 403);

  // An honest donor's checked result agrees, and is paid.
  liar->signal(SIGKILL);
  liar->wait(10s);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  auto honest = donor_worker(d, "olive-box", olive, {"--price", "cpu=2"}, 2);
  const auto good = submit_as(d, user.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000})");
  const auto good_job = wait_for_job(d, good);
  BOOST_TEST(good_job.at("state").as_string() == "succeeded");
  BOOST_TEST(billing_of(good_job).at("paid_to").as_string() == "olive");
  BOOST_TEST(balance(d, olive.token) == 10 * micro + 48);
  const auto workers = http(d.http_port(), "GET", "/api/v1/workers").json();
  for (const auto& w : workers.at("workers").as_array())
    if (w.at("name").as_string() == "olive-box") BOOST_TEST(w.at("checks").at("passed").as_int64() == 1);
  require_books_balance(d);
}

BOOST_AUTO_TEST_CASE(replicas_run_on_distinct_donors_each_paid_and_a_minority_result_is_not) {
  daemon_process d({"--starter-grant", "10", "--check-percent", "0"});
  const auto quinn = sign_up(d, "quinn");
  const auto rita = sign_up(d, "rita");
  const auto sam = sign_up(d, "sam");
  const auto user = sign_up(d, "tess");
  auto q = donor_worker(d, "quinn-box", quinn, {"--price", "cpu=2"}, 1);
  auto r = donor_worker(d, "rita-box", rita, {"--price", "cpu=2"}, 2);

  // Two replicas: reserved twice, run on both donors, both paid.
  auto quote = http(d.http_port(), "POST", "/api/v1/jobs/quote",
                    R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000,"replicas":2})");
  BOOST_TEST_REQUIRE(quote.status == 200, quote.body);
  BOOST_TEST(quote.json().at("reserved").as_int64() == 144);
  BOOST_TEST(quote.json().at("note").is_null(), quote.body);
  const auto id = submit_as(d, user.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000,"replicas":2})");
  const auto job = wait_for_job(d, id);
  BOOST_TEST_REQUIRE(job.at("state").as_string() == "succeeded", json::serialize(job));
  BOOST_TEST(billing_of(job).at("replicas").as_int64() == 2);
  BOOST_TEST(billing_of(job).at("reserved").as_int64() == 144);
  BOOST_TEST(billing_of(job).at("charged").as_int64() == 96);
  BOOST_TEST(billing_of(job).at("refunded").as_int64() == 48);
  // Every movement out of escrow for it: a charge to each donor and the refund.
  std::map<std::string, std::int64_t> paid;
  const auto bill = billing_of(job);
  for (const auto& p : bill.at("payments").as_array())
    paid[std::string(p.at("kind").as_string()) + " " + std::string(p.at("to").as_string())] += p.at("amount").as_int64();
  BOOST_TEST(paid.size() == 3u, json::serialize(billing_of(job)));
  BOOST_TEST(paid["charge quinn"] == 48);
  BOOST_TEST(paid["charge rita"] == 48);
  BOOST_TEST(paid["refund tess"] == 48);
  BOOST_TEST(balance(d, quinn.token) == 10 * micro + 48);
  BOOST_TEST(balance(d, rita.token) == 10 * micro + 48);
  BOOST_TEST(balance(d, user.token) == 10 * micro - 96);

  // Three replicas, one of them a liar: the majority's result stands, the liar is not paid.
  auto liar = donor_worker(d, "sam-box", sam, {"--plugins", POTLUCK_LIAR_PLUGIN_DIR, "--price", "cpu=2"}, 3);
  const auto three = submit_as(d, user.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000,"replicas":3})");
  const auto majority = wait_for_job(d, three);
  BOOST_TEST_REQUIRE(majority.at("state").as_string() == "succeeded", json::serialize(majority));
  BOOST_TEST(json::serialize(majority.at("result")).find("\"data\":[4,5,10,11]") != std::string::npos);
  BOOST_TEST(billing_of(majority).at("charged").as_int64() == 96);
  BOOST_TEST(balance(d, sam.token) == 10 * micro);
  BOOST_TEST(balance(d, quinn.token) == 10 * micro + 96);

  // Two replicas, one honest and one liar: no majority, so the job fails and is refunded.
  q->signal(SIGKILL);
  q->wait(10s);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 2));
  const auto before = balance(d, user.token);
  const auto split = submit_as(d, user.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000,"replicas":2})");
  const auto failed = wait_for_job(d, split);
  BOOST_TEST(failed.at("state").as_string() == "failed", json::serialize(failed));
  BOOST_TEST(failed.at("error").at("code").as_string() == "replicas_disagree");
  BOOST_TEST(billing_of(failed).at("charged").as_int64() == 0);
  BOOST_TEST(balance(d, user.token) == before);

  for (const char* bad : {R"("replicas":0)", R"("replicas":6)", R"("replicas":"2")", R"("replicas":1.5)"}) {
    auto reply = http_as(user.token, d.http_port(), "POST", "/api/v1/jobs",
                         R"({"task":"linalg.matmul",)" + matmul_inputs + "," + bad + "}");
    BOOST_TEST(reply.status == 400, bad << " -> " << reply.body);
  }
  require_books_balance(d);
}

BOOST_AUTO_TEST_CASE(an_organisations_members_fund_its_wallet_and_bill_jobs_to_it) {
  daemon_process d({"--starter-grant", "10"});
  const auto ursula = sign_up(d, "ursula");
  const auto victor = sign_up(d, "victor");
  const auto wendy = sign_up(d, "wendy");
  auto worker = donor_worker(d, "wendy-box", wendy, {"--price", "cpu=2"}, 1);

  auto created = http_as(ursula.token, d.http_port(), "POST", "/api/v1/orgs", R"({"name":"ml-lab"})");
  BOOST_TEST_REQUIRE(created.status == 201, created.body);
  BOOST_TEST(created.json().at("org").at("balance").as_int64() == 0);
  BOOST_TEST(created.json().at("org").at("members").as_array()[0].at("role").as_string() == "owner");
  BOOST_TEST(http_as(ursula.token, d.http_port(), "POST", "/api/v1/orgs", R"({"name":"ml-lab"})").status == 409);
  BOOST_TEST(http_as(ursula.token, d.http_port(), "POST", "/api/v1/orgs", R"({"name":"Bad Name"})").status == 400);

  // Only an owner adds members; a member funds the wallet with a transfer.
  BOOST_TEST(http_as(victor.token, d.http_port(), "POST", "/api/v1/orgs/ml-lab/members", R"({"account":"victor"})").status ==
             403);
  auto added = http_as(ursula.token, d.http_port(), "POST", "/api/v1/orgs/ml-lab/members", R"({"account":"victor"})");
  BOOST_TEST_REQUIRE(added.status == 200, added.body);
  BOOST_TEST(added.json().at("org").at("members").as_array().size() == 2u);
  auto me = http_as(victor.token, d.http_port(), "GET", "/api/v1/account").json();
  BOOST_TEST(me.at("orgs").as_array()[0].at("name").as_string() == "ml-lab");
  auto sent = http_as(ursula.token, d.http_port(), "POST", "/api/v1/account/transfers",
                      R"({"to":"ml-lab","amount":1000,"memo":"for the lab"})");
  BOOST_TEST_REQUIRE(sent.status == 200, sent.body);
  BOOST_TEST(balance(d, ursula.token) == 10 * micro - 1000);
  for (const char* bad : {R"({"to":"ml-lab","amount":0})", R"({"to":"ml-lab","amount":-5})", R"({"to":"ml-lab","amount":1.5})",
                          R"({"to":"escrow","amount":5})", R"({"to":"nobody","amount":5})"})
    BOOST_TEST(http_as(ursula.token, d.http_port(), "POST", "/api/v1/account/transfers", bad).status >= 400, bad);
  auto too_much = http_as(ursula.token, d.http_port(), "POST", "/api/v1/account/transfers",
                          R"({"to":"ml-lab","amount":100000000000})");
  BOOST_TEST(too_much.status == 402, too_much.body);

  // Victor bills a job to the lab: the lab's wallet pays, and victor can cancel its jobs.
  auto as_lab = [&](const std::string& token, const std::string& method, const std::string& target, const std::string& body) {
    return http(d.http_port(), method, target, body, "application/json",
                {{"Authorization", "Bearer " + token}, {"X-Potluck-Bill-To", "ml-lab"}});
  };
  auto submitted = as_lab(victor.token, "POST", "/api/v1/jobs", R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000})");
  BOOST_TEST_REQUIRE(submitted.status == 202, submitted.body);
  const auto job = wait_for_job(d, submitted.json().at("id").as_int64());
  BOOST_TEST(job.at("state").as_string() == "succeeded");
  BOOST_TEST(billing_of(job).at("charged").as_int64() == 48);
  auto lab = http_as(victor.token, d.http_port(), "GET", "/api/v1/orgs/ml-lab").json();
  BOOST_TEST(lab.at("org").at("balance").as_int64() == 1000 - 48);
  BOOST_TEST(balance(d, victor.token) == 10 * micro);
  // The lab cannot spend more than it holds.
  auto broke = as_lab(victor.token, "POST", "/api/v1/jobs", R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"max_price":5000})");
  BOOST_TEST(broke.status == 402, broke.body);
  // Outsiders can neither bill the lab nor read it.
  BOOST_TEST(as_lab(wendy.token, "POST", "/api/v1/jobs", R"({"task":"linalg.matmul",)" + matmul_inputs + "}").status == 403);
  BOOST_TEST(http_as(wendy.token, d.http_port(), "GET", "/api/v1/orgs/ml-lab").status == 403);
  BOOST_TEST(http_as(wendy.token, d.http_port(), "GET", "/api/v1/orgs/no-such-org").status == 404);
  require_books_balance(d);
}

BOOST_AUTO_TEST_CASE(a_check_whose_trusted_worker_leaves_lets_the_donors_result_stand) {
  daemon_process d({"--starter-grant", "10", "--check-percent", "100"});
  const auto olive = sign_up(d, "olive");
  const auto user = sign_up(d, "pat");
  auto reference = start_worker(d, "reference", 1, {"--price", "cpu=5"});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), reference->log());
  auto honest = donor_worker(d, "olive-box", olive, {"--price", "cpu=2", "--free-jobs", "no"}, 2);
  // The reference worker is busy with the operator's own free job, so the check must wait...
  const auto busy = submit_as(d, d.admin_token(), R"({"task":"test.sleep","params":{"ms":20000},"bid":0})");
  BOOST_TEST_REQUIRE(eventually([&] {
    return http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(busy)).json().at("state").as_string() == "running";
  }, 10s));
  const auto id = submit_as(d, user.token, R"({"task":"linalg.matmul",)" + matmul_inputs + R"(,"bid":3000000})");
  BOOST_TEST_REQUIRE(eventually([&] {
    const auto job = http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json();
    return std::string(job.at("message").as_string()).find("trusted worker") != std::string::npos;
  }, 10s));
  // ...and then leaves: the donor's result stands unchecked, paid.
  reference->signal(SIGKILL);
  const auto job = wait_for_job(d, id);
  BOOST_TEST(job.at("state").as_string() == "succeeded", json::serialize(job));
  BOOST_TEST(billing_of(job).at("paid_to").as_string() == "olive");
  // A job of empty tensors still counts one work unit, so a priced bid costs something.
  auto quote = http(d.http_port(), "POST", "/api/v1/jobs/quote",
                    R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","shape":[0,3],"data":[]},)"
                    R"("b":{"dtype":"f32","data":[[1],[2],[3]]}},"bid":1000000000000})");
  BOOST_TEST_REQUIRE(quote.status == 200, quote.body);
  BOOST_TEST(quote.json().at("units").as_int64() == 1);
  BOOST_TEST(quote.json().at("reserved").as_int64() == 1000000);
  require_books_balance(d);
}
