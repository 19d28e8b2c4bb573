// Tests of protocol/task_spec.hpp: tensor specs, cost expressions, task declarations (checks and
// JSON form) and the checks of a job's inputs, a worker's outputs and a job's parameters.
#define BOOST_TEST_MODULE protocol_task_spec
#include <boost/test/unit_test.hpp>

#include "potluck/protocol/model_tasks.hpp"
#include "potluck/protocol/task_spec.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace pp = potluck::protocol;
namespace json = boost::json;

namespace {

auto says(std::string needle) {
  return [needle](const std::exception& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos) return true;
    BOOST_TEST_MESSAGE("error message \"" << what << "\" lacks \"" << needle << "\"");
    return false;
  };
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string dim_name(const pp::dim_spec& d) { return std::get<std::string>(d); }
std::int64_t dim_size(const pp::dim_spec& d) { return std::get<std::int64_t>(d); }

std::int64_t eval(std::string_view text, const std::map<std::string, std::int64_t>& dims = {}) {
  return pp::cost_expr::parse(text).evaluate(dims);
}

pp::tensor_meta meta(std::string name, pp::dtype type, std::vector<std::int64_t> shape) {
  return {std::move(name), type, std::move(shape)};
}

// linalg.matmul: a f32[m,k], b f32[k,n] -> c f32[m,n], cost 2*m*n*k.
pp::task_decl matmul() {
  pp::task_decl d;
  d.name = "linalg.matmul";
  d.backend = "cpu";
  d.description = "C = A B";
  d.inputs = {pp::parse_tensor_spec("a", "f32[m,k]"), pp::parse_tensor_spec("b", "f32[k,n]")};
  d.outputs = {pp::parse_tensor_spec("c", "f32[m,n]")};
  d.cost = "2*m*n*k";
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tensor_specs)

BOOST_AUTO_TEST_CASE(named_dims) {
  const auto s = pp::parse_tensor_spec("a", "f32[m,k]");
  BOOST_TEST(s.name == "a");
  BOOST_TEST(s.text == "f32[m,k]");
  BOOST_REQUIRE(s.type.has_value());
  BOOST_TEST(static_cast<int>(*s.type) == static_cast<int>(pp::dtype::f32));
  BOOST_TEST(!s.any_shape);
  BOOST_REQUIRE_EQUAL(s.dims.size(), 2u);
  BOOST_TEST(dim_name(s.dims[0]) == "m");
  BOOST_TEST(dim_name(s.dims[1]) == "k");
}

BOOST_AUTO_TEST_CASE(any_dtype_any_shape) {
  const auto s = pp::parse_tensor_spec("x", "any[...]");
  BOOST_TEST(!s.type.has_value());
  BOOST_TEST(s.any_shape);
  BOOST_TEST(s.dims.empty());
  const auto t = pp::parse_tensor_spec("x", "i64[...]");
  BOOST_REQUIRE(t.type.has_value());
  BOOST_TEST(static_cast<int>(*t.type) == static_cast<int>(pp::dtype::i64));
  BOOST_TEST(t.any_shape);
}

BOOST_AUTO_TEST_CASE(mixed_fixed_and_named_dims) {
  const auto s = pp::parse_tensor_spec("image", "u8[h,w,3]");
  BOOST_REQUIRE(s.type.has_value());
  BOOST_TEST(static_cast<int>(*s.type) == static_cast<int>(pp::dtype::u8));
  BOOST_REQUIRE_EQUAL(s.dims.size(), 3u);
  BOOST_TEST(dim_name(s.dims[0]) == "h");
  BOOST_TEST(dim_name(s.dims[1]) == "w");
  BOOST_TEST(dim_size(s.dims[2]) == 3);
}

BOOST_AUTO_TEST_CASE(scalar_and_whitespace) {
  const auto s = pp::parse_tensor_spec("alpha", "f32[]");
  BOOST_TEST(!s.any_shape);
  BOOST_TEST(s.dims.empty());
  const auto w = pp::parse_tensor_spec("a", "  f32 [ m , 4 ]  ");
  BOOST_TEST(w.text == "f32 [ m , 4 ]");
  BOOST_REQUIRE_EQUAL(w.dims.size(), 2u);
  BOOST_TEST(dim_name(w.dims[0]) == "m");
  BOOST_TEST(dim_size(w.dims[1]) == 4);
  const auto rank16 = pp::parse_tensor_spec("a", "f32[a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p]");
  BOOST_TEST(rank16.dims.size() == 16u);
}

BOOST_AUTO_TEST_CASE(bad_specs_say_what_is_wrong) {
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "x32[m]"), pp::spec_error, says("unknown dtype 'x32'"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[m,,k]"), pp::spec_error, says("empty dimension"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[m,]"), pp::spec_error, says("empty dimension"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32 m,k"), pp::spec_error, says("expected dtype[dims]"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[1m]"), pp::spec_error, says("bad dimension '1m'"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[m"), pp::spec_error, says("expected dtype[dims]"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", ""), pp::spec_error, says("expected dtype[dims]"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "[m]"), pp::spec_error, says("unknown dtype"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[m][k]"), pp::spec_error, says("bad dimension"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[m,...]"), pp::spec_error, says("bad dimension '...'"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[-1]"), pp::spec_error, says("bad dimension"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[m-1]"), pp::spec_error, says("bad dimension"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[99999999999999999999999]"), pp::spec_error,
                        says("bad dimension"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a", "f32[a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]"), pp::spec_error,
                        says("too many dimensions"));
  // The message names the tensor and quotes the spec.
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("weights", "f32[m,,k]"), pp::spec_error,
                        says("tensor 'weights' spec \"f32[m,,k]\""));
}

BOOST_AUTO_TEST_CASE(tensor_names_must_be_identifiers) {
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("", "f32[m]"), pp::spec_error, says("not an identifier"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("1a", "f32[m]"), pp::spec_error, says("not an identifier"));
  BOOST_CHECK_EXCEPTION(pp::parse_tensor_spec("a b", "f32[m]"), pp::spec_error, says("not an identifier"));
  BOOST_CHECK_NO_THROW(pp::parse_tensor_spec("_a1", "f32[m]"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cost_expressions)

BOOST_AUTO_TEST_CASE(precedence_and_associativity) {
  BOOST_TEST(eval("1+2*3") == 7);
  BOOST_TEST(eval("2*3+1") == 7);
  BOOST_TEST(eval("10-4-3") == 3);   // left-associative
  BOOST_TEST(eval("100/10/5") == 2);  // left-associative
  BOOST_TEST(eval("2*3*4") == 24);
  BOOST_TEST(eval("8-2*3") == 2);
  BOOST_TEST(eval("0-5") == -5);
}

BOOST_AUTO_TEST_CASE(parentheses_and_whitespace) {
  BOOST_TEST(eval("(1+2)*3") == 9);
  BOOST_TEST(eval(" ( ( 7 ) ) ") == 7);
  BOOST_TEST(eval("2*(3+(4-1))*2") == 24);
  BOOST_TEST(eval("10-(4-3)") == 9);
}

BOOST_AUTO_TEST_CASE(integer_division_truncates) {
  BOOST_TEST(eval("7/2") == 3);
  BOOST_TEST(eval("1/3") == 0);
  BOOST_TEST(eval("(0-7)/2") == -3);
}

BOOST_AUTO_TEST_CASE(names_bind_to_dims) {
  const auto e = pp::cost_expr::parse("2*m*n*k + m");
  BOOST_TEST(e.text() == "2*m*n*k + m");
  const std::vector<std::string> names{"m", "n", "k"};  // first use order, no repeats
  BOOST_TEST(e.names() == names, boost::test_tools::per_element());
  BOOST_TEST(e.evaluate({{"m", 2}, {"n", 3}, {"k", 4}}) == 2 * 2 * 3 * 4 + 2);
  BOOST_TEST(e.evaluate({{"m", 0}, {"n", 3}, {"k", 4}, {"unused", 9}}) == 0);
  BOOST_TEST(eval("n_1*_x", {{"n_1", 6}, {"_x", 7}}) == 42);
}

BOOST_AUTO_TEST_CASE(empty_means_one) {
  const auto e = pp::cost_expr::parse("");
  BOOST_TEST(e.text() == "1");
  BOOST_TEST(e.evaluate({}) == 1);
  BOOST_TEST(eval("   ") == 1);
}

BOOST_AUTO_TEST_CASE(unknown_name_at_evaluation) {
  const auto e = pp::cost_expr::parse("m*q");
  BOOST_CHECK_EXCEPTION(e.evaluate({{"m", 2}}), pp::spec_error, says("'q'"));
}

BOOST_AUTO_TEST_CASE(division_by_zero) {
  BOOST_CHECK_EXCEPTION(eval("1/0"), pp::spec_error, says("divides by zero"));
  BOOST_CHECK_EXCEPTION(eval("m/(n-n)", {{"m", 1}, {"n", 5}}), pp::spec_error, says("divides by zero"));
}

BOOST_AUTO_TEST_CASE(overflow) {
  BOOST_CHECK_EXCEPTION(eval("m*m*m", {{"m", std::int64_t{1} << 22}}), pp::spec_error, says("overflows"));
  BOOST_CHECK_EXCEPTION(eval("9223372036854775799+9"), pp::spec_error, says("overflows"));
  BOOST_CHECK_EXCEPTION(eval("0-9223372036854775799-10"), pp::spec_error, says("overflows"));
  BOOST_TEST(eval("9223372036854775799+8") == std::numeric_limits<std::int64_t>::max());
  // INT64_MIN / -1 does not fit either (and traps on x86 if computed).
  BOOST_CHECK_EXCEPTION(eval("(0-9223372036854775799-9)/(0-1)"), pp::spec_error, says("overflows"));
  BOOST_CHECK_EXCEPTION(eval("99999999999999999999"), pp::spec_error, says("number too large"));
}

BOOST_AUTO_TEST_CASE(garbage_is_refused_with_a_position) {
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("2*"), pp::spec_error, says("position 3"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("2**3"), pp::spec_error, says("position 3"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("(1+2"), pp::spec_error, says("expected ')'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("1+2)"), pp::spec_error, says("unexpected ')'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("m n"), pp::spec_error, says("unexpected 'n'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("2^3"), pp::spec_error, says("unexpected '^'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("-m"), pp::spec_error, says("unexpected '-'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("1.5*m"), pp::spec_error, says("unexpected '.'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("()"), pp::spec_error, says("unexpected ')'"));
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse("m;rm -rf"), pp::spec_error, says("unexpected ';'"));
}

BOOST_AUTO_TEST_CASE(nesting_depth_is_limited) {
  const std::string ok = std::string(30, '(') + "m" + std::string(30, ')');
  BOOST_TEST(eval(ok, {{"m", 5}}) == 5);
  const std::string deepest = std::string(63, '(') + "m" + std::string(63, ')');  // PROTOCOL.md: 63 levels
  BOOST_TEST(eval(deepest, {{"m", 5}}) == 5);
  const std::string too_deep = std::string(64, '(') + "m" + std::string(64, ')');
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse(too_deep), pp::spec_error, says("nested too deeply"));
  const std::string deep = std::string(100, '(') + "m" + std::string(100, ')');
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse(deep), pp::spec_error, says("nested too deeply"));
  const std::string hostile(1000, '(');
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse(hostile), pp::spec_error, says("nested too deeply"));
}

BOOST_AUTO_TEST_CASE(long_expressions_are_refused_before_they_exhaust_the_stack) {
  // A worker's hello may carry up to 1 MiB of header. Parsing, evaluating and destroying an
  // expression recurse once per operator, so a cost of ~50k terms used to crash the daemon's
  // broker thread (SIGSEGV). Costs are capped at 1024 bytes.
  std::string longest = "n";
  while (longest.size() + 2 <= 1024) longest += "+n";
  BOOST_REQUIRE_EQUAL(longest.size(), 1023u);
  BOOST_TEST(eval(longest, {{"n", 1}}) == 512);
  BOOST_TEST(eval(longest + " ", {{"n", 1}}) == 512);  // measured after trimming
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse(longest + "*2"), pp::spec_error, says("over 1024 bytes"));
  std::string hostile = "n";
  for (int i = 0; i < 500000; ++i) hostile += "+n";
  BOOST_CHECK_EXCEPTION(pp::cost_expr::parse(hostile), pp::spec_error, says("over 1024 bytes"));
  pp::task_decl d;
  d.name = "t";
  d.backend = "cpu";
  d.inputs = {pp::parse_tensor_spec("a", "f32[n]")};
  d.cost = hostile;
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("task 't': cost expression is over"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(declarations)

BOOST_AUTO_TEST_CASE(a_good_declaration_passes) {
  BOOST_CHECK_NO_THROW(pp::validate_task_decl(matmul()));
  auto d = matmul();
  d.name = "Nn_2.classify-v2";
  d.backend = "cuda";
  d.cost = "";
  d.params_schema = R"({"type":"object"})";
  BOOST_CHECK_NO_THROW(pp::validate_task_decl(d));
}

BOOST_AUTO_TEST_CASE(cost_names_must_be_bound_by_inputs) {
  auto d = matmul();
  d.cost = "m*n*z";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("'z', which no input binds"));
  // A dim bound only by an output does not count: the cost is computed before the job runs.
  d = matmul();
  d.outputs = {pp::parse_tensor_spec("c", "f32[m,z]")};
  d.cost = "z";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("'z'"));
  d = matmul();
  d.cost = "m*";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("task 'linalg.matmul': cost expression"));
}

