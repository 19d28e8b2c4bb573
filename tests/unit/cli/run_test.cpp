// Tests of potluck run (cli/run.cpp through cli/app.hpp's run) against a fake daemon that holds
// models of each task and answers a job's event stream from a script: the exact job each task's
// inputs and parameters make, the answer as people see it (labels and scores, generated text
// streamed as it comes) and as scripts get it (--json, -q), the reason a queued job waits, a
// failed job (exit 1), Ctrl-C and --timeout (the job is cancelled), and the mistakes that exit 2
// before anything is submitted.
#define BOOST_TEST_MODULE cli_run
#include <boost/test/unit_test.hpp>

#include "cli/app.hpp"
#include "cli_run.hpp"
#include "fake_daemon.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <unistd.h>

using namespace potluck::cli;
using namespace potluck::cli::testing;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string rev = "3f9c0d2b11aaaaaaaaaabbbbbbbbbbcccccccccc";

json::object model_json(const std::string& id, const std::string& task, json::array labels = {}) {
  return json::object{{"id", id},
                      {"sha", rev},
                      {"task", task},
                      {"format", "torchscript"},
                      {"cardData", json::object{{"task", task}, {"format", "torchscript"}, {"labels", std::move(labels)}}},
                      {"siblings", json::array{}}};
}

std::string sse(const std::string& name, const json::object& data) {
  return "event: " + name + "\ndata: " + json::serialize(data) + "\n\n";
}

json::object running(const std::string& message) {
  return json::object{{"id", 12}, {"state", "running"}, {"progress", 0.5}, {"message", message}, {"worker", "dora-box"}};
}

json::object queued(const std::string& waiting) {
  return json::object{{"id", 12}, {"state", "queued"}, {"message", waiting}, {"waiting", waiting}};
}

json::object succeeded(json::value answer, json::object outputs = {}) {
  json::object result{{"outputs", std::move(outputs)}};
  if (!answer.is_null()) result["answer"] = std::move(answer);
  return json::object{{"id", 12}, {"state", "succeeded"}, {"message", ""}, {"result", std::move(result)}, {"error", nullptr}};
}

// A hub of four models, one per task, and job 12, whose stream says `events`.
struct fake_hub {
  std::string events;
  json::object job = succeeded(nullptr);  // what GET /api/v1/jobs/12 answers
  scripted_reply submit_reply{202, R"({"id": 12, "state": "queued"})"};
  int events_delay_ms = 0;

  scripted_reply operator()(const recorded_request& r) const {
    static const std::map<std::string, json::object> models = {
        {"alice/word-lang", model_json("alice/word-lang", "text-classification", {"en", "fr"})},
        {"alice/tiny-story", model_json("alice/tiny-story", "text-generation")},
        {"acme/digits", model_json("acme/digits", "image-classification")},
        {"acme/doubler", model_json("acme/doubler", "tensor")}};
    if (r.method == "GET" && r.target.starts_with("/api/models/")) {
      auto path = r.target.substr(12);
      path = path.substr(0, path.find('?'));
      if (path.ends_with("/revisions"))
        return {200, json::serialize(json::object{{"revisions", json::array{json::object{{"id", rev}}}}})};
      if (auto it = models.find(path); it != models.end()) return {200, json::serialize(it->second)};
      return {404, error_body("model_not_found", "no model " + path)};
    }
    if (r.method == "POST" && r.target == "/api/v1/jobs") return submit_reply;
    if (r.method == "GET" && r.target == "/api/v1/jobs/12/events") {
      // -- allowed: the fake daemon's stream stays open this long (what is simulated), not a wait.
      if (events_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(events_delay_ms));  // -- allowed
      return {200, events};
    }
    if (r.method == "GET" && r.target == "/api/v1/jobs/12") return {200, json::serialize(job)};
    if (r.method == "POST" && r.target == "/api/v1/jobs/12/cancel") return {200, R"({"id": 12, "state": "cancelled"})"};
    return {404, error_body("not_found", "no such path: " + r.target)};
  }
};

