// Models of the hub running on workers, end to end: a real potluckd, real potluck-worker
// processes loading the LibTorch plugin (plugins/torch), tiny TorchScript models made at test
// time by examples/make_test_models.py (Debian's python3-torch), pushed with the real CLI, and
// answers compared with PyTorch's own (examples/torch_reference.py) on the same inputs.
//
// The worker's cache is checked on disk: one fetch per content, a corrupted file fetched again,
// least recently used models removed to stay within --model-cache-size, the cache kept across a
// worker's restart. Bad input gets a clear error: unknown models, mismatched tasks, weights that
// do not load (the worker survives), a model whose format no worker runs (the job waits and
// says why; the Inference API answers 503 with "estimated_time"), and a plugin that declares a
// model task with another interface (not offered).
#define BOOST_TEST_MODULE integration_models
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <boost/json.hpp>
#include <sodium.h>
#include <zmq.hpp>

#include <signal.h>
#include <stdlib.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace potluck::testing;
using namespace std::chrono_literals;

namespace {

fs::path source_dir() {
  const char* env = std::getenv("POTLUCK_SOURCE_DIR");
  return env && *env ? fs::path(env) : fs::path(POTLUCK_TEST_SOURCE_DIR);
}

// A command run to its end: its exit status (-1 at the deadline) and what it printed.
struct run_result {
  int status = -1;
  std::string output;
};

run_result run(std::vector<std::string> argv, const fs::path& log, std::chrono::milliseconds deadline = 120s) {
  child_process p(std::move(argv), log);
  auto status = p.wait(deadline);
  run_result r;
  r.output = p.log();
  if (status && WIFEXITED(*status)) r.status = WEXITSTATUS(*status);
  return r;
}

// A python3 that imports torch: $POTLUCK_PYTHON, Debian's, or the one on the PATH.
std::string python() {
  static const std::string found = [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("POTLUCK_PYTHON"); env && *env) candidates.emplace_back(env);
    candidates.emplace_back("/usr/bin/python3");
    candidates.emplace_back("python3");
    for (const auto& c : candidates) {
      const std::string cmd = c + " -c 'import torch' >/dev/null 2>&1";
      if (std::system(cmd.c_str()) == 0) return c;
    }
    return std::string();
  }();
  BOOST_TEST_REQUIRE(!found.empty(), "no python3 with torch (potluck.sh installs python3-torch)");
  return found;
}

std::string sha256_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto bytes = ss.str();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) out += digits[b >> 4], out += digits[b & 0xf];
  return out;
}

// The tiny models, made once per test process.
const fs::path& test_models() {
  static const fs::path dir = [] {
    auto out = make_temp_dir("potluck-models");
    auto r = run({python(), (source_dir() / "examples" / "make_test_models.py").string(), "--out", out.string()},
                 out / "make.log");
    BOOST_TEST_REQUIRE(r.status == 0, r.output);
    return out;
  }();
  return dir;
}

// Publishes a model folder with the CLI; returns the new revision.
std::string push(const daemon_process& d, const std::string& token, const fs::path& folder, const std::string& repo) {
  ::setenv("POTLUCK_URL", ("http://127.0.0.1:" + std::to_string(d.http_port())).c_str(), 1);
  ::setenv("POTLUCK_TOKEN", token.c_str(), 1);
  auto r = run({(build_dir() / "bin" / "potluck").string(), "models", "push", folder.string(), repo, "-q"},
               d.data_dir() / ("push-" + folder.filename().string() + ".log"));
  BOOST_TEST_REQUIRE(r.status == 0, r.output);
  auto rev = r.output;
  while (!rev.empty() && std::isspace(static_cast<unsigned char>(rev.back()))) rev.pop_back();
  if (auto nl = rev.rfind('\n'); nl != std::string::npos) rev = rev.substr(nl + 1);
  return rev;
}

json::object job_of(const daemon_process& d, const std::string& token, const std::string& body) {
  auto r = http_as(token, d.http_port(), "POST", "/api/v1/jobs", body);
  BOOST_TEST_REQUIRE(r.status == 202, r.body);
  return wait_for_job(d, r.json().at("id").as_int64(), 60s);
}

