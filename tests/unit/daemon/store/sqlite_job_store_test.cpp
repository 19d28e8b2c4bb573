// Tests of the SQLite job journal (daemon/store): real database files in temp folders,
// callbacks awaited through futures with deadlines, never sleeps.
#define BOOST_TEST_MODULE daemon_store_job_store
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
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
#include "daemon/store/job_store.hpp"
#include "daemon/store/migrations.hpp"

// How Boost.Test prints states in failure messages.
namespace potluck::daemon {
std::ostream& operator<<(std::ostream& out, job_state state) { return out << to_string(state); }
std::ostream& operator<<(std::ostream& out, const std::optional<job_state>& state) {
  return state ? out << *state : out << "none";
}
}  // namespace potluck::daemon

namespace fs = std::filesystem;
using namespace potluck::daemon;
using namespace std::chrono_literals;

namespace {

constexpr auto deadline = 60s;

using testing::temp_folder;

std::unique_ptr<job_store> open_store(const fs::path& file, int max_writes_per_commit = 256) {
  sqlite_store_options options;
  options.file = file;
  options.max_writes_per_commit = max_writes_per_commit;
  return open_sqlite_job_store(options);
}

job_record make_job(std::int64_t id, std::string task = "echo") {
  job_record job;
  job.id = id;
  job.task = std::move(task);
  job.created_ms = 1'700'000'000'000 + id;
  job.inputs_blob = "in-" + std::to_string(id);
  return job;
}

// Collects the result of one write callback.
struct result_waiter {
  std::shared_ptr<std::promise<write_result>> promise = std::make_shared<std::promise<write_result>>();
  std::future<write_result> future = promise->get_future();
  write_done callback() {
    return [p = promise](const write_result& result) { p->set_value(result); };
  }
  write_result wait() {
    BOOST_REQUIRE_MESSAGE(future.wait_for(deadline) == std::future_status::ready,
                          "write callback did not run before the deadline");
    return future.get();
  }
};

write_result insert_and_wait(job_store& store, std::vector<job_record> jobs) {
  result_waiter waiter;
  store.insert(std::move(jobs), waiter.callback());
  return waiter.wait();
}

write_result finish_and_wait(job_store& store, std::int64_t id, job_state state,
                             std::string outputs = {}, std::string code = {},
                             std::string message = {}) {
  result_waiter waiter;
  store.finish(id, state, 1'800'000'000'000, std::move(outputs), std::move(code),
               std::move(message), settlement{}, waiter.callback());
  return waiter.wait();
}

// Runs SQL on the file through a connection of the test's own, as an outside tool would.
void raw_exec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE_EQUAL(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, "raw sql failed: " << message);
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

std::string every_byte() {
  std::string bytes;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  }
  return bytes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(job_state_names_round_trip) {
  for (auto state : {job_state::queued, job_state::running, job_state::succeeded, job_state::failed,
                     job_state::cancelled}) {
    BOOST_TEST(parse_job_state(to_string(state)) == state);
  }
  BOOST_TEST(!parse_job_state("done").has_value());
  BOOST_TEST(!parse_job_state("").has_value());
  BOOST_TEST(!is_terminal(job_state::running));
  BOOST_TEST(is_terminal(job_state::cancelled));
}

BOOST_AUTO_TEST_CASE(insert_then_get_round_trips_every_field) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  BOOST_TEST(fs::exists(folder.journal()));  // the folder was created

  job_record job;
  job.id = 42;
  job.task = "text-generation";
  job.backend = "cuda";
  job.model = "gpt2";
  job.state = job_state::running;
  job.attempt = 2;
  job.max_attempts = 5;
  job.worker = "worker-7";
  job.created_ms = 1'700'000'000'123;
  job.started_ms = 1'700'000'000'456;
  job.finished_ms = 0;
  job.params_json = R"({"temperature":0.5,"name":"caf\u00e9"})";
  job.inputs_blob = every_byte();
  job.outputs_blob = std::string("\0out\0put\0", 9);
  job.error_message = "message with ümlaut";
  job.error_code = std::string("with\0nul", 8);

  write_result result = insert_and_wait(*store, {job});
  BOOST_TEST(result.ok);
  BOOST_TEST(result.applied);
  BOOST_TEST(result.error.empty());

