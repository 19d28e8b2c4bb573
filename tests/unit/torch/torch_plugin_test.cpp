// The torch plugin (plugins/torch) through plugin_host, against PyTorch: tiny models are made at
// test time by examples/make_test_models.py (a real python3 process) and the plugin's outputs
// are compared with examples/torch_reference.py on the same inputs. Also: the declarations are
// the contract's, sampling is reproducible by seed, progress messages grow to the final text,
// cancel stops generation, and every failure says what is wrong.
//
// Needs a python3 that imports torch ($POTLUCK_PYTHON, python3 on the PATH, /usr/bin/python3):
// without one the suite fails, it does not skip.
#define BOOST_TEST_MODULE torch_plugin
#include <boost/test/unit_test.hpp>

#include "workers/plugin_host.hpp"

#include "../sdk/sdk_test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace json = boost::json;
using potluck::worker::input_tensor;
using potluck::worker::plugin_host;
using potluck::worker::run_outcome;
using potluck::worker::run_request;
using potluck::worker::run_status;
using potluck::worker::session;

namespace {

const fs::path source_dir = POTLUCK_TEST_SOURCE_DIR;

fs::path plugin_file() { return sdk_test::real_plugin("torch"); }

using sdk_test::contains;
using sdk_test::temp_dir;

struct process_result {
  int exit_code = -1;
  std::string out, err;
};

// Runs argv[0] (looked up on the PATH) with its stdout in a pipe and its stderr in a file.
process_result run_process(const std::vector<std::string>& argv, const fs::path& scratch) {
  const fs::path err_file = scratch / ("stderr-" + std::to_string(::getpid()) + ".txt");
  const int err_fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (err_fd < 0) throw std::runtime_error("cannot create " + err_file.string());
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_fd, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_fd);
  process_result r;
  char buf[65536];
  for (ssize_t n; (n = ::read(out_pipe[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    r.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(err_file);
  std::stringstream err;
  err << in.rdbuf();
  r.err = err.str();
  fs::remove(err_file);
  return r;
}

// The whole suite's setup: a python3 with torch, the tiny models, the plugin loaded.
struct environment {
  temp_dir scratch;
  std::string python;
  fs::path models;
  plugin_host host;

  environment() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("POTLUCK_PYTHON"); env && *env) candidates.push_back(env);
    candidates.push_back("python3");
    candidates.push_back("/usr/bin/python3");
    std::string tried;
    for (const auto& c : candidates) {
      const auto r = run_process({c, "-c", "import torch"}, scratch.path());
      if (r.exit_code == 0) {
        python = c;
        break;
      }
      tried += "\n  " + c + ": exit " + std::to_string(r.exit_code) + ": " + r.err.substr(0, 200);
    }
    if (python.empty())
      throw std::runtime_error("no python3 that imports torch (install python3-torch, or set POTLUCK_PYTHON); tried:" +
                               tried);
    BOOST_TEST_MESSAGE("python with torch: " << python);

    models = scratch.path() / "models";
    const auto r = run_process({python, (source_dir / "examples/make_test_models.py").string(), "--out", models.string()},
                               scratch.path());
    if (r.exit_code != 0)
      throw std::runtime_error("examples/make_test_models.py failed with exit " + std::to_string(r.exit_code) + ":\n" +
                               r.err);
    host.load(plugin_file());
  }
};
environment* env = nullptr;

struct suite_fixture {
  suite_fixture() { env = new environment(); }
  ~suite_fixture() {
    delete env;
    env = nullptr;
  }
};
BOOST_TEST_GLOBAL_FIXTURE(suite_fixture);

fs::path model(const std::string& name) { return env->models / name; }

std::unique_ptr<session> open(const std::string& task, const fs::path& dir) {
  const auto ref = env->host.find("torchscript." + task, "cpu");
  BOOST_TEST_REQUIRE(ref.has_value(), "no task torchscript." << task << " on cpu");
  return env->host.open_session(*ref, -1, dir.empty() ? nullptr : dir.c_str());
}

// Why session create failed, or "" when it did not.
std::string open_error(const std::string& task, const fs::path& dir) {
  try {
    open(task, dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// examples/torch_reference.py's answer for each input, in order.
std::vector<json::value> reference(const fs::path& dir, const std::string& task, const std::vector<std::string>& inputs) {
  std::vector<std::string> argv = {env->python, (source_dir / "examples/torch_reference.py").string(), dir.string(),
                                   "--task", task};
  for (const auto& i : inputs) {
    argv.push_back("--input");
    argv.push_back(i);
  }
  const auto r = run_process(argv, env->scratch.path());
  BOOST_TEST_REQUIRE(r.exit_code == 0, "torch_reference.py failed: " << r.err);
  std::vector<json::value> out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  BOOST_TEST_REQUIRE(out.size() == inputs.size(), "torch_reference.py printed " << out.size() << " lines");
  return out;
}

using sdk_test::make_input;

// b texts as u8[b,n], right-padded with zero bytes to the longest.
struct text_batch {
  std::vector<std::uint8_t> bytes;
  std::int64_t b = 0, n = 0;
  explicit text_batch(const std::vector<std::string>& texts) {
    b = static_cast<std::int64_t>(texts.size());
    for (const auto& t : texts) n = std::max<std::int64_t>(n, static_cast<std::int64_t>(t.size()));
    bytes.assign(static_cast<std::size_t>(b * n), 0);
    for (std::size_t i = 0; i < texts.size(); ++i)
      std::copy(texts[i].begin(), texts[i].end(), bytes.begin() + static_cast<std::ptrdiff_t>(i * static_cast<std::size_t>(n)));
  }
  input_tensor input() const { return make_input("text", PLK_DTYPE_U8, {b, n}, bytes.data(), bytes.size()); }
};

run_outcome run(session& s, std::vector<input_tensor> inputs, std::string params = "{}") {
  run_request request;
  request.inputs = std::move(inputs);
  request.params_json = std::move(params);
  return s.run(std::move(request));
}

std::string status_text(run_status s) {
  switch (s) {
    case run_status::succeeded: return "succeeded";
    case run_status::invalid_input: return "invalid_input";
    case run_status::cancelled: return "cancelled";
    case run_status::plugin_error: return "plugin_error";
  }
  return "?";
}

#define REQUIRE_SUCCEEDED(outcome) \
  BOOST_TEST_REQUIRE(((outcome).status == run_status::succeeded), status_text((outcome).status) << ": " << (outcome).message)

std::vector<float> floats(const run_outcome& outcome) {
  BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
  const auto& o = outcome.outputs[0];
  BOOST_TEST_REQUIRE(o.dtype == PLK_DTYPE_F32);
  std::vector<float> v(o.size_bytes / sizeof(float));
  std::memcpy(v.data(), o.data.get(), o.size_bytes);
  return v;
}

std::string text_of(const run_outcome& outcome) {
  BOOST_TEST_REQUIRE(outcome.outputs.size() == 1u);
  const auto& o = outcome.outputs[0];
  BOOST_TEST_REQUIRE(o.dtype == PLK_DTYPE_U8);
  BOOST_TEST_REQUIRE(o.shape.size() == 1u);
  return std::string(reinterpret_cast<const char*>(o.data.get()), o.size_bytes);
}

std::vector<double> numbers(const json::value& v) {
  std::vector<double> out;
  for (const auto& x : v.as_array()) {
    if (x.is_array())
      for (const auto& y : x.as_array()) out.push_back(y.to_number<double>());
    else if (x.is_bool())
      out.push_back(x.as_bool() ? 1 : 0);
    else
      out.push_back(x.to_number<double>());
  }
  return out;
}

// |a - b| <= atol + rtol * |b| element by element: the tolerance the tasks declare.
void check_close(const std::vector<float>& got, const std::vector<double>& want, double rtol = 1e-4, double atol = 1e-5) {
  BOOST_TEST_REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    BOOST_TEST(std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i]),
               "element " << i << ": plugin " << got[i] << ", PyTorch " << want[i]);
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string json_string(const std::string& s) { return json::serialize(json::value(s)); }

// A copy of a model folder with another config.json.
fs::path copy_with_config(const std::string& name, const std::string& config, const std::string& as) {
  const fs::path dir = env->scratch.path() / as;
  fs::create_directories(dir);
  fs::copy(model(name), dir, fs::copy_options::overwrite_existing | fs::copy_options::recursive);
  std::ofstream(dir / "config.json", std::ios::trunc) << config;
  return dir;
}

}  // namespace

BOOST_AUTO_TEST_CASE(declares_the_contracts_tasks) {
  const auto& info = env->host.plugins().at(0);
  BOOST_TEST(info.name == "torch");
  BOOST_TEST(info.abi_minor_required == 1u);
  BOOST_TEST_REQUIRE((info.tasks.size() == 4u || info.tasks.size() == 8u));
  const std::string schema =
      R"({"type":"object","properties":{"max_new_tokens":{"type":"integer","minimum":1,"maximum":1024},)"
      R"("temperature":{"type":"number","minimum":0,"maximum":10},"top_k":{"type":"integer","minimum":0,"maximum":256},)"
      R"("seed":{"type":"integer","minimum":0}},"additionalProperties":false})";
  struct want {
    const char *name, *in, *in_spec, *out, *out_spec, *cost;
    std::string schema;
  };
  const std::vector<want> wants = {
      {"torchscript.text-classification", "text", "u8[b,n]", "scores", "f32[b,l]", "b*n", ""},
      {"torchscript.text-generation", "prompt", "u8[n]", "text", "u8[m]", "n+1", schema},
      {"torchscript.image-classification", "image", "u8[h,w,c]", "scores", "f32[l]", "h*w", ""},
      {"torchscript.tensor", "input", "any[...]", "output", "any[...]", "1", ""},
  };
  for (std::size_t i = 0; i < info.tasks.size(); ++i) {
    const auto& t = info.tasks[i];
    const auto& w = wants[i % 4];
    BOOST_TEST_CONTEXT(t.name << " on " << t.backend) {
      BOOST_TEST(t.name == w.name);
      BOOST_TEST(t.backend == (i < 4 ? "cpu" : "cuda"));
      BOOST_TEST_REQUIRE(t.inputs.size() == 1u);
      BOOST_TEST_REQUIRE(t.outputs.size() == 1u);
      BOOST_TEST(t.inputs[0].name == w.in);
      BOOST_TEST(t.inputs[0].spec == w.in_spec);
      BOOST_TEST(t.outputs[0].name == w.out);
      BOOST_TEST(t.outputs[0].spec == w.out_spec);
      BOOST_TEST(t.cost == w.cost);
      BOOST_TEST(t.params_schema == w.schema);
    }
  }
  // The tolerances are not in plugin_info: read them from the descriptor itself.
  void* lib = ::dlopen(plugin_file().c_str(), RTLD_NOW | RTLD_NOLOAD);
  BOOST_TEST_REQUIRE(lib != nullptr, "the plugin is not loaded: " << ::dlerror());
  using entry_fn = const plk_plugin_desc* (*)(const plk_host_api*, std::uint32_t, std::uint32_t);
  auto entry = reinterpret_cast<entry_fn>(::dlsym(lib, "potluck_plugin_entry"));
  BOOST_TEST_REQUIRE(entry != nullptr);
  const plk_plugin_desc* desc = entry(nullptr, PLK_ABI_MAJOR, PLK_ABI_MINOR);
  BOOST_TEST_REQUIRE(desc->task_count == info.tasks.size());
  for (std::uint32_t i = 0; i < desc->task_count; ++i) {
    const auto& t = desc->tasks[i];
    BOOST_TEST_CONTEXT(t.name) {
      switch (i % 4) {
        case 0: case 2: BOOST_TEST(t.rtol == 1e-4); BOOST_TEST(t.atol == 1e-5); break;
        case 1: BOOST_TEST(t.rtol == PLK_TOLERANCE_EXACT); break;
        case 3: BOOST_TEST(t.rtol == 0.0); BOOST_TEST(t.atol == 0.0); break;
      }
    }
  }
  ::dlclose(lib);
}

BOOST_AUTO_TEST_CASE(init_gives_libtorch_and_openblas_one_thread) {
  // The worker's slots give the parallelism: one thread unless POTLUCK_TORCH_THREADS says more.
  // (at::get_num_threads is not reachable from here; OpenBLAS's count is, when LibTorch uses it.)
  const char* env_threads = std::getenv("POTLUCK_TORCH_THREADS");
  const int want = env_threads && *env_threads ? std::atoi(env_threads) : 1;
  void* lib = ::dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD);
  if (!lib) {
    BOOST_TEST_MESSAGE("LibTorch does not use OpenBLAS here: nothing to check");
    return;
  }
  auto get = reinterpret_cast<int (*)()>(::dlsym(lib, "openblas_get_num_threads"));
  BOOST_TEST_REQUIRE(get != nullptr);
  BOOST_TEST(get() == want);
  ::dlclose(lib);
}

BOOST_AUTO_TEST_CASE(text_classification_matches_pytorch) {
  auto s = open("text-classification", model("classifier"));
  const std::vector<std::string> texts = {"bonjour", "hello world", "", "a much longer text that goes past sixteen bytes",
                                          "\xc3\xa9t\xc3\xa9 \xc3\xbc"};
  const text_batch batch(texts);
  const auto outcome = run(*s, {batch.input()});
  REQUIRE_SUCCEEDED(outcome);
  BOOST_TEST((outcome.outputs[0].shape == std::vector<std::int64_t>{5, 3}));
  std::string list;
  for (const auto& t : texts) list += (list.empty() ? "" : ",") + json_string(t);
  const auto want = reference(model("classifier"), "text-classification", {R"({"texts":[)" + list + "]}"});
  check_close(floats(outcome), numbers(want[0].at("scores")));
  // Each row is a probability distribution.
  const auto p = floats(outcome);
  for (std::size_t r = 0; r < 5; ++r) BOOST_TEST(std::fabs(p[r * 3] + p[r * 3 + 1] + p[r * 3 + 2] - 1.0f) < 1e-5);
}

BOOST_AUTO_TEST_CASE(a_padded_batch_scores_each_text_as_alone_and_long_texts_are_truncated) {
  auto s = open("text-classification", model("classifier"));
  const std::vector<std::string> texts = {"a", "bonjour tout le monde", "", "ciao", "0123456789abcdef-and-more-bytes"};
  const text_batch batch(texts);
  const auto together = run(*s, {batch.input()});
  REQUIRE_SUCCEEDED(together);
  const auto all = floats(together);
  BOOST_TEST_REQUIRE(all.size() == texts.size() * 3);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    BOOST_TEST_CONTEXT("text '" << texts[i] << "'") {
      const text_batch one({texts[i]});
      const auto alone = run(*s, {one.input()});
      REQUIRE_SUCCEEDED(alone);
      check_close(floats(alone), {all[i * 3], all[i * 3 + 1], all[i * 3 + 2]});
    }
  }
  // max_length is 16: anything after the 16th byte is not seen.
  const text_batch cut({"0123456789abcdef"});
  const auto truncated = run(*s, {cut.input()});
  REQUIRE_SUCCEEDED(truncated);
  check_close(floats(truncated), {all[12], all[13], all[14]});
  // No texts at all: scores [0, l].
  const text_batch none(std::vector<std::string>{});
  const auto empty = run(*s, {none.input()});
  REQUIRE_SUCCEEDED(empty);
  BOOST_TEST((empty.outputs[0].shape == std::vector<std::int64_t>{0, 3}));
}

BOOST_AUTO_TEST_CASE(greedy_generation_matches_pytorch) {
  auto s = open("text-generation", model("generator"));
  auto last = open("text-generation", model("generator-last"));
  const std::vector<std::string> prompts = {"", "ab", "h\xc3\xa9llo", "abq", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"};
  std::vector<std::string> inputs;
  for (const auto& p : prompts) inputs.push_back(R"({"prompt":)" + json_string(p) + R"(,"max_new_tokens":40})");
  const auto want = reference(model("generator"), "text-generation", inputs);
  bool some_empty = false;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    BOOST_TEST_CONTEXT("prompt '" << prompts[i] << "'") {
      const auto* data = reinterpret_cast<const std::uint8_t*>(prompts[i].data());
      const auto prompt = make_input("prompt", PLK_DTYPE_U8, {static_cast<std::int64_t>(prompts[i].size())}, data,
                                     prompts[i].size());
      const auto outcome = run(*s, {prompt}, R"({"max_new_tokens":40,"temperature":0})");
      REQUIRE_SUCCEEDED(outcome);
      std::string expected;
      for (const auto& b : want[i].at("bytes").as_array()) expected.push_back(static_cast<char>(b.to_number<int>()));
      BOOST_TEST(text_of(outcome) == expected);
      BOOST_TEST(text_of(outcome).size() <= 40u);
      some_empty |= expected.empty();
      // A model that returns only the last position, [1, V], generates the same.
      const auto outcome_last = run(*last, {prompt}, R"({"max_new_tokens":40,"temperature":0})");
      REQUIRE_SUCCEEDED(outcome_last);
      BOOST_TEST(text_of(outcome_last) == expected);
    }
  }
  BOOST_TEST(some_empty, "the prompt ending in 'q' makes the end token come first: an empty text");
}

BOOST_AUTO_TEST_CASE(sampling_is_reproducible_by_seed) {
  auto s = open("text-generation", model("generator"));
  const std::string p = "bon";
  const auto prompt = make_input("prompt", PLK_DTYPE_U8, {3}, p.data(), p.size());
  auto sample = [&](const std::string& params) {
    const auto outcome = run(*s, {prompt}, params);
    REQUIRE_SUCCEEDED(outcome);
    return text_of(outcome);
  };
  const auto a = sample(R"({"max_new_tokens":48,"temperature":1.5,"seed":7})");
  const auto b = sample(R"({"max_new_tokens":48,"temperature":1.5,"seed":7})");
  const auto c = sample(R"({"max_new_tokens":48,"temperature":1.5,"seed":8})");
  BOOST_TEST(a == b);
  BOOST_TEST(a != c, "seeds 7 and 8 both gave '" << a << "'");
  BOOST_TEST(a.size() >= 8u, "the generator's end token is unlikely; got '" << a << "'");
  // top_k 1 keeps only the largest logit: the greedy text, whatever the seed.
  const auto greedy = sample(R"({"max_new_tokens":48,"temperature":0})");
  BOOST_TEST(sample(R"({"max_new_tokens":48,"temperature":2,"top_k":1,"seed":3})") == greedy);
  // Defaults: 32 new tokens at most.
  BOOST_TEST(sample(R"({"seed":1})").size() <= 32u);
  BOOST_TEST(sample("{}").size() <= 32u);
}

BOOST_AUTO_TEST_CASE(progress_messages_are_complete_characters_growing_to_the_text) {
  auto s = open("text-generation", model("generator"));
  const std::string p = "a";
  const auto prompt = make_input("prompt", PLK_DTYPE_U8, {1}, p.data(), p.size());
  // The generator writes "é" (two bytes) now and then: find a seed whose text has one.
  bool tested_a_cut = false;
  for (int seed = 1; seed <= 40 && !tested_a_cut; ++seed) {
    std::vector<std::pair<double, std::string>> events;
    run_request request;
    request.inputs = {prompt};
    request.params_json = R"({"max_new_tokens":64,"temperature":1,"seed":)" + std::to_string(seed) + "}";
    request.on_progress = [&](double f, std::string_view m) { events.emplace_back(f, std::string(m)); };
    const auto outcome = s->run(std::move(request));
    REQUIRE_SUCCEEDED(outcome);
    const auto text = text_of(outcome);
    BOOST_TEST_CONTEXT("seed " << seed << ", text '" << text << "'") {
      BOOST_TEST_REQUIRE(events.size() == text.size(), "one progress call per generated byte");
      std::size_t previous = 0;
      for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& [fraction, message] = events[i];
        BOOST_TEST(fraction == static_cast<double>(i + 1) / 64.0);
        BOOST_TEST(text.compare(0, message.size(), message) == 0, "'" << message << "' is not a prefix");
        BOOST_TEST(valid_utf8(message), "'" << message << "' ends inside a character");
        BOOST_TEST(message.size() >= previous);
        BOOST_TEST(message.size() <= i + 1);
        if (message.size() < i + 1) tested_a_cut = true;
        previous = message.size();
      }
      if (!events.empty()) BOOST_TEST(events.back().second == text);
    }
  }
  BOOST_TEST(tested_a_cut, "no seed from 1 to 40 generated an 'é' to cut in half");
}

