// The testing plugin: tasks with no maths in them, for testing workers, runners and the daemon.
//
//   test.echo   input x: any[...]  -> output x: any[...], same dtype, shape and bytes.
//   test.sleep  params {"ms": 0..3600000} (default 1000) -> output slept_ms: i64[1] holding the
//               milliseconds slept. Sleeps in 10 ms steps, reports progress with a message at
//               most every 100 ms, and stops within one step once cancelled.
//   test.fail   params {"message": string} -> always fails as the user's fault (a job error)
//               with that message, or "test.fail: this task always fails".
//   test.crash  raises SIGSEGV on purpose: the runner dies, the worker must survive and say so.
//
// Threads: none of its own. Every task is stateless, so sessions share nothing.
#include <potluck/plugin.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

namespace json = boost::json;

// The daemon checks parameters against the schema, but a plugin may be driven by any host, so
// it checks them again. Returns the parameters object or throws job_error.
json::object params_object(const potluck::job& job, std::string_view task) {
  boost::system::error_code ec;
  json::value v = json::parse(job.params(), ec);
  if (ec || !v.is_object())
    throw potluck::job_error(std::string(task) + ": parameters must be a JSON object");
  return std::move(v.as_object());
}

void reject_unknown(const json::object& params, std::string_view task, std::string_view known) {
  for (const auto& kv : params)
    if (kv.key() != known)
      throw potluck::job_error(std::string(task) + ": unknown parameter '" + std::string(kv.key()) +
                               "' (it takes '" + std::string(known) + "')");
}

void echo(potluck::job& job) {
  const auto x = job.input("x");
  auto out = job.output_bytes("x", x.dtype(), x.shape());
  if (x.size_bytes() != out.size())
    throw std::runtime_error("input 'x' holds " + std::to_string(x.size_bytes()) + " bytes, not " +
                             std::to_string(out.size()));
  if (!out.empty()) std::memcpy(out.data(), x.data(), out.size());
}

constexpr std::int64_t max_sleep_ms = 3'600'000;
constexpr std::int64_t default_sleep_ms = 1000;

void sleep_task(potluck::job& job) {
  using clock = std::chrono::steady_clock;
  constexpr auto step = std::chrono::milliseconds(10);
  constexpr auto report_every = std::chrono::milliseconds(100);

  const auto params = params_object(job, "test.sleep");
  reject_unknown(params, "test.sleep", "ms");
  std::int64_t ms = default_sleep_ms;
  if (const auto* v = params.if_contains("ms")) {
    const auto* n = v->if_int64();
    if (!n || *n < 0 || *n > max_sleep_ms)
      throw potluck::job_error("test.sleep: parameter 'ms' must be an integer from 0 to " +
                               std::to_string(max_sleep_ms) + ", got " + json::serialize(*v));
    ms = *n;
  }

  const std::string total = std::to_string(ms) + " ms";
  const auto start = clock::now();
  const auto end = start + std::chrono::milliseconds(ms);
  auto next_report = start + report_every;
  job.progress(0.0, ("sleeping " + total).c_str());
  for (;;) {
    job.throw_if_cancelled();
    const auto now = clock::now();
    if (now >= end) break;
    if (now >= next_report) {
      const auto slept = std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count();
      job.progress(static_cast<double>(slept) / static_cast<double>(ms),
                   ("slept " + std::to_string(slept) + " of " + total).c_str());
      next_report = now + report_every;
    }
    std::this_thread::sleep_until(std::min(now + step, end));
  }
  job.output<std::int64_t>("slept_ms", {1})[0] = ms;
  job.progress(1.0, ("slept " + total).c_str());
}

void fail(potluck::job& job) {
  const auto params = params_object(job, "test.fail");
  reject_unknown(params, "test.fail", "message");
  std::string message = "test.fail: this task always fails";
  if (const auto* v = params.if_contains("message")) {
    if (!v->is_string()) throw potluck::job_error("test.fail: parameter 'message' must be a string");
    message = std::string(v->get_string());
  }
  throw potluck::job_error(message);
}

void crash(potluck::job& job) {
  job.log(PLK_LOG_WARN, "test.crash: raising SIGSEGV on purpose");
  std::raise(SIGSEGV);
  // Only reached when the host handles SIGSEGV and returns: still do not come back alive.
  std::abort();
}

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("testing", "1.0.0")
                   .describe("Tasks for testing Potluck itself: echo, sleep, fail, crash")
                   .add(potluck::task("test.echo", "cpu")
                            .describe("Returns its input unchanged")
                            .input("x", "any[...]", "any tensor")
                            .output("x", "any[...]", "the same tensor")
                            .run(echo))
                   .add(potluck::task("test.sleep", "cpu")
                            .describe("Sleeps for 'ms' milliseconds (default 1000), reporting progress; "
                                      "honours cancellation within 10 ms")
                            .params(R"({"type":"object","properties":{"ms":{"type":"integer",)"
                                    R"("minimum":0,"maximum":3600000}},"additionalProperties":false})")
                            .output("slept_ms", "i64[1]", "the milliseconds slept")
                            .run(sleep_task))
                   .add(potluck::task("test.fail", "cpu")
                            .describe("Always fails as a job error, with 'message' if given")
                            .params(R"({"type":"object","properties":{"message":{"type":"string"}},)"
                                    R"("additionalProperties":false})")
                            .run(fail))
                   .add(potluck::task("test.crash", "cpu")
                            .describe("Crashes its runner with SIGSEGV, on purpose")
                            .run(crash)));
