// potluck run (its spec is in app.cpp's table): runs a model of the hub on the command line's
// inputs and prints its answer.
//
//   1. GET /api/models/{owner}/{name}[?revision=]: the model's task (text-classification,
//      text-generation, image-classification, tensor), which says what its inputs are.
//   2. POST /api/v1/jobs {"model": "owner/name[@rev]", "inputs": {...}, "params": {...}} with
//      the prices and backend of potluck submit.
//   3. GET /api/v1/jobs/{id}/events until the job ends (app.cpp's follow_job): the reason a
//      queued job waits goes to stderr once per change; a text-generation job's progress
//      message is all the text generated so far, and its new part is printed as it arrives.
//   4. The job's "answer" (the Hugging Face Inference API's shape for the task) as aligned
//      labels and scores, or the generated text; --json prints it as it is.
//
// Mistakes on the command line (an input the model does not take, a parameter that is not a
// number) exit 2 before the job is submitted; a failed job exits 1 with its error; Ctrl-C and a
// --timeout that passes cancel the job.
#include "cli/command.hpp"

#include "cli/errors.hpp"
#include "cli/format.hpp"
#include "cli/inputs.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>

namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr std::size_t shown_labels = 5;       // labels shown per text; --json has them all
constexpr std::size_t shown_text_columns = 72;  // a text heading its block of labels
constexpr std::int64_t max_timeout_ms = 7LL * 24 * 3600 * 1000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// MODEL as written: OWNER/NAME or OWNER/NAME@REV.
struct model_ref {
  model_id id;
  std::string revision;  // as written after '@'; "" for the latest
};

model_ref parse_model_ref(const std::string& text) {
  const auto at = text.find('@');
  if (at == std::string::npos) return {parse_model_id(text), {}};
  model_ref ref{parse_model_id(text.substr(0, at)), text.substr(at + 1)};
  if (ref.revision.empty())
    throw usage_error("'" + text + "' names no revision after '@': give one, like " + text +
                      "3f9c0d2b, or leave '@' out for the latest");
  return ref;
}

// --timeout: 90 (seconds), 500ms, 30s, 10m, 2h.
std::chrono::milliseconds parse_timeout(const std::string& text) {
  const auto bad = [&] {
    return usage_error("--timeout takes a duration like 30s, 10m or 1h, at most 7 days (got '" + text + "')");
  };
  std::int64_t n = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), n);
  if (r.ec != std::errc() || n <= 0) throw bad();
  const std::string_view unit(r.ptr, static_cast<std::size_t>(text.data() + text.size() - r.ptr));
  std::int64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else throw bad();
  if (n > max_timeout_ms / scale) throw bad();
  return std::chrono::milliseconds(n * scale);
}

// ---------------------------------------------------------------------------------------------
// Inputs and parameters, by task

// What a model of `task` takes, as the flags that give it; "" for a task this does not know.
std::string input_usage(const std::string& task) {
  if (task == "text-classification")
    return "--input text=TEXT (repeat it for several texts, or text=@FILE: one text per line)";
  if (task == "text-generation") return "--input prompt=TEXT (or prompt=@FILE)";
  if (task == "image-classification")
    return "--input image=VALUE (a u8 tensor [height, width, channels]: JSON, or @FILE holding it)";
  if (task == "tensor") return "--input input=VALUE (a tensor: JSON, or @FILE holding it)";
  return {};
}

// The input's name for the daemon, given the name on the command line; "" when the task does
// not take it.
std::string input_name(const std::string& task, std::string_view given) {
  if (task == "text-classification") return given == "text" ? "text" : "";
  if (task == "text-generation") return given == "prompt" || given == "text" ? "prompt" : "";
  if (task == "image-classification") return given == "image" ? "image" : "";
  if (task == "tensor") return given == "input" ? "input" : "";
  return std::string(given);
}

std::string read_text_file(const std::string& path, const std::string& who) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    throw file_error(who + ": cannot read " + path + ": " + std::strerror(error ? error : ENOENT),
                     "Give the text itself, or @FILE naming a file you can read.");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct model_inputs {
  json::object inputs;             // the job's
  std::vector<std::string> texts;  // text-classification: the texts, in order
  std::string prompt;              // text-generation
};

