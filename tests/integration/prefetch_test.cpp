// End-to-end tests of job prefetch with real processes: potluckd sends a worker short jobs
// ahead of a free slot (its HELLO's "prefetch", potluckd --prefetch-ms), the worker keeps them
// in its backlog or sends them ahead to a busy runner. Every way a waiting job can leave
// (it runs, it is cancelled, its worker is killed or stopped) must end it exactly once, and the
// daemon's counters must come back to rest.
#define BOOST_TEST_MODULE integration_prefetch
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace json = boost::json;
using namespace potluck::testing;

namespace {

// The values job number `n` of a test sends to test.echo, which must come back unchanged.
std::vector<std::int64_t> echo_values(int n) { return {n, -3 * n - 1, 1000000 + n}; }

std::string echo_job(int n) {
  std::string data;
  for (auto v : echo_values(n)) data += (data.empty() ? "" : ",") + std::to_string(v);
  return R"({"task":"test.echo","inputs":{"x":{"dtype":"i32","data":[)" + data + "]}}}";
}

std::string sleep_job(int ms) { return R"({"task":"test.sleep","params":{"ms":)" + std::to_string(ms) + "}}"; }

std::int64_t submit_ok(const daemon_process& d, const std::string& job) {
  auto r = submit(d, job);
  BOOST_TEST_REQUIRE(r.status == 202, "submit answered " << r.status << ": " << r.body);
  return r.json().at("id").as_int64();
}

// Submits echo jobs numbered first..first+count-1 in one batch; returns their ids in order.
std::vector<std::int64_t> submit_echo_batch(const daemon_process& d, int first, int count) {
  std::string batch = R"({"jobs":[)";
  for (int i = 0; i < count; ++i) batch += (i ? "," : "") + echo_job(first + i);
  batch += "]}";
  auto r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/batch", batch);
  BOOST_TEST_REQUIRE(r.status == 202, "batch answered " << r.status << ": " << r.body.substr(0, 500));
  std::vector<std::int64_t> ids;
  const auto accepted = r.json();
  for (const auto& j : accepted.at("jobs").as_array()) ids.push_back(j.at("id").as_int64());
  BOOST_TEST_REQUIRE(ids.size() == static_cast<std::size_t>(count));
  return ids;
}

json::object get_job(const daemon_process& d, std::int64_t id) {
  return http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json().as_object();
}

std::string job_state(const daemon_process& d, std::int64_t id) {
  return std::string(get_job(d, id).at("state").as_string());
}

json::object stats(const daemon_process& d) {
  return http(d.http_port(), "GET", "/api/v1/stats").json().as_object();
}

std::int64_t stat(const json::object& s, const char* key) { return s.at(key).to_number<std::int64_t>(); }

std::int64_t terminal_count(const json::object& s) {
  return stat(s, "jobs_succeeded") + stat(s, "jobs_failed") + stat(s, "jobs_cancelled");
}

std::string stats_text(const daemon_process& d) {
  try {
    return json::serialize(stats(d));
  } catch (const std::exception& e) {
    return std::string("(no stats: ") + e.what() + ")";
  }
}

// Waits until every submitted job is terminal, then until nothing is queued or in flight.
void wait_until_at_rest(const daemon_process& d, std::chrono::milliseconds deadline) {
  BOOST_TEST_REQUIRE(eventually([&] {
    auto s = stats(d);
    return terminal_count(s) == stat(s, "jobs_submitted");
  }, deadline), "jobs still not terminal: " << stats_text(d));
  BOOST_TEST(eventually([&] {
    auto s = stats(d);
    return stat(s, "queue_depth") == 0 && stat(s, "jobs_running") == 0 && stat(s, "slots_busy") == 0;
  }, 30s), "the daemon's gauges did not come back to rest: " << stats_text(d));
  // The journal agrees: nothing left queued or running.
  for (const char* state : {"queued", "running"}) {
    auto list = http(d.http_port(), "GET", std::string("/api/v1/jobs?state=") + state + "&limit=10").json();
    BOOST_TEST(list.at("jobs").as_array().empty(), "jobs left " << state << ": " << json::serialize(list));
  }
}

// A succeeded echo job returned exactly the values it was given.
void check_echo_output(const json::object& job, int n) {
  const auto id = job.at("id").as_int64();
  BOOST_TEST_REQUIRE(job.at("state").as_string() == "succeeded", "job " << id << ": " << json::serialize(job));
  const auto& x = job.at("result").at("outputs").at("x").as_object();
  BOOST_TEST(x.at("dtype").as_string() == "i32", "job " << id);
  std::vector<std::int64_t> got;
  for (const auto& v : x.at("data").as_array()) got.push_back(v.to_number<std::int64_t>());
  BOOST_TEST((got == echo_values(n)), "job " << id << " (echo #" << n << ") returned " << json::serialize(x));
}

std::optional<json::object> worker_named(const daemon_process& d, const std::string& name) {
  const auto workers = http(d.http_port(), "GET", "/api/v1/workers").json();
  for (const auto& w : workers.at("workers").as_array())
    if (w.at("name").as_string() == name) return w.as_object();
  return std::nullopt;
}

// Runs `count` echo jobs and waits for them: the daemon and the worker then know test.echo is short.
void warm_up(const daemon_process& d, int count) {
  auto ids = submit_echo_batch(d, 900000, count);
  for (auto id : ids) BOOST_TEST_REQUIRE(wait_for_job(d, id).at("state").as_string() == "succeeded");
}

// Cancels a job; retries while the daemon answers job_busy (a result on its way). Returns the
// final HTTP status: 200 (cancelled) or 409 job_finished.
int cancel(const daemon_process& d, std::int64_t id) {
  http_reply r;
  const bool answered = eventually([&] {
    r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel");
    if (r.status == 409 && r.json().at("error").at("code").as_string() == "job_busy") return false;
    return true;
  }, 30s);
  BOOST_TEST_REQUIRE(answered, "job " << id << " stayed busy: " << r.body);
  BOOST_TEST_REQUIRE((r.status == 200 || r.status == 409), "cancel of job " << id << " answered " << r.status << ": " << r.body);
  if (r.status == 409) BOOST_TEST(r.json().at("error").at("code").as_string() == "job_finished", r.body);
  return r.status;
}

// cancel() for another thread: no Boost.Test calls, the caller checks the answer.
struct cancel_answer {
  int status = 0;
  std::string code, body;
};
cancel_answer cancel_quietly(const daemon_process& d, std::int64_t id) {
  cancel_answer a;
  eventually([&] {
    try {
      auto r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel");
      a.status = r.status;
      a.body = r.body;
      a.code.clear();
      if (r.status != 200) a.code = std::string(r.json().at("error").at("code").as_string());
      return a.code != "job_busy";
    } catch (const std::exception& e) {
      a.status = -1;
      a.body = e.what();
      return true;
    }
  }, 30s);
  return a;
}

// The ids among `ids` (first `limit`) that the daemon has sent to a worker and that have not ended.
std::vector<std::int64_t> held_by_workers(const daemon_process& d, const std::vector<std::int64_t>& ids,
                                          std::size_t limit) {
  std::vector<std::int64_t> held;
  for (std::size_t i = 0; i < std::min(limit, ids.size()); ++i) {
    const auto state = job_state(d, ids[i]);
    if (state == "running") held.push_back(ids[i]);
    else if (state == "queued") break;  // sent in id order: the rest are still in the daemon
  }
  return held;
}

// Follows the flow of jobs until all are terminal, sampling the daemon's view of busy slots.
struct flow_samples {
  int samples = 0;
  std::int64_t max_jobs_running = 0;  // stats: jobs sent to workers and not answered
  std::int64_t max_stats_slots_busy = 0;
  std::int64_t max_worker_slots_busy = 0;  // any one worker, /api/v1/workers
  bool worker_over_its_slots = false;
  std::string worst;
};

flow_samples sample_until_terminal(const daemon_process& d, std::chrono::milliseconds deadline) {
  flow_samples f;
  const bool done = eventually([&] {
    auto s = stats(d);
    auto workers = http(d.http_port(), "GET", "/api/v1/workers").json();
    ++f.samples;
    f.max_jobs_running = std::max(f.max_jobs_running, stat(s, "jobs_running"));
    f.max_stats_slots_busy = std::max(f.max_stats_slots_busy, stat(s, "slots_busy"));
    if (stat(s, "slots_busy") > stat(s, "slots_total")) f.worst = json::serialize(s);
    for (const auto& w : workers.at("workers").as_array()) {
      const auto busy = w.at("slots_busy").to_number<std::int64_t>();
      f.max_worker_slots_busy = std::max(f.max_worker_slots_busy, busy);
      if (busy > w.at("slots_total").to_number<std::int64_t>()) {
        f.worker_over_its_slots = true;
        f.worst = json::serialize(w);
      }
      for (const auto& [backend, n] : w.at("busy").as_object())
        if (n.to_number<std::int64_t>() > w.at("slots").at(backend).to_number<std::int64_t>()) {
          f.worker_over_its_slots = true;
          f.worst = json::serialize(w);
        }
    }
    return terminal_count(s) == stat(s, "jobs_submitted");
  }, deadline);
  BOOST_TEST_REQUIRE(done, "jobs still not terminal: " << stats_text(d));
  return f;
}

// test.sleep of 0 ms runs in microseconds: once the daemon and the workers have measured it,
// a long test.sleep counts as a short job. A worker running one is sent jobs ahead: the daemon
// sends them beyond its slots, the worker's supervisor sends them ahead to the runner busy with
// the sleep (up to its limit) and keeps the rest in its backlog. There they wait, for as long as
// the sleep lasts: the states these tests need, reached without racing anything.
void warm_up_sleep(const daemon_process& d, int count) {
  std::string batch = R"({"jobs":[)";
  for (int i = 0; i < count; ++i) batch += (i ? "," : "") + sleep_job(0);
  batch += "]}";
  auto r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/batch", batch);
  BOOST_TEST_REQUIRE(r.status == 202, r.body);
  const auto accepted = r.json();
  for (const auto& j : accepted.at("jobs").as_array())
    BOOST_TEST_REQUIRE(wait_for_job(d, j.at("id").as_int64()).at("state").as_string() == "succeeded");
}

// Jobs the workers have finished, as the daemon counts them when their results arrive (the
// stats' counters wait for the journal's commits, which lag behind a fast flow).
std::int64_t jobs_done_by_workers(const daemon_process& d) {
  std::int64_t done = 0;
  const auto workers = http(d.http_port(), "GET", "/api/v1/workers").json();
  for (const auto& w : workers.at("workers").as_array()) done += w.at("jobs_done").to_number<std::int64_t>();
  return done;
}

// Waits until the workers have finished `more` jobs beyond `done_before` (the flow is under
// way), then says whether the daemon still had jobs queued.
bool wait_for_flow(const daemon_process& d, std::int64_t done_before, std::int64_t more) {
  BOOST_TEST_REQUIRE(eventually([&] { return jobs_done_by_workers(d) >= done_before + more; }, 60s), stats_text(d));
  return stat(stats(d), "queue_depth") > 0;
}

// Two 2-slot workers and a flow of `count` echo jobs through both, under way: `holder` (started
// by the caller, with its own flags) runs a long sleep with short jobs held behind it, and
// `other_name` is started here. `mid_flow` says whether jobs were still queued when it returned.
struct held_flow {
  json::object before;  // the daemon's stats before the sleep
  std::int64_t sleeper = 0;
  std::unique_ptr<child_process> other;
  std::vector<std::int64_t> ids;
  bool mid_flow = false;
};

held_flow start_held_flow(const daemon_process& d, const child_process& holder, const std::string& other_name,
                          int count) {
  held_flow f;
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), holder.log());
  warm_up(d, 20);
  warm_up_sleep(d, 20);
  f.before = stats(d);
  // One runner of the holder sleeps with jobs ahead of it; its other runner joins the flow.
  f.sleeper = submit_ok(d, sleep_job(120000));
  BOOST_TEST_REQUIRE(eventually([&] { return job_state(d, f.sleeper) == "running"; }, 20s));
  f.other = start_worker(d, other_name, 2);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 2), f.other->log());
  const auto done_before = jobs_done_by_workers(d);
  f.ids = submit_echo_batch(d, 0, count);
  f.mid_flow = wait_for_flow(d, done_before, 300);
  return f;
}

}  // namespace