// The job the CLI posted.
json::value posted(fake_daemon& d) {
  for (const auto& r : d.requests())
    if (r.method == "POST" && r.target == "/api/v1/jobs") return json::parse(r.body);
  BOOST_FAIL("no job was posted");
  return {};
}

bool any_post(fake_daemon& d) {
  for (const auto& r : d.requests())
    if (r.method == "POST") return true;
  return false;
}

json::array labels(std::initializer_list<std::pair<const char*, double>> scores) {
  json::array out;
  for (const auto& [label, score] : scores) out.push_back(json::object{{"label", label}, {"score", score}});
  return out;
}

// Output that remembers what was flushed when: each flush ends a piece.
class flushed_pieces : public std::stringbuf {
 public:
  std::vector<std::string> pieces;

 protected:
  int sync() override {
    const auto all = str();
    if (all.size() > taken_) pieces.push_back(all.substr(taken_));
    taken_ = all.size();
    return 0;
  }

 private:
  std::size_t taken_ = 0;
};

struct temp_file {
  fs::path path;
  explicit temp_file(const std::string& content) {
    std::string pattern = (fs::temp_directory_path() / "potluck-cli-run-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    BOOST_TEST_REQUIRE(fd >= 0);
    ::close(fd);
    path = pattern;
    std::ofstream(path, std::ios::binary) << content;
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// text-classification

BOOST_AUTO_TEST_CASE(text_classification_posts_the_text_and_prints_the_labels_best_first) {
  fake_hub hub;
  hub.events = sse("job", queued("")) + sse("job", succeeded(json::array{labels({{"fr", 0.9731}, {"en", 0.0269}})}));
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=bonjour"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == "fr  0.973\nen  0.027\n");
  BOOST_TEST(o.err.empty());
  std::vector<std::string> asked;
  for (const auto& r : d.requests()) asked.push_back(r.method + " " + r.target);
  BOOST_TEST(asked == (std::vector<std::string>{"GET /api/models/alice/word-lang", "POST /api/v1/jobs",
                                                "GET /api/v1/jobs/12/events"}),
             boost::test_tools::per_element());
  BOOST_TEST(posted(d) == json::parse(R"({"model": "alice/word-lang", "inputs": {"text": {"text": ["bonjour"]}}})"));
  for (const auto& r : d.requests()) BOOST_TEST(r.authorization == "Bearer " + token);
}

BOOST_AUTO_TEST_CASE(several_texts_are_one_batch_and_each_gets_its_block_of_the_top_five) {
  temp_file lines("guten Morgen\r\n\nbuenos dias\n");
  const auto many = labels({{"de", 0.6}, {"nl", 0.1}, {"en", 0.08}, {"fr", 0.07}, {"es", 0.05}, {"it", 0.04},
                            {"pt", 0.03}, {"sv", 0.03}});
  fake_hub hub;
  hub.events = sse("job", succeeded(json::array{labels({{"en", 0.99}, {"fr", 0.01}}), many,
                                                labels({{"es", 0.8}, {"pt", 0.2}})}));
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "run", "alice/word-lang", "-i", "text=good morning", "--input",
                    "text=@" + lines.path.string()});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(posted(d).at("inputs") ==
             json::parse(R"({"text": {"text": ["good morning", "guten Morgen", "buenos dias"]}})"));
  BOOST_TEST(o.out ==
             "good morning\n"
             "  en  0.990\n"
             "  fr  0.010\n"
             "\n"
             "guten Morgen\n"
             "  de  0.600\n"
             "  nl  0.100\n"
             "  en  0.080\n"
             "  fr  0.070\n"
             "  es  0.050\n"
             "  (+3 more, --json for all)\n"
             "\n"
             "buenos dias\n"
             "  es  0.800\n"
             "  pt  0.200\n");

  // Scripts: the best label of each text, or the whole answer.
  auto quiet = run_cli({"--url", d.url(), "run", "-q", "alice/word-lang", "-i", "text=a", "-i", "text=b", "-i", "text=c"});
  BOOST_TEST(quiet.status == 0, quiet.err);
  BOOST_TEST(quiet.out == "en\nde\nes\n");
  auto as_json = run_cli({"--url", d.url(), "run", "alice/word-lang", "--json", "-i", "text=a", "-i", "text=b", "-i", "text=c"});
  BOOST_TEST(as_json.status == 0, as_json.err);
  BOOST_TEST(json::parse(as_json.out) == json::parse(hub.events.substr(hub.events.find("data: ") + 6)).at("result").at("answer"));
}

// ---------------------------------------------------------------------------------------------
// text-generation

BOOST_AUTO_TEST_CASE(generation_posts_the_prompt_and_numeric_params_and_streams_only_the_new_text) {
  const std::string waiting = "waiting: no worker has a plugin for format torchscript (text-generation models)";
  fake_hub hub;
  hub.events = sse("job", queued(waiting)) + sse("job", queued(waiting)) + sse("job", running("")) +
               sse("progress", running(" there")) + sse("progress", running(" there was")) +
               sse("progress", running(" there was")) +
               sse("job", succeeded(json::array{json::object{{"generated_text", "Once upon a time there was a fox"}}},
                                    json::object{{"text", json::object{{"dtype", "u8"}, {"data", json::array{32}}}}}));
  fake_daemon d(hub);
  flushed_pieces out_buf;
  std::ostream out(&out_buf);
  std::ostringstream err;
  terminal term;
  term.token = token;
  const int status = run({"--url", d.url(), "run", "alice/tiny-story@" + rev, "--input", "prompt=Once upon a time",
                          "--param", "max_new_tokens=40", "--param", "temperature=0.8", "-p", "top_k=20", "-p", "seed=7",
                          "--bid", "0.5", "--backend", "cpu"},
                         term, out, err);
  out.flush();
  BOOST_TEST(status == 0, err.str());
  BOOST_TEST(posted(d) == json::parse(R"({"model": "alice/tiny-story@)" + rev + R"(",
      "inputs": {"prompt": {"text": "Once upon a time"}},
      "params": {"max_new_tokens": 40, "temperature": 0.8, "top_k": 20, "seed": 7},
      "backend": "cpu", "bid": 500000})"));
  // Each new piece as it came, not the prompt, then the rest of the final text and a newline.
  BOOST_TEST(out_buf.pieces == (std::vector<std::string>{" there", " was", " a fox\n"}), boost::test_tools::per_element());
  // The reason it waits, once.
  BOOST_TEST(err.str() == waiting + "\n");
  // A whole revision needs no lookup.
  for (const auto& r : d.requests()) BOOST_TEST(!r.target.ends_with("/revisions"));
  BOOST_TEST(d.requests().front().target == "/api/models/alice/tiny-story?revision=" + rev);
}

BOOST_AUTO_TEST_CASE(generation_with_q_prints_the_final_text_only_and_json_the_answer) {
  fake_hub hub;
  const auto answer = json::array{json::object{{"generated_text", "Hi there, friend"}}};
  hub.events = sse("progress", running(" there")) + sse("job", succeeded(answer));
  fake_daemon d(hub);
  // `text` is the prompt's other name; a prefix of a revision is looked up.
  auto quiet = run_cli({"--url", d.url(), "run", "alice/tiny-story@3f9c0d2b", "-q", "--input", "text=Hi"});
  BOOST_TEST(quiet.status == 0, quiet.err);
  BOOST_TEST(quiet.out == " there, friend\n");
  BOOST_TEST(posted(d) == json::parse(R"({"model": "alice/tiny-story@)" + rev + R"(", "inputs": {"prompt": {"text": "Hi"}}})"));
  BOOST_TEST(d.requests().front().target == "/api/models/alice/tiny-story/revisions");

  auto as_json = run_cli({"--url", d.url(), "run", "alice/tiny-story", "--json", "--input", "prompt=Hi"});
  BOOST_TEST(as_json.status == 0, as_json.err);
  BOOST_TEST(json::parse(as_json.out) == answer);

  // Nothing streamed: the final text, after the prompt.
  hub.events = sse("job", succeeded(answer));
  fake_daemon quiet_worker(hub);
  auto plain = run_cli({"--url", quiet_worker.url(), "run", "alice/tiny-story", "--input", "prompt=Hi"});
  BOOST_TEST(plain.out == " there, friend\n");
}

BOOST_AUTO_TEST_CASE(the_waiting_reason_is_shown_once_per_change) {
  fake_hub hub;
  hub.events = sse("job", queued("waiting: no connected worker offers task torchscript.text-classification")) +
               sse("job", queued("waiting: no connected worker offers task torchscript.text-classification")) +
               sse("job", queued("waiting: every worker offering torchscript.text-classification that takes this bid "
                                 "is busy or paused")) +
               sse("job", running("")) + sse("job", succeeded(json::array{labels({{"en", 1}})}));
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=hello"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.err ==
             "waiting: no connected worker offers task torchscript.text-classification\n"
             "waiting: every worker offering torchscript.text-classification that takes this bid is busy or paused\n");
  BOOST_TEST(o.out == "en  1.000\n");
}

