// Running jobs through plugin_host: the real testing plugin (built with plugin.hpp) for echo,
// fail, sleep, progress and cancellation, and the test-only misbehave plugin (plain C) for what
// the host does when a plugin breaks the rules. test.crash is not run here: it would kill the
// test; the worker's runner tests cover it.
#define BOOST_TEST_MODULE sdk_plugin_run
#include <boost/test/unit_test.hpp>

#include "sdk_test_support.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using potluck::worker::plugin_host;
using potluck::worker::run_outcome;
using potluck::worker::run_request;
using potluck::worker::run_status;
using potluck::worker::session;
using sdk_test::contains;
using sdk_test::make_input;
using sdk_test::output_values;

namespace {

struct hosts {
  plugin_host host;
  hosts() {
    host.load(sdk_test::real_plugin("testing"));
    host.load(sdk_test::test_plugin("misbehave"));
  }
  std::unique_ptr<session> open(const char* task) {
    const auto ref = host.find(task, "cpu");
    BOOST_TEST_REQUIRE(ref.has_value(), "no task " << task);
    return host.open_session(*ref, -1);
  }
  run_outcome run(const char* task, run_request request) { return open(task)->run(std::move(request)); }
  run_outcome run(const char* task, const std::string& params) {
    run_request request;
    request.params_json = params;
    return run(task, std::move(request));
  }
};

// Progress events as the host reported them, and a way to wait for the first one.
struct progress_log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<double, std::string>> events;

  std::function<void(double, std::string_view)> callback() {
    return [this](double fraction, std::string_view message) {
      std::lock_guard lock(mutex);
      events.emplace_back(fraction, std::string(message));
      changed.notify_all();
    };
  }
  bool wait_for_first(std::chrono::steady_clock::duration timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return !events.empty(); });
  }
};

