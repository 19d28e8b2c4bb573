// Task declarations as the daemon sees them: tensor specs ("f32[m,k]"), the parameter schema
// and the cost expression ("2*m*n*k"). All declarative: the daemon validates jobs and prices
// them from these without ever running plugin code.
#pragma once

#include "potluck/protocol/tensor.hpp"

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace potluck::protocol {

class spec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One dimension of a spec: a name bound across the task's tensors, or a fixed size.
using dim_spec = std::variant<std::string, std::int64_t>;

struct tensor_spec {
  std::string name;
  std::string text;            // as declared, e.g. "f32[m,k]"
  std::optional<dtype> type;   // nullopt: "any"
  bool any_shape = false;      // "[...]"
  std::vector<dim_spec> dims;  // when !any_shape
  std::string description;
};

// Parses "f32[m,k]", "any[...]", "u8[h,w,3]". Throws spec_error saying what is wrong.
tensor_spec parse_tensor_spec(std::string_view name, std::string_view text);

// An integer expression over dimension names: + - * / ( ) and integer literals.
class cost_expr {
 public:
  // Throws spec_error naming the position of the problem. Empty text means "1".
  static cost_expr parse(std::string_view text);
  // Throws spec_error on an unknown name, a division by zero or an overflow.
  std::int64_t evaluate(const std::map<std::string, std::int64_t>& dims) const;
  const std::vector<std::string>& names() const { return names_; }
  const std::string& text() const { return text_; }

  struct node;

 private:
  std::shared_ptr<const node> root_;
  std::vector<std::string> names_;
  std::string text_;
};

struct task_decl {
  std::string name;
  std::string backend;  // "cpu" or "cuda"
  std::string description;
  std::vector<tensor_spec> inputs, outputs;
  std::string params_schema;  // JSON text; "" = no parameters
  std::string cost;           // "" = "1"
  std::string plugin, plugin_version;
  // How closely two runs' float outputs must agree (plk_task_decl): 0 and 0 = the default;
  // rtol < 0 = exactly.
  double rtol = 0, atol = 0;
};

// Whether two runs' outputs agree: the same names, dtypes and shapes, integer elements equal,
// float elements within the task's tolerance. "" when they do, else the first difference.
std::string compare_outputs(const task_decl& decl, const std::vector<tensor>& a, const std::vector<tensor>& b);

inline bool is_known_backend(std::string_view b) { return b == "cpu" || b == "cuda"; }

// Checks a full declaration: names, backend, every spec, the cost expression (whose names
// must all appear among the input dims), the schema being a JSON object. Throws spec_error.
void validate_task_decl(const task_decl& decl);

// JSON form used in the worker's hello and in GET /api/v1/tasks:
// {"name","backend","description","inputs":[{"name","spec","description"}],"outputs":[...],
//  "params_schema":{...}|null,"cost":"...","plugin","plugin_version"}
boost::json::object to_json(const task_decl& decl);
// Throws spec_error on a malformed declaration.
task_decl task_decl_from_json(const boost::json::value& v);

struct input_check {
  std::string error;                           // empty when the inputs fit
  std::map<std::string, std::int64_t> dims;    // bound dimension sizes
  bool ok() const { return error.empty(); }
};

// Checks the job's inputs against the task's declared inputs: every declared input present,
// no unknown input, dtypes, ranks, fixed sizes and that each named dim binds one size. The
// error names the input and says why, e.g. "input 'b' has shape [4,2] but 'k' is 3 from 'a'".
input_check check_inputs(const task_decl& decl, const std::vector<tensor_meta>& inputs);

// Checks outputs a worker returned against the declaration and the dims bound by the inputs.
std::string check_outputs(const task_decl& decl, const std::map<std::string, std::int64_t>& dims,
                          const std::vector<tensor_meta>& outputs);

// Validates `params` (a JSON object) against the subset of JSON Schema the SDK documents:
// type, properties, required, additionalProperties=false, minimum, maximum, enum.
// Returns "" when valid, else a message naming the parameter.
std::string check_params(std::string_view schema_json, const boost::json::value& params);

}  // namespace potluck::protocol