model_inputs build_inputs(const std::string& model, const std::string& task, const std::vector<std::string>& args) {
  model_inputs out;
  const auto usage = input_usage(task);
  const std::string kind = model + " is a " + task + " model";
  bool has_prompt = false;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos)
      throw usage_error("--input expects NAME=VALUE, like " + (usage.empty() ? "--input input=[1,2]" : usage.substr(0, usage.find(' ', 8))) +
                        " (got '" + arg + "')");
    const std::string given(trim(std::string_view(arg).substr(0, eq)));
    const auto value = arg.substr(eq + 1);
    if (given.empty()) throw usage_error("--input '" + arg + "' has no name before '='");
    const auto name = input_name(task, given);
    if (name.empty()) throw usage_error(kind + ": it takes " + usage + ", not --input " + given);
    const std::string who = "--input " + given;
    if (task == "text-classification") {
      if (value.starts_with("@")) {
        const auto path = value.substr(1);
        std::istringstream lines(read_text_file(path, who));
        std::size_t found = 0;
        for (std::string line; std::getline(lines, line);) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (trim(line).empty()) continue;
          out.texts.push_back(std::move(line));
          ++found;
        }
        if (found == 0) throw file_error(who + ": " + path + " holds no text", "Write one text per line.");
      } else {
        if (value.empty()) throw usage_error(who + " has no text after '=', like --input text=bonjour");
        out.texts.push_back(value);
      }
      continue;
    }
    if (task == "text-generation") {
      if (has_prompt) throw usage_error(kind + ": it takes one prompt (--input prompt=TEXT), not two");
      has_prompt = true;
      if (value.starts_with("@")) {
        out.prompt = read_text_file(value.substr(1), who);
        while (!out.prompt.empty() && (out.prompt.back() == '\n' || out.prompt.back() == '\r')) out.prompt.pop_back();
      } else {
        out.prompt = value;
      }
      if (out.prompt.empty()) throw usage_error(who + ": the prompt is empty; give some text, like --input prompt='Once upon a time'");
      continue;
    }
    // Tensors, as potluck submit reads them.
    auto input = parse_input(std::string(name) + "=" + value);
    if (out.inputs.contains(name)) throw usage_error("--input " + given + " is given twice");
    // An image's bare array of numbers is bytes, not the f32 a bare array is elsewhere.
    if (task == "image-classification" && input.value.is_object() && input.value.as_object().size() == 2) {
      auto& t = input.value.as_object();
      if (auto* d = t.if_contains("dtype"); d && d->is_string() && d->as_string() == "f32" && t.contains("data"))
        t["dtype"] = "u8";
    }
    out.inputs[name] = std::move(input.value);
  }
  if (task == "text-classification") {
    if (out.texts.empty()) throw usage_error(kind + ": give it " + usage);
    json::array texts;
    for (const auto& t : out.texts) texts.emplace_back(t);
    out.inputs["text"] = json::object{{"text", std::move(texts)}};
  } else if (task == "text-generation") {
    if (!has_prompt) throw usage_error(kind + ": give it " + usage);
    out.inputs["prompt"] = json::object{{"text", out.prompt}};
  } else if (!usage.empty() && out.inputs.empty()) {
    throw usage_error(kind + ": give it " + usage);
  }
  return out;
}

// The parameters, checked where the task's are known: a mistake is named here, before the job
// is submitted; the daemon checks the rest (ranges, names).
json::object build_params(const std::string& task, const std::vector<std::string>& args) {
  json::object params;
  for (const auto& arg : args) {
    auto param = parse_param(arg);
    if (params.contains(param.name)) throw usage_error("--param " + param.name + " is given twice");
    if (task == "text-generation") {
      const auto raw = arg.substr(arg.find('=') + 1);
      const auto& v = param.value;
      const bool whole = v.is_int64() || v.is_uint64();
      if (param.name == "max_new_tokens" && !(whole && v.to_number<double>() >= 1))
        throw usage_error("--param max_new_tokens takes a whole number of at least 1, like --param max_new_tokens=40 (got '" +
                          raw + "')");
      if ((param.name == "top_k" || param.name == "seed") && !(whole && v.to_number<double>() >= 0))
        throw usage_error("--param " + param.name + " takes a whole number of at least 0, like --param " + param.name +
                          (param.name == "top_k" ? "=20" : "=7") + " (got '" + raw + "')");
      if (param.name == "temperature" && !(v.is_number() && v.to_number<double>() >= 0))
        throw usage_error("--param temperature takes a number of at least 0, like --param temperature=0.8 (got '" + raw + "')");
    }
    params[param.name] = std::move(param.value);
  }
  return params;
}

// ---------------------------------------------------------------------------------------------
// Answers