BOOST_AUTO_TEST_CASE(duplicates_are_refused) {
  auto d = matmul();
  d.inputs.push_back(pp::parse_tensor_spec("a", "f32[n]"));
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("input 'a' is declared twice"));
  d = matmul();
  d.outputs.push_back(pp::parse_tensor_spec("c", "f32[n]"));
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("output 'c' is declared twice"));
}

BOOST_AUTO_TEST_CASE(bad_backend_name_and_schema) {
  auto d = matmul();
  d.backend = "opencl";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("unknown backend 'opencl'"));
  d.backend = "";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("unknown backend"));
  d = matmul();
  d.name = "";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("empty name"));
  d.name = "linalg matmul";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("name may hold only"));
  d.name = "a/b";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("name may hold only"));
  d = matmul();
  d.params_schema = "[1,2]";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("params schema is not a JSON object"));
  d.params_schema = "{";
  BOOST_CHECK_EXCEPTION(pp::validate_task_decl(d), pp::spec_error, says("params schema is not a JSON object"));
}

BOOST_AUTO_TEST_CASE(json_round_trip) {
  auto d = matmul();
  d.inputs[0].description = "left matrix";
  d.params_schema = R"({"type":"object","properties":{"alpha":{"type":"number"}}})";
  d.plugin = "blas";
  d.plugin_version = "1.2.0";
  const auto o = pp::to_json(d);
  BOOST_TEST(o.at("name").as_string() == "linalg.matmul");
  BOOST_TEST(o.at("backend").as_string() == "cpu");
  BOOST_TEST(o.at("cost").as_string() == "2*m*n*k");
  BOOST_TEST(o.at("inputs").as_array().size() == 2u);
  BOOST_TEST(o.at("inputs").as_array()[0].as_object().at("spec").as_string() == "f32[m,k]");
  BOOST_TEST(o.at("inputs").as_array()[0].as_object().at("description").as_string() == "left matrix");
  BOOST_TEST(!o.at("inputs").as_array()[1].as_object().contains("description"));
  BOOST_TEST(o.at("params_schema").is_object());

  // Through text, as on the wire.
  const auto back = pp::task_decl_from_json(json::parse(json::serialize(o)));
  BOOST_TEST(back.name == d.name);
  BOOST_TEST(back.backend == d.backend);
  BOOST_TEST(back.description == d.description);
  BOOST_TEST(back.cost == d.cost);
  BOOST_TEST(back.plugin == d.plugin);
  BOOST_TEST(back.plugin_version == d.plugin_version);
  BOOST_TEST(json::parse(back.params_schema) == json::parse(d.params_schema));
  BOOST_REQUIRE_EQUAL(back.inputs.size(), 2u);
  BOOST_REQUIRE_EQUAL(back.outputs.size(), 1u);
  BOOST_TEST(back.inputs[0].text == "f32[m,k]");
  BOOST_TEST(back.inputs[0].description == "left matrix");
  BOOST_TEST(back.inputs[1].text == "f32[k,n]");
  BOOST_TEST(back.outputs[0].name == "c");
  BOOST_TEST(back.outputs[0].dims.size() == 2u);
  BOOST_TEST(pp::to_json(back) == o);
}