// A worker holding prefetched jobs (ahead in a busy runner, in its backlog, and flowing through
// its other runner) is killed: every job it held runs on the other worker, once, with the right
// output, and the daemon's gauges come back to zero.
BOOST_AUTO_TEST_CASE(short_jobs_survive_a_worker_killed_while_holding_prefetched_jobs) {
  daemon_process d;
  auto doomed = start_worker(d, "doomed", 2);
  const int count = 5000;
  auto [before, sleeper, survivor, ids, mid_flow] = start_held_flow(d, *doomed, "survivor", count);
  doomed->signal(SIGKILL);
  BOOST_TEST_REQUIRE(doomed->wait(10s).has_value());
  BOOST_TEST_MESSAGE("killed 'doomed' at " << stats_text(d));
  BOOST_WARN_MESSAGE(mid_flow, "the flow had ended before the kill: only the jobs held behind the sleep were lost");
  BOOST_TEST(job_state(d, sleeper) != "succeeded");

  BOOST_TEST_REQUIRE(wait_for_workers(d, 1, 30s), "the killed worker is still listed");
  // Every echo job ends; the sleep, run again on the survivor, is then cancelled.
  BOOST_TEST_REQUIRE(eventually([&] {
    auto s = stats(d);
    return terminal_count(s) == stat(s, "jobs_submitted") - 1;
  }, 120s), "jobs still not terminal: " << stats_text(d));
  const auto sleeper_job = get_job(d, sleeper);
  BOOST_TEST(sleeper_job.at("attempt").as_int64() == 2, json::serialize(sleeper_job));
  BOOST_TEST_REQUIRE(cancel(d, sleeper) == 200);
  wait_until_at_rest(d, 60s);

  const auto after = stats(d);
  BOOST_TEST(stat(after, "jobs_submitted") == stat(before, "jobs_submitted") + count + 1);
  BOOST_TEST(stat(after, "jobs_succeeded") == stat(before, "jobs_succeeded") + count, json::serialize(after));
  BOOST_TEST(stat(after, "jobs_failed") == 0);
  BOOST_TEST(stat(after, "jobs_cancelled") == 1);
  BOOST_TEST(stat(after, "workers") == 1);

  int requeued = 0;
  std::map<std::string, int> by_worker;
  for (int i = 0; i < count; ++i) {
    const auto job = get_job(d, ids[i]);
    check_echo_output(job, i);
    const auto attempt = job.at("attempt").as_int64();
    BOOST_TEST((attempt == 1 || attempt == 2), "job " << ids[i] << " attempt " << attempt);
    if (attempt == 2) {
      ++requeued;
      BOOST_TEST(job.at("worker").as_string() == "survivor", "job " << ids[i] << " ran again on " << job.at("worker"));
    }
    by_worker[std::string(job.at("worker").as_string())]++;
  }
  BOOST_TEST_MESSAGE("jobs per worker: doomed " << by_worker["doomed"] << ", survivor " << by_worker["survivor"]
                                                << "; ran again after the kill: " << requeued);
  // The jobs held behind the sleep, at least, ran again on the survivor.
  BOOST_TEST(requeued > 0);
  BOOST_TEST(by_worker["doomed"] > 0);

  // The survivor keeps working.
  const auto next = submit_ok(d, echo_job(4242));
  check_echo_output(wait_for_job(d, next), 4242);
  BOOST_TEST(survivor->running());
}

