// End-to-end tests with real processes: potluckd, potluck-worker and its runners, the real
// plugins, SQLite on disk, ZeroMQ over loopback TCP, HTTP over loopback.
#define BOOST_TEST_MODULE integration_daemon
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <zmq.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>

namespace json = boost::json;
using namespace potluck::testing;

namespace {

const std::string matmul_job =
    R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","data":[[1,2,3],[4,5,6]]},)"
    R"("b":{"dtype":"f32","shape":[3,2],"data":[7,8,9,10,11,12]}}})";

std::int64_t submit_ok(const daemon_process& d, const std::string& job) {
  auto r = submit(d, job);
  BOOST_TEST_REQUIRE(r.status == 202, "submit answered " << r.status << ": " << r.body);
  return r.json().at("id").as_int64();
}

std::string sleep_job(int ms) { return R"({"task":"test.sleep","params":{"ms":)" + std::to_string(ms) + "}}"; }

std::string job_state(const daemon_process& d, std::int64_t id) {
  return std::string(http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json().at("state").as_string());
}

json::object get_job(const daemon_process& d, std::int64_t id) {
  return http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json().as_object();
}

std::string error_code(const http_reply& r) {
  return std::string(r.json().at("error").at("code").as_string());
}
std::string error_message(const http_reply& r) {
  return std::string(r.json().at("error").at("message").as_string());
}

std::vector<double> numbers(const json::value& tensor) {
  std::vector<double> out;
  for (const auto& v : tensor.at("data").as_array()) out.push_back(v.to_number<double>());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(matmul_end_to_end_through_http_zeromq_and_a_plugin) {
  daemon_process d;
  auto worker = start_worker(d, "alpha", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), "worker did not register:\n" << worker->log());

  auto workers = http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array();
  const auto& w = workers.at(0).as_object();
  BOOST_TEST(w.at("name").as_string() == "alpha");
  BOOST_TEST(w.at("devices").at("cpu").at("cores").to_number<int>() >= 1);
  std::set<std::string> plugins;
  for (const auto& p : w.at("plugins").as_array()) plugins.insert(std::string(p.at("name").as_string()));
  BOOST_TEST(plugins.count("blas") == 1);
  BOOST_TEST(plugins.count("testing") == 1);

  auto tasks = http(d.http_port(), "GET", "/api/v1/tasks").json().at("tasks").as_array();
  bool found = false;
  for (const auto& t : tasks) {
    if (t.at("name").as_string() != "linalg.matmul") continue;
    found = true;
    BOOST_TEST(t.at("inputs").at(0).at("spec").as_string() == "f32[m,k]");
    BOOST_TEST(t.at("cost").as_string() == "2*m*n*k");
    BOOST_TEST(t.at("workers").to_number<int>() == 1);
  }
  BOOST_TEST(found);

  const auto id = submit_ok(d, matmul_job);
  std::vector<std::string> states;
  read_events(d.http_port(), "/api/v1/jobs/" + std::to_string(id) + "/events", 30s,
              [&](const std::string& event, const std::string& data) {
                auto v = json::parse(data);
                states.emplace_back(v.at("state").as_string());
                return event == "job" && (states.back() == "succeeded" || states.back() == "failed");
              });
  BOOST_TEST_REQUIRE(!states.empty());
  BOOST_TEST(states.back() == "succeeded");

  auto job = get_job(d, id);
  BOOST_TEST(job.at("state").as_string() == "succeeded");
  BOOST_TEST(job.at("worker").as_string() == "alpha");
  BOOST_TEST(job.at("attempt").as_int64() == 1);
  BOOST_TEST(!job.at("created_at").as_string().empty());
  BOOST_TEST(!job.at("finished_at").as_string().empty());
  const auto& c = job.at("result").at("outputs").at("c");
  BOOST_TEST(c.at("shape").at(0).as_int64() == 2);
  BOOST_TEST(c.at("shape").at(1).as_int64() == 2);
  const std::vector<double> expected = {58, 64, 139, 154};
  BOOST_TEST(numbers(c) == expected, boost::test_tools::per_element());

  auto stats = http(d.http_port(), "GET", "/api/v1/stats").json();
  BOOST_TEST(stats.at("jobs_succeeded").to_number<int>() == 1);
  BOOST_TEST(stats.at("workers").to_number<int>() == 1);
  BOOST_TEST(stats.at("slots_total").to_number<int>() == 1);
  auto metrics = http(d.http_port(), "GET", "/metrics").body;
  BOOST_TEST(metrics.find("potluck_jobs_total{state=\"succeeded\"} 1") != std::string::npos);
  BOOST_TEST(metrics.find("potluck_dispatch_latency_seconds_bucket") != std::string::npos);
  BOOST_TEST(metrics.find("potluck_workers_connected 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_requests_get_clear_4xx_and_the_daemon_keeps_serving) {
  daemon_process d({"--max-body-bytes", "65536"});
  // Before any worker: the task is unknown, and the message says why.
  auto r = submit(d, matmul_job);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_code(r) == "unknown_task");
  BOOST_TEST(error_message(r).find("no worker") != std::string::npos);

  auto worker = start_worker(d, "beta", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());

  r = submit(d, R"({"task": "linalg.matmul", "inputs": )");
  BOOST_TEST(r.status == 400);
  BOOST_TEST(error_code(r) == "invalid_json");

  r = submit(d, R"({"task":"linalg.nope","inputs":{}})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_message(r).find("linalg.nope") != std::string::npos);

  r = submit(d, R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","data":[[1,2,3],[4,5,6]]},)"
                R"("b":{"dtype":"f32","data":[[1,2],[3,4],[5,6],[7,8]]}}})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_code(r) == "invalid_input");
  BOOST_TEST(error_message(r).find("'b'") != std::string::npos, error_message(r));
  BOOST_TEST(error_message(r).find("'k' is 3") != std::string::npos, error_message(r));

  r = submit(d, R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"i32","data":[[1]]},"b":{"dtype":"f32","data":[[1]]}}})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_message(r).find("must be f32") != std::string::npos, error_message(r));

