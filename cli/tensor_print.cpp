// Implements tensor_print.hpp. Elements are decoded to doubles once; the number style is chosen
// from the shown elements only, so that a summary lines up as a full print would.
#include "cli/tensor_print.hpp"

#include "cli/format.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr std::size_t max_rank = 16;

std::size_t dtype_size(const std::string& dtype) {
  if (dtype == "f32" || dtype == "i32") return 4;
  if (dtype == "f64" || dtype == "i64") return 8;
  if (dtype == "f16" || dtype == "bf16") return 2;
  if (dtype == "u8" || dtype == "i8" || dtype == "bool") return 1;
  return 0;
}

bool is_float(const std::string& dtype) {
  return dtype == "f32" || dtype == "f64" || dtype == "f16" || dtype == "bf16";
}

double half_to_double(std::uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) v = std::ldexp(mantissa, -24);
  else if (exponent == 31) v = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(mantissa + 1024, exponent - 25);
  return sign ? -v : v;
}

double bf16_to_double(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <class T> double load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return static_cast<double>(v);
}

using element_loader = double (*)(const char*);

double load_bool(const char* p) { return *p ? 1 : 0; }
double load_f16(const char* p) {
  std::uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return half_to_double(h);
}
double load_bf16(const char* p) {
  std::uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return bf16_to_double(h);
}

// Chosen once per tensor, not per element.
element_loader loader_for(const std::string& dtype) {
  if (dtype == "f32") return load<float>;
  if (dtype == "f64") return load<double>;
  if (dtype == "i32") return load<std::int32_t>;
  if (dtype == "i64") return load<std::int64_t>;
  if (dtype == "u8") return load<std::uint8_t>;
  if (dtype == "i8") return load<std::int8_t>;
  if (dtype == "bool") return load_bool;
  return dtype == "f16" ? load_f16 : load_bf16;
}

bool base64_decode(std::string_view text, std::string& out) {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    t['-'] = 62;
    t['_'] = 63;
    return t;
  }();
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    if (c == '=') {
      padding = true;
      continue;
    }
    if (c == '\n' || c == '\r' || c == ' ') continue;
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0 || padding) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

double number_of(const json::value& v, bool& ok) {
  if (v.is_bool()) return v.as_bool() ? 1 : 0;
  if (v.is_number()) return v.to_number<double>();
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  ok = false;
  return 0;
}

bool flatten(const json::value& v, std::size_t depth, std::vector<std::int64_t>& shape, std::vector<double>& out,
             std::string& error) {
  if (!v.is_array()) {
    if (depth != shape.size()) {
      error = "its nested data is ragged";
      return false;
    }
    bool ok = true;
    out.push_back(number_of(v, ok));
    if (!ok) error = "element " + std::to_string(out.size() - 1) + " is not a number";
    return ok;
  }
  const auto& a = v.as_array();
  if (depth == shape.size()) {
    if (!out.empty() || shape.size() >= max_rank) {
      error = "its nested data is ragged";
      return false;
    }
    shape.push_back(static_cast<std::int64_t>(a.size()));
  } else if (shape[depth] != static_cast<std::int64_t>(a.size())) {
    error = "its nested data has rows of different lengths";
    return false;
  }
  for (const auto& item : a)
    if (!flatten(item, depth + 1, shape, out, error)) return false;
  return true;
}

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// How the numbers of one tensor are written, chosen once so that columns line up.
struct number_style {
  enum kind { integer, boolean, fixed, scientific } k = integer;
  int decimals = 0;
};

number_style choose_style(const std::string& dtype, const std::vector<double>& shown) {
  if (dtype == "bool") return {number_style::boolean, 0};
  if (!is_float(dtype)) return {number_style::integer, 0};
  double max_abs = 0, min_nonzero = std::numeric_limits<double>::infinity();
  bool integral = true;
  for (double v : shown) {
    if (!std::isfinite(v)) continue;
    const double a = std::fabs(v);
    max_abs = std::max(max_abs, a);
    if (a > 0) min_nonzero = std::min(min_nonzero, a);
    if (v != std::trunc(v)) integral = false;
  }
  if (integral && max_abs < 1e15) return {number_style::integer, 0};
  if (max_abs >= 1e8 || min_nonzero < 1e-4) return {number_style::scientific, 4};
  // About six significant digits in all (what an f32 holds, give or take), at most four decimals;
  // then only as many decimals as some shown value needs, the same for every value.
  const int int_digits = max_abs >= 1 ? static_cast<int>(std::floor(std::log10(max_abs))) + 1 : 1;
  const int max_decimals = std::clamp(6 - int_digits, 1, 4);
  int decimals = 0;
  char buf[64];
  for (double v : shown) {
    if (!std::isfinite(v)) continue;
    std::snprintf(buf, sizeof buf, "%.*f", max_decimals, v);
    std::string s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    const auto dot = s.find('.');
    decimals = std::max(decimals, static_cast<int>(s.size() - dot - 1));
  }
  return {number_style::fixed, std::max(decimals, 1)};
}

