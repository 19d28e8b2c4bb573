// The plugin loader: which shared libraries plugin_host accepts, which it refuses, and that each
// refusal is one line naming the file, the versions and what to do. Every library here is a real
// .so built for the test from tests/unit/sdk/plugins (plain C against plugin.h).
#define BOOST_TEST_MODULE sdk_plugin_loader
#include <boost/test/unit_test.hpp>

#include "sdk_test_support.hpp"

#include <dlfcn.h>

#include <fstream>

namespace fs = std::filesystem;
using potluck::worker::plugin_host;
using potluck::worker::plugin_load_error;
using potluck::worker::run_request;
using potluck::worker::run_status;
using sdk_test::contains;
using sdk_test::test_plugin;

namespace {

// The refusal's message; fails the test when the plugin loads.
std::string refusal(plugin_host& host, const fs::path& file) {
  const auto before = host.plugins().size();
  try {
    host.load(file);
  } catch (const plugin_load_error& e) {
    BOOST_TEST(host.plugins().size() == before);  // nothing half-loaded stays behind
    const std::string message = e.what();
    BOOST_TEST_MESSAGE("refused: " << message);
    BOOST_TEST(!contains(message, "\n"), "a refusal is one line: " << message);
    return message;
  }
  BOOST_FAIL("plugin_host loaded " << file << " but should have refused it");
  return {};
}

std::string refusal(const fs::path& file) {
  plugin_host host;
  return refusal(host, file);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_sound_plugin_loads_with_its_declaration_and_runs) {
  sdk_test::log_capture log;
  {
    plugin_host host;
    const auto& info = host.load(test_plugin("good"));
    BOOST_TEST(info.file == fs::absolute(test_plugin("good")));
    BOOST_TEST(info.name == "sdktest_good");
    BOOST_TEST(info.version == "1.2.3");
    BOOST_TEST(info.description == "a loader test plugin");
    BOOST_TEST(info.abi_major == 1);
    BOOST_TEST(info.abi_minor_required == 0);
    BOOST_TEST_REQUIRE(info.tasks.size() == 1u);
    const auto& task = info.tasks[0];
    BOOST_TEST(task.name == "sdktest.good");
    BOOST_TEST(task.backend == "cpu");
    BOOST_TEST(task.description == "adds one");
    BOOST_TEST_REQUIRE(task.inputs.size() == 1u);
    BOOST_TEST(task.inputs[0].name == "x");
    BOOST_TEST(task.inputs[0].spec == "i32[n]");
    BOOST_TEST(task.inputs[0].description == "numbers");
    BOOST_TEST_REQUIRE(task.outputs.size() == 1u);
    BOOST_TEST(task.outputs[0].name == "y");
    BOOST_TEST(task.params_schema == "");
    BOOST_TEST(task.cost == "n");
    BOOST_TEST(host.plugins().size() == 1u);

    BOOST_TEST(!host.find("sdktest.good", "cuda").has_value());
    BOOST_TEST(!host.find("sdktest.other", "cpu").has_value());
    const auto ref = host.find("sdktest.good", "cpu");
    BOOST_TEST_REQUIRE(ref.has_value());
    auto session = host.open_session(*ref, -1);
    const std::vector<std::int32_t> x = {1, 2, 41};
    run_request request;
    request.inputs.push_back(sdk_test::make_input("x", PLK_DTYPE_I32, {3}, x));
    auto outcome = session->run(std::move(request));
    BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
    BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
    BOOST_TEST(outcome.outputs[0].name == "y");
    BOOST_TEST(sdk_test::output_values<std::int32_t>(outcome.outputs[0]) == std::vector<std::int32_t>({2, 3, 42}),
               boost::test_tools::per_element());
    BOOST_TEST(contains(log.text(), "loaded plugin 'sdktest_good' 1.2.3"));
  }
  // The host's destructor shut the plugin down; its log line carries the plugin's name.
  BOOST_TEST(contains(log.text(), "plugin 'sdktest_good': shutting down"));
}

BOOST_AUTO_TEST_CASE(a_plugin_for_another_major_is_refused_naming_both_versions) {
  const auto file = fs::absolute(test_plugin("major2"));
  BOOST_TEST(refusal(file) == "plugin " + file.string() +
                                  " needs Potluck plugin ABI 2.x but this worker speaks 1.1: rebuild the plugin "
                                  "against this SDK or upgrade the worker");
  // And the other way round: a 1.x plugin on a 2.0 host.
  plugin_host host2(2, 0);
  const auto good = fs::absolute(test_plugin("good"));
  BOOST_TEST(refusal(host2, good) == "plugin " + good.string() +
                                         " needs Potluck plugin ABI 1.x but this worker speaks 2.0: rebuild the "
                                         "plugin against this SDK or upgrade the worker");
}

BOOST_AUTO_TEST_CASE(a_plugin_needing_a_newer_minor_is_refused_and_loads_on_a_newer_host) {
  const auto file = fs::absolute(test_plugin("minor3"));
  BOOST_TEST(refusal(file) == "plugin " + file.string() +
                                  " needs Potluck plugin ABI 1.3 but this worker speaks 1.1: upgrade the worker");
  {
    plugin_host host12(1, 2);
    BOOST_TEST(contains(refusal(host12, file), "needs Potluck plugin ABI 1.3 but this worker speaks 1.2"));
  }
  // One host at a time: a library is initialised once per process (plugin.h).
  {
    plugin_host host13(1, 3);
    BOOST_TEST(host13.load(file).name == "sdktest_minor3");
  }
  {
    plugin_host host17(1, 7);
    BOOST_TEST(host17.load(file).abi_minor_required == 3);
  }
}

BOOST_AUTO_TEST_CASE(a_library_without_the_entry_symbol_is_refused) {
  const auto file = fs::absolute(test_plugin("noentry"));
  BOOST_TEST(refusal(file) == "plugin " + file.string() +
                                  " has no potluck_plugin_entry symbol: is it a Potluck plugin? Declare it with "
                                  "POTLUCK_PLUGIN(...)");
}

BOOST_AUTO_TEST_CASE(a_task_offered_twice_refuses_the_second_plugin_naming_both_files) {
  plugin_host host;
  const auto a = fs::absolute(test_plugin("dup_a"));
  const auto b = fs::absolute(test_plugin("dup_b"));
  host.load(a);
  BOOST_TEST(refusal(host, b) ==
             "task 'sdktest.dup' on cpu is offered by both " + a.string() + " and " + b.string() + ": remove one");
  BOOST_TEST_REQUIRE(host.plugins().size() == 1u);
  BOOST_TEST(host.plugins()[0].name == "sdktest_dup_a");
  BOOST_TEST(host.find("sdktest.dup", "cpu")->plugin == 0u);
}

BOOST_AUTO_TEST_CASE(the_same_plugin_twice_is_refused) {
  plugin_host host;
  host.load(test_plugin("good"));
  BOOST_TEST(contains(refusal(host, test_plugin("good")), "libsdktest-good.so is already loaded: load each plugin once"));
  // A copy under another file name: same plugin name, same task.
  sdk_test::temp_dir dir;
  fs::copy_file(test_plugin("good"), dir.path() / "libcopy.so");
  const auto message = refusal(host, dir.path() / "libcopy.so");
  BOOST_TEST(contains(message, "libcopy.so is named 'sdktest_good' like " + fs::absolute(test_plugin("good")).string() +
                                   ", which is already loaded: remove one"),
             message);
}

BOOST_AUTO_TEST_CASE(invalid_declarations_are_refused_saying_what_is_wrong) {
  struct expectation {
    const char* variant;
    std::vector<std::string> parts;
  };
  const std::vector<expectation> cases = {
      {"bad_spec", {"has an invalid task declaration", "task 'sdktest.good'", "input 'x'", "rebuild the plugin"}},
      {"bad_cost", {"has an invalid task declaration", "task 'sdktest.good'", "cost", "rebuild the plugin"}},
      {"cost_unbound", {"has an invalid task declaration", "'q'", "rebuild the plugin"}},
      {"bad_backend", {"has an invalid task declaration", "task 'sdktest.good'", "'tpu'", "rebuild the plugin"}},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.variant) {
      const auto file = fs::absolute(test_plugin(c.variant));
      const auto message = refusal(file);
      BOOST_TEST(message.rfind("plugin " + file.string() + " ", 0) == 0u, message);
      for (const auto& part : c.parts) BOOST_TEST(contains(message, part), message << " lacks " << part);
    }
  }
}