// Jobs waiting on a worker (ahead in its runner behind a long job, or in its backlog) are
// cancelled: each ends once as cancelled, the others succeed, the worker answers every cancel
// (so the daemon frees its place) and runs fresh jobs afterwards.
BOOST_AUTO_TEST_CASE(cancelling_jobs_that_wait_on_a_worker_ends_them_once_and_frees_the_worker) {
  daemon_process d({"--rate-limit", "0"});  // about 1,500 cancels in a burst, from one token
  auto worker = start_worker(d, "single", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const auto worker_id = worker_named(d, "single")->at("id");
  warm_up(d, 20);
  warm_up_sleep(d, 20);
  const auto before = stats(d);

  // The only runner sleeps; echo jobs are sent ahead to it and to the worker's backlog.
  const auto sleeper = submit_ok(d, sleep_job(120000));
  BOOST_TEST_REQUIRE(eventually([&] { return job_state(d, sleeper) == "running"; }, 20s));
  const int count = 2000;
  const auto ids = submit_echo_batch(d, 0, count);
  std::set<std::int64_t> cancelled;  // cancel answered 200
  for (int round = 0; round < 3; ++round) {
    std::vector<std::int64_t> held;
    // Sent to the worker while its only runner is busy: held there. A new round's jobs are
    // sent only once the worker answered the previous round's cancels.
    BOOST_TEST_REQUIRE(eventually([&] {
      held = held_by_workers(d, ids, 200);
      return !held.empty();
    }, 20s), "round " << round << ": no job was sent ahead to the busy worker: " << stats_text(d));
    BOOST_TEST(job_state(d, sleeper) == "running");
    BOOST_TEST_MESSAGE("round " << round << ": " << held.size() << " jobs wait on the worker");
    // The newest first: those wait in the worker's backlog, the oldest ahead in its runner
    // (which takes the next from the backlog as soon as one of its own is cancelled).
    if (round % 2 == 0) std::reverse(held.begin(), held.end());
    for (auto id : held) {
      BOOST_TEST(cancel(d, id) == 200, "job " << id);
      cancelled.insert(id);
    }
    const auto s = stats(d);
    BOOST_TEST(stat(s, "slots_busy") == 1, json::serialize(s));
  }
  // The worker's answers to those cancels made room for the next ones.
  BOOST_TEST_REQUIRE(eventually([&] { return !held_by_workers(d, ids, 200).empty(); }, 20s), stats_text(d));

  // Cancel everything from the 500th job on, in order, while the flow goes: when the flow
  // catches up with the cancels, they find the jobs it sent to the worker waiting there.
  std::vector<cancel_answer> sweep(count);
  std::thread sweeper([&] {
    for (int i = 500; i < count; ++i) sweep[i] = cancel_quietly(d, ids[i]);
  });
  const int sleeper_cancel = cancel(d, sleeper);
  sweeper.join();
  BOOST_TEST_REQUIRE(sleeper_cancel == 200);
  std::set<std::int64_t> finished_first;  // cancel answered 409 job_finished
  for (int i = 500; i < count; ++i) {
    BOOST_TEST_REQUIRE((sweep[i].status == 200 || (sweep[i].status == 409 && sweep[i].code == "job_finished")),
                       "cancel of job " << ids[i] << " answered " << sweep[i].status << ": " << sweep[i].body);
    if (sweep[i].status == 200) cancelled.insert(ids[i]);
    else finished_first.insert(ids[i]);
  }

  wait_until_at_rest(d, 120s);
  const auto s = stats(d);
  BOOST_TEST(stat(s, "jobs_failed") == 0, json::serialize(s));
  BOOST_TEST(stat(s, "jobs_submitted") == stat(before, "jobs_submitted") + 1 + count);
  BOOST_TEST(stat(s, "jobs_cancelled") == static_cast<std::int64_t>(cancelled.size()) + 1, json::serialize(s));
  BOOST_TEST(stat(s, "jobs_succeeded") + stat(s, "jobs_cancelled") == stat(s, "jobs_submitted"), json::serialize(s));

  int succeeded = 0, cancelled_after_dispatch = 0;
  for (int i = 0; i < count; ++i) {
    const auto job = get_job(d, ids[i]);
    if (cancelled.count(ids[i])) {
      BOOST_TEST(job.at("state").as_string() == "cancelled", "job " << ids[i] << ": " << json::serialize(job));
      if (!job.at("worker").is_null()) ++cancelled_after_dispatch;
    } else {
      check_echo_output(job, i);
      ++succeeded;
    }
  }
  BOOST_TEST(succeeded == count - static_cast<int>(cancelled.size()));
  BOOST_TEST_MESSAGE("cancelled " << cancelled.size() << " jobs, " << cancelled_after_dispatch
                                  << " of them after they were sent to the worker; " << finished_first.size()
                                  << " finished before their cancel");

  // Same registration, nothing held: a sleep (its task measured short, but no slot is free
  // unless the cancels were all answered) and an echo job.
  auto workers = http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array();
  BOOST_TEST_REQUIRE(workers.size() == 1u);
  BOOST_TEST(workers.at(0).at("id") == worker_id);
  BOOST_TEST(workers.at(0).at("slots_busy").to_number<int>() == 0);
  const auto fresh_sleep = submit_ok(d, sleep_job(10));
  BOOST_TEST(wait_for_job(d, fresh_sleep).at("state").as_string() == "succeeded");
  const auto fresh_echo = submit_ok(d, echo_job(4242));
  check_echo_output(wait_for_job(d, fresh_echo), 4242);
  BOOST_TEST(worker->running());
}

// SIGTERM while short jobs flow through a worker that also holds jobs ahead of a long one: it
// returns every job it has not started, they run on the other worker, nothing fails, and no
// job is counted as a lost attempt.
BOOST_AUTO_TEST_CASE(sigterm_returns_prefetched_jobs_and_they_run_elsewhere) {
  daemon_process d;
  // A grace period longer than any test: the sleep is still running when the echo jobs are done.
  auto leaving = start_worker(d, "leaving", 2, {"--grace-ms", "600000"});
  const int count = 5000;
  auto [before, sleeper, staying, ids, mid_flow] = start_held_flow(d, *leaving, "staying", count);
  leaving->signal(SIGTERM);
  BOOST_TEST_MESSAGE("SIGTERM to 'leaving' at " << stats_text(d));
  BOOST_WARN_MESSAGE(mid_flow, "the flow had ended before the SIGTERM: only the jobs held behind the sleep were returned");
  // Every echo job ends (the ones held by 'leaving' come back and run on 'staying')...
  BOOST_TEST_REQUIRE(eventually([&] {
    auto s = stats(d);
    return terminal_count(s) == stat(s, "jobs_submitted") - 1;
  }, 120s), "jobs still not terminal: " << stats_text(d));
  // ...while the sleep still runs in the worker's grace period. Cancelled, it lets it go.
  BOOST_TEST(job_state(d, sleeper) == "running");
  BOOST_TEST(get_job(d, sleeper).at("worker").as_string() == "leaving");
  BOOST_TEST_REQUIRE(cancel(d, sleeper) == 200);
  const auto status = leaving->wait(30s);
  BOOST_TEST_REQUIRE(status.has_value(), "the worker did not exit after SIGTERM:\n" << leaving->log());
  BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), "wait status " << *status);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1, 30s));

  wait_until_at_rest(d, 60s);
  const auto after = stats(d);
  BOOST_TEST(stat(after, "jobs_submitted") == stat(before, "jobs_submitted") + count + 1);
  BOOST_TEST(stat(after, "jobs_succeeded") == stat(before, "jobs_succeeded") + count, json::serialize(after));
  BOOST_TEST(stat(after, "jobs_failed") == 0);
  BOOST_TEST(stat(after, "jobs_cancelled") == 1);

  std::map<std::string, int> by_worker;
  for (int i = 0; i < count; ++i) {
    const auto job = get_job(d, ids[i]);
    check_echo_output(job, i);
    // A returned job is dispatched again without counting an attempt: attempt 2 would mean
    // the daemon still found it held when the worker left (never answered).
    BOOST_TEST(job.at("attempt").as_int64() == 1, "job " << ids[i] << ": " << json::serialize(job));
    by_worker[std::string(job.at("worker").as_string())]++;
  }
  BOOST_TEST_MESSAGE("jobs per worker: leaving " << by_worker["leaving"] << ", staying " << by_worker["staying"]);
  BOOST_TEST(by_worker["leaving"] > 0);
  BOOST_TEST(by_worker["staying"] > 0);
  const auto metrics = http(d.http_port(), "GET", "/metrics").body;
  BOOST_TEST(metrics.find("potluck_workers_lost_total 0") != std::string::npos);

  const auto next = submit_ok(d, echo_job(4242));
  check_echo_output(wait_for_job(d, next), 4242);
  BOOST_TEST(staying->running());
}