// ---------------------------------------------------------------------------------------------
// image-classification and tensor models

BOOST_AUTO_TEST_CASE(image_and_tensor_models_take_tensors_as_submit_does) {
  fake_hub hub;
  hub.events = sse("job", succeeded(json::array{json::object{{"label", "7"}, {"score", 0.92}},
                                                json::object{{"label", "1"}, {"score", 0.08}}}));
  fake_daemon d(hub);
  auto image = run_cli({"--url", d.url(), "run", "acme/digits", "--input", "image=[[[0,255,0]]]"});
  BOOST_TEST(image.status == 0, image.err);
  BOOST_TEST(posted(d) == json::parse(R"({"model": "acme/digits", "inputs": {"image": {"dtype": "u8", "data": [[[0,255,0]]]}}})"));
  BOOST_TEST(image.out == "7  0.920\n1  0.080\n");

  temp_file tensor(R"({"dtype": "i64", "shape": [2], "data": [1, 2]})");
  hub.events = sse("job", succeeded(nullptr, json::object{{"output", json::object{{"dtype", "i64"}, {"shape", json::array{2}},
                                                                                  {"data", json::array{2, 4}}}}}));
  fake_daemon t(hub);
  auto doubled = run_cli({"--url", t.url(), "run", "acme/doubler", "--input", "input=@" + tensor.path.string()});
  BOOST_TEST(doubled.status == 0, doubled.err);
  BOOST_TEST(posted(t) == json::parse(R"({"model": "acme/doubler", "inputs": {"input": {"dtype": "i64", "shape": [2], "data": [1, 2]}}})"));
  BOOST_TEST(has(doubled.out, "output  i64[2]\n"));
  BOOST_TEST(has(doubled.out, "2  4"));
  auto as_json = run_cli({"--url", t.url(), "run", "acme/doubler", "--json", "--input", "input=[1,2]"});
  BOOST_TEST(json::parse(as_json.out) == json::parse(R"({"output": {"dtype": "i64", "shape": [2], "data": [2, 4]}})"));
}