std::int64_t downloads_of(const daemon_process& d, const std::string& repo) {
  return http(d.http_port(), "GET", "/api/models/" + repo).json().at("downloads").as_int64();
}

json::value reference(const fs::path& model, const std::string& task, const std::string& input) {
  auto r = run({python(), (source_dir() / "examples" / "torch_reference.py").string(), model.string(), "--task", task,
                "--input", input},
               model.parent_path() / ("reference-" + model.filename().string() + ".log"));
  BOOST_TEST_REQUIRE(r.status == 0, r.output);
  // The last line is the answer (a warning may come before it).
  auto text = r.output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return json::parse(text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1));
}

std::vector<double> floats(const json::value& v) {
  std::vector<double> out;
  if (v.is_array()) {
    for (const auto& x : v.as_array()) {
      auto inner = floats(x);
      out.insert(out.end(), inner.begin(), inner.end());
    }
  } else {
    out.push_back(v.to_number<double>());
  }
  return out;
}

// POST /models/{repo}: the Inference API, as a Hugging Face client calls it.
http_reply inference(const daemon_process& d, const std::string& token, const std::string& repo, const std::string& body,
                     const std::string& content_type = "application/json") {
  return http(d.http_port(), "POST", "/models/" + repo, body, content_type, {{"Authorization", "Bearer " + token}});
}

std::string text_of_output(const json::object& job, const std::string& name) {
  const auto& t = job.at("result").at("outputs").at(name).as_object();
  std::string out;
  for (const auto& b : t.at("data").as_array()) out += static_cast<char>(b.to_number<int>());
  return out;
}

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

std::uint64_t folder_bytes(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

std::vector<std::string> worker_models(const daemon_process& d) {
  std::vector<std::string> out;
  const auto reply = http(d.http_port(), "GET", "/api/v1/workers").json();  // kept: the loop reads into it
  for (const auto& w : reply.at("workers").as_array())
    for (const auto& m : w.at("models").as_array()) out.emplace_back(m.as_string());
  return out;
}

bool holds(const daemon_process& d, const std::string& id) {
  auto ms = worker_models(d);
  return std::find(ms.begin(), ms.end(), id) != ms.end();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_model_job_fetches_the_files_once_and_answers_like_pytorch) {
  BOOST_TEST_REQUIRE(sodium_init() >= 0);
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  const auto rev = push(d, alice, test_models() / "classifier", "alice/classifier");
  BOOST_TEST(rev.size() == 40u, rev);
  const auto cache = d.data_dir() / "cache-w1";
  auto w = start_worker(d, "w1", 1, {"--model-cache", cache.string()});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));

  auto job = job_of(d, alice, R"({"model":"alice/classifier","inputs":{"text":{"text":["hello","bonjour"]}}})");
  BOOST_TEST_REQUIRE(std::string(job.at("state").as_string()) == "succeeded", json::serialize(job));
  BOOST_TEST(std::string(job.at("model").as_string()) == "alice/classifier@" + rev);
  BOOST_TEST(std::string(job.at("task").as_string()) == "torchscript.text-classification");
  // The Hugging Face shape: a ranked list of the card's labels per text.
  const auto& answer = job.at("result").at("answer").as_array();
  BOOST_TEST_REQUIRE(answer.size() == 2u);
  for (const auto& row : answer) {
    BOOST_TEST_REQUIRE(row.as_array().size() == 3u);
    double sum = 0, last = 2;
    std::set<std::string> labels;
    for (const auto& l : row.as_array()) {
      const double score = l.at("score").to_number<double>();
      BOOST_TEST(score <= last);
      last = score;
      sum += score;
      labels.emplace(l.at("label").as_string());
    }
    BOOST_TEST(std::abs(sum - 1.0) < 1e-4);
    BOOST_TEST((labels == std::set<std::string>{"alpha", "beta", "gamma"}));
  }
  // The same numbers as PyTorch's on the same inputs.
  const auto expected = floats(reference(test_models() / "classifier", "text-classification",
                                         R"({"texts":["hello","bonjour"]})").at("scores"));
  const auto got = floats(job.at("result").at("outputs").at("scores").at("data"));
  BOOST_TEST_REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(std::abs(got[i] - expected[i]) <= 1e-5 + 1e-4 * std::abs(expected[i]));

  // The worker tells the daemon it holds the model; its cache has each file once.
  BOOST_TEST(eventually([&] { return holds(d, "alice/classifier@" + rev); }, 10s));
  BOOST_TEST(files_in(cache / "blobs") == 3u);
  BOOST_TEST(fs::is_symlink(cache / "models" / "alice" / "classifier" / rev / "model.pt"));
  BOOST_TEST(eventually([&] { return downloads_of(d, "alice/classifier") == 1; }, 10s));

  // A second job fetches nothing: the count of downloads stays.
  auto again = job_of(d, alice, R"({"model":"alice/classifier","inputs":{"text":{"text":["hello"]}}})");
  BOOST_TEST(std::string(again.at("state").as_string()) == "succeeded");
  job_of(d, alice, R"({"model":"alice/classifier","inputs":{"text":{"text":["x"]}}})");  // a journal commit after it
  BOOST_TEST(downloads_of(d, "alice/classifier") == 1);
  BOOST_TEST(w->log().find("fetching model.pt") != std::string::npos);
  BOOST_TEST(w->running());
}

