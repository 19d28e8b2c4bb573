// Run by install_example.cmake (sdk_install_example_test): loads the example plugin that was
// built against an installed SDK (POTLUCK_EXAMPLE_PLUGIN) and runs example.scale through it.
#define BOOST_TEST_MODULE sdk_example_plugin_check
#include <boost/test/unit_test.hpp>

#include "workers/plugin_host.hpp"

#include <boost/dll/library_info.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

using potluck::worker::plugin_host;
using potluck::worker::run_request;
using potluck::worker::run_status;

namespace {

std::filesystem::path example_plugin() {
  const char* path = std::getenv("POTLUCK_EXAMPLE_PLUGIN");
  BOOST_TEST_REQUIRE(path != nullptr, "set POTLUCK_EXAMPLE_PLUGIN to libpotluck-example.so");
  return path;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_example_exports_only_the_entry_symbol) {
  boost::dll::library_info info(example_plugin().string());
  const auto symbols = info.symbols();
  BOOST_TEST(symbols == std::vector<std::string>{"potluck_plugin_entry"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_example_loads_and_scales) {
  plugin_host host;
  const auto& info = host.load(example_plugin());
  BOOST_TEST(info.name == "example");
  BOOST_TEST_REQUIRE(info.tasks.size() == 1u);
  BOOST_TEST(info.tasks[0].name == "example.scale");
  BOOST_TEST(info.tasks[0].inputs.at(0).spec == "f32[...]");
  BOOST_TEST(info.tasks[0].outputs.at(0).spec == "f32[...]");

  auto session = host.open_session(*host.find("example.scale", "cpu"), -1);
  const std::vector<float> x = {1, -2, 3.5f, 0, 10, 0.25f};
  auto request = [&](const char* params) {
    run_request r;
    r.params_json = params;
    potluck::worker::input_tensor in;
    in.name = "x";
    in.dtype = PLK_DTYPE_F32;
    in.shape = {2, 3};
    in.data = x.data();
    in.size_bytes = x.size() * sizeof(float);
    r.inputs.push_back(in);
    return r;
  };

  auto outcome = session->run(request(R"({"factor": 2.5})"));
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
  const auto& y = outcome.outputs[0];
  BOOST_TEST(y.name == "y");
  BOOST_TEST(y.shape == std::vector<std::int64_t>({2, 3}), boost::test_tools::per_element());
  std::vector<float> values(6);
  BOOST_TEST_REQUIRE(y.size_bytes == values.size() * sizeof(float));
  std::memcpy(values.data(), y.data.get(), y.size_bytes);
  BOOST_TEST(values == std::vector<float>({2.5f, -5, 8.75f, 0, 25, 0.625f}), boost::test_tools::per_element());

  outcome = session->run(request("{}"));
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(outcome.message == "parameter 'factor' is required");
}
