// Tensor specs, cost expressions, input/output checks and the parameter-schema subset.
#include "potluck/protocol/task_spec.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

namespace json = boost::json;

namespace potluck::protocol {
namespace {

// Parsing and evaluating recurse once per operator: a long "n+n+...+n" would exhaust the stack.
constexpr std::size_t max_cost_expr_bytes = 1024;

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) return false;
  for (char c : s)
    if (!is_ident_char(c)) return false;
  return true;
}

std::string dim_text(const dim_spec& d) {
  if (const auto* name = std::get_if<std::string>(&d)) return *name;
  return std::to_string(std::get<std::int64_t>(d));
}

}  // namespace

tensor_spec parse_tensor_spec(std::string_view name, std::string_view text) {
  tensor_spec spec;
  spec.name = std::string(name);
  spec.text = std::string(trim(text));
  const std::string where = "tensor '" + spec.name + "' spec \"" + spec.text + "\": ";
  if (!is_identifier(name)) throw spec_error("tensor name '" + spec.name + "' is not an identifier");
  std::string_view s = spec.text;
  const auto open = s.find('[');
  if (open == std::string_view::npos || s.back() != ']')
    throw spec_error(where + "expected dtype[dims], e.g. f32[m,k]");
  const auto type_text = trim(s.substr(0, open));
  if (type_text != "any") {
    spec.type = parse_dtype(type_text);
    if (!spec.type) throw spec_error(where + "unknown dtype '" + std::string(type_text) + "'");
  }
  const auto dims_text = trim(s.substr(open + 1, s.size() - open - 2));
  if (dims_text == "...") {
    spec.any_shape = true;
    return spec;
  }
  if (dims_text.empty()) return spec;  // a scalar: rank 0
  std::size_t pos = 0;
  while (pos <= dims_text.size()) {
    auto comma = dims_text.find(',', pos);
    if (comma == std::string_view::npos) comma = dims_text.size();
    const auto dim = trim(dims_text.substr(pos, comma - pos));
    if (dim.empty()) throw spec_error(where + "empty dimension");
    if (std::isdigit(static_cast<unsigned char>(dim[0]))) {
      std::int64_t v = 0;
      for (char c : dim) {
        if (!std::isdigit(static_cast<unsigned char>(c)) || v > (std::int64_t{1} << 40))
          throw spec_error(where + "bad dimension '" + std::string(dim) + "'");
        v = v * 10 + (c - '0');
      }
      spec.dims.emplace_back(v);
    } else if (is_identifier(dim)) {
      spec.dims.emplace_back(std::string(dim));
    } else {
      throw spec_error(where + "bad dimension '" + std::string(dim) + "' (a name, a number, or ... alone)");
    }
    pos = comma + 1;
  }
  if (spec.dims.size() > max_tensor_rank) throw spec_error(where + "too many dimensions");
  return spec;
}

// ---- cost expressions: a small recursive-descent parser over + - * / ( ) ----

struct cost_expr::node {
  char op = 0;  // 0: leaf
  std::int64_t value = 0;
  std::string name;  // leaf name when not empty
  std::shared_ptr<const node> lhs, rhs;
};

namespace {

class cost_parser {
 public:
  explicit cost_parser(std::string_view text) : s_(text) {}

  std::shared_ptr<const cost_expr::node> parse(std::vector<std::string>& names) {
    names_ = &names;
    auto n = expr();
    skip();
    if (pos_ != s_.size()) fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return n;
  }

 private:
  using node_ptr = std::shared_ptr<const cost_expr::node>;