  auto got = store->get(42);
  BOOST_REQUIRE(got.has_value());
  BOOST_TEST(got->id == job.id);
  BOOST_TEST(got->task == job.task);
  BOOST_TEST(got->backend == job.backend);
  BOOST_TEST(got->model == job.model);
  BOOST_TEST(got->state == job.state);
  BOOST_TEST(got->attempt == job.attempt);
  BOOST_TEST(got->max_attempts == job.max_attempts);
  BOOST_TEST(got->worker == job.worker);
  BOOST_TEST(got->created_ms == job.created_ms);
  BOOST_TEST(got->started_ms == job.started_ms);
  BOOST_TEST(got->finished_ms == job.finished_ms);
  BOOST_TEST(got->params_json == job.params_json);
  BOOST_TEST(got->inputs_blob.size() == job.inputs_blob.size());
  BOOST_TEST((got->inputs_blob == job.inputs_blob));
  BOOST_TEST((got->outputs_blob == job.outputs_blob));
  BOOST_TEST((got->error_code == job.error_code));
  BOOST_TEST(got->error_message == job.error_message);

  // Defaults and empty blobs come back as they went in, not as NULL.
  job_record plain;
  plain.id = 43;
  plain.task = "echo";
  BOOST_TEST(insert_and_wait(*store, {plain}).ok);
  auto got_plain = store->get(43);
  BOOST_REQUIRE(got_plain.has_value());
  BOOST_TEST(got_plain->params_json == "{}");
  BOOST_TEST(got_plain->inputs_blob.empty());
  BOOST_TEST(got_plain->backend.empty());
  BOOST_TEST(got_plain->state == job_state::queued);
  BOOST_TEST(got_plain->max_attempts == 3);

  BOOST_TEST(!store->get(44).has_value());
  BOOST_TEST(store->max_job_id() == 43);
}

BOOST_AUTO_TEST_CASE(done_runs_only_after_the_commit) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  // Inside the callback, a second store on the same file (its own connections) must already
  // see the row: the callback runs after COMMIT, not after the INSERT.
  // (Boost.Test is not thread-safe: the callback only records, the test thread checks.)
  std::promise<std::optional<job_record>> seen;
  auto seen_future = seen.get_future();
  std::atomic<bool> committed{false};
  fs::path file = folder.journal();
  store->insert({make_job(1)}, [&seen, &committed, file](const write_result& result) {
    try {
      committed = result.ok;
      auto other = open_store(file);
      seen.set_value(other->get(1));
    } catch (...) {
      seen.set_exception(std::current_exception());
    }
  });
  BOOST_REQUIRE(seen_future.wait_for(deadline) == std::future_status::ready);
  auto row = seen_future.get();
  BOOST_TEST(committed.load());
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST(row->inputs_blob == "in-1");

  // And a raw connection agrees, after the finish callback.
  BOOST_TEST(finish_and_wait(*store, 1, job_state::succeeded, "out").applied);
  BOOST_TEST(raw_int(file, "SELECT count(*) FROM jobs WHERE id = 1 AND state = 'succeeded'") == 1);
}

BOOST_AUTO_TEST_CASE(finish_applies_once) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  BOOST_REQUIRE(insert_and_wait(*store, {make_job(1), make_job(2)}).ok);
  store->mark_running(1, "w1", 1, 1'700'000'000'500);

  write_result first = finish_and_wait(*store, 1, job_state::succeeded, "first outputs");
  BOOST_TEST(first.ok);
  BOOST_TEST(first.applied);
  write_result second =
      finish_and_wait(*store, 1, job_state::failed, "second outputs", "late", "a late result");
  BOOST_TEST(second.ok);
  BOOST_TEST(!second.applied);

  // Nor do mark_running / mark_queued touch a terminal job.
  store->mark_queued(1);
  store->mark_running(1, "w2", 9, 1'700'000'009'000);
  store->flush();

  auto job = store->get(1);
  BOOST_REQUIRE(job.has_value());
  BOOST_TEST(job->state == job_state::succeeded);
  BOOST_TEST(job->outputs_blob == "first outputs");
  BOOST_TEST(job->error_code.empty());
  BOOST_TEST(job->worker == "w1");
  BOOST_TEST(job->attempt == 1);
  BOOST_TEST(job->finished_ms == 1'800'000'000'000);

  // A job that does not exist is not "applied" either.
  write_result missing = finish_and_wait(*store, 99, job_state::cancelled);
  BOOST_TEST(missing.ok);
  BOOST_TEST(!missing.applied);

  // finish() with a non-terminal state is refused with a reason.
  write_result refused = finish_and_wait(*store, 2, job_state::running);
  BOOST_TEST(!refused.ok);
  BOOST_TEST(refused.error.find("terminal") != std::string::npos);
  BOOST_TEST(store->get(2)->state == job_state::queued);

  // A cancelled queued job keeps its error.
  write_result cancel = finish_and_wait(*store, 2, job_state::cancelled, {}, "cancelled", "by user");
  BOOST_TEST(cancel.applied);
  BOOST_TEST(store->get(2)->error_message == "by user");
}