BOOST_AUTO_TEST_CASE(a_corrupted_cached_file_is_found_and_fetched_again) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  const auto rev = push(d, alice, test_models() / "tensor-model", "alice/tensor");
  const auto cache = d.data_dir() / "cache-w1";
  auto w = start_worker(d, "w1", 1, {"--model-cache", cache.string()});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  const std::string body = R"({"model":"alice/tensor","inputs":{"input":{"dtype":"f32","shape":[2,3],"data":[1,2,3,4,5,6]}}})";
  auto first = job_of(d, alice, body);
  BOOST_TEST_REQUIRE(std::string(first.at("state").as_string()) == "succeeded", json::serialize(first));
  const auto expected = reference(test_models() / "tensor-model", "tensor",
                                  R"({"input":{"dtype":"f32","shape":[2,3],"data":[1,2,3,4,5,6]}})");
  BOOST_TEST(floats(first.at("result").at("outputs").at("output").at("data")) == floats(expected.at("output").at("data")));

  // Flip bytes of the weights in the cache, keeping the size.
  const auto weights = fs::read_symlink(cache / "models" / "alice" / "tensor" / rev / "model.pt");
  const auto good = sha256_file(weights);
  {
    std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.write("CORRUPTED", 9);
  }
  BOOST_TEST_REQUIRE(sha256_file(weights) != good);
  auto second = job_of(d, alice, body);
  BOOST_TEST(std::string(second.at("state").as_string()) == "succeeded", json::serialize(second));
  BOOST_TEST(sha256_file(weights) == good);
  BOOST_TEST(w->log().find("was changed on disk") != std::string::npos, w->log());
}

BOOST_AUTO_TEST_CASE(weights_that_do_not_load_fail_the_job_and_the_worker_goes_on) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  // A TorchScript archive in form (the hub checks that much) whose content is not a model.
  const auto broken_dir = make_temp_dir("potluck-broken") / "broken";
  fs::copy(test_models() / "broken", broken_dir);
  fs::remove(broken_dir / "model.pt");
  auto zipped = run({python(), "-c",
                     "import sys, zipfile\n"
                     "with zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('model/data.pkl', b'not a model')",
                     (broken_dir / "model.pt").string()},
                    broken_dir.parent_path() / "zip.log");
  BOOST_TEST_REQUIRE(zipped.status == 0, zipped.output);
  push(d, alice, broken_dir, "alice/broken");
  push(d, alice, test_models() / "classifier", "alice/classifier");
  auto w = start_worker(d, "w1");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  auto broken = job_of(d, alice, R"({"model":"alice/broken","inputs":{"text":{"text":["hello"]}}})");
  BOOST_TEST_REQUIRE(std::string(broken.at("state").as_string()) == "failed", json::serialize(broken));
  BOOST_TEST(std::string(broken.at("error").at("code").as_string()) == "model_error");
  const std::string message(broken.at("error").at("message").as_string());
  BOOST_TEST(message.find("alice/broken") != std::string::npos, message);
  BOOST_TEST(message.find("does not load") != std::string::npos, message);
  BOOST_TEST(message.find("model.pt") != std::string::npos, message);  // the loader's own words name the file
  auto good = job_of(d, alice, R"({"model":"alice/classifier","inputs":{"text":{"text":["hello"]}}})");
  BOOST_TEST(std::string(good.at("state").as_string()) == "succeeded", json::serialize(good));
  BOOST_TEST(w->running());
}

