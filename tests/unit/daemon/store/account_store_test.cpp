// Tests of account_store (daemon/store): accounts, tokens and the credit ledger kept in the
// SQLite journal, against real database files in temp folders. Waits use futures, latches
// and polls with deadlines, never sleeps. Boost.Test is not thread-safe: worker threads only
// record, the test thread checks.
#define BOOST_TEST_MODULE daemon_store_account_store
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store_test_support.hpp"
#include "daemon/store/account_store.hpp"
#include "daemon/store/job_store.hpp"
#include "daemon/store/migrations.hpp"

// How Boost.Test prints kinds and roles in failure messages.
namespace potluck::daemon {
std::ostream& operator<<(std::ostream& out, account_kind kind) { return out << to_string(kind); }
std::ostream& operator<<(std::ostream& out, org_role role) { return out << to_string(role); }
template <class T>
std::ostream& operator<<(std::ostream& out, const std::optional<T>& value) {
  return value ? out << *value : out << "none";
}
}  // namespace potluck::daemon

namespace fs = std::filesystem;
using namespace potluck::daemon;
using namespace std::chrono_literals;

namespace {

constexpr auto deadline = 60s;
constexpr std::int64_t t0 = 1'700'000'000'000;  // an injected "now", unix epoch ms

using testing::temp_folder;

std::unique_ptr<job_store> open_store(const fs::path& file) {
  sqlite_store_options options;
  options.file = file;
  return open_sqlite_job_store(options);
}

// The code of the store_refused that `call` throws, or "none".
template <class Call>
std::string refusal(Call&& call) {
  try {
    call();
  } catch (const store_refused& e) {
    BOOST_TEST_MESSAGE("refused (" << e.code() << "): " << e.what());
    return e.code();
  }
  return "none";
}

// The message of the store_refused that `call` throws, or "".
template <class Call>
std::string refusal_message(Call&& call) {
  try {
    call();
  } catch (const store_refused& e) {
    return e.what();
  }
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// SQL through a connection of the test's own, as an outside tool would. "" or the error.
std::string raw_try(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10'000);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = rc == SQLITE_OK ? "" : (error != nullptr ? error : "failed");
  sqlite3_free(error);
  sqlite3_close(db);
  return message;
}

void raw_exec(const fs::path& file, const std::string& sql) {
  std::string error = raw_try(file, sql);
  BOOST_REQUIRE_MESSAGE(error.empty(), "raw sql failed: " << error);
}

std::int64_t raw_int(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  BOOST_REQUIRE_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
  std::int64_t value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

movement transfer(std::int64_t from, std::int64_t to, std::int64_t amount, std::string memo = {}) {
  return movement{from, to, amount, ledger_kind::transfer, 0, std::move(memo)};
}

std::int64_t balance_of(account_store& accounts, std::int64_t id) {
  auto account = accounts.get_account(id);
  BOOST_REQUIRE(account.has_value());
  return account->balance;
}

void require_clean_audit(account_store& accounts) {
  audit_report report = accounts.audit();
  for (const auto& line : report.problems) BOOST_TEST_MESSAGE("audit: " << line);
  BOOST_TEST(report.ok);
  BOOST_TEST(report.problems.empty());
  BOOST_TEST(report.bad_accounts.empty());
  BOOST_TEST(report.sum_of_balances == 0);
  BOOST_TEST(report.minted == -balance_of(accounts, mint_account_id));
}

job_record make_job(std::int64_t id) {
  job_record job;
  job.id = id;
  job.task = "echo";
  job.created_ms = t0 + id;
  job.inputs_blob = "in-" + std::to_string(id);
  return job;
}

// Every ledger row of an account, paging through history() with a small page.
std::vector<ledger_entry> whole_history(account_store& accounts, std::int64_t id, int page_size) {
  std::vector<ledger_entry> all;
  std::int64_t before = 0;
  for (int pages = 0; pages < 100'000; ++pages) {
    auto page = accounts.history(id, page_size, before);
    all.insert(all.end(), page.begin(), page.end());
    if (page.size() < static_cast<std::size_t>(page_size)) break;
    before = page.back().id;
  }
  return all;
}

}  // namespace

BOOST_AUTO_TEST_CASE(names_kinds_and_the_name_rule) {
  for (const char* good : {"a", "alice", "bob-2", "0day", "a-b-c", "x-1-2-3", "z9"}) {
    BOOST_TEST(account_name_problem(good).empty(), good);
  }
  BOOST_TEST(account_name_problem(std::string(39, 'a')).empty());
  for (const char* bad : {"", "Alice", "-alice", "alice-", "al--ice", "al ice", "al_ice", "álice",
                          "alice.bob", "a/b", "a\nb"}) {
    std::string problem = account_name_problem(bad);
    BOOST_TEST(!problem.empty(), "'" << bad << "' was accepted");
    BOOST_TEST_MESSAGE(problem);
  }
  std::string too_long = account_name_problem(std::string(40, 'a'));
  BOOST_TEST(contains(too_long, "40 characters, at most 39"));
  BOOST_TEST(contains(account_name_problem("Alice"), "'Alice'"));
  BOOST_TEST(contains(account_name_problem("Alice"), "lowercase"));

  for (auto kind : {account_kind::user, account_kind::org, account_kind::system}) {
    BOOST_TEST(parse_account_kind(to_string(kind)) == kind);
  }
  BOOST_TEST(!parse_account_kind("admin").has_value());
  BOOST_TEST(parse_org_role("owner") == org_role::owner);
  BOOST_TEST(!parse_org_role("boss").has_value());
  for (const char* kind : {"grant", "reserve", "charge", "payout", "refund", "fee", "transfer"}) {
    BOOST_TEST(is_ledger_kind(kind), kind);
  }
  BOOST_TEST(!is_ledger_kind("gift"));
  BOOST_TEST(!is_ledger_kind(""));
  BOOST_TEST(token_scope::all == 31u);
}

BOOST_AUTO_TEST_CASE(a_journal_that_keeps_no_accounts_is_named) {
  // A job_store that is not the SQLite journal (as a test fake would be).
  struct fake_store final : job_store {
    void insert(std::vector<job_record>, write_done) override {}
    void mark_running(std::int64_t, std::string, int, std::int64_t) override {}
    void mark_queued(std::int64_t) override {}
    void finish(std::int64_t, job_state, std::int64_t, std::string, std::string, std::string, settlement,
                write_done) override {}
    std::optional<job_record> get(std::int64_t) override { return std::nullopt; }
    std::vector<job_record> list(const job_list_query&) override { return {}; }
    std::vector<job_record> load_unfinished() override { return {}; }
    std::int64_t max_job_id() override { return 0; }
    std::map<job_state, std::int64_t> count_by_state() override { return {}; }
    std::vector<earnings_day> earnings(std::int64_t, std::int64_t) override { return {}; }
    std::vector<donor_totals> top_donors(std::int64_t, int) override { return {}; }
    void flush() override {}
  } fake;
  BOOST_CHECK_THROW(accounts_of(fake), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_fresh_journal_holds_the_system_accounts) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  struct expected { std::int64_t id; const char* name; };
  for (auto [id, name] : {expected{mint_account_id, "mint"}, expected{escrow_account_id, "escrow"},
                          expected{fees_account_id, "fees"}}) {
    auto by_id = accounts.get_account(id);
    BOOST_REQUIRE(by_id.has_value());
    BOOST_TEST(by_id->name == name);
    BOOST_TEST(by_id->kind == account_kind::system);
    BOOST_TEST(by_id->balance == 0);
    auto by_name = accounts.find_account(name);
    BOOST_REQUIRE(by_name.has_value());
    BOOST_TEST(by_name->id == id);
  }
  BOOST_TEST(!accounts.get_account(4).has_value());
  BOOST_TEST(!accounts.find_account("alice").has_value());
  BOOST_TEST(!accounts.find_account("Not A Name").has_value());  // a read never throws for it
  audit_report report = accounts.audit();
  BOOST_TEST(report.ok);
  BOOST_TEST(report.accounts_checked == 3);
  BOOST_TEST(report.entries_checked == 0);
  BOOST_TEST(report.minted == 0);
}

BOOST_AUTO_TEST_CASE(create_with_a_grant_shows_the_balance_and_one_ledger_row) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);