BOOST_AUTO_TEST_CASE(list_pages_newest_first_with_cursor_and_state) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  std::vector<job_record> jobs;
  for (int id = 1; id <= 250; ++id) jobs.push_back(make_job(id));
  BOOST_REQUIRE(insert_and_wait(*store, std::move(jobs)).ok);
  std::set<std::int64_t> succeeded;
  for (int id = 3; id <= 250; id += 3) {
    store->finish(id, job_state::succeeded, 1, "outputs", {}, {}, settlement{}, nullptr);
    succeeded.insert(id);
  }
  store->flush();

  auto page_through = [&](std::optional<job_state> state, int limit) {
    std::vector<std::int64_t> ids;
    job_list_query query;
    query.state = state;
    query.limit = limit;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store->list(query);
      BOOST_TEST(page.size() <= static_cast<std::size_t>(limit));
      for (const auto& job : page) {
        ids.push_back(job.id);
        BOOST_TEST(job.inputs_blob.empty());  // list leaves blobs out
        BOOST_TEST(job.outputs_blob.empty());
        BOOST_TEST(job.task == "echo");
        if (state) BOOST_TEST(job.state == *state);
      }
      if (page.size() < static_cast<std::size_t>(limit)) break;
      query.before_id = page.back().id;
    }
    return ids;
  };

  auto all = page_through(std::nullopt, 40);
  BOOST_REQUIRE_EQUAL(all.size(), 250u);
  BOOST_TEST(std::is_sorted(all.rbegin(), all.rend()));
  BOOST_TEST(std::set<std::int64_t>(all.begin(), all.end()).size() == 250u);
  BOOST_TEST(all.front() == 250);
  BOOST_TEST(all.back() == 1);

  auto done = page_through(job_state::succeeded, 7);
  BOOST_TEST(std::is_sorted(done.rbegin(), done.rend()));
  BOOST_TEST((std::set<std::int64_t>(done.begin(), done.end()) == succeeded));
  BOOST_TEST(done.size() == succeeded.size());

  auto queued = page_through(job_state::queued, 1000);
  BOOST_TEST(queued.size() == 250 - succeeded.size());

  job_list_query clamp;
  clamp.limit = 0;
  BOOST_TEST(store->list(clamp).size() == 1u);
  clamp.limit = -5;
  BOOST_TEST(store->list(clamp).size() == 1u);
  clamp.limit = 100000;
  BOOST_TEST(store->list(clamp).size() == 250u);
  clamp.limit = 10;
  clamp.before_id = 5;
  auto tail = store->list(clamp);
  BOOST_REQUIRE_EQUAL(tail.size(), 4u);
  BOOST_TEST(tail.front().id == 4);
  BOOST_TEST(store->list({job_state::failed, 50, 0}).empty());
}

BOOST_AUTO_TEST_CASE(load_unfinished_returns_queued_and_running_oldest_first) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  std::vector<job_record> jobs;
  for (int id = 1; id <= 7; ++id) jobs.push_back(make_job(id * 10));
  BOOST_REQUIRE(insert_and_wait(*store, std::move(jobs)).ok);
  store->mark_running(20, "w1", 1, 100);
  store->mark_running(30, "w1", 1, 100);
  store->finish(30, job_state::succeeded, 200, "out", {}, {}, settlement{}, nullptr);
  store->finish(50, job_state::failed, 200, {}, "boom", "plugin crashed", settlement{}, nullptr);
  store->mark_running(60, "w2", 1, 100);
  store->mark_running(70, "w2", 1, 100);
  store->mark_queued(70);  // the worker was lost: back in the queue, attempt kept
  store->finish(40, job_state::cancelled, 200, {}, {}, {}, settlement{}, nullptr);
  store->flush();

  auto unfinished = store->load_unfinished();
  std::vector<std::int64_t> ids;
  for (const auto& job : unfinished) ids.push_back(job.id);
  BOOST_TEST((ids == std::vector<std::int64_t>{10, 20, 60, 70}));
  BOOST_REQUIRE_EQUAL(unfinished.size(), 4u);
  for (const auto& job : unfinished) {
    BOOST_TEST(job.inputs_blob == "in-" + std::to_string(job.id));
  }
  BOOST_TEST(unfinished[0].state == job_state::queued);
  BOOST_TEST(unfinished[1].state == job_state::running);
  BOOST_TEST(unfinished[1].worker == "w1");
  BOOST_TEST(unfinished[1].attempt == 1);
  BOOST_TEST(unfinished[1].started_ms == 100);
  BOOST_TEST(unfinished[3].state == job_state::queued);
  BOOST_TEST(unfinished[3].attempt == 1);
}