BOOST_AUTO_TEST_CASE(bad_model_jobs_get_clear_errors) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  push(d, alice, test_models() / "classifier", "alice/classifier");
  auto submit_as = [&](const std::string& body) { return http_as(alice, d.http_port(), "POST", "/api/v1/jobs", body); };
  auto code = [](const http_reply& r) { return std::string(r.json().at("error").at("code").as_string()); };
  auto nobody = submit_as(R"({"model":"alice/nothing","inputs":{}})");
  BOOST_TEST(nobody.status == 404);
  BOOST_TEST(code(nobody) == "model_not_found");
  BOOST_TEST(submit_as(R"({"model":"alice/classifier@0000000000000000000000000000000000000000","inputs":{}})").status == 404);
  BOOST_TEST(submit_as(R"({"model":5})").status == 400);
  BOOST_TEST(submit_as(R"({"model":"no-slash"})").status == 400);
  auto mismatch = submit_as(R"({"model":"alice/classifier","task":"linalg.matmul","inputs":{}})");
  BOOST_TEST(mismatch.status == 422);
  BOOST_TEST(code(mismatch) == "task_mismatch");
  auto unnamed = submit_as(R"({"task":"torchscript.text-classification","inputs":{"text":{"text":["a"]}}})");
  BOOST_TEST(unnamed.status == 422);
  BOOST_TEST(code(unnamed) == "model_required");
  // Checked against the task's interface before any worker is there.
  auto wrong = submit_as(R"({"model":"alice/classifier","inputs":{"image":{"dtype":"u8","shape":[2,2,3],"data":[0,0,0,0,0,0,0,0,0,0,0,0]}}})");
  BOOST_TEST(wrong.status == 422, wrong.body);
  BOOST_TEST(wrong.body.find("text") != std::string::npos);
  auto bad_text = submit_as(R"({"model":"alice/classifier","inputs":{"text":{"text":[1]}}})");
  BOOST_TEST(bad_text.status == 400);
}

BOOST_AUTO_TEST_CASE(a_model_no_worker_can_run_waits_and_says_why) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  // A card naming ONNX weights: no worker here has a plugin for them.
  const auto folder = make_temp_dir("potluck-onnx");
  {
    std::ofstream(folder / "README.md") << "---\ntask: tensor\nformat: onnx\nlicense: mit\n---\n# no runtime here\n";
    std::ofstream(folder / "config.json") << "{}\n";
  }
  push(d, alice, folder, "alice/onnx-thing");
  auto w = start_worker(d, "w1");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  auto r = http_as(alice, d.http_port(), "POST", "/api/v1/jobs",
                   R"({"model":"alice/onnx-thing","backend":"cuda","inputs":{"input":{"dtype":"f32","data":[1]}}})");
  BOOST_TEST_REQUIRE(r.status == 202, r.body);
  const auto id = r.json().at("id").as_int64();
  auto job = http(d.http_port(), "GET", "/api/v1/jobs/" + std::to_string(id)).json().as_object();
  BOOST_TEST(std::string(job.at("state").as_string()) == "queued");
  BOOST_TEST(std::string(job.at("waiting").as_string()).find("waiting: no worker has a plugin for format onnx on cuda") == 0,
             json::serialize(job));
  // The Inference API: 503 with an estimate, as Hugging Face clients expect.
  auto hf = inference(d, alice, "alice/onnx-thing", R"({"inputs":{"dtype":"f32","data":[1]}})");
  BOOST_TEST(hf.status == 503);
  BOOST_TEST(hf.json().at("error").is_string());
  BOOST_TEST(hf.json().at("estimated_time").to_number<double>() > 0);
  BOOST_TEST(http_as(alice, d.http_port(), "POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel").status == 200);
}

