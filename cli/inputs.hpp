// What `potluck submit` sends: --input NAME=VALUE, --param KEY=VALUE and --params JSON turned
// into the job's JSON, with a message that says how to fix any mistake.
//
//   --input a='[[1,2],[3,4]]'               a bare (nested) array of numbers: an f32 tensor
//   --input a='{"dtype":"i64","data":[1]}'   a tensor object, passed as is
//   --input a=@a.json  |  --input a=a.json   a file holding either of the above
//   --param ms=500  --param label=hello      a JSON value, or else a string
//   --params '{"ms": 500}'                   an object; --param entries override its keys
//   --bid 0.5  |  --max-price 2              what the job may cost: credits per million work
//                                            units, or credits for the whole job
//   --replicas 2                             run it on 2 donors' workers whose results must agree
#pragma once

#include "cli/errors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
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
// --bid and --max-price: credits as people write them ("0.5") -> micro-credits, as the daemon
// takes them. Throws usage_error for what the daemon would refuse: negative, more than 6
// decimals, not a plain number ("1e6"), or above the most a price (a job) may be.
std::int64_t parse_bid(std::string_view text);
std::int64_t parse_max_price(std::string_view text);

// The body of POST /api/v1/jobs (and of POST /api/v1/jobs/quote, which takes the same).
struct submit_request {
  std::string task;
  std::vector<std::string> inputs;  // raw --input arguments
  std::vector<std::string> params;  // raw --param arguments
  std::string params_json;          // --params, empty when not given
  std::string backend;              // empty: any
  int max_attempts = 0;             // 0: the daemon's default
  int replicas = 0;                 // 0: the daemon's default (1); checked by the caller
  // Raw --bid (credits per million work units) and --max-price (credits for the job); at most
  // one. Neither: the daemon bids the lowest ask of a connected worker.
  std::optional<std::string> bid, max_price;
};
boost::json::object build_job(const submit_request& request);

}  // namespace potluck::cli