BOOST_AUTO_TEST_CASE(reopen_keeps_everything_and_migrations_are_idempotent) {
  temp_folder folder;
  {
    auto store = open_store(folder.journal());
    std::vector<job_record> jobs;
    for (int id = 1; id <= 100; ++id) jobs.push_back(make_job(id));
    BOOST_REQUIRE(insert_and_wait(*store, std::move(jobs)).ok);
    for (int id = 1; id <= 30; ++id) {
      store->finish(id, job_state::succeeded, 5, "out-" + std::to_string(id), {}, {}, settlement{}, nullptr);
    }
    store->mark_running(31, "w", 1, 4);
    // No flush: the destructor commits what is queued.
  }
  BOOST_TEST(!fs::exists(folder.journal().string() + "-wal"));  // closed cleanly
  for (int round = 0; round < 2; ++round) {
    auto store = open_store(folder.journal());
    BOOST_TEST(store->max_job_id() == 100);
    auto counts = store->count_by_state();
    BOOST_TEST(counts[job_state::succeeded] == 30);
    BOOST_TEST(counts[job_state::running] == 1);
    BOOST_TEST(counts[job_state::queued] == 69);
    BOOST_TEST(counts[job_state::failed] == 0);
    BOOST_TEST(store->get(7)->outputs_blob == "out-7");
    BOOST_TEST(store->get(31)->worker == "w");
    BOOST_TEST(store->load_unfinished().size() == 70u);
  }
  const int latest = potluck::daemon::store_detail::latest_journal_schema_version();
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM schema_migrations") == latest);
  BOOST_TEST(raw_int(folder.journal(), "SELECT max(version) FROM schema_migrations") == latest);
  BOOST_TEST(raw_int(folder.journal(), "SELECT count(*) FROM jobs") == 100);
}

BOOST_AUTO_TEST_CASE(newer_schema_is_refused_with_a_clear_message) {
  temp_folder folder;
  { open_store(folder.journal()); }
  // One version beyond what this build knows, whatever that is.
  const auto newer = std::to_string(potluck::daemon::store_detail::latest_journal_schema_version() + 1);
  raw_exec(folder.journal(), "INSERT INTO schema_migrations (version, applied_ms) VALUES (" + newer + ", 0)");
  const std::string expected =
      "journal schema version " + newer + " is newer than this potluckd knows (" +
      std::to_string(potluck::daemon::store_detail::latest_journal_schema_version()) +
      "); upgrade potluckd";
  BOOST_CHECK_EXCEPTION(open_store(folder.journal()), std::runtime_error,
                        [&](const std::runtime_error& e) {
                          std::string what = e.what();
                          BOOST_TEST_MESSAGE("refused with: " << what);
                          return what.find(expected) != std::string::npos;
                        });
}

