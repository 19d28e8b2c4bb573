// example.scale: y = factor · x, for an f32 tensor of any shape. The smallest useful Potluck
// plugin; read it top to bottom with sdk/README.md at hand.
#include <potluck/plugin.hpp>  // the C++ wrapper; it includes the C ABI, potluck/plugin.h

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

namespace {

// The job's parameters arrive as JSON text, e.g. {"factor": 2.5}. The daemon has checked them
// against the schema declared below, so they are an object whose one key is "factor", holding a
// number; this reads just that, with no JSON library. (A plugin that needs more of JSON links a
// JSON library of its choice; a plugin depends on nothing of Potluck but the SDK.)
double read_factor(std::string_view params) {
  const auto key = params.find("\"factor\"");
  const auto colon = key == std::string_view::npos ? key : params.find(':', key);
  if (colon == std::string_view::npos) throw potluck::job_error("parameter 'factor' is required");
  auto first = params.data() + colon + 1;
  const auto last = params.data() + params.size();
  while (first != last && (*first == ' ' || *first == '\t' || *first == '\n' || *first == '\r')) ++first;
  double factor = 0;
  const auto [end, error] = std::from_chars(first, last, factor);  // locale-independent
  if (error != std::errc() || end == first) throw potluck::job_error("parameter 'factor' must be a number");
  return factor;
}

// One job. Throwing potluck::job_error fails the job as the user's fault, with that message;
// any other exception means the plugin is broken. Neither ever crosses into the worker.
void scale(potluck::job& job) {
  const double factor = read_factor(job.params());
  const auto x = job.input("x");
  const auto in = x.as<float>();                  // job_error if x is not f32
  auto out = job.output<float>("y", x.shape());   // host memory, zero-filled, same shape as x
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (i % 65536 == 0) job.throw_if_cancelled();  // stop soon when the user cancels
    out[i] = static_cast<float>(in[i] * factor);
  }
}

}  // namespace

// The plugin: its name, its version and its tasks. The declaration is data the daemon reads
// without running any of this code: it checks jobs' inputs against the specs and their
// parameters against the schema, and prices each job with the cost expression (none here: 1).
POTLUCK_PLUGIN(potluck::plugin_def("example", "1.0.0")
                   .describe("An example: scales a tensor")
                   .add(potluck::task("example.scale", "cpu")
                            .describe("y = factor * x, for an f32 tensor of any shape")
                            .input("x", "f32[...]", "the tensor to scale")
                            .output("y", "f32[...]", "x times factor, same shape")
                            .params(R"({"type":"object","properties":{"factor":{"type":"number"}},)"
                                    R"("required":["factor"],"additionalProperties":false})")
                            .run(scale)));