  [[noreturn]] void fail(const std::string& what) {
    throw spec_error("cost expression \"" + std::string(s_) + "\" at position " +
                     std::to_string(pos_ + 1) + ": " + what);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  node_ptr binary(char op, node_ptr l, node_ptr r) {
    auto n = std::make_shared<cost_expr::node>();
    n->op = op;
    n->lhs = std::move(l);
    n->rhs = std::move(r);
    return n;
  }
  node_ptr expr() {
    auto l = term();
    for (;;) {
      skip();
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
        const char op = s_[pos_++];
        l = binary(op, l, term());
      } else {
        return l;
      }
    }
  }
  node_ptr term() {
    auto l = factor();
    for (;;) {
      skip();
      if (pos_ < s_.size() && (s_[pos_] == '*' || s_[pos_] == '/')) {
        const char op = s_[pos_++];
        l = binary(op, l, factor());
      } else {
        return l;
      }
    }
  }
  node_ptr factor() {
    if (++depth_ > 64) fail("nested too deeply");
    skip();
    if (pos_ >= s_.size()) fail("expected a number, a name or '('");
    const char c = s_[pos_];
    node_ptr result;
    if (c == '(') {
      ++pos_;
      result = expr();
      skip();
      if (pos_ >= s_.size() || s_[pos_] != ')') fail("expected ')'");
      ++pos_;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      auto n = std::make_shared<cost_expr::node>();
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        if (n->value > (std::numeric_limits<std::int64_t>::max() - 9) / 10) fail("number too large");
        n->value = n->value * 10 + (s_[pos_++] - '0');
      }
      result = n;
    } else if (is_ident_start(c)) {
      auto n = std::make_shared<cost_expr::node>();
      const auto start = pos_;
      while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
      n->name = std::string(s_.substr(start, pos_ - start));
      bool seen = false;
      for (const auto& known : *names_) seen = seen || known == n->name;
      if (!seen) names_->push_back(n->name);
      result = n;
    } else {
      fail("unexpected '" + std::string(1, c) + "'");
    }
    --depth_;
    return result;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::vector<std::string>* names_ = nullptr;
};

std::int64_t eval_node(const cost_expr::node& n, const std::map<std::string, std::int64_t>& dims,
                       const std::string& text) {
  if (n.op == 0) {
    if (n.name.empty()) return n.value;
    auto it = dims.find(n.name);
    if (it == dims.end())
      throw spec_error("cost expression \"" + text + "\" uses '" + n.name + "', which no input binds");
    return it->second;
  }
  const auto l = eval_node(*n.lhs, dims, text);
  const auto r = eval_node(*n.rhs, dims, text);
  std::int64_t out = 0;
  bool overflow = false;
  switch (n.op) {
    case '+': overflow = __builtin_add_overflow(l, r, &out); break;
    case '-': overflow = __builtin_sub_overflow(l, r, &out); break;
    case '*': overflow = __builtin_mul_overflow(l, r, &out); break;
    case '/':
      if (r == 0) throw spec_error("cost expression \"" + text + "\" divides by zero");
      overflow = l == std::numeric_limits<std::int64_t>::min() && r == -1;  // would trap
      if (!overflow) out = l / r;
      break;
  }
  if (overflow) throw spec_error("cost expression \"" + text + "\" overflows for these inputs");
  return out;
}

}  // namespace

cost_expr cost_expr::parse(std::string_view text) {
  cost_expr e;
  e.text_ = std::string(trim(text));
  if (e.text_.empty()) e.text_ = "1";
  if (e.text_.size() > max_cost_expr_bytes)
    throw spec_error("cost expression is over " + std::to_string(max_cost_expr_bytes) + " bytes");
  cost_parser p(e.text_);
  e.root_ = p.parse(e.names_);
  return e;
}

std::int64_t cost_expr::evaluate(const std::map<std::string, std::int64_t>& dims) const {
  return eval_node(*root_, dims, text_);
}

// ---- declarations ----

