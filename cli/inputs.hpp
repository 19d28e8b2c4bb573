// What `potluck submit` sends: --input NAME=VALUE, --param KEY=VALUE and --params JSON turned
// into the job's JSON, with a message that says how to fix any mistake.
//
//   --input a='[[1,2],[3,4]]'               a bare (nested) array of numbers: an f32 tensor
//   --input a='{"dtype":"i64","data":[1]}'   a tensor object, passed as is
//   --input a=@a.json  |  --input a=a.json   a file holding either of the above
//   --param ms=500  --param label=hello      a JSON value, or else a string
//   --params '{"ms": 500}'                   an object; --param entries override its keys
#pragma once

#include "cli/errors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace potluck::cli {

struct named_value {
  std::string name;
  boost::json::value value;
};

// Throws usage_error naming the option, the input and the problem.
named_value parse_input(std::string_view arg);
named_value parse_param(std::string_view arg);
boost::json::object parse_params_object(std::string_view text);

// The body of POST /api/v1/jobs.
struct submit_request {
  std::string task;
  std::vector<std::string> inputs;  // raw --input arguments
  std::vector<std::string> params;  // raw --param arguments
  std::string params_json;          // --params, empty when not given
  std::string backend;              // empty: any
  int max_attempts = 0;             // 0: the daemon's default
};
boost::json::object build_job(const submit_request& request);

}  // namespace potluck::cli