BOOST_AUTO_TEST_CASE(broken_descriptors_and_failing_init_are_refused) {
  auto message = refusal(test_plugin("tiny_desc"));
  BOOST_TEST(contains(message, "has a descriptor of 6 bytes, which cannot hold its ABI version"), message);
  message = refusal(test_plugin("short_desc"));
  BOOST_TEST(contains(message, "has a descriptor of 80 bytes but ABI 1.0 needs 88 bytes"), message);
  message = refusal(test_plugin("null_desc"));
  BOOST_TEST(contains(message, "returned no descriptor from potluck_plugin_entry"), message);
  message = refusal(test_plugin("init_fails"));
  BOOST_TEST(contains(message, "('sdktest_init_fails') failed to initialise with PLK_ERR_INTERNAL: "
                               "license file /nonexistent/sdktest.lic is missing"),
             message);
}

BOOST_AUTO_TEST_CASE(an_older_plugin_with_smaller_structs_still_loads) {
  // Its task and tensor declarations stop before params_schema/cost and description: the
  // arrays are strided by the smaller size and the missing fields read as "not provided".
  plugin_host host;
  const auto& info = host.load(test_plugin("older_structs"));
  BOOST_TEST_REQUIRE(info.tasks.size() == 2u);
  BOOST_TEST(info.tasks[0].name == "sdktest.old_first");
  BOOST_TEST(info.tasks[0].description == "first");
  BOOST_TEST(info.tasks[1].name == "sdktest.old_second");
  BOOST_TEST(info.tasks[1].description == "");
  for (const auto& t : info.tasks) {
    BOOST_TEST(t.params_schema == "");
    BOOST_TEST(t.cost == "");
  }
  BOOST_TEST_REQUIRE(info.tasks[1].inputs.size() == 2u);
  BOOST_TEST(info.tasks[1].inputs[1].name == "unused");
  BOOST_TEST(info.tasks[1].inputs[1].spec == "u8[...]");
  BOOST_TEST(info.tasks[1].inputs[1].description == "");

  auto session = host.open_session(*host.find("sdktest.old_first", "cpu"), -1);
  const std::vector<std::int32_t> x = {7};
  run_request request;
  request.inputs.push_back(sdk_test::make_input("x", PLK_DTYPE_I32, {1}, x));
  const auto outcome = session->run(std::move(request));
  BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
  BOOST_TEST(sdk_test::output_values<std::int32_t>(outcome.outputs.at(0)).at(0) == 8);
}