BOOST_AUTO_TEST_CASE(cancel_stops_generation) {
  auto s = open("text-generation", model("generator"));
  const std::string p = "z";
  const auto prompt = make_input("prompt", PLK_DTYPE_U8, {1}, p.data(), p.size());
  std::atomic<bool> cancel{false};
  int calls = 0;
  run_request request;
  request.inputs = {prompt};
  request.params_json = R"({"max_new_tokens":1024,"temperature":0})";
  request.cancel_flag = &cancel;
  request.on_progress = [&](double, std::string_view) {
    if (++calls == 3) cancel = true;
  };
  const auto outcome = s->run(std::move(request));
  BOOST_TEST((outcome.status == run_status::cancelled), status_text(outcome.status) << ": " << outcome.message);
  BOOST_TEST(calls == 3);
}

BOOST_AUTO_TEST_CASE(generation_parameters_are_checked) {
  auto s = open("text-generation", model("generator"));
  const std::string p = "a";
  const auto prompt = make_input("prompt", PLK_DTYPE_U8, {1}, p.data(), p.size());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"bogus":1})", "unknown parameter 'bogus'"},
      {R"({"max_new_tokens":0})", "'max_new_tokens' must be an integer from 1 to 1024"},
      {R"({"temperature":-1})", "'temperature' must be a number from 0 to 10"},
      {R"({"top_k":1.5})", "'top_k' must be an integer from 0 to 256"},
      {R"({"seed":-3})", "'seed' must be an integer"},
      {R"({"seed":)", "not valid JSON"},
  };
  for (const auto& [params, says] : cases) {
    const auto outcome = run(*s, {prompt}, params);
    BOOST_TEST((outcome.status == run_status::invalid_input), params << ": " << status_text(outcome.status));
    BOOST_TEST(contains(outcome.message, says), params << ": " << outcome.message);
  }
  const auto wrong = make_input("prompt", PLK_DTYPE_I32, {1}, p.data(), 4);
  const auto outcome = run(*s, {wrong});
  BOOST_TEST((outcome.status == run_status::invalid_input));
  BOOST_TEST(contains(outcome.message, "input 'prompt' must be u8"), outcome.message);
}

