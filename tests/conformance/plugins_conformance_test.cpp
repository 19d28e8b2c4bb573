// Conformance: every plugin built in this tree (found in POTLUCK_PLUGIN_DIR) loads, exports only
// its entry symbol, and every plugin that implements a task with cases here runs the same cases
// and agrees with the CPU reference: a plain triple loop for linalg.matmul, identity for
// test.echo. Bad shapes must come back as the user's error naming the input.
//
// Plugins on the cuda backend run only where a CUDA device exists (checked here through the
// driver, libcuda, at run time); elsewhere they print "SKIP: cuda conformance: no CUDA device
// (...)" and only check that session create says so clearly.
#define BOOST_TEST_MODULE plugins_conformance
#include <boost/test/unit_test.hpp>

#include "workers/plugin_host.hpp"

#include <boost/dll/library_info.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using potluck::worker::input_tensor;
using potluck::worker::plugin_host;
using potluck::worker::run_outcome;
using potluck::worker::run_request;
using potluck::worker::run_status;
using potluck::worker::session;

namespace {

fs::path plugin_dir() {
  const char* env = std::getenv("POTLUCK_PLUGIN_DIR");
  return env && *env ? fs::path(env) : fs::path(POTLUCK_TEST_BUILD_PLUGIN_DIR);
}

std::vector<std::string> split_commas(const char* text) {
  std::vector<std::string> out;
  std::stringstream in(text ? text : "");
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Why no CUDA device can be used here, or nullopt when one can. Asks the driver directly, at
// run time, so the test needs nothing CUDA to build.
std::optional<std::string> cuda_unavailable() {
  void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) {
    const char* why = ::dlerror();
    return std::string("no CUDA driver: ") + (why ? why : "libcuda.so.1 not found");
  }
  using init_fn = int (*)(unsigned);
  using count_fn = int (*)(int*);
  auto cu_init = reinterpret_cast<init_fn>(::dlsym(driver, "cuInit"));
  auto cu_count = reinterpret_cast<count_fn>(::dlsym(driver, "cuDeviceGetCount"));
  std::optional<std::string> why;
  int count = 0;
  if (!cu_init || !cu_count)
    why = "libcuda.so.1 lacks cuInit or cuDeviceGetCount";
  else if (const int rc = cu_init(0); rc != 0)
    why = "cuInit failed with CUresult " + std::to_string(rc);
  else if (const int rc = cu_count(&count); rc != 0)
    why = "cuDeviceGetCount failed with CUresult " + std::to_string(rc);
  else if (count == 0)
    why = "the driver sees 0 devices";
  ::dlclose(driver);
  return why;
}

// Every plugin of the build, loaded once for the whole suite.
struct loaded_plugins {
  plugin_host host;
  std::vector<std::string> refusals;
  loaded_plugins() { refusals = host.load_dir(plugin_dir()); }
};
loaded_plugins* plugins = nullptr;

struct suite_fixture {
  suite_fixture() { plugins = new loaded_plugins(); }
  ~suite_fixture() {
    delete plugins;
    plugins = nullptr;
  }
};
BOOST_TEST_GLOBAL_FIXTURE(suite_fixture);

// One implementation of a task: which plugin, which backend, and a session on its first device
// (or why it cannot run here).
struct implementation {
  std::string plugin, backend;
  std::unique_ptr<session> s;
};

// Opens a session for every implementation of `task`; prints and leaves out those that cannot
// run on this machine (a cuda backend without a device).
std::vector<implementation> implementations_of(const std::string& task) {
  std::vector<implementation> found;
  for (std::size_t p = 0; p < plugins->host.plugins().size(); ++p) {
    const auto& info = plugins->host.plugins()[p];
    for (std::uint32_t t = 0; t < info.tasks.size(); ++t) {
      if (info.tasks[t].name != task) continue;
      const auto& backend = info.tasks[t].backend;
      const int device = backend == "cpu" ? -1 : 0;
      const std::string who = "plugin '" + info.name + "' " + task + " on " + backend;
      if (backend == "cuda") {
        if (const auto why = cuda_unavailable()) {
          const std::string skip = "SKIP: cuda conformance: no CUDA device (" + *why + "): " + who + " not run";
          std::cout << skip << std::endl;
          BOOST_TEST_MESSAGE(skip);
          // Without a device, session create must fail and say so.
          try {
            plugins->host.open_session({p, t}, device);
            BOOST_ERROR(who << ": session create succeeded without a CUDA device");
          } catch (const std::runtime_error& e) {
            BOOST_TEST(std::string(e.what()).find("no CUDA device") != std::string::npos, e.what());
          }
          continue;
        }
      }
      BOOST_TEST_MESSAGE("running " << who);
      found.push_back({info.name, backend, plugins->host.open_session({p, t}, device)});
    }
  }
  return found;
}

// Deterministic values in [-1, 1).
std::vector<float> values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t x = seed * 2654435761u + 1u;
  for (auto& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(x >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

input_tensor tensor(const char* name, plk_dtype dtype, std::vector<std::int64_t> shape, const void* data,
                    std::size_t bytes) {
  input_tensor in;
  in.name = name;
  in.dtype = dtype;
  in.shape = std::move(shape);
  in.data = data;
  in.size_bytes = bytes;
  return in;
}

input_tensor f32(const char* name, std::vector<std::int64_t> shape, const std::vector<float>& data) {
  return tensor(name, PLK_DTYPE_F32, std::move(shape), data.data(), data.size() * sizeof(float));
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_built_plugin_loads) {
  BOOST_TEST_MESSAGE("plugin folder: " << plugin_dir());
  for (const auto& refusal : plugins->refusals) BOOST_ERROR("refused: " << refusal);
  const char* listed = std::getenv("POTLUCK_EXPECTED_PLUGINS");
  const auto expected = split_commas(listed ? listed : POTLUCK_TEST_EXPECTED_PLUGINS);
  BOOST_TEST(!expected.empty(), "POTLUCK_EXPECTED_PLUGINS names the plugins the build made");
  for (const auto& name : expected) {
    bool loaded = false;
    for (const auto& info : plugins->host.plugins())
      loaded |= info.file.filename() == "libpotluck-" + name + ".so" && info.name == name;
    BOOST_TEST(loaded, "plugin '" << name << "' (libpotluck-" << name << ".so) is built but did not load");
  }
  // A new task should get cases here; say which ones have none.
  const std::vector<std::string> covered = {"linalg.matmul", "test.echo"};
  for (const auto& info : plugins->host.plugins())
    for (const auto& t : info.tasks)
      if (std::find(covered.begin(), covered.end(), t.name) == covered.end())
        BOOST_TEST_MESSAGE("no conformance cases for " << t.name << " (" << t.backend << ") of plugin '"
                                                       << info.name << "'");
}

BOOST_AUTO_TEST_CASE(every_plugin_exports_only_its_entry_symbol) {
  for (const auto& info : plugins->host.plugins()) {
    BOOST_TEST_CONTEXT(info.file) {
      boost::dll::library_info library(info.file.string());
      BOOST_TEST(library.symbols() == std::vector<std::string>{"potluck_plugin_entry"},
                 boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(linalg_matmul_matches_the_cpu_reference) {
  struct shape {
    std::int64_t m, k, n;
  };
  const std::vector<shape> shapes = {{1, 1, 1}, {2, 3, 4}, {5, 4, 3}, {3, 1, 5},  {1, 7, 1},
                                     {7, 2, 1}, {2, 0, 3}, {0, 3, 2}, {17, 33, 9}, {64, 128, 96}};
  auto impls = implementations_of("linalg.matmul");
  BOOST_TEST(!impls.empty(), "no plugin here implements linalg.matmul: the blas plugin is always built");
  for (auto& impl : impls) {
    for (const auto& sh : shapes) {
      BOOST_TEST_CONTEXT(impl.plugin << " on " << impl.backend << ", m=" << sh.m << " k=" << sh.k << " n=" << sh.n) {
        const auto a = values(static_cast<std::size_t>(sh.m * sh.k), 1 + static_cast<std::uint32_t>(sh.m));
        const auto b = values(static_cast<std::size_t>(sh.k * sh.n), 7 + static_cast<std::uint32_t>(sh.n));
        run_request request;
        request.inputs.push_back(f32("a", {sh.m, sh.k}, a));
        request.inputs.push_back(f32("b", {sh.k, sh.n}, b));
        const auto outcome = impl.s->run(std::move(request));
        BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
        BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
        const auto& c = outcome.outputs[0];
        BOOST_TEST(c.name == "c");
        BOOST_TEST(c.dtype == PLK_DTYPE_F32);
        BOOST_TEST(c.shape == std::vector<std::int64_t>({sh.m, sh.n}), boost::test_tools::per_element());
        BOOST_TEST_REQUIRE(c.size_bytes == static_cast<std::size_t>(sh.m * sh.n) * sizeof(float));
        const auto* got = reinterpret_cast<const float*>(c.data.get());
        std::size_t bad = 0;
        for (std::int64_t i = 0; i < sh.m; ++i)
          for (std::int64_t j = 0; j < sh.n; ++j) {
            double ref = 0, magnitude = 0;
            for (std::int64_t p = 0; p < sh.k; ++p) {
              const double term = static_cast<double>(a[i * sh.k + p]) * b[p * sh.n + j];
              ref += term;
              magnitude += std::fabs(term);
            }
            // f32 accumulation over k terms: within k·eps of the sum of magnitudes, doubled.
            const double tolerance = 2.0 * static_cast<double>(sh.k) * FLT_EPSILON * magnitude + 1e-30;
            const double diff = std::fabs(got[i * sh.n + j] - ref);
            if (!(diff <= tolerance) && bad++ < 5)
              BOOST_ERROR("c[" << i << "," << j << "] = " << got[i * sh.n + j] << ", reference " << ref
                               << " (tolerance " << tolerance << ")");
          }
        BOOST_TEST(bad == 0u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(linalg_matmul_bad_shapes_are_the_users_error_naming_the_input) {
  const auto a23 = values(6, 1), b42 = values(8, 2), b32 = values(6, 3), v6 = values(6, 4);
  const std::vector<double> a23_f64(6, 1.0);
  const std::vector<std::int32_t> b32_i32(6, 1);
  struct bad_case {
    const char* what;
    std::vector<input_tensor> inputs;
    std::string names;  // the message must name this input
  };
  const std::vector<bad_case> cases = {
      {"inner dimensions differ", {f32("a", {2, 3}, a23), f32("b", {4, 2}, b42)}, "'b'"},
      {"a is a vector", {f32("a", {6}, v6), f32("b", {3, 2}, b32)}, "'a'"},
      {"b has rank 3", {f32("a", {2, 3}, a23), f32("b", {3, 2, 1}, b32)}, "'b'"},
      {"a is f64", {tensor("a", PLK_DTYPE_F64, {2, 3}, a23_f64.data(), 48), f32("b", {3, 2}, b32)}, "'a'"},
      {"b is i32", {f32("a", {2, 3}, a23), tensor("b", PLK_DTYPE_I32, {3, 2}, b32_i32.data(), 24)}, "'b'"},
      {"b is missing", {f32("a", {2, 3}, a23)}, "'b'"},
  };
  auto impls = implementations_of("linalg.matmul");
  for (auto& impl : impls) {
    for (const auto& c : cases) {
      BOOST_TEST_CONTEXT(impl.plugin << " on " << impl.backend << ": " << c.what) {
        run_request request;
        request.inputs = c.inputs;
        const auto outcome = impl.s->run(std::move(request));
        BOOST_TEST((outcome.status == run_status::invalid_input), outcome.message);
        BOOST_TEST(outcome.plugin_status == PLK_ERR_INVALID_ARGUMENT);
        BOOST_TEST(outcome.message.find(c.names) != std::string::npos, outcome.message);
        BOOST_TEST(outcome.outputs.empty());
      }
    }
    // The exact wording for the commonest mistake.
    run_request request;
    request.inputs = cases[0].inputs;
    BOOST_TEST(impl.s->run(std::move(request)).message == "input 'b' must have shape [k,n] with k=3 from 'a', got [4,2]");
  }
}

BOOST_AUTO_TEST_CASE(test_echo_returns_its_input) {
  auto impls = implementations_of("test.echo");
  const auto f = values(24, 9);
  const std::vector<std::int64_t> i64 = {1, -2, INT64_MAX};
  const std::vector<input_tensor> cases = {
      f32("x", {2, 3, 4}, f),
      tensor("x", PLK_DTYPE_I64, {3}, i64.data(), 24),
      tensor("x", PLK_DTYPE_BOOL, {0}, nullptr, 0),
  };
  for (auto& impl : impls) {
    for (const auto& in : cases) {
      BOOST_TEST_CONTEXT(impl.plugin << " on " << impl.backend << ", dtype " << in.dtype) {
        run_request request;
        request.inputs = {in};
        const auto outcome = impl.s->run(std::move(request));
        BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
        const auto& out = outcome.outputs.at(0);
        BOOST_TEST(out.dtype == in.dtype);
        BOOST_TEST(out.shape == in.shape, boost::test_tools::per_element());
        BOOST_TEST_REQUIRE(out.size_bytes == in.size_bytes);
        if (in.size_bytes) BOOST_TEST(std::memcmp(out.data.get(), in.data, in.size_bytes) == 0);
      }
    }
  }
}