  r = submit(d, R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","shape":[2,2],"data":[1,2,3]},"b":{"dtype":"f32","data":[[1]]}}})");
  BOOST_TEST(r.status == 400);
  BOOST_TEST(error_message(r).find("needs 4") != std::string::npos, error_message(r));

  r = submit(d, R"({"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","data":[[1,2],[3]]},"b":{"dtype":"f32","data":[[1]]}}})");
  BOOST_TEST(r.status == 400);
  BOOST_TEST(error_message(r).find("ragged") != std::string::npos, error_message(r));

  r = submit(d, R"({"task":"test.sleep","params":{"ms":-5}})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_code(r) == "invalid_params");

  r = submit(d, R"({"task":"test.sleep","params":{"seconds":1}})");
  BOOST_TEST(r.status == 422);
  BOOST_TEST(error_message(r).find("seconds") != std::string::npos, error_message(r));

  r = submit(d, R"({"task":"linalg.matmul","backend":"tpu"})");
  BOOST_TEST(r.status == 400);

  r = submit(d, std::string(70000, ' ') + "{}");
  BOOST_TEST(r.status == 413);

  r = http(d.http_port(), "GET", "/api/v1/jobs/987654");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(error_code(r) == "job_not_found");
  r = http(d.http_port(), "GET", "/api/v1/jobs/abc");
  BOOST_TEST(r.status == 400);
  r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/987654/cancel");
  BOOST_TEST(r.status == 404);
  r = http(d.http_port(), "GET", "/api/v1/nothing-here");
  BOOST_TEST(r.status == 404);
  r = http(d.http_port(), "DELETE", "/api/v1/jobs");
  BOOST_TEST(r.status == 405);

  BOOST_TEST(http(d.http_port(), "GET", "/healthz").status == 200);
  const auto id = submit_ok(d, matmul_job);
  BOOST_TEST(wait_for_job(d, id).at("state").as_string() == "succeeded");
  r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel");
  BOOST_TEST(r.status == 409);
  BOOST_TEST(d.process().running());
}

BOOST_AUTO_TEST_CASE(a_job_error_from_the_plugin_reaches_the_user) {
  daemon_process d;
  auto worker = start_worker(d, "gamma", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const auto id = submit_ok(d, R"({"task":"test.fail"})");
  auto job = wait_for_job(d, id);
  BOOST_TEST(job.at("state").as_string() == "failed");
  BOOST_TEST(job.at("error").at("code").as_string() == "invalid_input");
  BOOST_TEST(std::string(job.at("error").at("message").as_string()).find("test.fail") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(plugin_crash_fails_only_its_job_and_the_worker_runs_the_next) {
  daemon_process d;
  auto worker = start_worker(d, "delta", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const auto worker_id = http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").at(0).at("id");

  const auto crash = submit_ok(d, R"({"task":"test.crash"})");
  auto job = wait_for_job(d, crash);
  BOOST_TEST(job.at("state").as_string() == "failed");
  BOOST_TEST(job.at("error").at("code").as_string() == "plugin_crashed");
  const std::string message(job.at("error").at("message").as_string());
  BOOST_TEST(message.find("testing") != std::string::npos, message);
  BOOST_TEST(message.find("SIGSEGV") != std::string::npos, message);

  // Same worker registration, and it runs the next job.
  auto workers = http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array();
  BOOST_TEST_REQUIRE(workers.size() == 1u);
  BOOST_TEST(workers.at(0).at("id") == worker_id);
  const auto next = submit_ok(d, matmul_job);
  BOOST_TEST(wait_for_job(d, next).at("state").as_string() == "succeeded");
  BOOST_TEST(worker->running());
}

BOOST_AUTO_TEST_CASE(a_worker_killed_mid_job_has_its_job_finished_by_another) {
  daemon_process d;
  auto first = start_worker(d, "first", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), first->log());
  const auto id = submit_ok(d, sleep_job(1500));
  BOOST_TEST_REQUIRE(eventually([&] { return job_state(d, id) == "running"; }, 20s));
  BOOST_TEST(get_job(d, id).at("worker").as_string() == "first");

  auto second = start_worker(d, "second", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 2), second->log());
  first->signal(SIGKILL);
  first->wait(10s);

  auto job = wait_for_job(d, id, 60s);
  BOOST_TEST(job.at("state").as_string() == "succeeded");
  BOOST_TEST(job.at("worker").as_string() == "second");
  BOOST_TEST(job.at("attempt").as_int64() == 2);
  auto metrics = http(d.http_port(), "GET", "/metrics").body;
  BOOST_TEST(metrics.find("potluck_workers_lost_total 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(jobs_accepted_before_a_daemon_kill_all_complete_once) {
  daemon_process d;
  auto worker = start_worker(d, "epsilon", 2);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());

  std::string batch = R"({"jobs":[)";
  const int count = 40;
  for (int i = 0; i < count; ++i) batch += std::string(i ? "," : "") + sleep_job(30);
  batch += "]}";
  auto r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/batch", batch);
  BOOST_TEST_REQUIRE(r.status == 202, r.body);
  std::vector<std::int64_t> ids;
  const auto accepted = r.json();
  for (const auto& j : accepted.at("jobs").as_array()) ids.push_back(j.at("id").as_int64());
  BOOST_TEST_REQUIRE(ids.size() == static_cast<std::size_t>(count));

  d.kill9();  // right after the 202: some jobs queued, some running, some done
  d.start();
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1, 30s), worker->log());

  for (auto id : ids) {
    auto job = wait_for_job(d, id, 60s);
    BOOST_TEST(job.at("state").as_string() == "succeeded", "job " << id << " is " << job.at("state"));
    BOOST_TEST(job.at("attempt").as_int64() <= 2);
  }
  // Every job is listed once, as succeeded.
  auto list = http(d.http_port(), "GET", "/api/v1/jobs?state=succeeded&limit=1000").json().at("jobs").as_array();
  std::multiset<std::int64_t> listed;
  for (const auto& j : list) listed.insert(j.at("id").as_int64());
  for (auto id : ids) BOOST_TEST(listed.count(id) == 1u);
}

BOOST_AUTO_TEST_CASE(queued_jobs_survive_a_restart_without_workers) {
  daemon_process d;
  auto w = start_worker(d, "zeta", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), w->log());
  w->signal(SIGTERM);
  BOOST_TEST_REQUIRE(w->wait(20s).has_value());
  BOOST_TEST_REQUIRE(wait_for_workers(d, 0));
  // The task stays known after its worker left: the job waits in the queue.
  const auto id = submit_ok(d, matmul_job);
  BOOST_TEST(job_state(d, id) == "queued");
  d.restart();
  auto again = start_worker(d, "zeta2", 1);
  auto job = wait_for_job(d, id, 30s);
  BOOST_TEST(job.at("state").as_string() == "succeeded");
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_running_job_and_frees_its_slot) {
  daemon_process d;
  auto worker = start_worker(d, "eta", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const auto id = submit_ok(d, sleep_job(60000));
  BOOST_TEST_REQUIRE(eventually([&] { return job_state(d, id) == "running"; }, 20s));
  auto r = http_as(d.admin_token(), d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel");
  BOOST_TEST(r.status == 200, r.body);
  auto job = get_job(d, id);
  BOOST_TEST(job.at("state").as_string() == "cancelled");
  BOOST_TEST(job.at("error").at("code").as_string() == "cancelled");
  // The only slot was busy with the sleep: the next job runs only once the worker stopped it.
  const auto next = submit_ok(d, matmul_job);
  BOOST_TEST(wait_for_job(d, next, 20s).at("state").as_string() == "succeeded");
}

BOOST_AUTO_TEST_CASE(events_stream_progress_until_the_end) {
  daemon_process d;
  auto worker = start_worker(d, "theta", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const auto id = submit_ok(d, sleep_job(800));
  int progress_events = 0;
  std::string last_state;
  read_events(d.http_port(), "/api/v1/jobs/" + std::to_string(id) + "/events", 30s,
              [&](const std::string& event, const std::string& data) {
                auto v = json::parse(data);
                last_state = std::string(v.at("state").as_string());
                if (event == "progress") {
                  const auto f = v.at("progress").to_number<double>();
                  BOOST_TEST((f >= 0.0 && f <= 1.0));
                  ++progress_events;
                }
                return last_state == "succeeded" || last_state == "failed";
              });
  BOOST_TEST(progress_events >= 1);
  BOOST_TEST(last_state == "succeeded");
}

BOOST_AUTO_TEST_CASE(garbage_on_the_worker_socket_is_dropped_and_counted) {
  daemon_process d;
  auto worker = start_worker(d, "iota", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  {
    zmq::context_t ctx;
    zmq::socket_t peer(ctx, zmq::socket_type::dealer);
    peer.set(zmq::sockopt::linger, 0);
    peer.connect(d.workers_endpoint());
    auto send = [&](std::vector<std::string> frames) {
      for (std::size_t i = 0; i < frames.size(); ++i)
        peer.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    };
    send({"hello?"});
    send({"PLK9", std::string(1, '\x01'), "{}"});
    send({"PLK1", std::string(1, '\x7f'), "{}"});
    send({"PLK1", std::string(1, '\x01'), "not json"});
    send({"PLK1", std::string(1, '\x01'), R"({"name":"","slots":[]})"});  // valid frames, invalid hello
    send({"PLK1", std::string(1, '\x06'), R"({"job_id":1})"});            // a result from a stranger
    // The invalid hello is answered with a disconnect naming the problem.
    zmq::pollitem_t item{peer.handle(), 0, ZMQ_POLLIN, 0};
    bool answered = false;
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!answered && std::chrono::steady_clock::now() < end) {
      zmq::poll(&item, 1, std::chrono::milliseconds(500));
      zmq::message_t part;
      while (peer.recv(part, zmq::recv_flags::dontwait)) {
        if (part.to_string().find("hello refused") != std::string::npos) answered = true;
      }
    }
    BOOST_TEST(answered);
  }
  {
    // Not even ZMTP: a raw TCP peer writing junk.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const auto endpoint = d.workers_endpoint();
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
    BOOST_TEST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string junk(4096, '\xff');
    [[maybe_unused]] auto n = ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  BOOST_TEST(eventually([&] {
    auto m = http(d.http_port(), "GET", "/metrics").body;
    const auto at = m.find("\npotluck_wire_bad_messages_total ");
    return at != std::string::npos && std::stoi(m.substr(at + 33)) >= 4;
  }, 10s));
  BOOST_TEST(http(d.http_port(), "GET", "/healthz").status == 200);
  const auto id = submit_ok(d, matmul_job);
  BOOST_TEST(wait_for_job(d, id).at("state").as_string() == "succeeded");
  BOOST_TEST(d.process().running());
}

namespace {

// Connects a DEALER to the daemon's worker socket (with CurveZMQ when `server_key` is set) and
// reports which handshake event its monitor sees first: "succeeded" or "failed".
std::string handshake_outcome(const daemon_process& d, const std::string& server_key) {
  zmq::context_t ctx;
  zmq::socket_t peer(ctx, zmq::socket_type::dealer);
  peer.set(zmq::sockopt::linger, 0);
  if (!server_key.empty()) {
    char pub[41] = {}, sec[41] = {};
    BOOST_TEST_REQUIRE(zmq_curve_keypair(pub, sec) == 0);
    peer.set(zmq::sockopt::curve_serverkey, server_key);
    peer.set(zmq::sockopt::curve_publickey, std::string(pub));
    peer.set(zmq::sockopt::curve_secretkey, std::string(sec));
  }
  const std::string monitor_endpoint = "inproc://handshake-monitor";
  BOOST_TEST_REQUIRE(zmq_socket_monitor(peer.handle(), monitor_endpoint.c_str(),
                                        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                            ZMQ_EVENT_DISCONNECTED) == 0);
  zmq::socket_t monitor(ctx, zmq::socket_type::pair);
  monitor.connect(monitor_endpoint);
  peer.connect(d.workers_endpoint());
  // The plain peer's hello is what a daemon without encryption would answer.
  peer.send(zmq::str_buffer("PLK1"), zmq::send_flags::sndmore);
  peer.send(zmq::buffer(std::string(1, '\x01')), zmq::send_flags::sndmore);
  peer.send(zmq::str_buffer(R"({"name":"probe","slots":[{"backend":"cpu"}]})"), zmq::send_flags::none);
  zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < end) {
    zmq::poll(&item, 1, std::chrono::milliseconds(200));
    zmq::message_t event, address;
    if (!monitor.recv(event, zmq::recv_flags::dontwait)) continue;
    (void)monitor.recv(address);
    std::uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) return "succeeded";
    return "failed";
  }
  return "nothing";
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_encrypted_worker_link_takes_only_peers_with_the_daemons_key) {
  daemon_process d({"--encrypt-workers", "on"});
  std::string key;
  std::ifstream(d.data_dir() / "worker-link.pub") >> key;
  BOOST_TEST_REQUIRE(key.size() == 40u);
  BOOST_TEST(d.process().log().find(key) != std::string::npos, "the daemon prints its public key");
  const auto health = http(d.http_port(), "GET", "/healthz").json();
  BOOST_TEST(health.at("worker_link").at("encrypted").as_bool());
  BOOST_TEST(health.at("worker_link").at("server_key").as_string() == key);
  // A plain peer, and one that expects another daemon's key, never get through the handshake.
  BOOST_TEST(handshake_outcome(d, "") == "failed");
  char other_public[41] = {}, other_secret[41] = {};
  BOOST_TEST_REQUIRE(zmq_curve_keypair(other_public, other_secret) == 0);
  BOOST_TEST(handshake_outcome(d, other_public) != "succeeded");
  BOOST_TEST(handshake_outcome(d, key) == "succeeded");

  // A worker given the key registers and runs a job; the key survives a restart.
  auto worker = start_worker(d, "sealed", 1, {"--server-key-file", (d.data_dir() / "worker-link.pub").string()});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  const auto id = submit_ok(d, matmul_job);
  BOOST_TEST(wait_for_job(d, id).at("state").as_string() == "succeeded");
  d.restart();
  std::string again;
  std::ifstream(d.data_dir() / "worker-link.pub") >> again;
  BOOST_TEST(again == key);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());

  // A bad key on the worker's command line is refused before it starts.
  auto bad = start_worker(d, "bad-key", 1, {"--server-key", "not-a-key"});
  const auto status = bad->wait(10s);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(WEXITSTATUS(*status) == 2);
  BOOST_TEST(bad->log().find("40 characters") != std::string::npos, bad->log());
}
