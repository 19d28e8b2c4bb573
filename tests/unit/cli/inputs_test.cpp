// Tests of cli/inputs.hpp: what `potluck submit` makes of --input, --param, --params, --bid and
// --max-price, and the messages a user sees for each kind of mistake.
#define BOOST_TEST_MODULE cli_inputs
#include <boost/test/unit_test.hpp>

#include "cli/inputs.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace potluck::cli;

namespace {

// A predicate for BOOST_CHECK_EXCEPTION: the message holds every needle.
auto says(std::initializer_list<std::string> needles) {
  std::vector<std::string> list(needles);
  return [list](const std::exception& e) {
    const std::string what = e.what();
    for (const auto& n : list) {
      if (what.find(n) == std::string::npos) {
        BOOST_TEST_MESSAGE("error message \"" << what << "\" lacks \"" << n << "\"");
        return false;
      }
    }
    return true;
  };
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "potluck-cli-XXXXXX").string();
    BOOST_TEST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_nested_array_is_an_f32_tensor) {
  auto in = parse_input("a=[[1,2],[3,4]]");
  BOOST_TEST(in.name == "a");
  BOOST_TEST(json::serialize(in.value) == R"({"dtype":"f32","data":[[1,2],[3,4]]})");
}

BOOST_AUTO_TEST_CASE(spaces_and_a_single_number_are_accepted) {
  BOOST_TEST(parse_input("x= [ 1.5, -2 ] ").value == json::parse(R"({"dtype":"f32","data":[1.5,-2]})"));
  BOOST_TEST(json::serialize(parse_input("s=3").value) == R"({"dtype":"f32","data":3})");
}

BOOST_AUTO_TEST_CASE(a_tensor_object_passes_as_it_is) {
  auto in = parse_input(R"(ids={"dtype":"i64","shape":[2],"data":[7,8]})");
  BOOST_TEST(json::serialize(in.value) == R"({"dtype":"i64","shape":[2],"data":[7,8]})");
}

BOOST_AUTO_TEST_CASE(the_value_may_hold_equals_signs) {
  // Only the first '=' separates the name; base64 ends in '='.
  auto in = parse_input(R"(h={"dtype":"f16","shape":[1],"b64":"ADw="})");
  BOOST_TEST(in.name == "h");
  BOOST_TEST(in.value.at("b64").as_string() == "ADw=");
}

BOOST_AUTO_TEST_CASE(at_file_and_a_plain_path_read_json_from_a_file) {
  temp_dir dir;
  const auto matrix = dir.write("a.json", "[[1, 2],\n [3, 4]]\n");
  const auto object = dir.write("1.json", R"({"dtype":"u8","data":[1,2,3]})");
  BOOST_TEST(json::serialize(parse_input("a=@" + matrix).value) == R"({"dtype":"f32","data":[[1,2],[3,4]]})");
  BOOST_TEST(json::serialize(parse_input("a=" + matrix).value) == R"({"dtype":"f32","data":[[1,2],[3,4]]})");
  // A file whose path starts with a digit still reads as a file, not as a bad number.
  const auto cwd = fs::current_path();
  fs::current_path(dir.path);
  BOOST_TEST(json::serialize(parse_input("b=1.json").value) == R"({"dtype":"u8","data":[1,2,3]})");
  fs::current_path(cwd);
}

BOOST_AUTO_TEST_CASE(a_missing_file_says_which_and_why) {
  BOOST_CHECK_EXCEPTION(parse_input("a=@/nonexistent/a.json"), usage_error,
                        says({"--input a", "cannot read file '/nonexistent/a.json'", "No such file"}));
}

BOOST_AUTO_TEST_CASE(bad_json_says_where) {
  BOOST_CHECK_EXCEPTION(parse_input("a=[[1,2],[3,4]"), usage_error,
                        says({"--input a", "not valid JSON", "[[1,2],[3,4]"}));
  BOOST_CHECK_EXCEPTION(parse_input("a=[1,,2]"), usage_error, says({"--input a", "not valid JSON", "character"}));
  temp_dir dir;
  const auto broken = dir.write("broken.json", "[[1, 2],\n [3, 4,]]\n");
  BOOST_CHECK_EXCEPTION(parse_input("a=@" + broken), usage_error,
                        says({"--input a", "file '" + broken + "'", "not valid JSON", "line 2"}));
}

BOOST_AUTO_TEST_CASE(a_value_that_is_neither_json_nor_a_file_gets_examples) {
  BOOST_CHECK_EXCEPTION(parse_input("a=hello"), usage_error,
                        says({"--input a", "'hello' is neither JSON nor a file", "a='[[1,2],[3,4]]'", "a=@a.json"}));
}

BOOST_AUTO_TEST_CASE(strings_and_booleans_are_not_tensors) {
  temp_dir dir;
  const auto text = dir.write("s.json", "\"text\"");
  BOOST_CHECK_EXCEPTION(parse_input("a=@" + text), usage_error, says({"--input a", "holds a string", "[[1,2],[3,4]]"}));
}

BOOST_AUTO_TEST_CASE(a_missing_equals_sign_or_name_or_value_is_named) {
  BOOST_CHECK_EXCEPTION(parse_input("a"), usage_error,
                        says({"--input expects NAME=VALUE", "--input a='[[1,2],[3,4]]'", "got 'a'"}));
  BOOST_CHECK_EXCEPTION(parse_input("=[1]"), usage_error, says({"no name before '='"}));
  BOOST_CHECK_EXCEPTION(parse_input("a="), usage_error, says({"--input a", "no value after '='"}));
}