// ---------------------------------------------------------------------------------------------
// Failures, Ctrl-C, --timeout

BOOST_AUTO_TEST_CASE(a_failed_job_exits_1_with_its_error_after_the_text_so_far) {
  fake_hub hub;
  auto failed = json::object{{"id", 12}, {"state", "failed"}, {"result", nullptr},
                             {"error", json::object{{"code", "plugin_error"}, {"message", "CUDA out of memory"}}}};
  hub.events = sse("progress", running(" there")) + sse("job", failed);
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "run", "alice/tiny-story", "--input", "prompt=Hi"});
  BOOST_TEST(o.status == 1);
  BOOST_TEST(o.out == " there\n");
  BOOST_TEST(o.err == "✗ job 12 failed: plugin_error: CUDA out of memory\n");
  auto quiet = run_cli({"--url", d.url(), "run", "-q", "alice/tiny-story", "--input", "prompt=Hi"});
  BOOST_TEST(quiet.status == 1);
  BOOST_TEST(quiet.out.empty());
  BOOST_TEST(quiet.err == "✗ job 12 failed: plugin_error: CUDA out of memory\n");
}

BOOST_AUTO_TEST_CASE(a_timeout_cancels_the_job_and_exits_1) {
  fake_hub hub;
  hub.events = sse("job", queued("waiting: no worker has a plugin for format torchscript (text-classification models)"));
  hub.job = queued("waiting: no worker has a plugin for format torchscript (text-classification models)");
  hub.events_delay_ms = 50;
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=hello", "--timeout", "300ms"});
  BOOST_TEST(o.status == 1);
  BOOST_TEST(o.out.empty());
  BOOST_TEST(o.err == "waiting: no worker has a plugin for format torchscript (text-classification models)\n"
                      "error: job 12 did not end within --timeout 300ms\n"
                      "Cancelled job 12.\n");
  BOOST_TEST(d.last().method + " " + d.last().target == "POST /api/v1/jobs/12/cancel");
}