BOOST_AUTO_TEST_CASE(image_classification_matches_pytorch) {
  auto s = open("image-classification", model("image"));
  struct image_case {
    std::int64_t h, w, c;
  };
  const std::vector<image_case> cases = {{5, 7, 3}, {8, 8, 3}, {12, 9, 1}, {6, 6, 4}};
  std::mt19937 rng(5);
  for (const auto& ic : cases) {
    BOOST_TEST_CONTEXT("image [" << ic.h << "," << ic.w << "," << ic.c << "]") {
      std::vector<std::uint8_t> pixels(static_cast<std::size_t>(ic.h * ic.w * ic.c));
      for (auto& px : pixels) px = static_cast<std::uint8_t>(rng() & 0xFF);
      const auto outcome = run(*s, {make_input("image", PLK_DTYPE_U8, {ic.h, ic.w, ic.c}, pixels.data(), pixels.size())});
      REQUIRE_SUCCEEDED(outcome);
      BOOST_TEST((outcome.outputs[0].shape == std::vector<std::int64_t>{3}));
      std::string data;
      for (auto px : pixels) data += (data.empty() ? "" : ",") + std::to_string(px);
      const auto want = reference(model("image"), "image-classification",
                                  {R"({"image":{"shape":[)" + std::to_string(ic.h) + "," + std::to_string(ic.w) + "," +
                                   std::to_string(ic.c) + R"(],"data":[)" + data + "]}}"});
      check_close(floats(outcome), numbers(want[0].at("scores")));
    }
  }
  // Two channels is neither gray, RGB nor RGBA: the user's error.
  std::vector<std::uint8_t> two(4 * 4 * 2, 7);
  const auto outcome = run(*s, {make_input("image", PLK_DTYPE_U8, {4, 4, 2}, two.data(), two.size())});
  BOOST_TEST((outcome.status == run_status::invalid_input), status_text(outcome.status));
  BOOST_TEST(contains(outcome.message, "input 'image' must have 1, 3 or 4 channels"), outcome.message);
}

