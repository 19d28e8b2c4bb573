// A plugin for the worker's tests only: stubborn.hang ignores cancellation (so the worker must
// enforce a cancel by killing the runner); stubborn.quick returns at once; stubborn.chatty
// reports progress thousands of times in half a second (the worker must coalesce it).
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

void chatty(potluck::job& job) {
  constexpr int reports = 5000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < reports; ++i) {
    job.progress(static_cast<double>(i) / reports, "chatting");
    std::this_thread::sleep_until(start + std::chrono::microseconds(100) * (i + 1));
  }
  job.output<std::int64_t>("done", {1})[0] = reports;
}

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("stubborn", "1.0.0")
                   .describe("Worker test plugin: a task that ignores cancel, a chatty one and a quick one")
                   .add(potluck::task("stubborn.hang", "cpu")
                            .describe("Runs for 60 s whatever the host says")
                            .output("done", "i64[1]", "1")
                            .run(hang))
                   .add(potluck::task("stubborn.chatty", "cpu")
                            .describe("Reports progress 5000 times in 0.5 s")
                            .output("done", "i64[1]", "the reports made")
                            .run(chatty))
                   .add(potluck::task("stubborn.quick", "cpu")
                            .describe("Returns at once")
                            .output("done", "i64[1]", "1")
                            .run(quick)));