BOOST_AUTO_TEST_CASE(json_without_schema_or_cost) {
  auto d = matmul();
  d.cost = "";
  const auto o = pp::to_json(d);
  BOOST_TEST(o.at("params_schema").is_null());
  BOOST_TEST(o.at("cost").as_string() == "1");
  const auto back = pp::task_decl_from_json(o);
  BOOST_TEST(back.params_schema.empty());
  BOOST_TEST(pp::cost_expr::parse(back.cost).evaluate({}) == 1);
  // The smallest declaration a worker can send.
  const auto minimal = pp::task_decl_from_json(json::parse(R"({"name":"t","backend":"cpu"})"));
  BOOST_TEST(minimal.inputs.empty());
  BOOST_TEST(minimal.outputs.empty());
}

BOOST_AUTO_TEST_CASE(malformed_json_declarations) {
  auto bad = [](const char* text, const char* needle) {
    BOOST_TEST_CONTEXT(text) {
      BOOST_CHECK_EXCEPTION(pp::task_decl_from_json(json::parse(text)), pp::spec_error, says(needle));
    }
  };
  bad(R"([1])", "not a JSON object");
  bad(R"({"backend":"cpu"})", "lacks \"name\"");
  bad(R"({"name":"t"})", "lacks \"backend\"");
  bad(R"({"name":7,"backend":"cpu"})", "\"name\" is not a string");
  bad(R"({"name":"t","backend":"cpu","cost":5})", "\"cost\" is not a string");
  bad(R"({"name":"t","backend":"cpu","inputs":{}})", "\"inputs\" is not an array");
  bad(R"({"name":"t","backend":"cpu","inputs":[1]})", "a tensor is not an object");
  bad(R"({"name":"t","backend":"cpu","inputs":[{"name":"a"}]})", "lacks \"name\" or \"spec\"");
  bad(R"({"name":"t","backend":"cpu","inputs":[{"name":"a","spec":"f32[m,,k]"}]})", "empty dimension");
  bad(R"({"name":"t","backend":"cpu","params_schema":"{}"})", "params_schema is not an object");
  bad(R"({"name":"t","backend":"gpu"})", "unknown backend 'gpu'");
  bad(R"({"name":"t","backend":"cpu","inputs":[{"name":"a","spec":"f32[n]"}],"cost":"n*q"})", "'q'");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(input_checks)

BOOST_AUTO_TEST_CASE(matching_inputs_bind_dims) {
  const auto r = pp::check_inputs(matmul(), {meta("a", pp::dtype::f32, {2, 3}), meta("b", pp::dtype::f32, {3, 4})});
  BOOST_TEST(r.ok(), r.error);
  BOOST_TEST(r.dims.at("m") == 2);
  BOOST_TEST(r.dims.at("k") == 3);
  BOOST_TEST(r.dims.at("n") == 4);
  BOOST_TEST(r.dims.size() == 3u);
  // Order of the job's inputs does not matter.
  BOOST_TEST(pp::check_inputs(matmul(), {meta("b", pp::dtype::f32, {3, 4}), meta("a", pp::dtype::f32, {2, 3})}).ok());
}

BOOST_AUTO_TEST_CASE(missing_input) {
  const auto r = pp::check_inputs(matmul(), {meta("a", pp::dtype::f32, {2, 3})});
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.error == "missing input 'b' (f32[k,n])");
}