BOOST_AUTO_TEST_CASE(hugging_face_clients_get_their_shapes) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  push(d, alice, test_models() / "classifier", "alice/classifier");
  push(d, alice, test_models() / "generator", "alice/generator");
  auto w = start_worker(d, "w1");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  auto post = [&](const std::string& repo, const std::string& body) { return inference(d, alice, repo, body); };
  auto one = post("alice/classifier", R"({"inputs":"hello"})");
  BOOST_TEST_REQUIRE(one.status == 200, one.body);
  BOOST_TEST(one.json().as_array().size() == 3u);
  BOOST_TEST(one.json().as_array()[0].at("label").is_string());
  auto many = post("alice/classifier", R"({"inputs":["hello","bonjour"],"parameters":{"top_k":1}})");
  BOOST_TEST_REQUIRE(many.status == 200, many.body);
  BOOST_TEST(many.json().as_array().size() == 2u);
  BOOST_TEST(many.json().as_array()[0].as_array().size() == 1u);

  const auto greedy = reference(test_models() / "generator", "text-generation", R"({"prompt":"ab","max_new_tokens":12})");
  auto gen = post("alice/generator", R"({"inputs":"ab","parameters":{"max_new_tokens":12,"do_sample":false}})");
  BOOST_TEST_REQUIRE(gen.status == 200, gen.body);
  BOOST_TEST(std::string(gen.json().at(0).at("generated_text").as_string()) == "ab" + std::string(greedy.at("text").as_string()));
  auto only_new = post("alice/generator",
                       R"({"inputs":"ab","parameters":{"max_new_tokens":12,"temperature":0,"return_full_text":false}})");
  BOOST_TEST(std::string(only_new.json().at(0).at("generated_text").as_string()) == std::string(greedy.at("text").as_string()));

  auto unknown = post("alice/nothing", R"({"inputs":"x"})");
  BOOST_TEST(unknown.status == 404);
  BOOST_TEST(unknown.json().at("error").is_string());
  auto bad = post("alice/classifier", R"({"inputs":5})");
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.json().at("error").is_string());
  BOOST_TEST(post("alice/generator", R"({"inputs":"ab","parameters":{"max_new_tokens":5000}})").status == 422);
  BOOST_TEST(http(d.http_port(), "POST", "/models/alice/classifier", R"({"inputs":"x"})").status == 401);
}

BOOST_AUTO_TEST_CASE(generation_streams_its_text_and_a_seed_repeats_it) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  push(d, alice, test_models() / "generator", "alice/generator");
  auto w = start_worker(d, "w1");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  auto r = http_as(alice, d.http_port(), "POST", "/api/v1/jobs",
                   R"({"model":"alice/generator","inputs":{"prompt":{"text":"b"}},"params":{"max_new_tokens":200,"temperature":0}})");
  BOOST_TEST_REQUIRE(r.status == 202, r.body);
  const auto id = std::to_string(r.json().at("id").as_int64());
  std::vector<std::string> streamed;
  read_events(d.http_port(), "/api/v1/jobs/" + id + "/events", 60s, [&](const std::string& event, const std::string& data) {
    if (event == "progress") {
      auto m = json::parse(data).at("message");
      if (m.is_string() && !m.as_string().empty()) streamed.emplace_back(m.as_string());
    }
    return event == "job" && json::parse(data).at("state") != "queued" && json::parse(data).at("state") != "running";
  });
  auto job = wait_for_job(d, std::stoll(id));
  BOOST_TEST_REQUIRE(std::string(job.at("state").as_string()) == "succeeded", json::serialize(job));
  const auto text = text_of_output(job, "text");
  const auto greedy = reference(test_models() / "generator", "text-generation", R"({"prompt":"b","max_new_tokens":200})");
  BOOST_TEST(text == std::string(greedy.at("text").as_string()));
  // Each event holds the text so far: a prefix of the next, and of the whole.
  for (std::size_t i = 0; i < streamed.size(); ++i) {
    BOOST_TEST(text.compare(0, streamed[i].size(), streamed[i]) == 0, streamed[i]);
    if (i > 0) BOOST_TEST(streamed[i].size() >= streamed[i - 1].size());
  }
  // Sampling with a seed gives the same text twice.
  const std::string sampled =
      R"({"model":"alice/generator","inputs":{"prompt":{"text":"a"}},"params":{"max_new_tokens":30,"temperature":1.5,"seed":7}})";
  auto a = job_of(d, alice, sampled);
  auto b = job_of(d, alice, sampled);
  BOOST_TEST(text_of_output(a, "text") == text_of_output(b, "text"));
}