  account_record alice = accounts.create_account("alice", account_kind::user, 1'000'000, t0);
  BOOST_TEST(alice.id > fees_account_id);
  BOOST_TEST(alice.name == "alice");
  BOOST_TEST(alice.kind == account_kind::user);
  BOOST_TEST(alice.created_ms == t0);
  BOOST_TEST(alice.balance == 1'000'000);
  BOOST_TEST(balance_of(accounts, alice.id) == 1'000'000);
  BOOST_TEST(balance_of(accounts, mint_account_id) == -1'000'000);

  auto rows = accounts.history(alice.id, 10, 0);
  BOOST_REQUIRE_EQUAL(rows.size(), 1u);
  BOOST_TEST(rows[0].debit_account == mint_account_id);
  BOOST_TEST(rows[0].credit_account == alice.id);
  BOOST_TEST(rows[0].amount == 1'000'000);
  BOOST_TEST(rows[0].kind == "grant");
  BOOST_TEST(rows[0].job_id == 0);
  BOOST_TEST(rows[0].time_ms == t0);
  BOOST_TEST(accounts.history(mint_account_id, 10, 0).size() == 1u);

  // No grant, no row; an organisation likewise.
  account_record bob = accounts.create_account("bob", account_kind::user, 0, t0 + 1);
  account_record acme = accounts.create_account("acme", account_kind::org, 0, t0 + 2);
  BOOST_TEST(bob.balance == 0);
  BOOST_TEST(acme.kind == account_kind::org);
  BOOST_TEST(accounts.history(bob.id, 10, 0).empty());
  BOOST_TEST(accounts.find_account("acme")->id == acme.id);

  audit_report report = accounts.audit();
  BOOST_TEST(report.ok);
  BOOST_TEST(report.minted == 1'000'000);
  BOOST_TEST(report.sum_of_balances == 0);
  BOOST_TEST(report.accounts_checked == 6);
  BOOST_TEST(report.entries_checked == 1);
}

BOOST_AUTO_TEST_CASE(bad_and_taken_names_are_refused_and_nothing_is_written) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  accounts.create_account("alice", account_kind::user, 500, t0);

  for (const char* bad : {"", "Alice", "-x", "x-", "a--b", "with space", "tab\t", "ünï"}) {
    BOOST_TEST(refusal([&] { accounts.create_account(bad, account_kind::user, 100, t0); }) ==
                   "bad_name",
               "'" << bad << "'");
  }
  BOOST_TEST(refusal([&] {
               accounts.create_account(std::string(40, 'a'), account_kind::user, 0, t0);
             }) == "bad_name");
  std::string message =
      refusal_message([&] { accounts.create_account("Alice", account_kind::user, 0, t0); });
  BOOST_TEST(contains(message, "'Alice'"));

  BOOST_TEST(refusal([&] { accounts.create_account("alice", account_kind::user, 100, t0); }) ==
             "name_taken");
  BOOST_TEST(refusal([&] { accounts.create_account("alice", account_kind::org, 0, t0); }) ==
             "name_taken");
  BOOST_TEST(refusal([&] { accounts.create_account("mint", account_kind::user, 0, t0); }) ==
             "name_taken");
  BOOST_TEST(contains(
      refusal_message([&] { accounts.create_account("alice", account_kind::user, 0, t0); }),
      "'alice' is taken"));
  BOOST_TEST(refusal([&] { accounts.create_account("bank", account_kind::system, 0, t0); }) ==
             "bad_kind");
  BOOST_TEST(refusal([&] { accounts.create_account("carol", account_kind::user, -1, t0); }) ==
             "bad_amount");

  // Only alice and her grant were written.
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM accounts") == 4);
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM ledger") == 1);
  BOOST_TEST(balance_of(accounts, mint_account_id) == -500);
  require_clean_audit(accounts);
}

