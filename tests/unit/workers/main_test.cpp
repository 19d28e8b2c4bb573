// The worker's command line: help, version, and one clear line plus exit code 2 for bad flags.
#define BOOST_TEST_MODULE workers_main
#include "worker_harness.hpp"

using namespace potluck::worker::test;

namespace {

struct run_result {
  int exit_code = -1;
  std::string output;
};

run_result run_worker(const std::vector<std::string>& args) {
  temp_dir tmp;
  worker_process worker(args, tmp.path());
  const auto status = worker.wait_exit(event_deadline);
  run_result r;
  r.output = worker.log_text();
  if (status && WIFEXITED(*status)) r.exit_code = WEXITSTATUS(*status);
  return r;
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

BOOST_AUTO_TEST_CASE(help_shows_an_example_and_every_flag) {
  const auto r = run_worker({"--help"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.output.find("Example:") != std::string::npos);
  for (const char* flag : {"--daemon", "--plugins", "--slots", "--name", "--gpus", "--log-level", "--grace-ms", "--version"})
    BOOST_TEST(r.output.find(flag) != std::string::npos, flag);
  BOOST_TEST(r.output.find("--runner") == std::string::npos);  // hidden
}

BOOST_AUTO_TEST_CASE(version_prints_the_version) {
  const auto r = run_worker({"--version"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.output.starts_with("potluck-worker "));
  BOOST_TEST(lines(r.output) == 1u);
}

BOOST_AUTO_TEST_CASE(bad_flags_give_one_clear_line_and_exit_2) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "bogus"},
      {{"--slots", "0"}, "--slots"},
      {{"--slots", "many"}, "slots"},
      {{"--gpus", "some"}, "--gpus"},
      {{"--grace-ms", "-1"}, "--grace-ms"},
      {{"--log-level", "loud"}, "--log-level"},
      {{"--daemon", "127.0.0.1:5555"}, "--daemon"},
      {{"--name", ""}, "--name"},
      {{"stray"}, "stray"},
      {{"--price", "-1"}, "negative"},
      {{"--price", "cpu=abc"}, "for cpu"},
      {{"--price", "cpu=0.1234567"}, "6 decimals"},
      {{"--price", "tpu=1"}, "unknown backend 'tpu'"},
      {{"--price", "cpu=1,cpu=2"}, "priced twice"},
      {{"--price", "cpu=1,000"}, "not backend=price"},
      {{"--price", "99999999999"}, "at most 1000000"},
      {{"--price", "1e6"}, "not a number"},
      {{"--free-jobs", "maybe"}, "--free-jobs"},
      {{"--gpus", "0,x"}, "--gpus"},
      {{"--server-key", "short"}, "40 characters"},
      {{"--server-key-file", "/nonexistent/key"}, "--server-key-file"},
      {{"--gpus", "0,,1"}, "--gpus"},
      {{"--gpus", "-1"}, "--gpus"},
  };
  for (const auto& [args, mention] : cases) {
    const auto r = run_worker(args);
    BOOST_TEST(r.exit_code == 2, args.front());
    BOOST_TEST(lines(r.output) == 1u, r.output);
    BOOST_TEST(r.output.find(mention) != std::string::npos, r.output);
  }
}