BOOST_AUTO_TEST_CASE(the_cache_keeps_within_its_size_and_across_restarts) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  const auto rev_c = push(d, alice, test_models() / "classifier", "alice/classifier");
  const auto rev_t = push(d, alice, test_models() / "tensor-model", "alice/tensor");
  const auto cache = d.data_dir() / "small-cache";
  // Room for either model, not both.
  const auto limit = std::max(folder_bytes(test_models() / "classifier"), folder_bytes(test_models() / "tensor-model")) + 512;
  BOOST_TEST_REQUIRE(limit < folder_bytes(test_models() / "classifier") + folder_bytes(test_models() / "tensor-model"));
  const std::vector<std::string> args = {"--model-cache", cache.string(), "--model-cache-size", std::to_string(limit)};
  auto w = start_worker(d, "w1", 1, args);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  const std::string tensor_job = R"({"model":"alice/tensor","inputs":{"input":{"dtype":"f32","data":[1,2]}}})";
  BOOST_TEST(std::string(job_of(d, alice, R"({"model":"alice/classifier","inputs":{"text":{"text":["a"]}}})")
                             .at("state").as_string()) == "succeeded");
  BOOST_TEST(std::string(job_of(d, alice, tensor_job).at("state").as_string()) == "succeeded");
  BOOST_TEST(!fs::exists(cache / "models" / "alice" / "classifier" / rev_c));
  BOOST_TEST(fs::exists(cache / "models" / "alice" / "tensor" / rev_t));
  BOOST_TEST(eventually([&] { return worker_models(d) == std::vector<std::string>{"alice/tensor@" + rev_t}; }, 10s));
  std::uint64_t held = 0;
  for (const auto& e : fs::directory_iterator(cache / "blobs")) held += e.file_size();
  BOOST_TEST(held <= limit);

  // A new worker process on the same folder holds the model from its hello on, and fetches
  // nothing to run it.
  BOOST_TEST(eventually([&] { return downloads_of(d, "alice/tensor") == 1; }, 10s));
  w->signal(SIGTERM);
  BOOST_TEST(w->wait(20s).has_value());
  BOOST_TEST_REQUIRE(eventually([&] { return worker_models(d).empty(); }, 10s));
  w = start_worker(d, "w1-again", 1, args);  // its own log
  BOOST_TEST(eventually([&] { return worker_models(d) == std::vector<std::string>{"alice/tensor@" + rev_t}; }, 20s));
  BOOST_TEST(std::string(job_of(d, alice, tensor_job).at("state").as_string()) == "succeeded");
  job_of(d, alice, tensor_job);
  BOOST_TEST(downloads_of(d, "alice/tensor") == 1);
  BOOST_TEST(w->log().find("fetching") == std::string::npos, w->log());
}