void validate_task_decl(const task_decl& decl) {
  const std::string where = "task '" + decl.name + "'";
  if (decl.name.empty()) throw spec_error("a task has an empty name");
  for (char c : decl.name)
    if (!is_ident_char(c) && c != '.' && c != '-')
      throw spec_error(where + ": name may hold only letters, digits, '_', '-' and '.'");
  if (!std::isfinite(decl.rtol) || !std::isfinite(decl.atol) || decl.atol < 0 || (decl.rtol < 0 && decl.rtol != -1.0))
    throw spec_error(where + ": tolerance rtol must be 0 or more (or -1 for exact) and atol 0 or more, both finite");
  if (!is_known_backend(decl.backend))
    throw spec_error(where + ": unknown backend '" + decl.backend + "' (cpu or cuda)");
  std::set<std::string> bound;
  std::set<std::string> seen;
  for (const auto& in : decl.inputs) {
    if (!seen.insert(in.name).second) throw spec_error(where + ": input '" + in.name + "' is declared twice");
    for (const auto& d : in.dims)
      if (auto* n = std::get_if<std::string>(&d)) bound.insert(*n);
  }
  seen.clear();
  for (const auto& out : decl.outputs)
    if (!seen.insert(out.name).second) throw spec_error(where + ": output '" + out.name + "' is declared twice");
  try {
    const auto cost = cost_expr::parse(decl.cost);
    for (const auto& n : cost.names())
      if (!bound.count(n))
        throw spec_error("cost expression \"" + cost.text() + "\" uses '" + n + "', which no input binds");
  } catch (const spec_error& e) {
    throw spec_error(where + ": " + e.what());
  }
  if (!decl.params_schema.empty()) {
    boost::system::error_code ec;
    auto v = json::parse(decl.params_schema, ec);
    if (ec || !v.is_object()) throw spec_error(where + ": params schema is not a JSON object");
  }
}

json::object to_json(const task_decl& decl) {
  auto tensors = [](const std::vector<tensor_spec>& list) {
    json::array a;
    for (const auto& t : list) {
      json::object o;
      o["name"] = t.name;
      o["spec"] = t.text;
      if (!t.description.empty()) o["description"] = t.description;
      a.push_back(std::move(o));
    }
    return a;
  };
  json::object o;
  o["name"] = decl.name;
  o["backend"] = decl.backend;
  o["description"] = decl.description;
  o["inputs"] = tensors(decl.inputs);
  o["outputs"] = tensors(decl.outputs);
  if (decl.params_schema.empty()) {
    o["params_schema"] = nullptr;
  } else {
    boost::system::error_code ec;
    auto v = json::parse(decl.params_schema, ec);
    o["params_schema"] = ec ? json::value(nullptr) : v;
  }
  o["cost"] = decl.cost.empty() ? "1" : decl.cost;
  if (decl.rtol != 0 || decl.atol != 0) o["tolerance"] = json::object{{"rtol", decl.rtol}, {"atol", decl.atol}};
  o["plugin"] = decl.plugin;
  o["plugin_version"] = decl.plugin_version;
  return o;
}