BOOST_AUTO_TEST_CASE(movements_move_credits_and_refusals_write_nothing) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  auto alice = accounts.create_account("alice", account_kind::user, 1000, t0);
  auto bob = accounts.create_account("bob", account_kind::user, 0, t0);
  auto carol = accounts.create_account("carol", account_kind::user, 0, t0);

  auto ids = accounts.move({transfer(alice.id, bob.id, 400, "lunch")}, t0 + 10);
  BOOST_REQUIRE_EQUAL(ids.size(), 1u);
  BOOST_TEST(balance_of(accounts, alice.id) == 600);
  BOOST_TEST(balance_of(accounts, bob.id) == 400);
  auto last = accounts.history(bob.id, 1, 0);
  BOOST_REQUIRE_EQUAL(last.size(), 1u);
  BOOST_TEST(last[0].id == ids[0]);
  BOOST_TEST(last[0].memo == "lunch");
  BOOST_TEST(last[0].time_ms == t0 + 10);

  const std::int64_t rows_before = raw_int(folder.journal(), "SELECT count(*) FROM ledger");
  auto nothing_changed = [&] {
    BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM ledger") == rows_before);
    BOOST_TEST(balance_of(accounts, alice.id) == 600);
    BOOST_TEST(balance_of(accounts, bob.id) == 400);
    BOOST_TEST(balance_of(accounts, carol.id) == 0);
  };

  // Overdraft, naming the account and the amounts.
  std::string overdraft =
      refusal_message([&] { accounts.move({transfer(bob.id, alice.id, 401)}, t0); });
  BOOST_TEST(contains(overdraft, "'bob'"));
  BOOST_TEST(contains(overdraft, "holds 400"));
  BOOST_TEST(contains(overdraft, "401"));
  BOOST_TEST(refusal([&] { accounts.move({transfer(bob.id, alice.id, 401)}, t0); }) ==
             "insufficient_funds");
  nothing_changed();

  // Bad amounts, kinds, accounts and shapes.
  BOOST_TEST(refusal([&] { accounts.move({transfer(alice.id, bob.id, 0)}, t0); }) == "bad_amount");
  BOOST_TEST(refusal([&] { accounts.move({transfer(alice.id, bob.id, -5)}, t0); }) == "bad_amount");
  BOOST_TEST(refusal([&] {
               accounts.move({movement{alice.id, bob.id, 5, "gift", 0, {}}}, t0);
             }) == "unknown_kind");
  BOOST_TEST(refusal([&] { accounts.move({movement{alice.id, bob.id, 5, "", 0, {}}}, t0); }) ==
             "unknown_kind");
  BOOST_TEST(refusal([&] { accounts.move({transfer(alice.id, 999, 5)}, t0); }) ==
             "unknown_account");
  BOOST_TEST(refusal([&] { accounts.move({transfer(999, alice.id, 5)}, t0); }) ==
             "unknown_account");
  BOOST_TEST(refusal([&] { accounts.move({transfer(alice.id, alice.id, 5)}, t0); }) ==
             "bad_movement");
  BOOST_TEST(refusal([&] {
               accounts.move({movement{alice.id, bob.id, 5, ledger_kind::grant, 0, {}}}, t0);
             }) == "bad_movement");  // grants come out of mint only
  BOOST_TEST(refusal([&] { accounts.move({transfer(mint_account_id, bob.id, 5)}, t0); }) ==
             "bad_movement");  // and only grants do
  BOOST_TEST(refusal([&] { accounts.move({transfer(alice.id, mint_account_id, 5)}, t0); }) ==
             "bad_movement");  // nothing goes back into mint
  BOOST_TEST(refusal([&] {
               accounts.move({movement{alice.id, bob.id, 5, ledger_kind::charge, -1, {}}}, t0);
             }) == "bad_movement");
  BOOST_TEST(refusal([&] {
               accounts.move({transfer(alice.id, bob.id, 5, std::string(max_memo_bytes + 1, 'm'))},
                             t0);
             }) == "bad_movement");
  // Escrow and fees are system accounts, yet cannot pay out more than they hold.
  BOOST_TEST(refusal([&] {
               accounts.move({movement{escrow_account_id, bob.id, 1, ledger_kind::refund, 7, {}}},
                             t0);
             }) == "insufficient_funds");
  // A balance that would overflow.
  BOOST_TEST(refusal([&] {
               accounts.move({movement{mint_account_id, carol.id,
                                       std::numeric_limits<std::int64_t>::max(), ledger_kind::grant,
                                       0, {}}},
                             t0);
             }) == "bad_amount");
  nothing_changed();

  // A batch is all or nothing: the second movement overdraws, so the first is not kept either.
  std::string batch = refusal_message([&] {
    accounts.move({transfer(alice.id, bob.id, 100), transfer(bob.id, carol.id, 10'000)}, t0);
  });
  BOOST_TEST(contains(batch, "movement 2 of 2"));
  nothing_changed();

  // A later movement of a batch spends what an earlier one brought.
  auto batch_ids = accounts.move(
      {transfer(alice.id, bob.id, 600), transfer(bob.id, carol.id, 1000),
       movement{carol.id, escrow_account_id, 300, ledger_kind::reserve, 42, "job 42"},
       movement{escrow_account_id, fees_account_id, 30, ledger_kind::fee, 42, {}},
       movement{escrow_account_id, bob.id, 270, ledger_kind::payout, 42, {}}},
      t0 + 20);
  BOOST_REQUIRE_EQUAL(batch_ids.size(), 5u);
  BOOST_TEST(std::is_sorted(batch_ids.begin(), batch_ids.end()));
  BOOST_TEST(balance_of(accounts, alice.id) == 0);
  BOOST_TEST(balance_of(accounts, bob.id) == 270);
  BOOST_TEST(balance_of(accounts, carol.id) == 700);
  BOOST_TEST(balance_of(accounts, escrow_account_id) == 0);
  BOOST_TEST(balance_of(accounts, fees_account_id) == 30);
  BOOST_TEST(accounts.move({}, t0).empty());  // nothing to do
  auto escrow_rows = accounts.history(escrow_account_id, 10, 0);
  BOOST_REQUIRE_EQUAL(escrow_rows.size(), 3u);
  BOOST_TEST(escrow_rows[0].kind == "payout");
  BOOST_TEST(escrow_rows[2].job_id == 42);
  // The balances agree with the rows, but no job 42 reserved anything: the audit says so.
  audit_report report = accounts.audit();
  BOOST_TEST(!report.ok);
  BOOST_TEST(report.bad_accounts.empty());
  BOOST_TEST(report.sum_of_balances == 0);
  BOOST_REQUIRE_EQUAL(report.problems.size(), 1u);
  BOOST_TEST(contains(report.problems[0], "reserve rows add up to 300"));
}

BOOST_AUTO_TEST_CASE(a_refused_movement_leaves_its_neighbours_in_the_same_commit_alone) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  constexpr int payers = 8, overdrawer = 3, rounds = 10;
  std::vector<std::int64_t> payer_ids;
  for (int i = 0; i < payers; ++i) {
    payer_ids.push_back(
        accounts.create_account("payer-" + std::to_string(i), account_kind::user, 1000, t0).id);
  }
  auto sink = accounts.create_account("sink", account_kind::user, 0, t0);

  std::int64_t next_job = 1;
  for (int round = 0; round < rounds; ++round) {
    // Hold the writer in a write callback so that what comes next queues up behind it and is
    // (most likely) committed as one group. The assertions hold however it is grouped.
    std::promise<void> entered, gate;
    std::shared_future<void> gate_open = gate.get_future().share();
    store->insert({make_job(next_job++)}, [&entered, gate_open](const write_result&) {
      entered.set_value();
      (void)gate_open.wait_for(deadline);
    });
    BOOST_REQUIRE(entered.get_future().wait_for(deadline) == std::future_status::ready);

    std::vector<std::promise<write_result>> job_results(4);
    for (auto& result : job_results) {
      store->insert({make_job(next_job++)},
                    [&result](const write_result& r) { result.set_value(r); });
    }
    std::latch calling(payers);
    std::vector<std::string> outcomes(payers);
    std::vector<std::thread> threads;
    for (int i = 0; i < payers; ++i) {
      threads.emplace_back([&, i] {
        std::int64_t amount = i == overdrawer ? 1'000'000 : 10;
        calling.count_down();
        try {
          accounts.move({transfer(payer_ids[static_cast<std::size_t>(i)], sink.id, amount)},
                        t0 + round);
          outcomes[static_cast<std::size_t>(i)] = "ok";
        } catch (const store_refused& e) {
          outcomes[static_cast<std::size_t>(i)] = e.code();
        } catch (const std::exception& e) {
          outcomes[static_cast<std::size_t>(i)] = std::string("error: ") + e.what();
        }
      });
    }
    calling.wait();
    gate.set_value();
    for (auto& t : threads) t.join();
    for (auto& result : job_results) {
      auto future = result.get_future();
      BOOST_REQUIRE(future.wait_for(deadline) == std::future_status::ready);
      BOOST_TEST(future.get().ok);
    }
    for (int i = 0; i < payers; ++i) {
      BOOST_TEST(outcomes[static_cast<std::size_t>(i)] ==
                     (i == overdrawer ? "insufficient_funds" : "ok"),
                 "round " << round << " payer " << i);
    }
  }
  for (int i = 0; i < payers; ++i) {
    BOOST_TEST(balance_of(accounts, payer_ids[static_cast<std::size_t>(i)]) ==
               (i == overdrawer ? 1000 : 1000 - 10 * rounds));
  }
  BOOST_TEST(balance_of(accounts, sink.id) == (payers - 1) * 10 * rounds);
  BOOST_TEST(accounts.history(payer_ids[overdrawer], 10, 0).size() == 1u);  // its grant only
  BOOST_TEST(store->max_job_id() == next_job - 1);
  require_clean_audit(accounts);
}

BOOST_AUTO_TEST_CASE(concurrent_movements_from_four_threads_keep_the_books) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  constexpr int holders = 8, threads_count = 4, moves_per_thread = 400;
  constexpr std::int64_t start = 10'000;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < holders; ++i) {
    ids.push_back(
        accounts.create_account("holder-" + std::to_string(i), account_kind::user, start, t0).id);
  }

  struct done_move {
    std::int64_t from, to, amount, ledger_id;
  };
  std::vector<std::vector<done_move>> done(threads_count);
  std::atomic<int> refused{0};
  std::mutex error_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int w = 0; w < threads_count; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 random(static_cast<std::uint64_t>(w) + 1);
      for (int i = 0; i < moves_per_thread; ++i) {
        std::vector<movement> batch;
        int size = i % 5 == 0 ? 2 : 1;
        for (int k = 0; k < size; ++k) {
          std::size_t from_index = random() % holders;
          std::size_t to_index = (from_index + 1 + random() % (holders - 1)) % holders;  // another
          auto from = ids[from_index];
          auto to = ids[to_index];
          batch.push_back(transfer(from, to, 1 + static_cast<std::int64_t>(random() % 4000)));
        }
        try {
          auto ledger_ids = accounts.move(batch, t0 + i);
          for (std::size_t k = 0; k < batch.size(); ++k) {
            done[static_cast<std::size_t>(w)].push_back(
                {batch[k].debit, batch[k].credit, batch[k].amount, ledger_ids[k]});
          }
        } catch (const store_refused& e) {
          if (e.code() == "insufficient_funds") {
            refused.fetch_add(1);
          } else {
            std::lock_guard lock(error_mutex);
            errors.push_back(e.what());
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mutex);
          errors.push_back(e.what());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(errors.empty(), "first error: " << (errors.empty() ? "" : errors.front()));
  BOOST_TEST_MESSAGE(refused.load() << " batches refused for want of funds");

  // The test's own books.
  std::map<std::int64_t, std::int64_t> expected;
  std::map<std::int64_t, int> rows_of;
  std::set<std::int64_t> ledger_ids;
  std::size_t moved = 0;
  for (auto id : ids) {
    expected[id] = start;
    rows_of[id] = 1;  // the grant
  }
  for (const auto& list : done) {
    for (const auto& m : list) {
      expected[m.from] -= m.amount;
      expected[m.to] += m.amount;
      ++rows_of[m.from];
      ++rows_of[m.to];
      ledger_ids.insert(m.ledger_id);
      ++moved;
    }
  }
  BOOST_TEST(ledger_ids.size() == moved);  // every id once
  BOOST_TEST(moved > 0u);
  for (auto id : ids) {
    BOOST_TEST(balance_of(accounts, id) == expected[id], "account " << id);
    BOOST_TEST(expected[id] >= 0);
    auto history = whole_history(accounts, id, 37);
    BOOST_TEST(history.size() == static_cast<std::size_t>(rows_of[id]), "account " << id);
    for (std::size_t k = 1; k < history.size(); ++k) {
      BOOST_TEST(history[k - 1].id > history[k].id);  // newest first
    }
    std::int64_t replayed = 0;
    for (const auto& entry : history) {
      BOOST_TEST((entry.debit_account == id || entry.credit_account == id));
      replayed += entry.credit_account == id ? entry.amount : -entry.amount;
    }
    BOOST_TEST(replayed == expected[id]);
  }
  audit_report report = accounts.audit();
  BOOST_TEST(report.ok);
  BOOST_TEST(report.entries_checked == static_cast<std::int64_t>(holders + moved));
  BOOST_TEST(report.minted == holders * start);
}

BOOST_AUTO_TEST_CASE(a_tampered_balance_is_reported_by_the_audit) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  auto alice = accounts.create_account("alice", account_kind::user, 500, t0);
  auto bob = accounts.create_account("bob", account_kind::user, 300, t0);
  accounts.move({transfer(alice.id, bob.id, 100)}, t0);
  require_clean_audit(accounts);

  raw_exec(folder.journal(), "UPDATE accounts SET balance = balance + 100 WHERE name = 'bob'");
  audit_report report = accounts.audit();
  for (const auto& line : report.problems) BOOST_TEST_MESSAGE("audit: " << line);
  BOOST_TEST(!report.ok);
  BOOST_TEST((report.bad_accounts == std::vector<std::int64_t>{bob.id}));
  BOOST_TEST(report.sum_of_balances == 100);
  BOOST_TEST(report.minted == 800);
  bool named_bob = false;
  for (const auto& line : report.problems) {
    if (contains(line, "'bob'")) {
      named_bob = true;
      BOOST_TEST(contains(line, "cached balance 500"));
      BOOST_TEST(contains(line, "add up to 400"));
    }
    BOOST_TEST(!contains(line, "'alice'"));
  }
  BOOST_TEST(named_bob);
  BOOST_TEST(report.problems.size() == 2u);  // bob's balance, and the sum that is not 0

  // The ledger itself cannot be edited, even from outside.
  BOOST_TEST(contains(raw_try(folder.journal(), "UPDATE ledger SET amount = 1"), "never changed"));
  BOOST_TEST(contains(raw_try(folder.journal(), "DELETE FROM ledger"), "never deleted"));
  // Nor can a cached balance of a user go below 0, or hold a non-integer.
  BOOST_TEST(
      !raw_try(folder.journal(), "UPDATE accounts SET balance = -1 WHERE name = 'alice'").empty());
  BOOST_TEST(
      !raw_try(folder.journal(), "UPDATE accounts SET balance = 1.5 WHERE name = 'alice'").empty());

  // Put right, the books are clean again.
  raw_exec(folder.journal(), "UPDATE accounts SET balance = balance - 100 WHERE name = 'bob'");
  require_clean_audit(accounts);
}