BOOST_AUTO_TEST_CASE(jobs_go_to_the_worker_that_holds_the_model) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  push(d, alice, test_models() / "classifier", "alice/classifier");
  auto holder = start_worker(d, "holder");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  const std::string body = R"({"model":"alice/classifier","inputs":{"text":{"text":["a"]}}})";
  BOOST_TEST(std::string(job_of(d, alice, body).at("worker").as_string()) == "holder");
  BOOST_TEST_REQUIRE(eventually([&] { return !worker_models(d).empty(); }, 10s));
  auto other = start_worker(d, "other");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 2));
  for (int i = 0; i < 5; ++i) BOOST_TEST(std::string(job_of(d, alice, body).at("worker").as_string()) == "holder");
  BOOST_TEST(fs::is_empty(d.data_dir() / "model-cache-other" / "blobs"));
}

namespace {

// A 24-bit BMP file of w x h pixels (RGB, rows top first), as an image client would send.
std::string bmp(int w, int h, const std::vector<unsigned char>& rgb) {
  const int row = (w * 3 + 3) / 4 * 4;
  const int size = 54 + row * h;
  std::string out(static_cast<std::size_t>(size), '\0');
  auto put32 = [&](int at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(at + i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  out[0] = 'B', out[1] = 'M';
  put32(2, static_cast<std::uint32_t>(size));
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<std::uint32_t>(w));
  put32(22, static_cast<std::uint32_t>(h));
  out[26] = 1;   // planes
  out[28] = 24;  // bits per pixel
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)  // bottom row first, BGR
        out[static_cast<std::size_t>(54 + (h - 1 - y) * row + x * 3 + (2 - c))] =
            static_cast<char>(rgb[static_cast<std::size_t>((y * w + x) * 3 + c)]);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_image_client_sends_the_file_and_gets_ranked_labels) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  push(d, alice, test_models() / "image", "alice/image");
  auto w = start_worker(d, "w1");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  const int width = 12, height = 10;
  std::vector<unsigned char> rgb(static_cast<std::size_t>(width * height * 3));
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>((i * 37 + i / 3 * 11) % 256);
  auto file = inference(d, alice, "alice/image", bmp(width, height, rgb), "image/bmp");
  BOOST_TEST_REQUIRE(file.status == 200, file.body);
  const auto ranked = file.json();  // kept: the loop below reads into it
  BOOST_TEST_REQUIRE(ranked.as_array().size() == 3u);
  // The same pixels as PyTorch sees them.
  std::string data;
  for (auto v : rgb) data += (data.empty() ? "" : ",") + std::to_string(v);
  const auto expected = floats(reference(test_models() / "image", "image-classification",
                                         R"({"image":{"shape":[10,12,3],"data":[)" + data + "]}}").at("scores"));
  const std::vector<std::string> labels = {"red", "green", "blue"};
  for (const auto& l : ranked.as_array()) {
    const auto i = static_cast<std::size_t>(std::find(labels.begin(), labels.end(), std::string(l.at("label").as_string())) - labels.begin());
    BOOST_TEST_REQUIRE(i < labels.size());
    BOOST_TEST(std::abs(l.at("score").to_number<double>() - expected[i]) <= 1e-5 + 1e-4 * expected[i]);
  }
  auto not_an_image = inference(d, alice, "alice/image", "hello, I am text", "image/png");
  BOOST_TEST(not_an_image.status == 400);
  BOOST_TEST(std::string(not_an_image.json().at("error").as_string()).find("not an image") != std::string::npos,
             not_an_image.body);
  // A header that claims a huge image is refused before anything is decoded.
  auto huge = inference(d, alice, "alice/image", "GIF89a but not really", "image/gif");
  BOOST_TEST(huge.status == 400);
  BOOST_TEST(std::string(huge.json().at("error").as_string()).find("pixels are accepted") != std::string::npos, huge.body);
}