BOOST_AUTO_TEST_CASE(tensor_forward_matches_pytorch_with_its_dtype) {
  auto s = open("tensor", model("tensor-model"));
  const std::vector<float> f = {1.0f, -2.5f, 3.25f, 0.0f, 1e3f, -7.125f};
  const std::vector<double> d = {0.1, -0.2, 1e10};
  const std::vector<std::int32_t> i = {1, 2, -3, 4};
  struct tensor_case {
    input_tensor in;
    std::string json_input;
    plk_dtype out_dtype;
  };
  const std::vector<tensor_case> cases = {
      {make_input("input", PLK_DTYPE_F32, {2, 3}, f.data(), f.size() * 4),
       R"({"input":{"dtype":"f32","shape":[2,3],"data":[1.0,-2.5,3.25,0.0,1000.0,-7.125]}})", PLK_DTYPE_F32},
      {make_input("input", PLK_DTYPE_F64, {3}, d.data(), d.size() * 8),
       R"({"input":{"dtype":"f64","shape":[3],"data":[0.1,-0.2,1e10]}})", PLK_DTYPE_F64},
      {make_input("input", PLK_DTYPE_I32, {2, 2}, i.data(), i.size() * 4),
       R"({"input":{"dtype":"i32","shape":[2,2],"data":[1,2,-3,4]}})", PLK_DTYPE_F32},
      {make_input("input", PLK_DTYPE_F32, {0, 2}, nullptr, 0), R"({"input":{"dtype":"f32","shape":[0,2],"data":[]}})",
       PLK_DTYPE_F32},
  };
  std::vector<std::string> inputs;
  for (const auto& c : cases) inputs.push_back(c.json_input);
  const auto want = reference(model("tensor-model"), "tensor", inputs);
  for (std::size_t k = 0; k < cases.size(); ++k) {
    BOOST_TEST_CONTEXT(cases[k].json_input) {
      const auto outcome = run(*s, {cases[k].in});
      REQUIRE_SUCCEEDED(outcome);
      const auto& o = outcome.outputs.at(0);
      const auto& w = want[k].at("output");
      BOOST_TEST(o.dtype == cases[k].out_dtype);
      BOOST_TEST((o.dtype == PLK_DTYPE_F32 ? "f32" : "f64") == std::string(w.at("dtype").as_string()));
      std::vector<std::int64_t> shape;
      for (const auto& x : w.at("shape").as_array()) shape.push_back(x.to_number<std::int64_t>());
      BOOST_TEST(o.shape == shape, boost::test_tools::per_element());
      // Equal values. Boost.JSON 1.81 parses a double to within an ulp, not always to the
      // nearest: f32 values (rounded back to float) compare exactly, f64 ones within 2 ulps.
      const auto values = numbers(w.at("data"));
      BOOST_TEST_REQUIRE(o.size_bytes == values.size() * (o.dtype == PLK_DTYPE_F32 ? 4u : 8u));
      for (std::size_t e = 0; e < values.size(); ++e) {
        if (o.dtype == PLK_DTYPE_F32) {
          BOOST_TEST(reinterpret_cast<const float*>(o.data.get())[e] == static_cast<float>(values[e]), "element " << e);
        } else {
          const double got = reinterpret_cast<const double*>(o.data.get())[e];
          BOOST_TEST(std::fabs(got - values[e]) <= 4.5e-16 * std::fabs(values[e]), "element " << e << ": " << got);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_forward_that_throws_is_the_users_error_in_one_line) {
  // The image model on the tensor task, with a 5x5 image: its linear layer wants 8x8.
  auto s = open("tensor", model("image"));
  const std::vector<float> x(3 * 5 * 5, 0.5f);
  const auto outcome = run(*s, {make_input("input", PLK_DTYPE_F32, {1, 3, 5, 5}, x.data(), x.size() * 4)});
  BOOST_TEST((outcome.status == run_status::invalid_input), status_text(outcome.status));
  BOOST_TEST_MESSAGE("the model's error: " << outcome.message);
  BOOST_TEST(contains(outcome.message, "mat1 and mat2 shapes cannot be multiplied"), outcome.message);
  BOOST_TEST(!contains(outcome.message, "\n"), outcome.message);
  // A generator on the classification task returns [b, t, 256], not [b, labels].
  auto wrong = open("text-classification", model("generator"));
  const text_batch batch({"abc"});
  const auto shaped = run(*wrong, {batch.input()});
  BOOST_TEST((shaped.status == run_status::invalid_input), status_text(shaped.status));
  BOOST_TEST(contains(shaped.message, "the model's forward returned shape [1,3,256]"), shaped.message);
}

BOOST_AUTO_TEST_CASE(a_broken_archive_fails_session_create_with_the_loaders_message) {
  const auto why = open_error("text-classification", model("broken"));
  BOOST_TEST(contains(why, "PLK_ERR_INVALID_ARGUMENT"), why);
  BOOST_TEST(contains(why, "cannot load model.pt: PytorchStreamReader failed reading zip archive"), why);
  BOOST_TEST(!contains(why, "\n"), why);
}

BOOST_AUTO_TEST_CASE(a_session_without_a_model_fails_clearly) {
  const auto why = open_error("text-generation", {});
  BOOST_TEST(contains(why, "task torchscript.text-generation needs a model: the job must name one"), why);
  BOOST_TEST(contains(why, "PLK_ERR_INVALID_ARGUMENT"), why);
  const auto missing = open_error("tensor", env->scratch.path() / "no-such-model");
  BOOST_TEST(contains(missing, "does not exist"), missing);
}

BOOST_AUTO_TEST_CASE(config_json_is_checked) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"weights": "../x"})", "\"weights\" must be a plain file name inside the model folder"},
      {R"({"weights": "/etc/passwd"})", "\"weights\" must be a plain file name inside the model folder"},
      {R"({"weights": ".."})", "\"weights\" must be a plain file name inside the model folder"},
      {R"({"weights": "nope.pt"})", "cannot load nope.pt: "},
      {R"({"max_length": 0})", "\"max_length\" must be an integer from 1"},
      {R"({"bos": 256})", "\"bos\" must be an integer from 0 to 255"},
      {R"({"mean": [0.5, 0.5]})", "\"mean\" must be a list of 3 numbers"},
      {R"({"std": [1, 0, 1]})", "\"std\" must be a list of 3 non-zero numbers"},
      {R"({"image_size": [8]})", "\"image_size\" must be [height, width]"},
      {R"({"max_length": 16,)", "bad config.json: "},
      {R"([1, 2])", "bad config.json: it must be a JSON object"},
  };
  int n = 0;
  for (const auto& [config, says] : cases) {
    const auto dir = copy_with_config("classifier", config, "config-" + std::to_string(n++));
    const auto why = open_error("text-classification", dir);
    BOOST_TEST(contains(why, says), config << ": " << why);
    BOOST_TEST(contains(why, "PLK_ERR_INVALID_ARGUMENT"), config << ": " << why);
  }
  // A different weights name that exists loads.
  const auto dir = copy_with_config("classifier", R"({"weights": "other.pt", "max_length": 16})", "renamed");
  fs::rename(dir / "model.pt", dir / "other.pt");
  BOOST_TEST(open_error("text-classification", dir) == "");
}