namespace {

// With prefetch off (on the worker or in the daemon), a busy worker is sent nothing ahead; once
// free, a batch of echo jobs completes with at most one job per slot in flight.
// With `prefetch_on` the jobs may go ahead once the long jobs are cancelled, and only the
// first part (nothing sent while every slot runs a long job) is checked.
void check_prefetch_off(std::vector<std::string> daemon_args, std::vector<std::string> worker_args,
                        bool prefetch_on = false) {
  daemon_process d(std::move(daemon_args));
  const int slots = 2;
  auto worker = start_worker(d, "plain", slots, std::move(worker_args));
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  warm_up(d, 20);

  std::vector<std::int64_t> sleepers;
  for (int i = 0; i < slots; ++i) sleepers.push_back(submit_ok(d, sleep_job(120000)));
  for (auto id : sleepers) BOOST_TEST_REQUIRE(eventually([&] { return job_state(d, id) == "running"; }, 20s));
  const int count = 2000;
  const auto ids = submit_echo_batch(d, 0, count);
  // Nothing is sent ahead: for a while, every echo job stays queued in the daemon.
  for (int look = 0; look < 20; ++look) {
    BOOST_TEST_REQUIRE(held_by_workers(d, ids, 20).empty(), "a job was sent to a worker with no free slot");
    const auto s = stats(d);
    BOOST_TEST_REQUIRE(stat(s, "jobs_running") == slots, json::serialize(s));
    eventually([] { return false; }, 20ms);
  }
  for (auto id : sleepers) BOOST_TEST_REQUIRE(cancel(d, id) == 200);

  const auto f = sample_until_terminal(d, 120s);
  BOOST_TEST_MESSAGE(f.samples << " samples: jobs in flight at most " << f.max_jobs_running << ", busy at most "
                               << f.max_worker_slots_busy);
  if (!prefetch_on) BOOST_TEST(f.max_jobs_running <= slots);
  BOOST_TEST(f.max_stats_slots_busy <= slots);
  BOOST_TEST(!f.worker_over_its_slots, f.worst);
  wait_until_at_rest(d, 30s);
  const auto s = stats(d);
  BOOST_TEST(stat(s, "jobs_failed") == 0);
  BOOST_TEST(stat(s, "jobs_cancelled") == slots);
  for (int i = 0; i < count; ++i) check_echo_output(get_job(d, ids[i]), i);
}

}  // namespace