BOOST_AUTO_TEST_CASE(the_examples_train_push_and_answer_like_pytorch) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  ::setenv("POTLUCK_URL", ("http://127.0.0.1:" + std::to_string(d.http_port())).c_str(), 1);
  ::setenv("POTLUCK_TOKEN", alice.c_str(), 1);
  const auto out = make_temp_dir("potluck-examples");
  for (const std::string example : {"word-lang", "word-gen"}) {
    auto trained = run({python(), (source_dir() / "examples" / example / "train.py").string(), "--quick", "--out",
                        (out / example).string(), "--push", "alice/" + example, "--potluck", (build_dir() / "bin" / "potluck").string()},
                       out / (example + ".log"), 300s);
    BOOST_TEST_REQUIRE(trained.status == 0, trained.output);
  }
  auto w = start_worker(d, "w1");
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  auto post = [&](const std::string& repo, const std::string& body) { return inference(d, alice, repo, body); };
  auto langs = post("alice/word-lang", R"({"inputs":["bonjour","hello","danke","gracias","ciao"]})");
  BOOST_TEST_REQUIRE(langs.status == 200, langs.body);
  const auto expected = reference(out / "word-lang", "text-classification", R"({"texts":["bonjour","hello","danke","gracias","ciao"]})");
  const std::vector<std::string> labels = {"en", "fr", "de", "es", "it"};
  const auto answer = langs.json();  // kept: `rows` reads into it
  const auto& rows = answer.as_array();
  BOOST_TEST_REQUIRE(rows.size() == 5u);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    BOOST_TEST_REQUIRE(rows[r].as_array().size() == labels.size());
    for (const auto& l : rows[r].as_array()) {
      const auto i = static_cast<std::size_t>(std::find(labels.begin(), labels.end(), std::string(l.at("label").as_string())) - labels.begin());
      BOOST_TEST_REQUIRE(i < labels.size());
      const double want = expected.at("scores").at(r).at(i).to_number<double>();
      BOOST_TEST(std::abs(l.at("score").to_number<double>() - want) <= 1e-5 + 1e-4 * want);
    }
  }
  const auto greedy = reference(out / "word-gen", "text-generation", R"({"prompt":"ch","max_new_tokens":24})");
  auto word = post("alice/word-gen", R"({"inputs":"ch","parameters":{"max_new_tokens":24,"temperature":0}})");
  BOOST_TEST_REQUIRE(word.status == 200, word.body);
  BOOST_TEST(std::string(word.json().at(0).at("generated_text").as_string()) == "ch" + std::string(greedy.at("text").as_string()));
}

BOOST_AUTO_TEST_CASE(a_plugin_declaring_a_model_task_with_another_interface_is_not_offered_it) {
  daemon_process d({"--anonymous-workers"});
  // A raw peer says hello with a "torchscript.tensor" that takes f32[n] named x.
  zmq::context_t ctx;
  zmq::socket_t peer(ctx, zmq::socket_type::dealer);
  peer.set(zmq::sockopt::linger, 0);
  peer.connect(d.workers_endpoint());
  const std::string hello =
      R"({"name":"odd","slots":[{"backend":"cpu"}],"plugins":[{"name":"odd","version":"1","tasks":[)"
      R"({"name":"torchscript.tensor","backend":"cpu","inputs":[{"name":"x","spec":"f32[n]"}],"outputs":[{"name":"y","spec":"f32[n]"}]},)"
      R"({"name":"odd.ok","backend":"cpu","inputs":[{"name":"x","spec":"f32[n]"}],"outputs":[{"name":"y","spec":"f32[n]"}]}]}]})";
  peer.send(zmq::str_buffer("PLK1"), zmq::send_flags::sndmore);
  peer.send(zmq::buffer(std::string(1, '\x01')), zmq::send_flags::sndmore);
  peer.send(zmq::buffer(hello), zmq::send_flags::none);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  const auto workers = http(d.http_port(), "GET", "/api/v1/workers").json();
  const auto& errors = workers.at("workers").at(0).at("load_errors").as_array();
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(std::string(errors[0].as_string()).find("torchscript.tensor is not offered") != std::string::npos, errors[0]);
  const auto tasks = http(d.http_port(), "GET", "/api/v1/tasks").body;
  BOOST_TEST(tasks.find("\"odd.ok\"") != std::string::npos);
  BOOST_TEST(tasks.find("\"torchscript.tensor\"") == std::string::npos, tasks);
}