std::string status_text(run_status s) {
  switch (s) {
    case run_status::succeeded: return "succeeded";
    case run_status::invalid_input: return "invalid_input";
    case run_status::cancelled: return "cancelled";
    case run_status::plugin_error: return "plugin_error";
  }
  return "?";
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(testing_plugin, hosts)

BOOST_AUTO_TEST_CASE(declares_its_four_tasks) {
  const auto& info = host.plugins().at(0);
  BOOST_TEST(info.name == "testing");
  BOOST_TEST_REQUIRE(info.tasks.size() == 4u);
  BOOST_TEST(info.tasks[0].name == "test.echo");
  BOOST_TEST(info.tasks[0].inputs.at(0).spec == "any[...]");
  BOOST_TEST(info.tasks[0].outputs.at(0).spec == "any[...]");
  BOOST_TEST(info.tasks[1].name == "test.sleep");
  BOOST_TEST(info.tasks[1].inputs.empty());
  BOOST_TEST_REQUIRE(info.tasks[1].outputs.size() == 1u);
  BOOST_TEST(info.tasks[1].outputs[0].name == "slept_ms");
  BOOST_TEST(info.tasks[1].outputs[0].spec == "i64[1]");
  BOOST_TEST(contains(info.tasks[1].params_schema, R"("maximum":3600000)"));
  BOOST_TEST(info.tasks[2].name == "test.fail");
  BOOST_TEST(info.tasks[3].name == "test.crash");
  for (const auto& t : info.tasks) BOOST_TEST(t.backend == "cpu");
}

BOOST_AUTO_TEST_CASE(echo_returns_the_same_dtype_shape_and_bytes) {
  auto s = open("test.echo");
  const std::vector<float> matrix = {1.5f, -2.0f, 3.25f, 0.0f, 1e30f, -1e-30f};
  const std::vector<std::int64_t> scalar = {-42};
  const std::vector<std::uint8_t> empty;
  struct echo_case {
    potluck::worker::input_tensor input;
    const void* bytes;
  };
  const std::vector<echo_case> cases = {
      {make_input("x", PLK_DTYPE_F32, {2, 3}, matrix), matrix.data()},
      {make_input("x", PLK_DTYPE_I64, {}, scalar), scalar.data()},
      {make_input("x", PLK_DTYPE_U8, {0, 4}, empty), nullptr},
  };
  for (const auto& c : cases) {
    run_request request;
    request.inputs.push_back(c.input);
    const auto outcome = s->run(std::move(request));
    BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
    BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
    const auto& out = outcome.outputs[0];
    BOOST_TEST(out.name == "x");
    BOOST_TEST(out.dtype == c.input.dtype);
    BOOST_TEST(out.shape == c.input.shape, boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(out.size_bytes == c.input.size_bytes);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(out.data.get()) % 16 == 0u);
    if (out.size_bytes) BOOST_TEST(std::memcmp(out.data.get(), c.bytes, out.size_bytes) == 0);
  }
}

BOOST_AUTO_TEST_CASE(echo_of_misaligned_input_is_exact) {
  // The caller's bytes start one past an aligned address; the plugin still gets aligned data.
  std::vector<std::byte> storage(1 + 5 * sizeof(double));
  std::vector<double> values = {1, 2, 3, 4, 5.5};
  std::memcpy(storage.data() + 1, values.data(), 5 * sizeof(double));
  potluck::worker::input_tensor in;
  in.name = "x";
  in.dtype = PLK_DTYPE_F64;
  in.shape = {5};
  in.data = storage.data() + 1;
  in.size_bytes = 5 * sizeof(double);
  run_request request;
  request.inputs.push_back(in);
  const auto outcome = run("test.echo", std::move(request));
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  BOOST_TEST(output_values<double>(outcome.outputs.at(0)) == values, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(echo_without_its_input_is_the_users_error) {
  const auto outcome = run("test.echo", "{}");
  BOOST_TEST((outcome.status == run_status::invalid_input), status_text(outcome.status));
  BOOST_TEST(outcome.plugin_status == PLK_ERR_INVALID_ARGUMENT);
  BOOST_TEST(outcome.message == "missing input 'x'");
}

BOOST_AUTO_TEST_CASE(inconsistent_inputs_are_refused_before_the_plugin_runs) {
  const std::vector<float> six(6, 1.0f);
  struct bad {
    potluck::worker::input_tensor input;
    std::string expected;
  };
  std::vector<bad> cases = {
      {make_input("x", PLK_DTYPE_F32, {2, 2}, six), "input 'x' of shape [2,2] holds 24 bytes, not 16"},
      {make_input("x", 99, {6}, six), "input 'x' has invalid dtype 99"},
      {make_input("x", PLK_DTYPE_F32, {-1, 6}, six), "input 'x'"},
      {make_input("", PLK_DTYPE_F32, {6}, six), "an input has no name"},
  };
  for (auto& c : cases) {
    run_request request;
    request.inputs.push_back(c.input);
    const auto outcome = run("test.echo", std::move(request));
    BOOST_TEST((outcome.status == run_status::invalid_input), status_text(outcome.status));
    BOOST_TEST(contains(outcome.message, c.expected), outcome.message);
  }
  run_request twice;
  twice.inputs.push_back(make_input("x", PLK_DTYPE_F32, {6}, six));
  twice.inputs.push_back(make_input("x", PLK_DTYPE_F32, {6}, six));
  const auto outcome = run("test.echo", std::move(twice));
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(outcome.message == "input 'x' is given twice");
}

BOOST_AUTO_TEST_CASE(fail_is_the_users_error_with_its_message) {
  auto outcome = run("test.fail", "{}");
  BOOST_TEST((outcome.status == run_status::invalid_input), status_text(outcome.status));
  BOOST_TEST(outcome.plugin_status == PLK_ERR_INVALID_ARGUMENT);
  BOOST_TEST(outcome.message == "test.fail: this task always fails");
  BOOST_TEST(outcome.outputs.empty());

  outcome = run("test.fail", R"({"message":"disk \"b\" is on fire"})");
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(outcome.message == "disk \"b\" is on fire");

  outcome = run("test.fail", R"({"message":3})");
  BOOST_TEST(outcome.message == "test.fail: parameter 'message' must be a string");
}

BOOST_AUTO_TEST_CASE(sleep_reports_progress_and_its_result) {
  progress_log progress;
  run_request request;
  request.params_json = R"({"ms":400})";
  request.on_progress = progress.callback();
  const auto start = std::chrono::steady_clock::now();
  const auto outcome = run("test.sleep", std::move(request));
  const auto elapsed = std::chrono::steady_clock::now() - start;

  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  BOOST_TEST(elapsed >= 400ms);
  BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
  BOOST_TEST(outcome.outputs[0].name == "slept_ms");
  BOOST_TEST(outcome.outputs[0].dtype == PLK_DTYPE_I64);
  BOOST_TEST(output_values<std::int64_t>(outcome.outputs[0]) == std::vector<std::int64_t>{400},
             boost::test_tools::per_element());

  std::lock_guard lock(progress.mutex);
  const auto& events = progress.events;
  BOOST_TEST_REQUIRE(events.size() >= 3u);  // start, at least one step (every 100 ms), end
  BOOST_TEST(events.front().first == 0.0);
  BOOST_TEST(events.back().first == 1.0);
  BOOST_TEST(events.back().second == "slept 400 ms");
  for (std::size_t i = 0; i < events.size(); ++i) {
    BOOST_TEST(events[i].first >= 0.0);
    BOOST_TEST(events[i].first <= 1.0);
    BOOST_TEST(!events[i].second.empty());
    if (i) BOOST_TEST(events[i].first >= events[i - 1].first);
  }
  BOOST_TEST(contains(events[1].second, "slept "), events[1].second);
  BOOST_TEST(contains(events[1].second, " of 400 ms"), events[1].second);
}

BOOST_AUTO_TEST_CASE(sleep_stops_promptly_when_cancelled_from_another_thread) {
  auto s = open("test.sleep");
  progress_log progress;
  std::atomic<bool> cancel{false};
  bool saw_progress = false;
  std::chrono::steady_clock::time_point cancelled_at;
  std::thread canceller([&] {
    saw_progress = progress.wait_for_first(30s);
    cancelled_at = std::chrono::steady_clock::now();
    cancel.store(true);
  });
  run_request request;
  request.params_json = R"({"ms":3600000})";
  request.cancel_flag = &cancel;
  request.on_progress = progress.callback();
  const auto outcome = s->run(std::move(request));
  const auto stopped_at = std::chrono::steady_clock::now();
  canceller.join();
  BOOST_TEST(saw_progress);
  BOOST_TEST((outcome.status == run_status::cancelled), status_text(outcome.status) << ": " << outcome.message);
  BOOST_TEST(outcome.plugin_status == PLK_ERR_CANCELLED);
  BOOST_TEST(outcome.outputs.empty());
  // It checks every 10 ms; a generous bound keeps a loaded machine from failing the test.
  BOOST_TEST((stopped_at - cancelled_at < 2s));
  // The session is free again and runs the next job.
  run_request next;
  next.params_json = R"({"ms":0})";
  BOOST_TEST((s->run(std::move(next)).status == run_status::succeeded));
}

BOOST_AUTO_TEST_CASE(sleep_cancelled_before_it_starts_returns_at_once) {
  std::atomic<bool> cancel{true};
  run_request request;
  request.params_json = R"({"ms":3600000})";
  request.cancel_flag = &cancel;
  const auto start = std::chrono::steady_clock::now();
  const auto outcome = run("test.sleep", std::move(request));
  BOOST_TEST((outcome.status == run_status::cancelled), status_text(outcome.status));
  BOOST_TEST((std::chrono::steady_clock::now() - start < 10s));
}

BOOST_AUTO_TEST_CASE(sleep_rejects_bad_parameters_naming_them) {
  auto outcome = run("test.sleep", R"({"ms":-5})");
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(outcome.message == "test.sleep: parameter 'ms' must be an integer from 0 to 3600000, got -5");
  outcome = run("test.sleep", R"({"ms":"soon"})");
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(contains(outcome.message, "parameter 'ms'"), outcome.message);
  outcome = run("test.sleep", R"({"seconds":1})");
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(outcome.message == "test.sleep: unknown parameter 'seconds' (it takes 'ms')");
  outcome = run("test.sleep", "[1,2]");
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(outcome.message == "test.sleep: parameters must be a JSON object");
}

BOOST_AUTO_TEST_CASE(one_session_runs_one_job_at_a_time) {
  auto s = open("test.sleep");
  progress_log progress;
  std::atomic<bool> cancel{false};
  run_outcome first;
  std::thread runner([&] {
    run_request request;
    request.params_json = R"({"ms":3600000})";
    request.cancel_flag = &cancel;
    request.on_progress = progress.callback();
    first = s->run(std::move(request));
  });
  const bool started = progress.wait_for_first(30s);
  BOOST_TEST(started);
  if (started) BOOST_CHECK_THROW(s->run(run_request{}), std::logic_error);
  cancel.store(true);
  runner.join();
  BOOST_TEST((first.status == run_status::cancelled));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(host_services, hosts)

BOOST_AUTO_TEST_CASE(returning_ok_without_a_declared_output_is_a_plugin_error) {
  const auto outcome = run("sdktest.no_output", "{}");
  BOOST_TEST((outcome.status == run_status::plugin_error), status_text(outcome.status));
  BOOST_TEST(outcome.plugin_status == PLK_OK);
  BOOST_TEST(outcome.message == "plugin 'sdktest_misbehave' task 'sdktest.no_output' returned without output 'y'");
  BOOST_TEST(outcome.outputs.empty());
}

BOOST_AUTO_TEST_CASE(allocating_an_output_twice_is_refused) {
  const auto outcome = run("sdktest.double_alloc", "{}");
  BOOST_TEST((outcome.status == run_status::plugin_error), status_text(outcome.status));
  BOOST_TEST(outcome.plugin_status == PLK_ERR_INTERNAL);
  BOOST_TEST(outcome.message ==
             "plugin 'sdktest_misbehave' task 'sdktest.double_alloc' failed with PLK_ERR_INTERNAL: second "
             "alloc_output of 'y' returned status 1 [host: output 'y' was already allocated]");
}

BOOST_AUTO_TEST_CASE(alloc_output_refuses_every_bad_argument) {
  const auto outcome = run("sdktest.alloc_checks", "{}");
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  BOOST_TEST_REQUIRE(outcome.outputs.size() == 2u);
  BOOST_TEST(outcome.outputs[0].name == "statuses");  // in declared order
  const std::vector<std::int32_t> expected = {
      PLK_ERR_INVALID_ARGUMENT,  // undeclared name
      PLK_ERR_INVALID_ARGUMENT,  // dtype 0
      PLK_ERR_INVALID_ARGUMENT,  // dtype 99
      PLK_ERR_INVALID_ARGUMENT,  // negative dimension
      PLK_ERR_INVALID_ARGUMENT,  // 2^80 elements
      PLK_ERR_INVALID_ARGUMENT,  // rank 17
      PLK_ERR_INVALID_ARGUMENT,  // f64 for an f32 output
      PLK_OK,                    // good: 16-aligned and zero-filled (else 100)
      PLK_ERR_INVALID_ARGUMENT,  // the same output again
  };
  BOOST_TEST(output_values<std::int32_t>(outcome.outputs[0]) == expected, boost::test_tools::per_element());
  const auto& y = outcome.outputs[1];
  BOOST_TEST(y.name == "y");
  BOOST_TEST(y.dtype == PLK_DTYPE_F32);
  BOOST_TEST(y.shape == std::vector<std::int64_t>({2, 3}), boost::test_tools::per_element());
  BOOST_TEST(output_values<float>(y) == std::vector<float>({0, 0, 0, 0, 0, 6.5f}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(get_input_hands_aligned_views_and_respects_struct_size) {
  std::vector<std::byte> storage(3 + 12);
  potluck::worker::input_tensor in;
  in.name = "x";
  in.dtype = PLK_DTYPE_I32;
  in.shape = {1, 3};
  in.data = storage.data() + 3;
  in.size_bytes = 12;
  run_request request;
  request.inputs.push_back(in);
  const auto outcome = run("sdktest.inspect", std::move(request));
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  const auto info = output_values<std::int64_t>(outcome.outputs.at(0));
  BOOST_TEST_REQUIRE(info.size() == 5u);
  BOOST_TEST(info[0] == 0);                  // aligned
  BOOST_TEST(info[1] == 2);                  // rank
  BOOST_TEST(info[2] == 12);                 // size_bytes
  BOOST_TEST(info[3] == PLK_ERR_NOT_FOUND);  // no such input
  BOOST_TEST(info[4] == PLK_OK);             // an 8-byte view got 8 bytes, no more
}

BOOST_AUTO_TEST_CASE(progress_is_clamped_and_logs_name_the_plugin) {
  sdk_test::log_capture log;
  progress_log progress;
  run_request request;
  request.on_progress = progress.callback();
  const auto outcome = run("sdktest.progress", std::move(request));
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  const std::vector<std::pair<double, std::string>> expected = {{0.0, "below"}, {1.0, "above"}, {0.0, ""}, {0.5, "half"}};
  BOOST_TEST_REQUIRE(progress.events.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST(progress.events[i].first == expected[i].first);
    BOOST_TEST(progress.events[i].second == expected[i].second);
  }
  const auto text = log.text();
  BOOST_TEST(contains(text, "debug plugin 'sdktest_misbehave': debug line"), text);
  BOOST_TEST(contains(text, "info plugin 'sdktest_misbehave': info line with a newline"), text);
  BOOST_TEST(contains(text, "warning plugin 'sdktest_misbehave': warn line"), text);
  BOOST_TEST(contains(text, "error plugin 'sdktest_misbehave': error line"), text);
  BOOST_TEST(contains(text, "info plugin 'sdktest_misbehave': odd level line"), text);
}

BOOST_AUTO_TEST_CASE(get_params_hands_the_params_text) {
  auto outcome = run("sdktest.params", R"({"a":[1,2],"b":"c"})");
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  auto text = output_values<char>(outcome.outputs.at(0));
  BOOST_TEST(std::string(text.begin(), text.end()) == R"({"a":[1,2],"b":"c"})");
  outcome = run("sdktest.params", "");
  text = output_values<char>(outcome.outputs.at(0));
  BOOST_TEST(std::string(text.begin(), text.end()) == "{}");
}

BOOST_AUTO_TEST_CASE(statuses_outside_the_set_and_silent_refusals_are_explained) {
  auto outcome = run("sdktest.odd_status", "{}");
  BOOST_TEST((outcome.status == run_status::plugin_error), status_text(outcome.status));
  BOOST_TEST(outcome.plugin_status == 42);
  BOOST_TEST(outcome.message ==
             "plugin 'sdktest_misbehave' task 'sdktest.odd_status' failed with status 42: odd things happened");
  outcome = run("sdktest.silent_invalid", "{}");
  BOOST_TEST((outcome.status == run_status::invalid_input), status_text(outcome.status));
  BOOST_TEST(outcome.message ==
             "plugin 'sdktest_misbehave' task 'sdktest.silent_invalid' refused the job's input without saying why");
}

BOOST_AUTO_TEST_CASE(a_failing_session_create_says_why) {
  const auto ref = host.find("sdktest.no_session", "cpu");
  BOOST_TEST_REQUIRE(ref.has_value());
  try {
    host.open_session(*ref, -1);
    BOOST_FAIL("open_session should have failed");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()) ==
               "plugin 'sdktest_misbehave' cannot open a session for task 'sdktest.no_session' on the CPU: "
               "PLK_ERR_UNSUPPORTED: no sdktest device 0: the test rig is unplugged");
  }
  BOOST_CHECK_THROW(host.open_session({7, 0}, -1), std::out_of_range);
  BOOST_CHECK_THROW(host.open_session({ref->plugin, 999}, -1), std::out_of_range);
}

BOOST_AUTO_TEST_SUITE_END()