BOOST_AUTO_TEST_CASE(a_newer_plugin_with_larger_structs_still_loads) {
  plugin_host host;
  const auto& info = host.load(test_plugin("newer_structs"));
  BOOST_TEST(info.version == "9.9.9");
  BOOST_TEST_REQUIRE(info.tasks.size() == 2u);
  BOOST_TEST(info.tasks[0].name == "sdktest.new_first");
  BOOST_TEST(info.tasks[0].cost == "n");
  BOOST_TEST(info.tasks[0].inputs.at(0).description == "numbers");
  BOOST_TEST(info.tasks[1].name == "sdktest.new_second");
  BOOST_TEST(info.tasks[1].description == "second");
  BOOST_TEST(info.tasks[1].params_schema == "{\"type\":\"object\"}");
  BOOST_TEST(info.tasks[1].cost == "2*n");
}

BOOST_AUTO_TEST_CASE(init_and_shutdown_may_be_null) {
  plugin_host host;
  BOOST_TEST(host.load(test_plugin("no_init")).name == "sdktest_no_init");
}

BOOST_AUTO_TEST_CASE(missing_files_and_non_libraries_are_refused) {
  sdk_test::temp_dir dir;
  auto message = refusal(dir.path() / "libnothing.so");
  BOOST_TEST(contains(message, "does not exist"), message);
  const auto bogus = dir.path() / "libbogus.so";
  std::ofstream(bogus) << "this is not a shared library\n";
  message = refusal(bogus);
  BOOST_TEST(message.rfind("plugin " + bogus.string() + " cannot be loaded: ", 0) == 0u, message);
  BOOST_TEST(contains(message, "check that it is a shared library"), message);
}