BOOST_AUTO_TEST_CASE(worker_prefetch_zero_sends_one_job_per_slot) { check_prefetch_off({}, {"--prefetch", "0"}); }

BOOST_AUTO_TEST_CASE(daemon_prefetch_ms_zero_sends_one_job_per_slot) { check_prefetch_off({"--prefetch-ms", "0"}, {}); }

// Prefetch on, but every slot runs a job of a task not known to be short (test.sleep never
// measured here): jobs sent ahead would wait behind them, so none is sent.
BOOST_AUTO_TEST_CASE(nothing_is_sent_ahead_of_slots_that_all_run_long_jobs) { check_prefetch_off({}, {}, true); }

// With prefetch on, a worker holds more jobs than slots, but its busy slots never show more
// than it has.
BOOST_AUTO_TEST_CASE(busy_slots_are_capped_at_the_slots_while_prefetched_jobs_wait) {
  daemon_process d;
  const int slots = 2;
  auto worker = start_worker(d, "holder", slots);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  warm_up(d, 20);
  warm_up_sleep(d, 20);  // the sleeps below count as short: jobs go ahead of them

  std::vector<std::int64_t> sleepers;
  for (int i = 0; i < slots; ++i) sleepers.push_back(submit_ok(d, sleep_job(120000)));
  for (auto id : sleepers) BOOST_TEST_REQUIRE(eventually([&] { return job_state(d, id) == "running"; }, 20s));
  const int count = 2000;
  const auto ids = submit_echo_batch(d, 0, count);
  // Echo jobs are sent ahead to the busy worker: more in flight than slots, busy stays at slots.
  BOOST_TEST_REQUIRE(eventually([&] { return stat(stats(d), "jobs_running") > slots; }, 20s), stats_text(d));
  BOOST_TEST(!held_by_workers(d, ids, 200).empty());
  auto s = stats(d);
  BOOST_TEST(stat(s, "slots_busy") == slots, json::serialize(s));
  BOOST_TEST(stat(s, "slots_total") == slots, json::serialize(s));
  auto w = worker_named(d, "holder");
  BOOST_TEST_REQUIRE(w.has_value());
  BOOST_TEST(w->at("slots_busy").to_number<int>() == slots, json::serialize(*w));
  BOOST_TEST(w->at("busy").at("cpu").to_number<int>() == slots, json::serialize(*w));

  for (auto id : sleepers) BOOST_TEST_REQUIRE(cancel(d, id) == 200);
  const auto f = sample_until_terminal(d, 120s);
  BOOST_TEST_MESSAGE(f.samples << " samples: jobs in flight at most " << f.max_jobs_running << ", busy at most "
                               << f.max_worker_slots_busy);
  BOOST_TEST(f.max_stats_slots_busy <= slots);
  BOOST_TEST(f.max_worker_slots_busy <= slots);
  BOOST_TEST(!f.worker_over_its_slots, f.worst);
  wait_until_at_rest(d, 30s);
  s = stats(d);
  BOOST_TEST(stat(s, "jobs_failed") == 0);
  BOOST_TEST(stat(s, "jobs_succeeded") == 40 + count);  // with the 20 + 20 warm-up jobs
  for (int i = 0; i < count; ++i) check_echo_output(get_job(d, ids[i]), i);
}
