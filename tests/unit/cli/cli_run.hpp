// What the CLI's unit tests share: running `potluck` in-process (cli/app.hpp's run) with its
// output captured, as the tests run it (no config file anywhere, not a terminal), and the
// daemon's error body for scripted answers.
#pragma once

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"

namespace potluck::cli::testing {

struct outcome {
  int status = -1;
  std::string out, err;
};

// The token the tests' terminal carries (as POTLUCK_TOKEN would).
inline const std::string token = "plk_" + std::string(64, 'a');

inline outcome run_cli(std::vector<std::string> args, const terminal& term) {
  std::ostringstream out, err;
  outcome o;
  o.status = run(args, term, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

// With `token`.
inline outcome run_cli(std::vector<std::string> args) {
  terminal term;
  term.token = token;
  return run_cli(std::move(args), term);
}

// Whether `text` holds `needle`; says what it lacks when not.
inline bool has(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return true;
  BOOST_TEST_MESSAGE("\"" << text << "\" lacks \"" << needle << "\"");
  return false;
}

inline std::string error_body(const std::string& code, const std::string& message) {
  return boost::json::serialize(
      boost::json::object{{"error", boost::json::object{{"code", code}, {"message", message}}}});
}

}  // namespace potluck::cli::testing