BOOST_AUTO_TEST_CASE(load_dir_loads_every_so_in_name_order_and_lists_refusals) {
  sdk_test::temp_dir dir;
  fs::copy_file(test_plugin("good"), dir.path() / "libb-good.so");
  fs::copy_file(test_plugin("noentry"), dir.path() / "liba-noentry.so");
  fs::copy_file(test_plugin("major2"), dir.path() / "libc-major2.so");
  fs::copy_file(test_plugin("minor3"), dir.path() / "libd-minor3.so.disabled");
  std::ofstream(dir.path() / "README.txt") << "not a plugin\n";
  fs::create_directory(dir.path() / "folder.so");

  plugin_host host;
  const auto errors = host.load_dir(dir.path());
  BOOST_TEST_REQUIRE(errors.size() == 2u);
  BOOST_TEST(contains(errors[0], "liba-noentry.so has no potluck_plugin_entry symbol"), errors[0]);
  BOOST_TEST(contains(errors[1], "libc-major2.so needs Potluck plugin ABI 2.x"), errors[1]);
  BOOST_TEST_REQUIRE(host.plugins().size() == 1u);
  BOOST_TEST(host.plugins()[0].name == "sdktest_good");

  plugin_host other;
  const auto missing = other.load_dir(dir.path() / "absent");
  BOOST_TEST_REQUIRE(missing.size() == 1u);
  BOOST_TEST(contains(missing[0], "plugin folder " + (dir.path() / "absent").string() + " does not exist"));
}

BOOST_AUTO_TEST_CASE(a_cxx_plugin_built_with_default_visibility_runs_and_unloads) {
  const auto file = fs::absolute(test_plugin("cxx_default_visibility"));
  auto is_loaded = [&] {
    void* handle = ::dlopen(file.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (handle) ::dlclose(handle);
    return handle != nullptr;
  };
  BOOST_TEST_REQUIRE(!is_loaded());
  {
    plugin_host host;
    host.load(sdk_test::real_plugin("testing"));  // another plugin.hpp plugin in the same host
    host.load(file);
    BOOST_TEST(is_loaded());
    auto session = host.open_session(*host.find("sdktest.negate", "cpu"), -1);
    const std::vector<std::int32_t> x = {1, -2, 3};
    run_request request;
    request.inputs.push_back(sdk_test::make_input("x", PLK_DTYPE_I32, {3}, x));
    const auto outcome = session->run(std::move(request));
    BOOST_TEST_REQUIRE((outcome.status == run_status::succeeded), outcome.message);
    BOOST_TEST(sdk_test::output_values<std::int32_t>(outcome.outputs.at(0)) == std::vector<std::int32_t>({-1, 2, -3}),
               boost::test_tools::per_element());
  }
  BOOST_TEST(!is_loaded(), "the library stayed mapped after its plugin_host was destroyed");
}