task_decl task_decl_from_json(const json::value& v) {
  if (!v.is_object()) throw spec_error("a task declaration is not a JSON object");
  const auto& o = v.as_object();
  auto str = [&](const char* key, bool required) -> std::string {
    auto* p = o.if_contains(key);
    if (!p || p->is_null()) {
      if (required) throw spec_error(std::string("a task declaration lacks \"") + key + "\"");
      return {};
    }
    if (!p->is_string()) throw spec_error(std::string("task field \"") + key + "\" is not a string");
    return std::string(p->as_string());
  };
  task_decl d;
  d.name = str("name", true);
  d.backend = str("backend", true);
  d.description = str("description", false);
  d.cost = str("cost", false);
  d.plugin = str("plugin", false);
  d.plugin_version = str("plugin_version", false);
  auto tensors = [&](const char* key, std::vector<tensor_spec>& out) {
    auto* p = o.if_contains(key);
    if (!p || p->is_null()) return;
    if (!p->is_array()) throw spec_error("task '" + d.name + "': \"" + key + "\" is not an array");
    for (const auto& t : p->as_array()) {
      if (!t.is_object()) throw spec_error("task '" + d.name + "': a tensor is not an object");
      const auto& to = t.as_object();
      auto* n = to.if_contains("name");
      auto* s = to.if_contains("spec");
      if (!n || !n->is_string() || !s || !s->is_string())
        throw spec_error("task '" + d.name + "': a tensor lacks \"name\" or \"spec\"");
      auto spec = parse_tensor_spec(n->as_string(), s->as_string());
      if (auto* desc = to.if_contains("description"); desc && desc->is_string())
        spec.description = std::string(desc->as_string());
      out.push_back(std::move(spec));
    }
  };
  tensors("inputs", d.inputs);
  tensors("outputs", d.outputs);
  if (auto* p = o.if_contains("params_schema"); p && !p->is_null()) {
    if (!p->is_object()) throw spec_error("task '" + d.name + "': params_schema is not an object");
    d.params_schema = json::serialize(*p);
  }
  if (auto* p = o.if_contains("tolerance"); p && !p->is_null()) {
    const auto* t = p->if_object();
    const auto* rtol = t ? t->if_contains("rtol") : nullptr;
    const auto* atol = t ? t->if_contains("atol") : nullptr;
    if (!rtol || !atol || !rtol->is_number() || !atol->is_number())
      throw spec_error("task '" + d.name + "': \"tolerance\" is {\"rtol\": number, \"atol\": number}");
    d.rtol = rtol->to_number<double>();
    d.atol = atol->to_number<double>();
  }
  validate_task_decl(d);
  return d;
}

// ---- comparing two runs' outputs ----

namespace {

double half_to_double(std::uint16_t h) {
  const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) v = std::ldexp(mantissa, -24);
  else if (exponent == 31) v = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(mantissa + 1024, exponent - 25);
  return sign ? -v : v;
}

// Element i of a float tensor as a double.
double float_at(const tensor& t, std::size_t i) {
  const char* p = t.data.data();
  switch (t.type) {
    case dtype::f32: { float f; std::memcpy(&f, p + i * 4, 4); return f; }
    case dtype::f64: { double d; std::memcpy(&d, p + i * 8, 8); return d; }
    case dtype::f16: { std::uint16_t h; std::memcpy(&h, p + i * 2, 2); return half_to_double(h); }
    case dtype::bf16: {
      std::uint16_t h; std::memcpy(&h, p + i * 2, 2);
      const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
      float f; std::memcpy(&f, &bits, 4); return f;
    }
    default: return 0;
  }
}

bool is_float(dtype t) { return t == dtype::f32 || t == dtype::f64 || t == dtype::f16 || t == dtype::bf16; }

}  // namespace

std::string compare_outputs(const task_decl& decl, const std::vector<tensor>& a, const std::vector<tensor>& b) {
  if (a.size() != b.size())
    return std::to_string(a.size()) + " outputs against " + std::to_string(b.size());
  const bool exact = decl.rtol < 0;
  const double rtol = decl.rtol == 0 && decl.atol == 0 ? 1e-5 : std::max(decl.rtol, 0.0);
  const double atol = decl.rtol == 0 && decl.atol == 0 ? 1e-8 : std::max(decl.atol, 0.0);
  for (const auto& x : a) {
    auto y = std::find_if(b.begin(), b.end(), [&](const tensor& t) { return t.name == x.name; });
    if (y == b.end()) return "output '" + x.name + "' is missing from one run";
    if (x.type != y->type) return "output '" + x.name + "' is " + dtype_name(x.type) + " in one run, " + dtype_name(y->type) + " in the other";
    if (x.shape != y->shape) return "output '" + x.name + "' has shape " + shape_string(x.shape) + " in one run, " + shape_string(y->shape) + " in the other";
    if (x.data.size() != y->data.size()) return "output '" + x.name + "' differs in size";
    if (!is_float(x.type) || exact) {
      if (x.data != y->data) {
        const auto at = std::mismatch(x.data.begin(), x.data.end(), y->data.begin()).first - x.data.begin();
        return "output '" + x.name + "' differs at element " + std::to_string(static_cast<std::size_t>(at) / dtype_size(x.type));
      }
      continue;
    }
    const std::size_t n = x.data.size() / dtype_size(x.type);
    for (std::size_t i = 0; i < n; ++i) {
      const double u = float_at(x, i), v = float_at(*y, i);
      if (std::isnan(u) && std::isnan(v)) continue;
      if (u == v) continue;  // equal infinities too
      if (!(std::fabs(u - v) <= atol + rtol * std::fabs(v))) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "output '%s' differs at element %zu: %.9g against %.9g (tolerance rtol %g, atol %g)",
                      x.name.c_str(), i, u, v, rtol, atol);
        return buf;
      }
    }
  }
  return {};
}