std::string format_with(double v, const number_style& style) {
  if (style.k == number_style::boolean) return v != 0 ? "true" : "false";
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  switch (style.k) {
    case number_style::integer: std::snprintf(buf, sizeof buf, "%.0f", v); break;
    case number_style::fixed: std::snprintf(buf, sizeof buf, "%.*f", style.decimals, v); break;
    default: std::snprintf(buf, sizeof buf, "%.*e", style.decimals, v); break;
  }
  std::string s = buf;
  if (s == "-0") s = "0";
  return s;
}

// The indices shown along one dimension; -1 marks the gap of a summarised dimension.
std::vector<std::int64_t> shown_indices(std::int64_t size, bool summarise, std::size_t edge) {
  std::vector<std::int64_t> out;
  const auto e = static_cast<std::int64_t>(edge);
  if (summarise && size > 2 * e) {
    for (std::int64_t i = 0; i < e; ++i) out.push_back(i);
    out.push_back(-1);
    for (std::int64_t i = size - e; i < size; ++i) out.push_back(i);
  } else {
    for (std::int64_t i = 0; i < size; ++i) out.push_back(i);
  }
  return out;
}

struct layout {
  const decoded_tensor& t;
  std::vector<std::vector<std::int64_t>> shown;  // per dimension
  std::vector<std::int64_t> strides;
  number_style style;
};

std::string cell(const layout& l, std::int64_t offset) {
  return format_with(l.t.values[static_cast<std::size_t>(offset)], l.style);
}

// Collects every element that will be shown, to choose the number style from them alone.
void collect_shown(const layout& l, std::size_t dim, std::int64_t offset, std::vector<double>& out) {
  if (dim == l.t.shape.size()) {
    out.push_back(l.t.values[static_cast<std::size_t>(offset)]);
    return;
  }
  for (auto i : l.shown[dim])
    if (i >= 0) collect_shown(l, dim + 1, offset + i * l.strides[dim], out);
}

std::string render_matrix(const layout& l, std::int64_t offset, const std::string& indent) {
  const std::size_t r = l.t.shape.size() - 2;
  const auto& rows = l.shown[r];
  const auto& cols = l.shown[r + 1];
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths(cols.size(), 1);
  for (auto i : rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < cols.size(); ++c) {
      std::string text;
      if (i < 0) text = "⋮";
      else if (cols[c] < 0) text = "…";
      else text = cell(l, offset + i * l.strides[r] + cols[c] * l.strides[r + 1]);
      widths[c] = std::max(widths[c], display_width(text));
      line.push_back(std::move(text));
    }
    cells.push_back(std::move(line));
  }
  std::string out;
  for (const auto& line : cells) {
    out += indent;
    for (std::size_t c = 0; c < line.size(); ++c) {
      if (c) out += "  ";
      out.append(widths[c] - display_width(line[c]), ' ');
      out += line[c];
    }
    out += '\n';
  }
  return out;
}

std::string render_vector(const layout& l, const print_limits& limits, const std::string& indent) {
  std::vector<std::string> cells;
  std::size_t width = 1;
  for (auto i : l.shown[0]) {
    cells.push_back(i < 0 ? "…" : cell(l, i));
    width = std::max(width, display_width(cells.back()));
  }
  const std::size_t room = limits.width > indent.size() ? limits.width - indent.size() : 1;
  const std::size_t per_line = std::max<std::size_t>(1, (room + 2) / (width + 2));
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i % per_line == 0) out += (i ? "\n" : "") + indent;
    else out += "  ";
    out.append(width - display_width(cells[i]), ' ');
    out += cells[i];
  }
  return out + "\n";
}

void render_slices(const layout& l, std::size_t dim, std::int64_t offset, std::string& label,
                   const std::string& indent, std::string& out) {
  if (dim == l.t.shape.size() - 2) {
    out += indent + "[" + label + ":, :]\n";
    out += render_matrix(l, offset, indent + "  ");
    return;
  }
  for (auto i : l.shown[dim]) {
    if (i < 0) {
      out += indent + "…\n";
      continue;
    }
    const auto saved = label.size();
    label += std::to_string(i) + ", ";
    render_slices(l, dim + 1, offset + i * l.strides[dim], label, indent, out);
    label.resize(saved);
  }
}

}  // namespace