BOOST_AUTO_TEST_CASE(unknown_input) {
  const auto r = pp::check_inputs(matmul(), {meta("a", pp::dtype::f32, {2, 3}), meta("b", pp::dtype::f32, {3, 4}),
                                             meta("bias", pp::dtype::f32, {4})});
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.error == "task 'linalg.matmul' has no input 'bias' (inputs: a, b)");
  pp::task_decl none;
  none.name = "t";
  none.backend = "cpu";
  BOOST_TEST(contains(pp::check_inputs(none, {meta("x", pp::dtype::u8, {})}).error, "(inputs: none)"));
  BOOST_TEST(pp::check_inputs(none, {}).ok());
}

BOOST_AUTO_TEST_CASE(wrong_dtype) {
  const auto r = pp::check_inputs(matmul(), {meta("a", pp::dtype::f64, {2, 3}), meta("b", pp::dtype::f32, {3, 4})});
  BOOST_TEST(r.error == "input 'a' must be f32, got f64");
}

BOOST_AUTO_TEST_CASE(wrong_rank) {
  const auto r = pp::check_inputs(matmul(), {meta("a", pp::dtype::f32, {2, 3, 1}), meta("b", pp::dtype::f32, {3, 4})});
  BOOST_TEST(r.error == "input 'a' must have rank 2 ([m,k]), got shape [2,3,1]");
  const auto scalar = pp::check_inputs(matmul(), {meta("a", pp::dtype::f32, {}), meta("b", pp::dtype::f32, {3, 4})});
  BOOST_TEST(contains(scalar.error, "input 'a' must have rank 2"));
}