BOOST_AUTO_TEST_CASE(unwritable_path_is_refused_naming_the_path) {
  temp_folder folder;
  fs::path blocker = folder.path / "blocker";
  std::ofstream(blocker) << "a file where the folder should be";
  fs::path file = blocker / "var" / "journal.db";
  BOOST_CHECK_EXCEPTION(open_store(file), std::runtime_error, [&](const std::runtime_error& e) {
    std::string what = e.what();
    BOOST_TEST_MESSAGE("refused with: " << what);
    return what.find(file.string()) != std::string::npos;
  });
  // A file that is not a journal at all.
  fs::path garbage = folder.path / "garbage.db";
  std::ofstream(garbage) << std::string(8192, 'x');
  BOOST_CHECK_EXCEPTION(open_store(garbage), std::runtime_error, [&](const std::runtime_error& e) {
    std::string what = e.what();
    BOOST_TEST_MESSAGE("refused with: " << what);
    return what.find(garbage.string()) != std::string::npos &&
           what.find("not a database") != std::string::npos;
  });
  // A folder where the file should be.
  fs::path folder_as_file = folder.path / "a-folder";
  fs::create_directories(folder_as_file);
  BOOST_CHECK_EXCEPTION(open_store(folder_as_file), std::runtime_error,
                        [&](const std::runtime_error& e) {
                          std::string what = e.what();
                          BOOST_TEST_MESSAGE("refused with: " << what);
                          return what.find(folder_as_file.string()) != std::string::npos;
                        });
}

BOOST_AUTO_TEST_CASE(failed_writes_are_reported_and_the_writer_survives) {
  temp_folder folder;
  fs::path file = folder.journal();
  { open_store(file); }
  // A deferred foreign key that a 'poison' job breaks makes its COMMIT fail, the way a full
  // disk would: the whole transaction is rolled back.
  raw_exec(file,
           "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
           "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
           "DEFERRABLE INITIALLY DEFERRED);"
           "CREATE TRIGGER poison AFTER INSERT ON jobs WHEN NEW.task = 'poison' "
           "BEGIN INSERT INTO child VALUES (12345); END;");
  auto store = open_store(file);

  write_result poisoned = insert_and_wait(*store, {make_job(1, "poison")});
  BOOST_TEST(!poisoned.ok);
  BOOST_TEST(!poisoned.applied);
  BOOST_TEST(poisoned.error.find("FOREIGN KEY constraint failed") != std::string::npos);
  BOOST_TEST(!store->get(1).has_value());

  // The writer carries on.
  BOOST_TEST(insert_and_wait(*store, {make_job(2)}).ok);
  BOOST_TEST(store->get(2).has_value());

  // A duplicate id fails that write alone, with SQLite's reason.
  write_result duplicate = insert_and_wait(*store, {make_job(2)});
  BOOST_TEST(!duplicate.ok);
  BOOST_TEST(duplicate.error.find("UNIQUE constraint failed") != std::string::npos);

  // Several jobs in one insert go in together or not at all.
  write_result partial = insert_and_wait(*store, {make_job(3), make_job(4), make_job(2)});
  BOOST_TEST(!partial.ok);
  BOOST_TEST(!store->get(3).has_value());
  BOOST_TEST(!store->get(4).has_value());
  BOOST_TEST(insert_and_wait(*store, {make_job(3), make_job(4)}).ok);
  BOOST_TEST(store->max_job_id() == 4);

  // A callback that throws does not stop the writer.
  store->insert({make_job(5)}, [](const write_result&) { throw std::runtime_error("callback bug"); });
  BOOST_TEST(insert_and_wait(*store, {make_job(6)}).ok);
  BOOST_TEST(store->get(5).has_value());
}

BOOST_AUTO_TEST_CASE(group_commit_of_ten_thousand_lifecycles) {
  temp_folder folder;
  auto store = open_store(folder.journal(), 100);
  constexpr int jobs = 10'000;
  std::atomic<int> callbacks{0}, failures{0}, applied{0};
  std::promise<void> all_done;
  auto all_done_future = all_done.get_future();
  auto on_done = [&](const write_result& result) {
    if (!result.ok) failures.fetch_add(1);
    if (result.applied) applied.fetch_add(1);
    if (callbacks.fetch_add(1) + 1 == 2 * jobs) all_done.set_value();
  };
  std::string inputs(256, 'i');
  std::string outputs(256, 'o');

  auto start = std::chrono::steady_clock::now();
  for (int id = 1; id <= jobs; ++id) {
    job_record job;
    job.id = id;
    job.task = "echo";
    job.created_ms = id;
    job.inputs_blob = inputs;
    store->insert({std::move(job)}, on_done);
  }
  for (int id = 1; id <= jobs; ++id) {
    auto state = id % 3 == 0 ? job_state::failed
                             : (id % 7 == 0 ? job_state::cancelled : job_state::succeeded);
    store->finish(id, state, id + 1, state == job_state::succeeded ? outputs : std::string(),
                  {}, {}, settlement{}, on_done);
  }
  BOOST_REQUIRE(all_done_future.wait_for(deadline) == std::future_status::ready);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_MESSAGE("10,000 insert+finish lifecycles in " << seconds * 1000 << " ms: "
                                                           << static_cast<long>(jobs / seconds)
                                                           << " jobs/s (synchronous=FULL)");

  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(applied.load() == 2 * jobs);
  int failed = 0, cancelled = 0, succeeded = 0;
  for (int id = 1; id <= jobs; ++id) {
    if (id % 3 == 0) ++failed;
    else if (id % 7 == 0) ++cancelled;
    else ++succeeded;
  }
  auto counts = store->count_by_state();
  BOOST_TEST(counts[job_state::succeeded] == succeeded);
  BOOST_TEST(counts[job_state::failed] == failed);
  BOOST_TEST(counts[job_state::cancelled] == cancelled);
  BOOST_TEST(counts[job_state::queued] == 0);
  BOOST_TEST(counts[job_state::running] == 0);
  BOOST_TEST(store->max_job_id() == jobs);
  BOOST_TEST(store->load_unfinished().empty());
}