BOOST_AUTO_TEST_CASE(ctrl_c_cancels_the_job) {
  fake_hub hub;
  hub.events = sse("job", queued(""));
  hub.events_delay_ms = 500;  // the stream is open while the user presses Ctrl-C
  fake_daemon d(hub);
  std::thread user([&] {
    for (int i = 0; i < 1000; ++i) {
      for (const auto& r : d.requests())
        if (r.target.ends_with("/events")) {
          // The CLI watches for Ctrl-C before it connects: the request it sent is proof enough.
          std::raise(SIGINT);
          return;
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // -- allowed: a poll with a deadline (1000 rounds)
    }
  });
  auto o = run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=hello"});
  user.join();
  BOOST_TEST(o.status == 130);
  BOOST_TEST(o.err == "Cancelled job 12.\n");
  BOOST_TEST(d.last().method + " " + d.last().target == "POST /api/v1/jobs/12/cancel");
}

// ---------------------------------------------------------------------------------------------
// Mistakes

BOOST_AUTO_TEST_CASE(inputs_the_model_does_not_take_exit_2_naming_what_it_takes) {
  fake_daemon d(fake_hub{});
  auto run_it = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", d.url(), "run"});
    return run_cli(args);
  };
  auto foo = run_it({"alice/word-lang", "--input", "foo=1"});
  BOOST_TEST(foo.status == 2);
  BOOST_TEST(has(foo.err, "error: alice/word-lang is a text-classification model: it takes --input text=TEXT (repeat it "
                          "for several texts, or text=@FILE: one text per line), not --input foo\n"));
  BOOST_TEST(has(foo.err, "Run 'potluck run --help' for usage."));
  auto none = run_it({"alice/word-lang"});
  BOOST_TEST(none.status == 2);
  BOOST_TEST(has(none.err, "error: alice/word-lang is a text-classification model: give it --input text=TEXT"));
  auto two = run_it({"alice/tiny-story", "--input", "prompt=a", "--input", "text=b"});
  BOOST_TEST(two.status == 2);
  BOOST_TEST(has(two.err, "it takes one prompt (--input prompt=TEXT), not two"));
  auto image = run_it({"acme/doubler", "--input", "image=[1]"});
  BOOST_TEST(image.status == 2);
  BOOST_TEST(has(image.err, "acme/doubler is a tensor model: it takes --input input=VALUE (a tensor: JSON, or @FILE "
                            "holding it), not --input image"));
  auto bad_json = run_it({"acme/digits", "--input", "image=[[1,2"});
  BOOST_TEST(bad_json.status == 2);
  BOOST_TEST(has(bad_json.err, "--input image: the value is not valid JSON"));
  auto no_file = run_it({"alice/word-lang", "--input", "text=@/nonexistent/texts.txt"});
  BOOST_TEST(no_file.status == 2);
  BOOST_TEST(has(no_file.err, "error: --input text: cannot read /nonexistent/texts.txt: No such file or directory\n"));
  auto empty = run_it({"alice/word-lang", "--input", "text="});
  BOOST_TEST(empty.status == 2);
  BOOST_TEST(has(empty.err, "--input text has no text after '='"));
  BOOST_TEST(!any_post(d));
}