// ---- checks of jobs against declarations ----

namespace {

// Binds `spec` against a tensor's meta; returns an error or "".
std::string bind_tensor(const char* kind, const tensor_spec& spec, const tensor_meta& t,
                        std::map<std::string, std::int64_t>& dims,
                        std::map<std::string, std::string>& bound_by) {
  const std::string who = std::string(kind) + " '" + spec.name + "'";
  if (spec.type && *spec.type != t.type)
    return who + " must be " + dtype_name(*spec.type) + ", got " + dtype_name(t.type);
  if (spec.any_shape) return {};
  std::string want = "[";
  for (std::size_t i = 0; i < spec.dims.size(); ++i) want += (i ? "," : "") + dim_text(spec.dims[i]);
  want += "]";
  if (spec.dims.size() != t.shape.size())
    return who + " must have rank " + std::to_string(spec.dims.size()) + " (" + want + "), got shape " +
           shape_string(t.shape);
  for (std::size_t i = 0; i < spec.dims.size(); ++i) {
    const auto actual = t.shape[i];
    if (const auto* fixed = std::get_if<std::int64_t>(&spec.dims[i])) {
      if (*fixed != actual)
        return who + " must have shape " + want + ", got " + shape_string(t.shape) + " (dimension " +
               std::to_string(i) + " must be " + std::to_string(*fixed) + ")";
      continue;
    }
    const auto& name = std::get<std::string>(spec.dims[i]);
    auto [it, inserted] = dims.emplace(name, actual);
    if (inserted) {
      bound_by[name] = spec.name;
    } else if (it->second != actual) {
      return who + " has shape " + shape_string(t.shape) + " but '" + name + "' is " +
             std::to_string(it->second) + " from '" + bound_by[name] + "' (expected " + want + ")";
    }
  }
  return {};
}

}  // namespace

input_check check_inputs(const task_decl& decl, const std::vector<tensor_meta>& inputs) {
  input_check result;
  std::map<std::string, std::string> bound_by;
  for (const auto& in : inputs) {
    bool known = false;
    for (const auto& spec : decl.inputs) known = known || spec.name == in.name;
    if (!known) {
      std::string names;
      for (const auto& spec : decl.inputs) names += (names.empty() ? "" : ", ") + spec.name;
      result.error = "task '" + decl.name + "' has no input '" + in.name + "' (inputs: " +
                     (names.empty() ? "none" : names) + ")";
      return result;
    }
  }
  for (const auto& spec : decl.inputs) {
    const tensor_meta* found = nullptr;
    for (const auto& in : inputs)
      if (in.name == spec.name) found = &in;
    if (!found) {
      result.error = "missing input '" + spec.name + "' (" + spec.text + ")";
      return result;
    }
    result.error = bind_tensor("input", spec, *found, result.dims, bound_by);
    if (!result.error.empty()) return result;
  }
  return result;
}

