// A plugin for the worker's tests only: stubborn.hang ignores cancellation (so the worker must
// enforce a cancel by killing the runner); stubborn.quick returns at once.
#include <potluck/plugin.hpp>

#include <chrono>
#include <thread>

namespace {

void hang(potluck::job& job) {
  job.progress(0.0, "hanging for 60 s, deaf to cancel");
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  job.output<std::int64_t>("done", {1})[0] = 1;
}

void quick(potluck::job& job) { job.output<std::int64_t>("done", {1})[0] = 1; }

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("stubborn", "1.0.0")
                   .describe("Worker test plugin: a task that ignores cancel, and a quick one")
                   .add(potluck::task("stubborn.hang", "cpu")
                            .describe("Runs for 60 s whatever the host says")
                            .output("done", "i64[1]", "1")
                            .run(hang))
                   .add(potluck::task("stubborn.quick", "cpu")
                            .describe("Returns at once")
                            .output("done", "i64[1]", "1")
                            .run(quick)));