BOOST_AUTO_TEST_CASE(params_that_are_not_numbers_exit_2_and_the_daemons_refusal_exits_4) {
  fake_hub hub;
  fake_daemon d(hub);
  auto generate = [&](const std::string& param) {
    return run_cli({"--url", d.url(), "run", "alice/tiny-story", "--input", "prompt=Hi", "--param", param});
  };
  auto word = generate("max_new_tokens=many");
  BOOST_TEST(word.status == 2);
  BOOST_TEST(has(word.err, "error: --param max_new_tokens takes a whole number of at least 1, like --param "
                           "max_new_tokens=40 (got 'many')\n"));
  BOOST_TEST(generate("max_new_tokens=2.5").status == 2);
  BOOST_TEST(generate("max_new_tokens=0").status == 2);
  BOOST_TEST(has(generate("temperature=hot").err, "--param temperature takes a number of at least 0"));
  BOOST_TEST(has(generate("seed=-1").err, "--param seed takes a whole number of at least 0"));
  BOOST_TEST(has(generate("top_k=").err, "--param top_k takes a whole number"));
  BOOST_TEST(!any_post(d));

  // What only the daemon knows (ranges, names) comes back as its refusal.
  hub.submit_reply = {422, error_body("invalid_params", "task 'torchscript.text-generation': max_new_tokens must be at most 1024")};
  fake_daemon strict(hub);
  auto big = run_cli({"--url", strict.url(), "run", "alice/tiny-story", "--input", "prompt=Hi", "--param", "max_new_tokens=5000"});
  BOOST_TEST(big.status == 4);
  BOOST_TEST(has(big.err, "error: task 'torchscript.text-generation': max_new_tokens must be at most 1024\n"));
}

BOOST_AUTO_TEST_CASE(an_unknown_model_exits_4_and_a_malformed_one_exits_2) {
  fake_daemon d(fake_hub{});
  auto missing = run_cli({"--url", d.url(), "run", "alice/nope", "--input", "text=hi"});
  BOOST_TEST(missing.status == 4);
  BOOST_TEST(missing.err == "error: no model alice/nope\nSee the models on the hub: potluck models ls\n");
  BOOST_TEST(!any_post(d));

  const auto asked = d.requests().size();
  auto bare = run_cli({"--url", d.url(), "run", "word-lang", "--input", "text=hi"});
  BOOST_TEST(bare.status == 2);
  BOOST_TEST(has(bare.err, "'word-lang' is not a model: name a model as OWNER/NAME, like alice/word-lang"));
  auto at = run_cli({"--url", d.url(), "run", "alice/word-lang@", "--input", "text=hi"});
  BOOST_TEST(at.status == 2);
  BOOST_TEST(has(at.err, "'alice/word-lang@' names no revision after '@'"));
  auto not_hex = run_cli({"--url", d.url(), "run", "alice/word-lang@zz", "--input", "text=hi"});
  BOOST_TEST(not_hex.status == 2);
  BOOST_TEST(has(not_hex.err, "'alice/word-lang@zz' names no revision ('zz'): give its ID"));
  auto bid = run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=hi", "--bid", "cheap"});
  BOOST_TEST(bid.status == 2);
  BOOST_TEST(has(bid.err, "--bid 'cheap'"));
  BOOST_TEST(run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=hi", "--backend", "tpu"}).status == 2);
  auto timeout = run_cli({"--url", d.url(), "run", "alice/word-lang", "--input", "text=hi", "--timeout", "soon"});
  BOOST_TEST(timeout.status == 2);
  BOOST_TEST(has(timeout.err, "--timeout takes a duration like 30s, 10m or 1h, at most 7 days (got 'soon')"));
  BOOST_TEST(run_cli({"--url", d.url(), "run"}).status == 2);
  BOOST_TEST(d.requests().size() == asked);
}
