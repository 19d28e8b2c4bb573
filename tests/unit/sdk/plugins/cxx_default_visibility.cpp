// A test-only plugin written with plugin.hpp but built WITHOUT -fvisibility=hidden, as an author
// might with a hand-written build: it must still load next to other plugin.hpp plugins, run,
// and unload when the host goes away (nothing in plugin.hpp may become a process-wide
// STB_GNU_UNIQUE symbol, which would share state between plugins and pin the library).
#include <potluck/plugin.hpp>

namespace {

void negate(potluck::job& job) {
  const auto x = job.input("x").as<std::int32_t>();
  auto y = job.output<std::int32_t>("y", {static_cast<std::int64_t>(x.size())});
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = -x[i];
}

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("sdktest_cxx", "0.0.1")
                   .add(potluck::task("sdktest.negate", "cpu")
                            .input("x", "i32[n]")
                            .output("y", "i32[n]")
                            .cost("n")
                            .run(negate)));