std::string check_outputs(const task_decl& decl, const std::map<std::string, std::int64_t>& dims,
                          const std::vector<tensor_meta>& outputs) {
  auto bound = dims;
  std::map<std::string, std::string> bound_by;
  for (const auto& [name, _] : bound) bound_by[name] = "the inputs";
  for (const auto& spec : decl.outputs) {
    const tensor_meta* found = nullptr;
    for (const auto& out : outputs)
      if (out.name == spec.name) found = &out;
    if (!found) return "missing output '" + spec.name + "'";
    auto err = bind_tensor("output", spec, *found, bound, bound_by);
    if (!err.empty()) return err;
  }
  for (const auto& out : outputs) {
    bool known = false;
    for (const auto& spec : decl.outputs) known = known || spec.name == out.name;
    if (!known) return "unexpected output '" + out.name + "'";
  }
  return {};
}

namespace {

const char* json_kind(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64: case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "value";
}

bool type_matches(std::string_view type, const json::value& v) {
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && v.as_double() == static_cast<double>(static_cast<std::int64_t>(v.as_double()));
  }
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  return true;
}

double as_number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return v.as_double();
}

std::string check_value(const json::object& schema, const json::value& v, const std::string& path) {
  if (auto* t = schema.if_contains("type"); t && t->is_string() && !type_matches(t->as_string(), v))
    return "parameter " + path + " must be " + std::string(t->as_string()) + ", got " + json_kind(v);
  if (auto* e = schema.if_contains("enum"); e && e->is_array()) {
    bool found = false;
    for (const auto& option : e->as_array()) found = found || option == v;
    if (!found) return "parameter " + path + " must be one of " + json::serialize(*e);
  }
  if (v.is_number()) {
    if (auto* m = schema.if_contains("minimum"); m && m->is_number() && as_number(v) < as_number(*m))
      return "parameter " + path + " must be at least " + json::serialize(*m);
    if (auto* m = schema.if_contains("maximum"); m && m->is_number() && as_number(v) > as_number(*m))
      return "parameter " + path + " must be at most " + json::serialize(*m);
  }
  if (v.is_object()) {
    const auto& obj = v.as_object();
    const json::object* props = nullptr;
    if (auto* p = schema.if_contains("properties"); p && p->is_object()) props = &p->as_object();
    if (auto* r = schema.if_contains("required"); r && r->is_array())
      for (const auto& name : r->as_array())
        if (name.is_string() && !obj.contains(name.as_string()))
          return "missing parameter " + (path == "params" ? "" : path + ".") + std::string(name.as_string());
    const bool closed = [&] {
      auto* a = schema.if_contains("additionalProperties");
      return a && a->is_bool() && !a->as_bool();
    }();
    for (const auto& [key, value] : obj) {
      const std::string child = path == "params" ? "'" + std::string(key) + "'" : path + "." + std::string(key);
      const json::value* sub = props ? props->if_contains(key) : nullptr;
      if (!sub) {
        if (closed) {
          std::string names;
          if (props)
            for (const auto& [k, _] : *props) names += (names.empty() ? "" : ", ") + std::string(k);
          return "unknown parameter " + child + " (known: " + (names.empty() ? "none" : names) + ")";
        }
        continue;
      }
      if (sub->is_object()) {
        auto err = check_value(sub->as_object(), value, child);
        if (!err.empty()) return err;
      }
    }
  }
  return {};
}

}  // namespace

std::string check_params(std::string_view schema_json, const json::value& params) {
  if (!params.is_object()) return "params must be a JSON object";
  if (schema_json.empty()) {
    if (!params.as_object().empty()) return "this task takes no parameters";
    return {};
  }
  boost::system::error_code ec;
  auto schema = json::parse(schema_json, ec);
  if (ec || !schema.is_object()) return {};  // validated at registration; nothing to check against
  return check_value(schema.as_object(), params, "params");
}

}  // namespace potluck::protocol