BOOST_AUTO_TEST_CASE(params_are_json_values_or_else_strings) {
  BOOST_TEST(json::serialize(parse_param("ms=60000").value) == "60000");
  BOOST_TEST(parse_param("ratio=0.5").value == json::value(0.5));
  BOOST_TEST(json::serialize(parse_param("on=true").value) == "true");
  BOOST_TEST(json::serialize(parse_param(R"(list=[1,"a"])").value) == R"([1,"a"])");
  BOOST_TEST(json::serialize(parse_param("label=hello world").value) == R"("hello world")");
  BOOST_TEST(json::serialize(parse_param("empty=").value) == R"("")");
  BOOST_CHECK_EXCEPTION(parse_param("ms"), usage_error, says({"--param expects NAME=VALUE", "--param ms=500"}));
}

BOOST_AUTO_TEST_CASE(build_job_assembles_the_request_body) {
  submit_request r;
  r.task = "linalg.matmul";
  r.inputs = {"a=[[1,2],[3,4]]", "b=[[5,6],[7,8]]"};
  r.params = {"ms=5", "label=x"};
  r.params_json = R"({"ms": 1, "keep": true})";
  r.backend = "cpu";
  r.max_attempts = 2;
  auto job = build_job(r);
  BOOST_TEST(job.at("task").as_string() == "linalg.matmul");
  BOOST_TEST(job.at("inputs").as_object().size() == 2u);
  BOOST_TEST(json::serialize(job.at("params")) == R"({"ms":5,"keep":true,"label":"x"})");
  BOOST_TEST(job.at("backend").as_string() == "cpu");
  BOOST_TEST(job.at("max_attempts").as_int64() == 2);

  submit_request bare;
  bare.task = "test.crash";
  auto minimal = build_job(bare);
  BOOST_TEST(json::serialize(minimal) == R"({"task":"test.crash","inputs":{}})");
}

BOOST_AUTO_TEST_CASE(build_job_rejects_duplicates_bad_backends_and_non_object_params) {
  submit_request twice;
  twice.task = "t";
  twice.inputs = {"a=[1]", "a=[2]"};
  BOOST_CHECK_EXCEPTION(build_job(twice), usage_error, says({"--input a is given twice"}));
  submit_request gpu;
  gpu.task = "t";
  gpu.backend = "gpu";
  BOOST_CHECK_EXCEPTION(build_job(gpu), usage_error, says({"--backend must be cpu or cuda", "'gpu'"}));
  submit_request list;
  list.task = "t";
  list.params_json = "[1]";
  BOOST_CHECK_EXCEPTION(build_job(list), usage_error, says({"--params takes a JSON object"}));
}

BOOST_AUTO_TEST_CASE(prices_are_credits_sent_as_micro_credits) {
  BOOST_TEST(parse_bid("0.5") == 500'000);
  BOOST_TEST(parse_bid("0") == 0);  // a free job
  BOOST_TEST(parse_bid("0.000001") == 1);
  BOOST_TEST(parse_bid("1,000,000") == 1'000'000'000'000);  // the highest bid
  BOOST_TEST(parse_max_price("2") == 2'000'000);
  BOOST_TEST(parse_max_price("1000000000") == 1'000'000'000'000'000);

  submit_request bid;
  bid.task = "linalg.matmul";
  bid.bid = "2.5";
  BOOST_TEST(json::serialize(build_job(bid)) == R"({"task":"linalg.matmul","inputs":{},"bid":2500000})");
  submit_request capped;
  capped.task = "linalg.matmul";
  capped.max_price = "0.00005";
  BOOST_TEST(json::serialize(build_job(capped)) == R"({"task":"linalg.matmul","inputs":{},"max_price":50})");
}

BOOST_AUTO_TEST_CASE(bad_prices_say_what_is_wrong_and_what_a_price_is) {
  BOOST_CHECK_EXCEPTION(parse_bid("-1"), usage_error, says({"--bid '-1': it is negative", "credits per million work units"}));
  BOOST_CHECK_EXCEPTION(parse_bid("1e6"), usage_error, says({"--bid '1e6'", "not a number of credits", "--bid 0.5"}));
  BOOST_CHECK_EXCEPTION(parse_bid("0.1234567"), usage_error, says({"more than 6 decimals", "0.000001"}));
  BOOST_CHECK_EXCEPTION(parse_bid(""), usage_error, says({"--bid '': it is empty"}));
  BOOST_CHECK_EXCEPTION(parse_bid("+3"), usage_error, says({"not a number of credits"}));
  BOOST_CHECK_EXCEPTION(parse_bid("1000000.000001"), usage_error,
                        says({"above the highest bid per million work units, 1000000 credits"}));
  BOOST_CHECK_EXCEPTION(parse_max_price("1000000001"), usage_error,
                        says({"--max-price '1000000001'", "above the most one job may cost, 1000000000 credits"}));
  BOOST_CHECK_EXCEPTION(parse_max_price("0.5.5"), usage_error, says({"--max-price is credits for the whole job"}));

  submit_request both;
  both.task = "t";
  both.bid = "1";
  both.max_price = "2";
  BOOST_CHECK_EXCEPTION(build_job(both), usage_error, says({"give --bid", "or --max-price", "not both"}));
  // Prices are checked before inputs, which may be large files.
  submit_request first;
  first.task = "t";
  first.inputs = {"a=@/no/such/file.json"};
  first.bid = "-2";
  BOOST_CHECK_EXCEPTION(build_job(first), usage_error, says({"--bid '-2'"}));
}