bool decode_tensor(const json::value& v, decoded_tensor& out, std::string& error) {
  out = {};
  if (!v.is_object()) {
    error = "a tensor is an object with \"dtype\" and \"data\" or \"b64\"";
    return false;
  }
  const auto& o = v.as_object();
  auto* dt = o.if_contains("dtype");
  if (!dt || !dt->is_string() || dtype_size(std::string(dt->as_string())) == 0) {
    error = "the tensor has no known \"dtype\"";
    return false;
  }
  out.dtype = std::string(dt->as_string());
  bool has_shape = false;
  if (auto* s = o.if_contains("shape"); s && !s->is_null()) {
    if (!s->is_array() || s->as_array().size() > max_rank) {
      error = "the tensor's \"shape\" is not a list of sizes";
      return false;
    }
    for (const auto& d : s->as_array()) {
      if (!d.is_int64() || d.as_int64() < 0) {
        error = "the tensor's \"shape\" is not a list of sizes";
        return false;
      }
      out.shape.push_back(d.as_int64());
    }
    has_shape = true;
  }
  if (auto* b64 = o.if_contains("b64")) {
    std::string bytes;
    if (!has_shape || !b64->is_string() || !base64_decode(b64->as_string(), bytes)) {
      error = "the tensor's \"b64\" data is not valid base64 with a \"shape\"";
      return false;
    }
    const auto size = dtype_size(out.dtype);
    const auto count = element_count(out.shape);
    if (static_cast<std::int64_t>(bytes.size()) != count * static_cast<std::int64_t>(size)) {
      error = "the tensor holds " + std::to_string(bytes.size()) + " bytes but " +
              tensor_signature(out.dtype, out.shape) + " needs " + std::to_string(count * static_cast<std::int64_t>(size));
      return false;
    }
    out.values.reserve(static_cast<std::size_t>(count));
    const auto load_element = loader_for(out.dtype);
    for (std::int64_t i = 0; i < count; ++i)
      out.values.push_back(load_element(bytes.data() + i * static_cast<std::int64_t>(size)));
    return true;
  }
  auto* data = o.if_contains("data");
  if (!data) {
    error = "the tensor has neither \"data\" nor \"b64\"";
    return false;
  }
  std::vector<std::int64_t> nested;
  if (!flatten(*data, 0, nested, out.values, error)) {
    error = "the tensor cannot be read: " + error;
    return false;
  }
  if (!has_shape) {
    out.shape = nested;
  } else if (element_count(out.shape) != static_cast<std::int64_t>(out.values.size())) {
    error = "the tensor has " + std::to_string(out.values.size()) + " values but its shape " +
            tensor_signature(out.dtype, out.shape) + " needs " + std::to_string(element_count(out.shape));
    return false;
  }
  return true;
}

std::string tensor_signature(const std::string& dtype, const std::vector<std::int64_t>& shape) {
  std::string out = dtype + "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string format_element(double value, const std::string& dtype) {
  return format_with(value, choose_style(dtype, {value}));
}

std::string render_tensor(const decoded_tensor& t, const print_limits& limits, const std::string& indent) {
  const auto count = static_cast<std::int64_t>(t.values.size());
  if (count == 0) return indent + "(empty)\n";
  const bool summarise = static_cast<std::size_t>(count) > limits.summarise_above;
  layout l{t, {}, std::vector<std::int64_t>(t.shape.size(), 1), {}};
  for (std::size_t d = t.shape.size(); d-- > 1;) l.strides[d - 1] = l.strides[d] * t.shape[d];
  for (auto size : t.shape) l.shown.push_back(shown_indices(size, summarise, limits.edge_items));
  std::vector<double> shown;
  collect_shown(l, 0, 0, shown);
  l.style = choose_style(t.dtype, shown);

  std::string out;
  if (t.shape.empty()) out = indent + cell(l, 0) + "\n";
  else if (t.shape.size() == 1) out = render_vector(l, limits, indent);
  else if (t.shape.size() == 2) out = render_matrix(l, 0, indent);
  else {
    std::string label;
    render_slices(l, 0, 0, label, indent, out);
  }
  if (summarise && t.dtype != "bool") {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
    std::int64_t finite = 0;
    for (double v : t.values) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v), hi = std::max(hi, v), sum += v, ++finite;
    }
    out += indent + with_thousands(count) + " values";
    if (finite) {
      const number_style stats_style = choose_style(is_float(t.dtype) ? "f64" : t.dtype, {lo, hi});
      out += ", min " + format_with(lo, stats_style) + ", max " + format_with(hi, stats_style) + ", mean " +
             format_with(sum / static_cast<double>(finite), choose_style("f64", {sum / static_cast<double>(finite)}));
    }
    if (finite < count) out += ", " + with_thousands(count - finite) + " not finite";
    out += "\n";
  }
  return out;
}

}  // namespace potluck::cli
