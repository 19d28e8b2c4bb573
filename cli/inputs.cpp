// Implements inputs.hpp: the command line's tensors and parameters, checked before anything is sent.
#include "cli/inputs.hpp"

#include "potluck/protocol/credits.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr std::string_view input_example = "--input a='[[1,2],[3,4]]'";

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::pair<std::string, std::string> split_assignment(std::string_view arg, std::string_view option,
                                                     std::string_view example) {
  const auto eq = arg.find('=');
  if (eq == std::string_view::npos)
    throw usage_error(std::string(option) + " expects NAME=VALUE, like " + std::string(example) + " (got '" +
                      std::string(arg) + "')");
  auto name = trim(arg.substr(0, eq));
  if (name.empty())
    throw usage_error(std::string(option) + " '" + std::string(arg) + "' has no name before '=', like " +
                      std::string(example));
  return {std::string(name), std::string(arg.substr(eq + 1))};
}

std::string read_file(const std::string& path, const std::string& who) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    throw usage_error(who + ": cannot read file '" + path + "': " + std::strerror(error ? error : ENOENT));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses JSON text; on failure says where, with a short excerpt.
json::value parse_json(std::string_view text, const std::string& who, const std::string& origin) {
  json::stream_parser parser;
  boost::system::error_code ec;
  const auto consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    // Where it went wrong: line and column, counted from the consumed bytes.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') ++line, column = 1;
      else ++column;
    }
    std::string where = "at line " + std::to_string(line) + ", column " + std::to_string(column);
    if (line == 1 && text.size() <= 60) where = "at character " + std::to_string(column) + " of '" + std::string(text) + "'";
    throw usage_error(who + ": " + origin + " is not valid JSON (" + ec.message() + " " + where + ")");
  }
  return parser.release();
}

// A tensor from what the user wrote: arrays and numbers become f32, objects pass as they are.
json::value to_tensor(json::value v, const std::string& who, const std::string& origin) {
  if (v.is_object()) return v;
  if (v.is_array() || v.is_number()) return json::object{{"dtype", "f32"}, {"data", std::move(v)}};
  const char* kind = v.is_string() ? "a string" : v.is_bool() ? "a boolean" : "null";
  throw usage_error(who + ": " + origin + " holds " + kind +
                    "; give numbers like [[1,2],[3,4]] or a tensor object like {\"dtype\":\"i64\",\"data\":[1,2]}");
}

bool looks_like_json(std::string_view text) {
  text = trim(text);
  if (text.empty()) return false;
  const char c = text.front();
  return c == '[' || c == '{' || c == '-' || c == '.' || (c >= '0' && c <= '9');
}

// Credits from a price flag, at most `most`; `what` says what the amount is, with an example,
// and `limit` what `most` is.
std::int64_t parse_price(const std::string& flag, std::string_view text, std::int64_t most, const std::string& what,
                         const std::string& limit) {
  std::string problem;
  const auto micro_credits = protocol::parse_credits(text, problem);
  if (!micro_credits) throw usage_error(flag + " '" + std::string(text) + "': " + problem + "; " + what);
  if (*micro_credits > most)
    throw usage_error(flag + " '" + std::string(text) + "': it is above " + limit + ", " +
                      protocol::credits_string(most) + " credits");
  return *micro_credits;
}

}  // namespace

std::int64_t parse_bid(std::string_view text) {
  return parse_price("--bid", text, protocol::max_price,
                     "a bid is credits per million work units, like --bid 0.5 (0: a free job)",
                     "the highest bid per million work units");
}

std::int64_t parse_max_price(std::string_view text) {
  return parse_price("--max-price", text, protocol::max_job_cost,
                     "--max-price is credits for the whole job, like --max-price 2", "the most one job may cost");
}

named_value parse_input(std::string_view arg) {
  auto [name, value] = split_assignment(arg, "--input", input_example);
  const std::string who = "--input " + name;
  if (trim(value).empty())
    throw usage_error(who + ": no value after '='; give numbers like " + name + "='[[1,2],[3,4]]' or a file like " +
                      name + "=@" + name + ".json");
  if (value.front() == '@') {
    const auto path = value.substr(1);
    const auto origin = "file '" + path + "'";
    return {name, to_tensor(parse_json(read_file(path, who), who, origin), who, origin)};
  }
  std::error_code ec;
  const bool is_file = std::filesystem::is_regular_file(value, ec);
  auto from_file = [&, &name = name, &value = value] {
    const auto origin = "file '" + value + "'";
    return named_value{name, to_tensor(parse_json(read_file(value, who), who, origin), who, origin)};
  };
  if (!looks_like_json(value)) {
    if (is_file) return from_file();
    throw usage_error(who + ": '" + value + "' is neither JSON nor a file; give numbers like " + name +
                      "='[[1,2],[3,4]]', a tensor object, or a file like " + name + "=@" + name + ".json");
  }
  try {
    return {name, to_tensor(parse_json(value, who, "the value"), who, "the value")};
  } catch (const usage_error&) {
    if (is_file) return from_file();  // a file whose name starts like a number: "1.json"
    throw;
  }
}

named_value parse_param(std::string_view arg) {
  auto [name, value] = split_assignment(arg, "--param", "--param ms=500");
  boost::system::error_code ec;
  auto parsed = json::parse(value, ec);
  // Not JSON: the text itself is the value, so that --param label=hello needs no quotes.
  if (ec) return {name, json::string(value)};
  return {name, std::move(parsed)};
}

json::object parse_params_object(std::string_view text) {
  auto v = parse_json(text, "--params", "the value");
  if (!v.is_object())
    throw usage_error("--params takes a JSON object, like --params '{\"ms\": 500}'");
  return std::move(v.as_object());
}

json::object build_job(const submit_request& request) {
  // Prices first: they are cheap to check, and inputs may be large files. The daemon refuses
  // both at once too; saying so here names the flags, not its JSON fields.
  if (request.bid && request.max_price)
    throw usage_error("give --bid (a price per million work units) or --max-price (a total for the job), not both");
  std::optional<std::int64_t> bid, max_price;
  if (request.bid) bid = parse_bid(*request.bid);
  if (request.max_price) max_price = parse_max_price(*request.max_price);
  json::object job;
  job["task"] = request.task;
  json::object inputs;
  for (const auto& arg : request.inputs) {
    auto input = parse_input(arg);
    if (inputs.contains(input.name)) throw usage_error("--input " + input.name + " is given twice");
    inputs[input.name] = std::move(input.value);
  }
  job["inputs"] = std::move(inputs);
  json::object params;
  if (!request.params_json.empty()) params = parse_params_object(request.params_json);
  for (const auto& arg : request.params) {
    auto param = parse_param(arg);
    params[param.name] = std::move(param.value);
  }
  if (!params.empty() || !request.params_json.empty()) job["params"] = std::move(params);
  if (!request.backend.empty()) {
    if (request.backend != "cpu" && request.backend != "cuda")
      throw usage_error("--backend must be cpu or cuda (got '" + request.backend + "')");
    job["backend"] = request.backend;
  }
  if (request.max_attempts > 0) job["max_attempts"] = request.max_attempts;
  if (request.replicas > 0) job["replicas"] = request.replicas;
  if (bid) job["bid"] = *bid;
  if (max_price) job["max_price"] = *max_price;
  return job;
}

}  // namespace potluck::cli
