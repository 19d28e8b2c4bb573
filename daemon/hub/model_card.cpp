// Model cards' front matter (see the header).
#include "daemon/hub/model_card.hpp"

#include "potluck/protocol/model_tasks.hpp"

#include <algorithm>
#include <map>
#include <optional>

namespace potluck::daemon::hub {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The line without a trailing " # comment" (outside quotes).
std::string_view strip_comment(std::string_view s) {
  char quote = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

[[noreturn]] void fail(int line, const std::string& why) {
  throw card_error("README.md line " + std::to_string(line) + ": " + why);
}

// "value", 'value' or value.
std::string scalar(std::string_view v, int line) {
  v = trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) {
    if (v.back() != v.front()) fail(line, "a quoted value is not closed");
    return std::string(v.substr(1, v.size() - 2));
  }
  if (!v.empty() && (v.front() == '"' || v.front() == '\'')) fail(line, "a quoted value is not closed");
  if (!v.empty() && (v.front() == '{' || v.front() == '&' || v.front() == '*' || v.front() == '!' || v.front() == '|' ||
                     v.front() == '>'))
    fail(line, "only plain values, quoted values and [a, b] lists are understood here");
  return std::string(v);
}

std::vector<std::string> flow_list(std::string_view v, int line) {
  v = trim(v);
  if (v.back() != ']') fail(line, "a [list is not closed with ]");
  v = trim(v.substr(1, v.size() - 2));
  std::vector<std::string> out;
  if (v.empty()) return out;
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto comma = std::min(v.find(',', start), v.size());
    auto item = scalar(v.substr(start, comma - start), line);
    if (item.empty()) fail(line, "a list has an empty item");
    out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

bool is_key(std::string_view k) {
  if (k.empty() || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string known_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const std::vector<std::string>& model_tasks() { return protocol::hub_tasks(); }

const std::vector<std::string>& model_formats() { return protocol::model_formats(); }

model_card parse_model_card(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a byte order mark
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= text.size();) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty() || trim(lines[0]) != "---")
    throw card_error("README.md has no front matter: start it with a line \"---\", then lines like \"task: "
                     "text-classification\" and \"format: torchscript\", then \"---\"");
  std::map<std::string, std::vector<std::string>> values;  // every value as a list
  std::string open_key;  // a `key:` waiting for `- item` lines
  std::size_t i = 1;
  bool closed = false;
  for (; i < lines.size(); ++i) {
    const int line = static_cast<int>(i) + 1;
    const auto raw = lines[i];
    auto t = trim(raw);
    if (t == "---") {
      closed = true;
      ++i;
      break;
    }
    if (t.empty() || t.front() == '#') continue;
    t = trim(strip_comment(t));
    if (raw.find('\t') != std::string_view::npos && raw.find('\t') < raw.find_first_not_of(" \t"))
      fail(line, "indent with spaces, not tabs");
    if (t.front() == '-') {
      if (open_key.empty()) fail(line, "a \"- item\" line belongs under a \"key:\" line");
      auto item = scalar(t.substr(1), line);
      if (item.empty()) fail(line, "a list has an empty item");
      values[open_key].push_back(std::move(item));
      continue;
    }
    const auto colon = t.find(':');
    if (colon == std::string_view::npos) fail(line, "expected \"key: value\", got \"" + std::string(t) + "\"");
    if (raw.front() == ' ') fail(line, "nested keys are not understood here: keep keys at the start of the line");
    const auto key = std::string(trim(t.substr(0, colon)));
    if (!is_key(key)) fail(line, "\"" + key + "\" is not a key (letters, digits, _ and -)");
    if (values.count(key)) fail(line, "\"" + key + "\" is given twice");
    const auto value = trim(t.substr(colon + 1));
    auto& slot = values[key];
    open_key.clear();
    if (value.empty()) {
      open_key = key;  // a block list may follow
    } else if (value.front() == '[') {
      slot = flow_list(value, line);
    } else {
      slot.push_back(scalar(value, line));
    }
  }
  if (!closed) throw card_error("README.md: the front matter is not closed: end it with a line \"---\"");

  auto one = [&](const char* key) -> std::optional<std::string> {
    auto it = values.find(key);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    if (it->second.size() > 1) throw card_error(std::string("README.md: \"") + key + "\" takes one value, not a list");
    return it->second.front();
  };
  auto many = [&](const char* key) {
    auto it = values.find(key);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  };
  model_card card;
  auto task = one("task");
  if (!task) task = one("pipeline_tag");
  if (!task) throw card_error("README.md: the front matter names no task: add \"task: " + model_tasks().front() + "\" (tasks: " + known_list(model_tasks()) + ")");
  if (std::find(model_tasks().begin(), model_tasks().end(), *task) == model_tasks().end())
    throw card_error("README.md: unknown task \"" + *task + "\" (tasks: " + known_list(model_tasks()) + ")");
  card.task = *task;
  auto format = one("format");
  if (!format) throw card_error("README.md: the front matter names no format: add \"format: torchscript\" (formats: " + known_list(model_formats()) + ")");
  if (*format == "pickle" || *format == "pytorch" || *format == "pt")
    throw card_error("README.md: format \"" + *format + "\" runs code when it is loaded, so the hub refuses it: export the "
                     "model as TorchScript (torch.jit.save) or safetensors");
  if (std::find(model_formats().begin(), model_formats().end(), *format) == model_formats().end())
    throw card_error("README.md: unknown format \"" + *format + "\" (formats: " + known_list(model_formats()) + ")");
  card.format = *format;
  card.license = one("license").value_or("");
  card.labels = many("labels");
  card.tags = many("tags");
  card.languages = many("language");
  for (; i < lines.size(); ++i) {
    card.body.append(lines[i]);
    if (i + 1 < lines.size()) card.body += '\n';
  }
  return card;
}

}  // namespace potluck::daemon::hub