// The text a text-generation answer adds after the prompt; nullopt when it holds none.
std::optional<std::string> generated_text(const json::value* answer, const std::string& prompt) {
  if (!answer || !answer->is_array() || answer->as_array().empty() || !answer->as_array().front().is_object())
    return std::nullopt;
  const auto* text = answer->as_array().front().as_object().if_contains("generated_text");
  if (!text || !text->is_string()) return std::nullopt;
  std::string_view full = text->as_string();
  if (full.starts_with(prompt)) full.remove_prefix(prompt.size());
  return std::string(full);
}

struct scored {
  std::string label;
  double score = 0;
};

// [{"label","score"}, ...]; nullopt when `v` is not that.
std::optional<std::vector<scored>> scores_of(const json::value& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<scored> out;
  for (const auto& item : v.as_array()) {
    if (!item.is_object()) return std::nullopt;
    const auto* score = item.as_object().if_contains("score");
    if (!score || !score->is_number()) return std::nullopt;
    out.push_back({string_field(item.as_object(), "label"), score->to_number<double>()});
  }
  return out;
}

// The labels of each text (text-classification: a list per text) or of the one image;
// nullopt when the answer is not of that shape or does not match the texts sent.
std::optional<std::vector<std::vector<scored>>> classification_rows(const json::value* answer, std::size_t texts) {
  if (!answer || !answer->is_array()) return std::nullopt;
  std::vector<std::vector<scored>> rows;
  const auto& list = answer->as_array();
  if (!list.empty() && list.front().is_array()) {
    for (const auto& row : list) {
      auto r = scores_of(row);
      if (!r) return std::nullopt;
      rows.push_back(std::move(*r));
    }
  } else {
    auto r = scores_of(*answer);
    if (!r) return std::nullopt;
    rows.push_back(std::move(*r));
  }
  if (texts > 0 && rows.size() != texts) return std::nullopt;
  return rows;
}

std::string score_text(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", score);
  return buf;
}

// "fr  0.973" lines, labels aligned, the top shown_labels, then how many more there are.
void print_scores(context& ctx, const std::vector<scored>& rows, const std::string& indent) {
  const auto shown = std::min(rows.size(), shown_labels);
  std::size_t width = 0;
  for (std::size_t i = 0; i < shown; ++i) width = std::max(width, display_width(rows[i].label));
  for (std::size_t i = 0; i < shown; ++i)
    ctx.out << indent << paint(rows[i].label, i == 0 ? tone::bold : tone::none, ctx.color_out)
            << std::string(width - display_width(rows[i].label), ' ') << "  " << score_text(rows[i].score) << '\n';
  if (rows.size() > shown)
    ctx.out << indent << paint("(+" + std::to_string(rows.size() - shown) + " more, --json for all)", tone::dim, ctx.color_out)
            << '\n';
}

void cancel_job(context& ctx, std::int64_t id) {
  try {
    call(ctx, "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "", {200, 202});
    ctx.err << "Cancelled job " << id << ".\n";
  } catch (const api_error& e) {
    ctx.err << "Job " << id << " was not cancelled: " << e.what() << '\n';
  } catch (const unreachable_error& e) {
    ctx.err << "Job " << id << " was not cancelled: the daemon cannot be reached (" << e.reason()
            << "). Cancel it later: potluck cancel " << id << '\n';
  }
}

}  // namespace