BOOST_AUTO_TEST_CASE(writers_and_readers_run_together) {
  temp_folder folder;
  auto store = open_store(folder.journal());
  constexpr int writers = 4, per_writer = 1000;
  std::atomic<bool> writing{true};
  std::atomic<int> write_errors{0}, read_errors{0}, reads{0};
  std::mutex error_mutex;
  std::string first_error;
  auto note_error = [&](std::atomic<int>& counter, const std::string& what) {
    counter.fetch_add(1);
    std::lock_guard lock(error_mutex);
    if (first_error.empty()) first_error = what;
  };

  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      // Keep reading until the writers are done, and at least a few rounds.
      for (int round = 0; writing.load() || round < 5; ++round) {
        try {
          auto page = store->list({std::nullopt, 50, 0});
          for (std::size_t i = 1; i < page.size(); ++i) {
            if (page[i - 1].id <= page[i].id) note_error(read_errors, "list out of order");
          }
          if (!page.empty() && !store->get(page.front().id)) {
            note_error(read_errors, "a listed job is missing");
          }
          auto counts = store->count_by_state();
          (void)counts;
          if (r == 0) (void)store->load_unfinished();
          store->max_job_id();
          reads.fetch_add(1);
        } catch (const std::exception& e) {
          note_error(read_errors, e.what());
        }
      }
    });
  }

  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<std::future<write_result>> results;
      for (int i = 0; i < per_writer; ++i) {
        std::int64_t id = 1 + static_cast<std::int64_t>(i) * writers + w;
        auto promise = std::make_shared<std::promise<write_result>>();
        results.push_back(promise->get_future());
        store->insert({make_job(id)},
                      [promise](const write_result& result) { promise->set_value(result); });
        if (i % 2 == 0) {
          store->mark_running(id, "w" + std::to_string(w), 1, 10);
          store->finish(id, job_state::succeeded, 20, "out", {}, {}, settlement{}, nullptr);
        }
      }
      for (auto& result : results) {
        if (result.wait_for(deadline) != std::future_status::ready) {
          note_error(write_errors, "insert callback missed the deadline");
          continue;
        }
        auto r = result.get();
        if (!r.ok) note_error(write_errors, r.error);
      }
    });
  }
  for (auto& t : threads) t.join();
  store->flush();
  writing = false;
  for (auto& t : readers) t.join();

  BOOST_TEST(write_errors.load() == 0, "first error: " << first_error);
  BOOST_TEST(read_errors.load() == 0, "first error: " << first_error);
  BOOST_TEST(reads.load() >= 10);
  BOOST_TEST(store->max_job_id() == writers * per_writer);
  auto counts = store->count_by_state();
  BOOST_TEST(counts[job_state::succeeded] == writers * per_writer / 2);
  BOOST_TEST(counts[job_state::queued] == writers * per_writer / 2);
  std::set<std::int64_t> ids;
  job_list_query query;
  query.limit = 1000;
  for (;;) {
    auto page = store->list(query);
    for (const auto& job : page) ids.insert(job.id);
    if (page.size() < 1000) break;
    query.before_id = page.back().id;
  }
  BOOST_TEST(ids.size() == static_cast<std::size_t>(writers * per_writer));
  BOOST_TEST(*ids.begin() == 1);
  BOOST_TEST(*ids.rbegin() == writers * per_writer);
}