BOOST_AUTO_TEST_CASE(dim_mismatch_names_the_dim_and_where_it_came_from) {
  const auto r = pp::check_inputs(matmul(), {meta("a", pp::dtype::f32, {2, 3}), meta("b", pp::dtype::f32, {4, 2})});
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.error == "input 'b' has shape [4,2] but 'k' is 3 from 'a' (expected [k,n])");
}

BOOST_AUTO_TEST_CASE(fixed_dims_and_any) {
  pp::task_decl d;
  d.name = "image.thumb";
  d.backend = "cpu";
  d.inputs = {pp::parse_tensor_spec("image", "u8[h,w,3]"), pp::parse_tensor_spec("extra", "any[...]"),
              pp::parse_tensor_spec("scale", "f32[]")};
  const auto ok = pp::check_inputs(d, {meta("image", pp::dtype::u8, {5, 7, 3}), meta("extra", pp::dtype::i64, {1, 2, 3, 4}),
                                       meta("scale", pp::dtype::f32, {})});
  BOOST_TEST(ok.ok(), ok.error);
  BOOST_TEST(ok.dims.at("h") == 5);
  BOOST_TEST(ok.dims.at("w") == 7);
  const auto bad = pp::check_inputs(d, {meta("image", pp::dtype::u8, {5, 7, 4}), meta("extra", pp::dtype::u8, {}),
                                        meta("scale", pp::dtype::f32, {})});
  BOOST_TEST(bad.error == "input 'image' must have shape [h,w,3], got [5,7,4] (dimension 2 must be 3)");
  // The same name twice in one tensor binds one size.
  d.inputs = {pp::parse_tensor_spec("sq", "f32[n,n]")};
  BOOST_TEST(pp::check_inputs(d, {meta("sq", pp::dtype::f32, {3, 3})}).ok());
  BOOST_TEST(contains(pp::check_inputs(d, {meta("sq", pp::dtype::f32, {3, 4})}).error, "'n' is 3 from 'sq'"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(output_checks)

BOOST_AUTO_TEST_CASE(outputs_use_the_dims_of_the_inputs) {
  const std::map<std::string, std::int64_t> dims{{"m", 2}, {"k", 3}, {"n", 4}};
  const auto d = matmul();
  BOOST_TEST(pp::check_outputs(d, dims, {meta("c", pp::dtype::f32, {2, 4})}) == "");
  BOOST_TEST(pp::check_outputs(d, dims, {meta("c", pp::dtype::f32, {4, 2})}) ==
             "output 'c' has shape [4,2] but 'm' is 2 from 'the inputs' (expected [m,n])");
  BOOST_TEST(pp::check_outputs(d, dims, {}) == "missing output 'c'");
  BOOST_TEST(pp::check_outputs(d, dims, {meta("c", pp::dtype::f64, {2, 4})}) == "output 'c' must be f32, got f64");
  BOOST_TEST(pp::check_outputs(d, dims, {meta("c", pp::dtype::f32, {2, 4}), meta("d", pp::dtype::f32, {1})}) ==
             "unexpected output 'd'");
  BOOST_TEST(contains(pp::check_outputs(d, dims, {meta("c", pp::dtype::f32, {8})}), "must have rank 2"));
}

BOOST_AUTO_TEST_CASE(dims_only_outputs_bind_are_free_but_consistent) {
  pp::task_decl d;
  d.name = "text.tokens";
  d.backend = "cpu";
  d.inputs = {pp::parse_tensor_spec("text", "u8[n]")};
  d.outputs = {pp::parse_tensor_spec("ids", "i32[t]"), pp::parse_tensor_spec("mask", "bool[t]")};
  const std::map<std::string, std::int64_t> dims{{"n", 10}};
  BOOST_TEST(pp::check_outputs(d, dims, {meta("ids", pp::dtype::i32, {6}), meta("mask", pp::dtype::boolean, {6})}) == "");
  BOOST_TEST(pp::check_outputs(d, dims, {meta("ids", pp::dtype::i32, {6}), meta("mask", pp::dtype::boolean, {7})}) ==
             "output 'mask' has shape [7] but 't' is 6 from 'ids' (expected [t])");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(param_checks)

const char* schema = R"({
  "type": "object",
  "properties": {
    "alpha": {"type": "number", "minimum": 0, "maximum": 10},
    "steps": {"type": "integer", "minimum": 1},
    "mode": {"type": "string", "enum": ["fast", "exact"]},
    "verbose": {"type": "boolean"},
    "inner": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
  },
  "required": ["alpha"],
  "additionalProperties": false
})";

std::string check(const char* params) { return pp::check_params(schema, json::parse(params)); }

BOOST_AUTO_TEST_CASE(valid_params) {
  BOOST_TEST(check(R"({"alpha": 0.5})") == "");
  BOOST_TEST(check(R"({"alpha": 10, "steps": 3, "mode": "exact", "verbose": true, "inner": {"x": 1}})") == "");
  BOOST_TEST(check(R"({"alpha": 0, "steps": 2.0})") == "");  // 2.0 is an integer in JSON Schema
}

BOOST_AUTO_TEST_CASE(type) {
  BOOST_TEST(check(R"({"alpha": "1"})") == "parameter 'alpha' must be number, got string");
  BOOST_TEST(check(R"({"alpha": 1, "steps": 1.5})") == "parameter 'steps' must be integer, got number");
  BOOST_TEST(check(R"({"alpha": 1, "verbose": 1})") == "parameter 'verbose' must be boolean, got integer");
  BOOST_TEST(check(R"({"alpha": 1, "inner": {"x": "y"}})") == "parameter 'inner'.x must be integer, got string");
  BOOST_TEST(pp::check_params(schema, json::parse("[1]")) == "params must be a JSON object");
  BOOST_TEST(pp::check_params("", json::parse("null")) == "params must be a JSON object");
}

BOOST_AUTO_TEST_CASE(required) {
  BOOST_TEST(check(R"({})") == "missing parameter alpha");
  BOOST_TEST(check(R"({"alpha": 1, "inner": {}})") == "missing parameter 'inner'.x");
}

BOOST_AUTO_TEST_CASE(minimum_and_maximum) {
  BOOST_TEST(check(R"({"alpha": -0.1})") == "parameter 'alpha' must be at least 0");
  BOOST_TEST(check(R"({"alpha": 10.5})") == "parameter 'alpha' must be at most 10");
  BOOST_TEST(check(R"({"alpha": 1, "steps": 0})") == "parameter 'steps' must be at least 1");
}

BOOST_AUTO_TEST_CASE(enumeration) {
  BOOST_TEST(check(R"({"alpha": 1, "mode": "slow"})") == R"(parameter 'mode' must be one of ["fast","exact"])");
}

BOOST_AUTO_TEST_CASE(additional_properties_false) {
  BOOST_TEST(check(R"({"alpha": 1, "beta": 2})") == "unknown parameter 'beta' (known: alpha, steps, mode, verbose, inner)");
  // Without additionalProperties=false, unknown parameters pass.
  BOOST_TEST(pp::check_params(R"({"type":"object","properties":{"a":{"type":"integer"}}})",
                              json::parse(R"({"b": "anything"})")) == "");
  BOOST_TEST(pp::check_params(R"({"type":"object","additionalProperties":false})", json::parse(R"({"b": 1})")) ==
             "unknown parameter 'b' (known: none)");
}

BOOST_AUTO_TEST_CASE(no_schema) {
  BOOST_TEST(pp::check_params("", json::parse("{}")) == "");
  BOOST_TEST(pp::check_params("", json::parse(R"({"alpha": 1})")) == "this task takes no parameters");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(comparing_outputs)

pp::tensor floats(const std::string& name, std::vector<float> values) {
  pp::tensor t;
  t.name = name;
  t.type = pp::dtype::f32;
  t.shape = {static_cast<std::int64_t>(values.size())};
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

pp::tensor ints(const std::string& name, std::vector<std::int32_t> values) {
  pp::tensor t;
  t.name = name;
  t.type = pp::dtype::i32;
  t.shape = {static_cast<std::int64_t>(values.size())};
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::int32_t));
  return t;
}

BOOST_AUTO_TEST_CASE(floats_agree_within_the_tolerance_and_integers_exactly) {
  pp::task_decl decl;  // the default tolerance: rtol 1e-5, atol 1e-8
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {1.0f, 100.0f})}, {floats("c", {1.0f, 100.0005f})}).empty());
  const auto far = pp::compare_outputs(decl, {floats("c", {1.0f, 100.0f})}, {floats("c", {1.0f, 100.1f})});
  BOOST_TEST(far.find("output 'c' differs at element 1") != std::string::npos, far);
  BOOST_TEST(pp::compare_outputs(decl, {ints("n", {1, 2})}, {ints("n", {1, 2})}).empty());
  BOOST_TEST(!pp::compare_outputs(decl, {ints("n", {1, 2})}, {ints("n", {1, 3})}).empty());
  // A task's own tolerance, and exactness.
  decl.rtol = 1e-2;
  decl.atol = 0;
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {100.0f})}, {floats("c", {100.5f})}).empty());
  decl.rtol = -1;
  BOOST_TEST(!pp::compare_outputs(decl, {floats("c", {1.0f})}, {floats("c", {1.0000001f})}).empty());
  // NaN agrees only with NaN.
  decl = {};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {nan})}, {floats("c", {nan})}).empty());
  BOOST_TEST(!pp::compare_outputs(decl, {floats("c", {nan})}, {floats("c", {0})}).empty());
}