int cmd_run(context& ctx, const parsed_command& p) {
  const auto ref = parse_model_ref(p.args.at(0));
  ctx.model = ref.id.text();
  // What needs no daemon first: prices, backend, the timeout.
  submit_request priced;
  priced.backend = p.value("backend");
  if (p.has("bid")) priced.bid = p.value("bid");
  if (p.has("max-price")) priced.max_price = p.value("max-price");
  const auto pricing = build_job(priced);
  std::optional<std::chrono::milliseconds> timeout;
  if (p.has("timeout")) timeout = parse_timeout(p.value("timeout"));

  const auto revision = full_revision(ctx, ref.id, ref.revision, p.args.at(0));
  const auto model = find_model(ctx, ref.id, revision);
  if (!model) throw api_error(404, "model_not_found", "no model " + ref.id.text());
  auto task = string_field(*model, "task");
  if (auto* card = model->if_contains("cardData"); task.empty() && card && card->is_object())
    task = string_field(card->as_object(), "task");
  if (task.empty()) task = string_field(*model, "pipeline_tag");
  const auto inputs = build_inputs(ref.id.text(), task, p.all("input"));
  auto params = build_params(task, p.all("param"));

  json::object job{{"model", revision.empty() ? ref.id.text() : ref.id.text() + "@" + revision},
                   {"inputs", inputs.inputs}};
  if (!params.empty()) job["params"] = std::move(params);
  for (const char* key : {"backend", "bid", "max_price"})
    if (auto* v = pricing.if_contains(key)) job[key] = *v;
  auto reply = call(ctx, "POST", "/api/v1/jobs", json::serialize(job), {200, 201, 202});
  if (!reply.is_object() || !reply.as_object().contains("id"))
    throw api_error(202, "bad_reply", "the daemon accepted the job but its answer holds no job id");
  const auto id = int_field(reply.as_object(), "id");

  const bool generation = task == "text-generation";
  const bool stream = generation && !ctx.json && !ctx.quiet;
  std::string printed;  // the generated text shown so far
  std::string waiting;  // the reason to wait shown last
  follow_options options;
  options.progress = false;
  options.stop_message = false;
  if (timeout) options.deadline = std::chrono::steady_clock::now() + *timeout;
  options.on_update = [&](const json::object& o) {
    const auto state = string_field(o, "state");
    if (state == "queued") {
      const auto why = string_field(o, "waiting");
      if (!why.empty() && why != waiting) {
        ctx.err << paint(why, tone::yellow, ctx.color_err) << '\n' << std::flush;
        waiting = why;
      }
      return;
    }
    if (!stream || state != "running") return;
    const auto* m = o.if_contains("message");
    if (!m || !m->is_string()) return;
    const std::string_view so_far = m->as_string();
    if (so_far.size() <= printed.size() || !so_far.starts_with(printed)) return;
    ctx.out << so_far.substr(printed.size()) << std::flush;
    printed = so_far;
  };
  auto followed = follow_job(ctx, id, "", options);
  // A streamed line ends before anything else is said.
  const auto end_line = [&] {
    if (!printed.empty()) ctx.out << '\n' << std::flush;
  };
  if (followed.end == follow_end::interrupted) {
    end_line();
    cancel_job(ctx, id);
    return exit_interrupted;
  }
  if (followed.end == follow_end::timed_out) {
    end_line();
    ctx.err << paint("error:", tone::red, ctx.color_err) << " job " << id << " did not end within --timeout "
            << p.value("timeout") << '\n';
    cancel_job(ctx, id);
    return exit_job_failed;
  }
  const auto& done = *followed.job;
  if (string_field(done, "state") != "succeeded") {
    end_line();
    ctx.err << paint(ctx.term.unicode ? "✗ " : "", tone::red, ctx.color_err)
            << paint(failure_line(done), tone::red, ctx.color_err) << '\n';
    return exit_job_failed;
  }

  const json::value* answer = nullptr;
  const json::value* outputs = nullptr;
  if (auto* r = done.if_contains("result"); r && r->is_object()) {
    answer = r->as_object().if_contains("answer");
    outputs = r->as_object().if_contains("outputs");
    if (answer && answer->is_null()) answer = nullptr;
  }
  if (ctx.json) {
    if (answer) print_json(ctx, *answer);
    else if (outputs) print_json(ctx, *outputs);
    else print_json(ctx, json::object());
    return exit_ok;
  }
  if (generation) {
    if (const auto text = generated_text(answer, inputs.prompt)) {
      if (text->starts_with(printed)) ctx.out << text->substr(printed.size());
      else ctx.out << '\n' << *text;  // the model's final text is not what was streamed
      ctx.out << '\n';
      return exit_ok;
    }
    end_line();
  } else if (task == "text-classification" || task == "image-classification") {
    if (const auto rows = classification_rows(answer, inputs.texts.size())) {
      for (std::size_t i = 0; i < rows->size(); ++i) {
        const auto& labels = (*rows)[i];
        if (ctx.quiet) {
          ctx.out << (labels.empty() ? "-" : labels.front().label) << '\n';
          continue;
        }
        if (rows->size() == 1) {
          print_scores(ctx, labels, "");
          continue;
        }
        if (i > 0) ctx.out << '\n';
        ctx.out << paint(truncate_to_width(inputs.texts[i], shown_text_columns), tone::bold, ctx.color_out) << '\n';
        print_scores(ctx, labels, "  ");
      }
      return exit_ok;
    }
  }
  // A tensor model, or an answer of another shape: the output tensors, as potluck submit shows them.
  print_outputs(ctx, done, "");
  return exit_ok;
}

}  // namespace potluck::cli