BOOST_AUTO_TEST_CASE(tokens_are_created_found_listed_revoked_and_touched) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  auto alice = accounts.create_account("alice", account_kind::user, 0, t0);
  auto bob = accounts.create_account("bob", account_kind::user, 0, t0);

  token_record laptop =
      accounts.create_token(alice.id, "laptop", token_scope::read | token_scope::submit,
                            "plk_abcd", "hash-laptop", t0 + 1);
  BOOST_TEST(laptop.id > 0);
  BOOST_TEST(laptop.account_id == alice.id);
  BOOST_TEST(laptop.scopes == 3u);
  BOOST_TEST(laptop.prefix == "plk_abcd");
  BOOST_TEST(laptop.created_ms == t0 + 1);
  BOOST_TEST(laptop.last_used_ms == 0);
  BOOST_TEST(laptop.live());
  token_record ci =
      accounts.create_token(alice.id, "ci", token_scope::all, "plk_wxyz", "hash-ci", t0 + 2);

  auto found = accounts.find_token("hash-laptop");
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->token.id == laptop.id);
  BOOST_TEST(found->token.name == "laptop");
  BOOST_TEST(found->token.scopes == 3u);
  BOOST_TEST(found->account.name == "alice");
  BOOST_TEST(found->account.id == alice.id);
  BOOST_TEST(!accounts.find_token("hash-unknown").has_value());
  BOOST_TEST(!accounts.find_token("").has_value());

  auto listed = accounts.list_tokens(alice.id);
  BOOST_REQUIRE_EQUAL(listed.size(), 2u);
  BOOST_TEST(listed[0].id == ci.id);  // newest first
  BOOST_TEST(listed[1].id == laptop.id);
  BOOST_TEST(accounts.list_tokens(bob.id).empty());

  // Refusals, with nothing written.
  BOOST_TEST(refusal([&] { accounts.create_token(alice.id, "x", 1, "p", "", t0); }) == "bad_token");
  BOOST_TEST(refusal([&] { accounts.create_token(alice.id, "x", 1, "p", "hash-ci", t0); }) ==
             "bad_token");  // the hash is in use
  BOOST_TEST(refusal([&] { accounts.create_token(alice.id, "x", 32, "p", "h1", t0); }) ==
             "bad_token");  // unknown scope bit
  BOOST_TEST(refusal([&] {
               accounts.create_token(alice.id, "x", 1, std::string(17, 'p'), "h2", t0);
             }) == "bad_token");
  BOOST_TEST(refusal([&] { accounts.create_token(alice.id, "", 1, "p", "h3", t0); }) ==
             "bad_token");  // no name
  BOOST_TEST(refusal([&] {
               accounts.create_token(alice.id, std::string(101, 'n'), 1, "p", "h4", t0);
             }) == "bad_token");
  BOOST_TEST(refusal([&] {
               accounts.create_token(alice.id, "x", 1, "p", std::string(257, 'h'), t0);
             }) == "bad_token");
  BOOST_TEST(refusal([&] { accounts.create_token(999, "x", 1, "p", "h5", t0); }) ==
             "unknown_account");
  BOOST_TEST(refusal([&] { accounts.create_token(mint_account_id, "x", 1, "p", "h6", t0); }) ==
             "bad_token");
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM api_tokens") == 2);

  // Revoking: only the owner's, only once.
  BOOST_TEST(!accounts.revoke_token(bob.id, laptop.id, t0 + 5));
  BOOST_TEST(accounts.find_token("hash-laptop")->token.live());
  BOOST_TEST(accounts.revoke_token(alice.id, laptop.id, t0 + 5));
  BOOST_TEST(!accounts.revoke_token(alice.id, laptop.id, t0 + 6));
  BOOST_TEST(!accounts.revoke_token(alice.id, 999, t0 + 6));
  auto revoked = accounts.find_token("hash-laptop");  // still found: the caller decides
  BOOST_REQUIRE(revoked.has_value());
  BOOST_TEST(!revoked->token.live());
  BOOST_TEST(revoked->token.revoked_ms == t0 + 5);
  BOOST_TEST(accounts.find_token("hash-ci")->token.live());

  // Touching is asynchronous: poll until it shows, with a deadline.
  accounts.touch_token(ci.id, t0 + 10'000);
  auto until = std::chrono::steady_clock::now() + deadline;
  while (accounts.find_token("hash-ci")->token.last_used_ms != t0 + 10'000 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  BOOST_TEST(accounts.find_token("hash-ci")->token.last_used_ms == t0 + 10'000);

  // Uses closer than the interval to the last recorded one are not written; flush() commits
  // what is queued.
  accounts.touch_token(ci.id, t0 + 10'000 + token_touch_interval_ms - 1);
  store->flush();
  BOOST_TEST(accounts.find_token("hash-ci")->token.last_used_ms == t0 + 10'000);
  for (std::int64_t ms = 0; ms < 10 * token_touch_interval_ms; ++ms) {
    accounts.touch_token(ci.id, t0 + 20'000 + ms);
  }
  store->flush();
  BOOST_TEST(accounts.find_token("hash-ci")->token.last_used_ms ==
             t0 + 20'000 + 9 * token_touch_interval_ms);
  // A use older than the recorded one never moves it back.
  accounts.touch_token(ci.id, t0);
  store->flush();
  BOOST_TEST(accounts.find_token("hash-ci")->token.last_used_ms ==
             t0 + 20'000 + 9 * token_touch_interval_ms);
  // Touching a token that does not exist is harmless.
  accounts.touch_token(12345, t0);
  store->flush();
  BOOST_TEST(accounts.list_tokens(alice.id).size() == 2u);

  // Many threads touching many tokens.
  std::vector<token_record> tokens;
  for (int i = 0; i < 20; ++i) {
    tokens.push_back(accounts.create_token(bob.id, "t" + std::to_string(i), token_scope::read,
                                           "p", "hash-bob-" + std::to_string(i), t0));
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 5000; ++i) {
        accounts.touch_token(tokens[static_cast<std::size_t>((i + w) % 20)].id, t0 + 100'000 + i);
      }
    });
  }
  for (auto& t : threads) t.join();
  store->flush();
  for (const auto& token : accounts.list_tokens(bob.id)) {
    BOOST_TEST(token.last_used_ms >= t0 + 100'000);
    BOOST_TEST(token.last_used_ms < t0 + 105'000);
  }
}

BOOST_AUTO_TEST_CASE(organisations_have_members) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  auto acme = accounts.create_account("acme", account_kind::org, 0, t0);
  auto labs = accounts.create_account("labs", account_kind::org, 0, t0);
  auto alice = accounts.create_account("alice", account_kind::user, 0, t0);
  auto bob = accounts.create_account("bob", account_kind::user, 0, t0);

  accounts.add_member(acme.id, bob.id, org_role::member);
  accounts.add_member(acme.id, alice.id, org_role::owner);
  accounts.add_member(labs.id, alice.id, org_role::member);
  auto members = accounts.members(acme.id);
  BOOST_REQUIRE_EQUAL(members.size(), 2u);
  BOOST_TEST(members[0].account.name == "alice");  // by name
  BOOST_TEST(members[0].role == org_role::owner);
  BOOST_TEST(members[1].account.name == "bob");
  BOOST_TEST(members[1].role == org_role::member);
  auto orgs = accounts.orgs_of(alice.id);
  BOOST_REQUIRE_EQUAL(orgs.size(), 2u);
  BOOST_TEST(orgs[0].account.name == "acme");
  BOOST_TEST(orgs[0].account.kind == account_kind::org);
  BOOST_TEST(orgs[0].role == org_role::owner);
  BOOST_TEST(orgs[1].account.name == "labs");
  BOOST_TEST(accounts.orgs_of(acme.id).empty());

  // Adding again changes the role, not the count.
  accounts.add_member(acme.id, bob.id, org_role::owner);
  members = accounts.members(acme.id);
  BOOST_REQUIRE_EQUAL(members.size(), 2u);
  BOOST_TEST(members[1].role == org_role::owner);

  BOOST_TEST(refusal([&] { accounts.add_member(alice.id, bob.id, org_role::member); }) ==
             "bad_member");  // alice is not an organisation
  BOOST_TEST(contains(
      refusal_message([&] { accounts.add_member(acme.id, labs.id, org_role::member); }),
      "account 'labs' (id " + std::to_string(labs.id) + ") is an organisation, not a user"));
  BOOST_TEST(refusal([&] { accounts.add_member(acme.id, labs.id, org_role::member); }) ==
             "bad_member");  // labs is not a user
  BOOST_TEST(refusal([&] { accounts.add_member(acme.id, mint_account_id, org_role::member); }) ==
             "bad_member");
  BOOST_TEST(refusal([&] { accounts.add_member(999, bob.id, org_role::member); }) ==
             "unknown_account");
  BOOST_TEST(refusal([&] { accounts.add_member(acme.id, 999, org_role::member); }) ==
             "unknown_account");
  BOOST_TEST(refusal([&] { accounts.add_member(acme.id, bob.id, static_cast<org_role>(7)); }) ==
             "bad_member");
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM org_members") == 3);
}

BOOST_AUTO_TEST_CASE(everything_survives_a_reopen) {
  temp_folder folder;
  std::int64_t alice_id = 0, bob_id = 0, acme_id = 0, token_id = 0;
  {
    auto store = open_store(folder.journal());
    account_store& accounts = accounts_of(*store);
    alice_id = accounts.create_account("alice", account_kind::user, 900, t0).id;
    bob_id = accounts.create_account("bob", account_kind::user, 100, t0).id;
    acme_id = accounts.create_account("acme", account_kind::org, 0, t0).id;
    accounts.add_member(acme_id, alice_id, org_role::owner);
    accounts.move({transfer(alice_id, acme_id, 250, "seed the org")}, t0 + 1);
    token_id =
        accounts.create_token(bob_id, "cli", token_scope::read, "plk_1234", "hash-cli", t0).id;
    accounts.touch_token(token_id, t0 + 77);  // queued: the destructor commits it
  }
  BOOST_TEST(!fs::exists(folder.journal().string() + "-wal"));  // closed cleanly
  for (int round = 0; round < 2; ++round) {
    auto store = open_store(folder.journal());
    account_store& accounts = accounts_of(*store);
    BOOST_TEST(balance_of(accounts, alice_id) == 650);
    BOOST_TEST(balance_of(accounts, bob_id) == 100);
    BOOST_TEST(balance_of(accounts, acme_id) == 250);
    BOOST_TEST(balance_of(accounts, mint_account_id) == -1000);
    BOOST_TEST(accounts.find_account("acme")->kind == account_kind::org);
    BOOST_TEST(accounts.members(acme_id).size() == 1u);
    auto token = accounts.find_token("hash-cli");
    BOOST_REQUIRE(token.has_value());
    BOOST_TEST(token->token.id == token_id);
    BOOST_TEST(token->token.last_used_ms == t0 + 77);
    BOOST_TEST(token->account.name == "bob");
    auto rows = accounts.history(acme_id, 10, 0);
    BOOST_REQUIRE_EQUAL(rows.size(), 1u);
    BOOST_TEST(rows[0].memo == "seed the org");
    require_clean_audit(accounts);
    // And the next id follows on.
    auto carol =
        accounts.create_account("carol-" + std::to_string(round), account_kind::user, 0, t0);
    BOOST_TEST(carol.id > acme_id);
  }
  BOOST_TEST(raw_int(folder.journal(), "SELECT max(version) FROM schema_migrations") ==
             potluck::daemon::store_detail::latest_journal_schema_version());
}

BOOST_AUTO_TEST_CASE(a_version_1_journal_upgrades_in_place) {
  temp_folder folder;
  fs::create_directories(folder.journal().parent_path());
  // What a potluckd with only migration 1 left behind, built the way migrate() builds it.
  const auto& first = potluck::daemon::store_detail::journal_migrations()[0];
  BOOST_REQUIRE_EQUAL(first.version, 1);
  raw_exec(folder.journal(),
           std::string("BEGIN;"
                       "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                       "applied_ms INTEGER NOT NULL);") +
               first.sql +
               "INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 1);"
               "INSERT INTO jobs (id, task, state, inputs) VALUES (7, 'echo', 'queued', x'0102');"
               "INSERT INTO jobs (id, task, state) VALUES (8, 'echo', 'succeeded');"
               "COMMIT;");
  BOOST_REQUIRE(contains(raw_try(folder.journal(), "SELECT count(*) FROM accounts"),
                         "no such table"));  // no accounts before the upgrade

  auto store = open_store(folder.journal());
  const auto latest = potluck::daemon::store_detail::latest_journal_schema_version();
  BOOST_TEST(raw_int(folder.journal(), "SELECT max(version) FROM schema_migrations") == latest);
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM schema_migrations") == latest);
  // The jobs are still there...
  auto job = store->get(7);
  BOOST_REQUIRE(job.has_value());
  BOOST_TEST(job->inputs_blob == std::string("\x01\x02", 2));
  BOOST_TEST(job->account_id == 0);  // jobs from before accounts belong to nobody
  BOOST_TEST(store->load_unfinished().size() == 1u);
  BOOST_TEST(store->max_job_id() == 8);
  // ...and the accounts work.
  account_store& accounts = accounts_of(*store);
  BOOST_TEST(accounts.get_account(mint_account_id)->name == "mint");
  BOOST_TEST(accounts.find_account("escrow")->id == escrow_account_id);
  auto alice = accounts.create_account("alice", account_kind::user, 42, t0);
  BOOST_TEST(balance_of(accounts, alice.id) == 42);
  require_clean_audit(accounts);
}

BOOST_AUTO_TEST_CASE(job_writes_and_account_writes_interleave_from_threads) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  auto a = accounts.create_account("a", account_kind::user, 1'000'000, t0);
  auto b = accounts.create_account("b", account_kind::user, 1'000'000, t0);
  constexpr int job_threads = 2, jobs_per_thread = 1000, money_threads = 2, moves_per_thread = 300;

  std::atomic<int> job_failures{0}, move_failures{0}, callbacks{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < job_threads; ++w) {
    threads.emplace_back([&, w] {
      // A job's life in credits: it reserves 3; half of them end and pay the other account 1
      // (a charge of 2 less a fee of 1) and refund 1.
      const auto owner = w == 0 ? a.id : b.id;
      const auto donor = w == 0 ? b.id : a.id;
      for (int i = 0; i < jobs_per_thread; ++i) {
        std::int64_t id = 1 + static_cast<std::int64_t>(i) * job_threads + w;
        auto job = make_job(id);
        job.account_id = owner;
        job.reserved = 3;
        store->insert({job}, [&](const write_result& r) {
          if (!r.ok) job_failures.fetch_add(1);
          callbacks.fetch_add(1);
        });
        if (i % 2 == 0) {
          store->mark_running(id, "w", 1, t0);
          store->finish(id, job_state::succeeded, t0 + 1, "out", {}, {}, settlement{donor, 10, 2, 1, {}}, nullptr);
        }
      }
    });
  }
  for (int w = 0; w < money_threads; ++w) {
    threads.emplace_back([&, w] {
      auto from = w == 0 ? a.id : b.id;
      auto to = w == 0 ? b.id : a.id;
      for (int i = 0; i < moves_per_thread; ++i) {
        try {
          accounts.move({transfer(from, to, 1)}, t0 + i);
        } catch (const std::exception&) {
          move_failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  store->flush();
  BOOST_TEST(job_failures.load() == 0);
  BOOST_TEST(move_failures.load() == 0);
  BOOST_TEST(callbacks.load() == job_threads * jobs_per_thread);
  auto counts = store->count_by_state();
  BOOST_TEST(counts[job_state::succeeded] == job_threads * jobs_per_thread / 2);
  BOOST_TEST(counts[job_state::queued] == job_threads * jobs_per_thread / 2);
  constexpr int settled = jobs_per_thread / 2, waiting = jobs_per_thread - settled;
  // Reserved 3 each; settled ones refunded 1; the other account's settled jobs paid in 1.
  BOOST_TEST(balance_of(accounts, a.id) == 1'000'000 - 3 * jobs_per_thread + settled + settled);
  BOOST_TEST(balance_of(accounts, b.id) == 1'000'000 - 3 * jobs_per_thread + settled + settled);
  BOOST_TEST(balance_of(accounts, escrow_account_id) == 3 * waiting * job_threads);
  BOOST_TEST(balance_of(accounts, fees_account_id) == settled * job_threads);
  audit_report report = accounts.audit();
  for (const auto& line : report.problems) BOOST_TEST_MESSAGE("audit: " << line);
  BOOST_TEST(report.ok);
  BOOST_TEST(report.escrow == report.reserved_by_unfinished_jobs);
  // Grants, a reserve per job, charge + fee + refund per settled job, the transfers.
  BOOST_TEST(report.entries_checked ==
             2 + job_threads * jobs_per_thread + 3 * job_threads * settled + money_threads * moves_per_thread);
}

BOOST_AUTO_TEST_CASE(account_writes_from_a_write_callback_are_refused) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  std::promise<std::string> seen;
  store->insert({make_job(1)}, [&](const write_result&) {
    try {
      accounts.create_account("alice", account_kind::user, 0, t0);
      seen.set_value("no exception");
    } catch (const std::logic_error& e) {
      seen.set_value(e.what());
    } catch (...) {
      seen.set_value("another exception");
    }
  });
  auto future = seen.get_future();
  BOOST_REQUIRE(future.wait_for(deadline) == std::future_status::ready);
  std::string what = future.get();
  BOOST_TEST(contains(what, "create_account() called from a job_store write callback"), what);
  BOOST_TEST(!accounts.find_account("alice").has_value());
  // The writer carries on.
  BOOST_TEST(accounts.create_account("alice", account_kind::user, 1, t0).balance == 1);
}

namespace {

// Runs a job write and waits for its commit; the result.
template <class Write>
write_result committed(Write&& write) {
  std::promise<write_result> done;
  auto result = done.get_future();
  write([&done](const write_result& r) { done.set_value(r); });
  return result.get();
}

job_record paid_job(std::int64_t id, std::int64_t account, std::int64_t reserved) {
  auto job = make_job(id);
  job.account_id = account;
  job.units = 1000;
  job.bid = 5;
  job.reserved = reserved;
  return job;
}

}  // namespace

BOOST_AUTO_TEST_CASE(jobs_reserve_when_journaled_and_settle_once_when_they_end) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  account_store& accounts = accounts_of(*store);
  auto user = accounts.create_account("user", account_kind::user, 1000, t0);
  auto donor = accounts.create_account("donor", account_kind::user, 0, t0);

  // A job reserves its maximum in the same commit as its row.
  auto r = committed([&](write_done done) { store->insert({paid_job(1, user.id, 400)}, done); });
  BOOST_TEST(r.ok);
  BOOST_TEST(balance_of(accounts, user.id) == 600);
  BOOST_TEST(balance_of(accounts, escrow_account_id) == 400);
  require_clean_audit(accounts);

  // More than the balance: refused with a code, and neither the jobs nor any credit moved.
  r = committed([&](write_done done) {
    store->insert({paid_job(2, user.id, 300), paid_job(3, user.id, 301)}, done);
  });
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.refusal == "insufficient_funds");
  BOOST_TEST(contains(r.error, "600"));
  BOOST_TEST(!store->get(2).has_value());
  BOOST_TEST(!store->get(3).has_value());
  BOOST_TEST(balance_of(accounts, user.id) == 600);

  // A batch that fits goes in whole, with one reserve row naming its jobs.
  r = committed([&](write_done done) {
    store->insert({paid_job(2, user.id, 100), paid_job(3, user.id, 100), make_job(4)}, done);
  });
  BOOST_TEST(!r.ok);  // a job of another account (0) in the same insert is refused
  BOOST_TEST(r.refusal == "bad_amount");
  r = committed([&](write_done done) {
    store->insert({paid_job(2, user.id, 100), paid_job(3, user.id, 100)}, done);
  });
  BOOST_TEST(r.ok);
  auto rows = accounts.history(user.id, 10, 0);
  BOOST_REQUIRE(!rows.empty());
  BOOST_TEST(rows[0].kind == "reserve");
  BOOST_TEST(rows[0].amount == 200);
  BOOST_TEST(rows[0].memo == "jobs 2 to 3 (2 jobs)");
  require_clean_audit(accounts);

  // Success: the charge (capped by the reservation) pays the donor less the fee, the rest
  // goes back. Finishing again changes nothing.
  r = committed([&](write_done done) {
    store->finish(1, job_state::succeeded, t0 + 5, "out", {}, {}, settlement{donor.id, 7, 250, 25, {}}, done);
  });
  BOOST_TEST(r.applied);
  BOOST_TEST(balance_of(accounts, donor.id) == 225);
  BOOST_TEST(balance_of(accounts, fees_account_id) == 25);
  BOOST_TEST(balance_of(accounts, user.id) == 400 + 150);
  r = committed([&](write_done done) {
    store->finish(1, job_state::failed, t0 + 6, {}, "late", "a duplicate end", settlement{donor.id, 7, 400, 0, {}}, done);
  });
  BOOST_TEST(r.ok);
  BOOST_TEST(!r.applied);
  BOOST_TEST(balance_of(accounts, donor.id) == 225);
  auto one = store->get(1);
  BOOST_REQUIRE(one.has_value());
  BOOST_TEST(one->charged == 250);
  BOOST_TEST(one->fee == 25);
  BOOST_TEST(one->price == 7);
  BOOST_TEST(one->payee_id == donor.id);
  BOOST_TEST(one->reserved == 400);

  // A charge above the reservation is capped at it; a settlement that pays nobody refunds all.
  committed([&](write_done done) {
    store->finish(2, job_state::succeeded, t0 + 7, "out", {}, {}, settlement{donor.id, 7, 5000, 0, {}}, done);
  });
  BOOST_TEST(store->get(2)->charged == 100);
  committed([&](write_done done) {
    store->finish(3, job_state::failed, t0 + 8, {}, "worker_lost", "gone", settlement{0, 0, 100, 0, {}}, done);
  });
  BOOST_TEST(store->get(3)->charged == 0);
  BOOST_TEST(balance_of(accounts, donor.id) == 325);
  BOOST_TEST(balance_of(accounts, user.id) == 550 + 100);
  BOOST_TEST(balance_of(accounts, escrow_account_id) == 0);
  require_clean_audit(accounts);
  auto report = accounts.audit();
  BOOST_TEST(report.jobs_checked == 3);

  // A settlement written twice by hand (as a bug would) is named by the audit.
  raw_exec(folder.journal(),
           "INSERT INTO ledger (debit_account, credit_account, amount, kind, job_id, time_ms) "
           "VALUES (2, " + std::to_string(user.id) + ", 1, 'refund', 3, 1)");
  report = accounts.audit();
  BOOST_TEST(!report.ok);
  BOOST_TEST(report.bad_jobs == std::vector<std::int64_t>{3}, boost::test_tools::per_element());
}