BOOST_AUTO_TEST_CASE(different_names_shapes_dtypes_and_counts_disagree) {
  pp::task_decl decl;
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {1})}, {floats("d", {1})}).find("missing") != std::string::npos);
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {1})}, {floats("c", {1, 2})}).find("shape") != std::string::npos);
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {1})}, {ints("c", {1})}).find("f32") != std::string::npos);
  BOOST_TEST(pp::compare_outputs(decl, {floats("c", {1})}, {}).find("1 outputs against 0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_tolerance_travels_in_the_declaration_and_bad_ones_are_refused) {
  auto v = json::parse(R"({"name":"a.b","backend":"cpu","tolerance":{"rtol":0.001,"atol":0.5}})");
  auto decl = pp::task_decl_from_json(v);
  BOOST_TEST(decl.rtol == 0.001);
  BOOST_TEST(decl.atol == 0.5);
  BOOST_TEST(pp::to_json(decl).at("tolerance").at("atol").as_double() == 0.5);
  for (const char* bad : {R"({"name":"a.b","backend":"cpu","tolerance":{"rtol":-2,"atol":0}})",
                          R"({"name":"a.b","backend":"cpu","tolerance":{"rtol":0,"atol":-1}})",
                          R"({"name":"a.b","backend":"cpu","tolerance":{"rtol":"x","atol":0}})",
                          R"({"name":"a.b","backend":"cpu","tolerance":5})"})
    BOOST_CHECK_THROW(pp::task_decl_from_json(json::parse(bad)), pp::spec_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(model_tasks_are_named_by_format_and_task_and_declare_valid_interfaces) {
  using namespace potluck::protocol;
  for (const auto& format : model_formats()) {
    for (const auto& task : hub_tasks()) {
      const auto name = model_task_name(format, task);
      auto split = split_model_task(name);
      BOOST_TEST_REQUIRE(split.has_value(), name);
      BOOST_TEST(split->first == format);
      BOOST_TEST(split->second == task);
      for (const char* backend : {"cpu", "cuda"}) {
        auto decl = model_task_decl(name, backend);
        BOOST_TEST_REQUIRE(decl.has_value());
        BOOST_CHECK_NO_THROW(validate_task_decl(*decl));
        BOOST_TEST(decl->backend == backend);
      }
    }
  }
  BOOST_TEST(!split_model_task("linalg.matmul"));
  BOOST_TEST(!split_model_task("torchscript.unknown-task"));
  BOOST_TEST(!split_model_task("pickle.text-classification"));
  BOOST_TEST(!model_task_decl("test.echo", "cpu"));
  // Two texts of a classifier's batch bind b and n; generation's parameters are checked.
  auto classify = *model_task_decl("torchscript.text-classification", "cpu");
  auto check = check_inputs(classify, {tensor_meta{"text", dtype::u8, {2, 7}}});
  BOOST_TEST(check.ok(), check.error);
  BOOST_TEST(!check_inputs(classify, {tensor_meta{"text", dtype::f32, {2, 7}}}).ok());
  auto generate = *model_task_decl("torchscript.text-generation", "cpu");
  BOOST_TEST(check_params(generate.params_schema, boost::json::parse(R"({"max_new_tokens":5000})")).find("max_new_tokens") !=
             std::string::npos);
  BOOST_TEST(check_params(generate.params_schema, boost::json::parse(R"({"temperature":0.7,"seed":3})")).empty());
}
