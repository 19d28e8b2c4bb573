// Tests of the model hub's commands (cli/models.cpp through cli/app.hpp's run) against a fake
// daemon that keeps blobs and answers the hub's routes: models push (what it uploads and commits,
// what it leaves out, the parent it names), models ls and show (what people see, what scripts
// get), models pull (files written byte for byte, checked, continued, skipped), models rm (the
// confirmation it asks for, what it removes), and the exit statuses and hints of local mistakes
// (2) and the daemon's refusals (4).
#define BOOST_TEST_MODULE cli_models
#include <boost/test/unit_test.hpp>

#include "cli/app.hpp"
#include "cli/format.hpp"
#include "cli_run.hpp"
#include "fake_daemon.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

using namespace potluck::cli;
using namespace potluck::cli::testing;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string sha256_of(const std::string& bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) out += digits[b >> 4], out += digits[b & 0xf];
  return out;
}

// "2026-11-30T08:00:00Z", `minutes` ago.
std::string iso_minutes_ago(int minutes) {
  const std::time_t t = std::time(nullptr) - minutes * 60;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A fresh folder under the system's temp folder, removed at the end of the test.
struct temp_folder {
  fs::path path;
  temp_folder() {
    std::string pattern = (fs::temp_directory_path() / "potluck-cli-models-XXXXXX").string();
    BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string card = "---\ntask: text-classification\nformat: torchscript\nlicense: mit\n---\n# word-lang\n";
const std::string config = R"({"hidden": 16})";
// What a TorchScript archive starts with (a zip file), then filler.
const std::string weights = std::string("PK\x03\x04", 4) + std::string(300'000, 'w');

const std::string rev1 = "1111111111aaaaaaaaaabbbbbbbbbbcccccccccc";
const std::string rev2 = "2222222222aaaaaaaaaabbbbbbbbbbcccccccccc";

// A model folder: README.md, config.json, model/weights.pt, and what a push leaves out.
void write_model(const fs::path& dir) {
  write_file(dir / "README.md", card);
  write_file(dir / "config.json", config);
  write_file(dir / "model" / "weights.pt", weights);
  write_file(dir / ".env", "SECRET=1");
  write_file(dir / ".git" / "config", "[core]");
}

json::array siblings_of(const std::vector<std::pair<std::string, std::string>>& files) {
  json::array out;
  for (const auto& [path, bytes] : files)
    out.push_back(json::object{{"rfilename", path}, {"size", bytes.size()}, {"sha256", sha256_of(bytes)}});
  return out;
}

json::object model_json(const std::string& sha, json::array siblings) {
  return json::object{{"id", "alice/word-lang"},
                      {"author", "alice"},
                      {"sha", sha},
                      {"pipeline_tag", "text-classification"},
                      {"task", "text-classification"},
                      {"format", "torchscript"},
                      {"license", "mit"},
                      {"tags", json::array{"words"}},
                      {"downloads", 1234},
                      {"createdAt", iso_minutes_ago(60 * 24 * 3)},
                      {"lastModified", iso_minutes_ago(5)},
                      {"cardData", json::object{{"task", "text-classification"}, {"format", "torchscript"},
                                                {"labels", json::array{"en", "fr"}}, {"license", "mit"}}},
                      {"siblings", std::move(siblings)},
                      {"card", "# word-lang\n"}};
}

const std::vector<std::pair<std::string, std::string>> model_files = {
    {"README.md", card}, {"config.json", config}, {"model/weights.pt", weights}};

// The daemon's side of a push: who the token is, the model's head (none: a new model), blobs
// checked against their ?sha256=, and a commit that answers `commit_reply`.
struct fake_hub {
  std::optional<json::object> head;
  std::set<std::string> kept;  // content the hub holds already
  json::array scopes = {"read", "submit", "publish", "donate"};
  scripted_reply commit_reply{201, json::serialize(model_json(rev2, siblings_of(model_files)))};

  scripted_reply operator()(const recorded_request& r) const {
    if (r.method == "GET" && r.target == "/api/v1/account")
      return {200, json::serialize(json::object{
                       {"account", json::object{{"name", "alice"}, {"kind", "user"}}},
                       {"token", json::object{{"name", "default"}, {"scopes", scopes}}},
                       {"orgs", json::array{json::object{{"name", "acme"}, {"role", "member"}}}}})};
    if (r.method == "GET" && r.target == "/api/models/alice/word-lang")
      return head ? scripted_reply{200, json::serialize(*head)}
                  : scripted_reply{404, error_body("model_not_found", "no model alice/word-lang")};
    if (r.method == "PUT" && r.target.starts_with("/api/blobs?sha256=")) {
      const auto sha = r.target.substr(18);
      if (sha256_of(r.body) != sha) return {422, error_body("hash_mismatch", "the upload's sha256 is not " + sha)};
      return {201, json::serialize(json::object{{"sha256", sha}, {"size", r.body.size()}, {"existed", false}})};
    }
    if (r.method == "POST" && r.target == "/api/blobs/missing") {
      json::array missing;
      const auto asked = json::parse(r.body);
      for (const auto& v : asked.at("sha256").as_array())
        if (!kept.count(std::string(v.as_string()))) missing.push_back(v);
      return {200, json::serialize(json::object{{"missing", std::move(missing)}})};
    }
    if (r.method == "POST" && r.target == "/api/models/alice/word-lang/commits") return commit_reply;
    return {404, error_body("not_found", "no such path: " + r.target)};
  }
};

std::vector<std::string> methods_and_targets(const std::vector<recorded_request>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.method + " " + r.target);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// models push

BOOST_AUTO_TEST_CASE(push_uploads_every_file_streamed_then_commits_them_as_a_new_model) {
  temp_folder tmp;
  const auto dir = tmp.path / "word-lang";
  write_model(dir);
  fake_daemon d(fake_hub{});
  auto o = run_cli({"--url", d.url(), "models", "push", dir.string(), "alice/word-lang"});
  BOOST_TEST(o.status == 0, o.err);
  const auto requests = d.requests();
  const std::vector<std::string> expected = {
      "GET /api/v1/account",
      "GET /api/models/alice/word-lang",
      "POST /api/blobs/missing",
      "PUT /api/blobs?sha256=" + sha256_of(card),
      "PUT /api/blobs?sha256=" + sha256_of(config),
      "PUT /api/blobs?sha256=" + sha256_of(weights),
      "POST /api/models/alice/word-lang/commits"};
  BOOST_TEST(methods_and_targets(requests) == expected, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(requests.size() == expected.size());
  // Each file's bytes, as they are on disk, with the token; the daemon is asked before the body.
  BOOST_TEST(requests[3].body == card);
  BOOST_TEST(requests[5].body == weights);
  BOOST_TEST(requests[5].header("Expect") == "100-continue");
  BOOST_TEST(requests[5].header("Content-Type") == "application/octet-stream");
  BOOST_TEST(requests[5].authorization == "Bearer " + token);
  // One commit names them all, sorted, without a parent for a new model; dotfiles stay home.
  const auto commit = json::parse(requests[6].body);
  BOOST_TEST(commit == json::parse(R"({"files": [{"path": "README.md", "sha256": ")" + sha256_of(card) +
                                   R"("}, {"path": "config.json", "sha256": ")" + sha256_of(config) +
                                   R"("}, {"path": "model/weights.pt", "sha256": ")" + sha256_of(weights) +
                                   R"("}], "message": "Push 3 files"})"));
  const auto total = format_bytes(card.size() + config.size() + weights.size());
  BOOST_TEST(o.out == "Created alice/word-lang revision " + rev2 + " (3 files, " + total + ").\n");
  // Off a terminal: a line per file instead of a progress bar.
  BOOST_TEST(o.err == "uploaded README.md (" + format_bytes(card.size()) + ")\n" + "uploaded config.json (14 B)\n" +
                          "uploaded model/weights.pt (" + format_bytes(weights.size()) + ")\n" +
                          "See it: potluck models show alice/word-lang\n");
}

BOOST_AUTO_TEST_CASE(push_follows_the_head_and_scripts_get_the_revision_or_the_json) {
  temp_folder tmp;
  write_model(tmp.path);
  fake_hub hub;
  hub.head = model_json(rev1, siblings_of({{"README.md", card}, {"config.json", R"({"hidden": 8})"}}));
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang", "-q", "-m", "more data"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == rev2 + "\n");
  BOOST_TEST(o.err.empty());
  const auto commit = json::parse(d.last().body).as_object();
  BOOST_TEST(commit.at("parent").as_string() == rev1);
  BOOST_TEST(commit.at("message") == "more data");

  auto text = run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang"});
  BOOST_TEST(has(text.out, "Pushed alice/word-lang revision " + rev2 + " (3 files, "));
  BOOST_TEST(has(text.out, "), after 1111111111aa.\n"));

  auto as_json = run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang", "--json"});
  BOOST_TEST(json::parse(as_json.out) == json::parse(hub.commit_reply.body));
}

BOOST_AUTO_TEST_CASE(push_does_not_send_again_what_the_hub_keeps_already) {
  temp_folder tmp;
  write_model(tmp.path);
  fake_hub hub;
  hub.kept = {sha256_of(weights)};  // another model holds the same weights
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang"});
  BOOST_TEST(o.status == 0, o.err);
  std::vector<std::string> uploads;
  for (const auto& t : methods_and_targets(d.requests()))
    if (t.starts_with("PUT ")) uploads.push_back(t);
  BOOST_TEST(uploads == (std::vector<std::string>{"PUT /api/blobs?sha256=" + sha256_of(card), "PUT /api/blobs?sha256=" + sha256_of(config)}),
             boost::test_tools::per_element());
  BOOST_TEST(has(o.err, "1 file is on the hub already: not sent again\n"));
  // The commit still names every file.
  BOOST_TEST(json::parse(d.last().body).at("files").as_array().size() == 3u);
}

BOOST_AUTO_TEST_CASE(push_of_what_the_latest_revision_holds_sends_nothing) {
  temp_folder tmp;
  write_model(tmp.path);
  fake_hub hub;
  hub.head = model_json(rev1, siblings_of(model_files));
  fake_daemon d(hub);
  auto o = run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == "Nothing to push: alice/word-lang revision " + rev1 + " has these files already.\n");
  for (const auto& r : d.requests()) BOOST_TEST(r.method == "GET");
  BOOST_TEST(run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang", "-q"}).out == rev1 + "\n");
}

BOOST_AUTO_TEST_CASE(local_problems_exit_2_with_what_to_do_before_anything_is_sent) {
  temp_folder tmp;
  fake_daemon d(fake_hub{});
  auto push = [&](const fs::path& dir, const std::string& model = "alice/word-lang") {
    return run_cli({"--url", d.url(), "models", "push", dir.string(), model});
  };
  auto missing = push(tmp.path / "nowhere");
  BOOST_TEST(missing.status == 2);
  BOOST_TEST(has(missing.err, "error: there is no folder " + (tmp.path / "nowhere").string()));

  // No card: the hint shows a minimal one.
  const auto no_card = tmp.path / "no-card";
  write_file(no_card / "config.json", config);
  auto o = push(no_card);
  BOOST_TEST(o.status == 2);
  BOOST_TEST(has(o.err, "error: " + no_card.string() + " has no README.md: the hub needs a model card\n"));
  BOOST_TEST(has(o.err, "  ---\n  task: text-classification"));
  BOOST_TEST(has(o.err, "  format: torchscript"));

  // A link out of the folder is refused; a file the hub does not keep is named.
  const auto linked = tmp.path / "linked";
  write_model(linked);
  write_file(tmp.path / "outside.json", "{}");
  fs::create_symlink(tmp.path / "outside.json", linked / "extra.json");
  auto link = push(linked);
  BOOST_TEST(link.status == 2);
  BOOST_TEST(has(link.err, (linked / "extra.json").string() + " is a link to " + (tmp.path / "outside.json").string() +
                               ", outside " + linked.string()));
  const auto binary = tmp.path / "binary";
  write_model(binary);
  write_file(binary / "model" / "weights.bin", "x");
  write_file(binary / "notes.pkl", "x");
  auto kinds = push(binary);
  BOOST_TEST(kinds.status == 2);
  BOOST_TEST(has(kinds.err, "the hub does not keep these files of " + binary.string() + ": model/weights.bin, notes.pkl"));
  BOOST_TEST(has(kinds.err, "hide them (a name starting with '.' is not pushed)"));

  // Model names are checked here.
  auto bare = push(binary, "word-lang");
  BOOST_TEST(bare.status == 2);
  BOOST_TEST(has(bare.err, "'word-lang' is not a model: name a model as OWNER/NAME, like alice/word-lang"));
  BOOST_TEST(has(bare.err, "Run 'potluck models push --help' for usage."));
  BOOST_TEST(push(binary, "alice/.hidden").status == 2);
  BOOST_TEST(push(binary, "Alice/x").status == 2);
  BOOST_TEST(run_cli({"--url", d.url(), "models", "push", binary.string()}).status == 2);
  BOOST_TEST(d.requests().empty());
}

BOOST_AUTO_TEST_CASE(a_link_inside_the_folder_is_pushed_under_its_own_name) {
  temp_folder tmp;
  write_model(tmp.path);
  fs::create_symlink(tmp.path / "config.json", tmp.path / "tokenizer.json");
  fake_daemon d(fake_hub{});
  auto o = run_cli({"--url", d.url(), "models", "push", tmp.path.string(), "alice/word-lang", "-q"});
  BOOST_TEST(o.status == 0, o.err);
  const auto commit = json::parse(d.last().body);
  BOOST_TEST(commit.at("files").as_array().size() == 4u);
  BOOST_TEST(commit.at("files").at(3) == json::parse(R"({"path": "tokenizer.json", "sha256": ")" + sha256_of(config) + "\"}"));
}

BOOST_AUTO_TEST_CASE(the_daemons_refusals_exit_4_with_its_message_and_a_hint) {
  temp_folder tmp;
  write_model(tmp.path);
  auto push = [&](const fake_daemon& d, const std::string& model = "alice/word-lang") {
    return run_cli({"--url", d.url(), "models", "push", tmp.path.string(), model});
  };
  {
    fake_hub hub;
    hub.commit_reply = {422, error_body("bad_card", "README.md line 3: expected \"key: value\", got \"format torchscript\"")};
    fake_daemon d(hub);
    auto o = push(d);
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "error: README.md line 3: expected \"key: value\", got \"format torchscript\"\n"
                          "A model card starts with front matter between two '---' lines, like:\n  ---\n"));
  }
  {
    fake_hub hub;
    hub.commit_reply = {409, error_body("conflict", "alice/word-lang is at another revision now")};
    fake_daemon d(hub);
    auto o = push(d);
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "Someone pushed to alice/word-lang meanwhile. See its revisions: potluck models show alice/word-lang"));
  }
  {
    // Refused before the body: nothing of the file is sent, and nothing is committed.
    fake_daemon d(fake_hub{}, [](const recorded_request& head) -> std::optional<scripted_reply> {
      if (head.method != "PUT") return std::nullopt;
      return scripted_reply{413, error_body("file_too_large", "a file of a model is at most 100 bytes")};
    });
    auto o = push(d);
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "error: a file of a model is at most 100 bytes\n"
                          "The daemon's operator sets the largest file it takes: potluckd --max-model-file-bytes."));
    BOOST_TEST(d.last().method == "PUT");
    BOOST_TEST(d.last().body.empty());
  }
  {
    // Who may publish is known before the files are read.
    fake_daemon d(fake_hub{});
    auto o = push(d, "bob/word-lang");
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "error: you publish as 'alice' or an organisation you belong to (acme), not 'bob'\n"
                          "Publish as your account or an organisation you belong to (see them: potluck account), like:\n"
                          "  potluck models push DIR YOUR-NAME/word-lang\n"));
    BOOST_TEST(methods_and_targets(d.requests()) == std::vector<std::string>{"GET /api/v1/account"});
    // An organisation of alice's passes the check (this fake then knows no such model).
    BOOST_TEST(push(d, "acme/word-lang").err.find("you publish as") == std::string::npos);
  }
  {
    fake_hub hub;
    hub.scopes = {"read"};
    fake_daemon d(hub);
    auto o = push(d);
    BOOST_TEST(o.status == 4);
    BOOST_TEST(has(o.err, "error: API token 'default' lacks the scope this needs: publish\n"
                          "Publishing a model takes a token with the publish scope.\n"
                          "Make one: potluck tokens create NAME --scope publish\n"));
  }
}

// ---------------------------------------------------------------------------------------------
// models ls

BOOST_AUTO_TEST_CASE(ls_lists_models_in_a_table_and_passes_the_filters) {
  json::array models;
  models.push_back(model_json(rev1, {}));
  auto detector = model_json(rev2, {});
  detector["id"] = "acme/detector";
  detector["task"] = "image-classification";
  detector["format"] = "onnx";
  detector["downloads"] = 7;
  detector["lastModified"] = iso_minutes_ago(60 * 3);
  models.push_back(detector);
  fake_daemon d([&](const recorded_request& r) {
    if (r.target.find("search=none") != std::string::npos) return scripted_reply{200, "[]"};
    return scripted_reply{200, json::serialize(models)};
  });
  auto o = run_cli({"--url", d.url(), "models", "ls"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().target == "/api/models?limit=20");
  BOOST_TEST(o.out == "ID               TASK                  FORMAT       DOWNLOADS  UPDATED\n"
                      "alice/word-lang  text-classification   torchscript      1,234  5m ago\n"
                      "acme/detector    image-classification  onnx                 7  3h ago\n");
  BOOST_TEST(o.err.empty());

  run_cli({"--url", d.url(), "models", "ls", "--search", "word lang", "--task", "text-classification", "--sort",
           "downloads", "--limit", "2"});
  BOOST_TEST(d.last().target == "/api/models?limit=2&sort=downloads&search=word%20lang&task=text-classification");
  auto full = run_cli({"--url", d.url(), "models", "ls", "-n", "2", "--sort", "downloads"});
  BOOST_TEST(full.err == "Showing the first 2. More: potluck models ls --limit 10 --sort downloads\n");

  BOOST_TEST(run_cli({"--url", d.url(), "models", "ls", "-q"}).out == "alice/word-lang\nacme/detector\n");
  BOOST_TEST(json::parse(run_cli({"--url", d.url(), "models", "ls", "--json"}).out) == models);
  BOOST_TEST(run_cli({"--url", d.url(), "models", "ls", "--search", "none"}).out ==
             "No models match. All models: potluck models ls\n");

  auto bad = run_cli({"--url", d.url(), "models", "ls", "--sort", "size"});
  BOOST_TEST(bad.status == 2);
  BOOST_TEST(has(bad.err, "--sort is recent (the latest changed first) or downloads (got 'size')"));
  BOOST_TEST(run_cli({"--url", d.url(), "models", "ls", "--limit", "101"}).status == 2);
  BOOST_TEST(run_cli({"--url", d.url(), "models", "ls", "extra"}).status == 2);
}

BOOST_AUTO_TEST_CASE(ls_of_an_empty_hub_says_how_to_publish) {
  fake_daemon d([](const recorded_request&) { return scripted_reply{200, "[]"}; });
  BOOST_TEST(run_cli({"--url", d.url(), "models", "ls"}).out ==
             "No models yet. Publish one: potluck models push DIR OWNER/NAME\n");
}

// ---------------------------------------------------------------------------------------------
// models show

namespace {

const json::object revisions_reply = json::parse(R"({"revisions": [
  {"id": ")" + rev2 + R"(", "parent": ")" + rev1 + R"(", "message": "wider\nand deeper", "created_at": ")" +
                                                 iso_minutes_ago(5) + R"("},
  {"id": ")" + rev1 + R"(", "parent": "", "message": "", "created_at": ")" + iso_minutes_ago(120) + R"("}]})")
                                         .as_object();

scripted_reply show_answer(const recorded_request& r) {
  if (r.target == "/api/models/alice/word-lang/revisions") return {200, json::serialize(revisions_reply)};
  if (r.target == "/api/models/alice/word-lang") return {200, json::serialize(model_json(rev2, siblings_of(model_files)))};
  if (r.target == "/api/models/alice/word-lang?revision=" + rev1)
    return {200, json::serialize(model_json(rev1, siblings_of({{"README.md", card}})))};
  if (r.target.starts_with("/api/models/alice/word-lang?revision="))
    return {404, error_body("revision_not_found", "model alice/word-lang has no revision 'x'")};
  return {404, error_body("model_not_found", "no model " + r.target.substr(12))};
}

}  // namespace

BOOST_AUTO_TEST_CASE(show_lists_the_fields_the_files_and_the_revisions) {
  fake_daemon d(show_answer);
  auto o = run_cli({"--url", d.url(), "models", "show", "alice/word-lang"});
  BOOST_TEST(o.status == 0, o.err);
  const auto created = format_utc(*parse_iso8601_ms(std::string(model_json(rev2, {}).at("createdAt").as_string())));
  BOOST_TEST(o.out.starts_with("Model:      alice/word-lang\n"
                               "Revision:   " + rev2 + " (the latest)\n"
                               "Task:       text-classification\n"
                               "Format:     torchscript\n"
                               "License:    mit\n"
                               "Labels:     en, fr\n"
                               "Tags:       words\n"
                               "Downloads:  1,234\n"
                               "Created:    " + created + "\n"
                               "Updated:    "), o.out);
  BOOST_TEST(has(o.out, " (5m ago)\n"
                        "\n"
                        "FILE                 SIZE  SHA256\n"
                        "README.md            79 B  " + sha256_of(card).substr(0, 12) + "\n"
                        "config.json          14 B  " + sha256_of(config).substr(0, 12) + "\n"
                        "model/weights.pt  293 KiB  " + sha256_of(weights).substr(0, 12) + "\n"
                        "\n"
                        "REVISION      CREATED  MESSAGE\n"
                        "2222222222aa  5m ago   wider\n"
                        "1111111111aa  2h ago   -\n"));
  BOOST_TEST(o.err == "Download it: potluck models pull alice/word-lang\n");
  BOOST_TEST(run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "-q"}).out == rev2 + "\n");
  auto as_json = json::parse(run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "--json"}).out);
  BOOST_TEST(as_json.at("sha").as_string() == rev2);
  BOOST_TEST(as_json.at("revisions") == revisions_reply.at("revisions"));
}

BOOST_AUTO_TEST_CASE(show_takes_a_revision_by_its_first_digits) {
  fake_daemon d(show_answer);
  auto o = run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "--revision", "1111111111A"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(methods_and_targets(d.requests()) ==
             (std::vector<std::string>{"GET /api/models/alice/word-lang/revisions",
                                       "GET /api/models/alice/word-lang?revision=" + rev1,
                                       "GET /api/models/alice/word-lang/revisions"}),
             boost::test_tools::per_element());
  BOOST_TEST(has(o.out, "Revision:   " + rev1 + " (the latest is 2222222222aa)\n"));
  BOOST_TEST(has(o.out, "1111111111aa *  2h ago"));
  BOOST_TEST(o.err == "Download it: potluck models pull alice/word-lang --revision 1111111111aa\n");
  // A whole ID goes to the daemon as it is; main is the latest.
  run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "-r", rev1});
  BOOST_TEST(d.last().target == "/api/models/alice/word-lang/revisions");
  BOOST_TEST(d.requests().at(d.requests().size() - 2).target == "/api/models/alice/word-lang?revision=" + rev1);
  BOOST_TEST(run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "-r", "main", "-q"}).out == rev2 + "\n");

  auto unknown = run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "--revision", "abcd"});
  BOOST_TEST(unknown.status == 4);
  BOOST_TEST(unknown.err == "error: model alice/word-lang has no revision 'abcd'\n"
                            "See the revisions of alice/word-lang: potluck models show alice/word-lang\n");
  auto bad = run_cli({"--url", d.url(), "models", "show", "alice/word-lang", "--revision", "HEAD~1"});
  BOOST_TEST(bad.status == 2);
  BOOST_TEST(has(bad.err, "--revision 'HEAD~1' is not a revision"));
}

BOOST_AUTO_TEST_CASE(show_of_a_missing_model_says_where_to_look) {
  fake_daemon d(show_answer);
  auto o = run_cli({"--url", d.url(), "models", "show", "bob/nothing"});
  BOOST_TEST(o.status == 4);
  BOOST_TEST(o.err == "error: no model bob/nothing\nSee the models on the hub: potluck models ls\n");
  BOOST_TEST(run_cli({"--url", d.url(), "models", "show"}).status == 2);
}

// ---------------------------------------------------------------------------------------------
// models pull

namespace {

// The daemon's side of a pull: the model at rev2, and its files by path at /resolve/, with
// ranges; `served` replaces a file's bytes (a damaged copy).
struct fake_files {
  std::vector<std::pair<std::string, std::string>> files = model_files;
  std::map<std::string, std::string> served;

  scripted_reply operator()(const recorded_request& r) const {
    if (r.target == "/api/models/alice/word-lang") return {200, json::serialize(model_json(rev2, siblings_of(files)))};
    const std::string prefix = "/alice/word-lang/resolve/" + rev2 + "/";
    if (!r.target.starts_with(prefix)) return {404, error_body("not_found", "no such path: " + r.target)};
    const auto path = r.target.substr(prefix.size());
    for (const auto& [name, bytes] : files) {
      if (name != path) continue;
      auto body = served.contains(name) ? served.at(name) : bytes;
      const std::string etag = "ETag: \"" + sha256_of(bytes) + "\"\r\nX-Repo-Commit: " + rev2 + "\r\n";
      if (auto range = r.header("Range"); range.starts_with("bytes=")) {
        const auto from = std::stoul(range.substr(6));
        const auto size = body.size();
        return {206, body.substr(from),
                etag + "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(size - 1) + "/" +
                    std::to_string(size) + "\r\n"};
      }
      return {200, body, etag};
    }
    return {404, error_body("entry_not_found", "no file '" + path + "'")};
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(pull_writes_each_file_byte_for_byte_and_skips_what_is_there) {
  temp_folder tmp;
  const auto dir = tmp.path / "out";
  fake_daemon d(fake_files{});
  auto o = run_cli({"--url", d.url(), "models", "pull", "alice/word-lang", dir.string()});
  BOOST_TEST(o.status == 0, o.err);
  for (const auto& [path, bytes] : model_files) BOOST_TEST(read_file(dir / path) == bytes, path);
  const std::vector<std::string> expected = {"GET /api/models/alice/word-lang",
                                             "GET /alice/word-lang/resolve/" + rev2 + "/README.md",
                                             "GET /alice/word-lang/resolve/" + rev2 + "/config.json",
                                             "GET /alice/word-lang/resolve/" + rev2 + "/model/weights.pt"};
  BOOST_TEST(methods_and_targets(d.requests()) == expected, boost::test_tools::per_element());
  const auto total = format_bytes(card.size() + config.size() + weights.size());
  BOOST_TEST(o.out == "Pulled alice/word-lang revision " + rev2 + " into " + dir.string() + " (3 files, " + total + ").\n");
  BOOST_TEST(has(o.err, "downloaded model/weights.pt (" + format_bytes(weights.size()) + ")\n"));
  BOOST_TEST(!fs::exists(dir / "model" / ".weights.pt.potluck-part"));

  // Again: nothing to download. A changed file is downloaded again.
  write_file(dir / "config.json", "{}");
  auto again = run_cli({"--url", d.url(), "models", "pull", "alice/word-lang", dir.string(), "-q"});
  BOOST_TEST(again.status == 0, again.err);
  BOOST_TEST(again.out == rev2 + "\n");
  BOOST_TEST(again.err.empty());
  BOOST_TEST(d.last().target == "/alice/word-lang/resolve/" + rev2 + "/config.json");
  BOOST_TEST(read_file(dir / "config.json") == config);
  auto third = run_cli({"--url", d.url(), "models", "pull", "alice/word-lang", dir.string()});
  BOOST_TEST(has(third.out, "(3 files, " + total + "; 3 already there).\n"));
  BOOST_TEST(d.last().target == "/api/models/alice/word-lang");
}

BOOST_AUTO_TEST_CASE(pull_goes_on_where_an_interrupted_one_stopped) {
  temp_folder tmp;
  write_file(tmp.path / "model" / ".weights.pt.potluck-part", weights.substr(0, 1000));
  fake_daemon d(fake_files{});
  auto o = run_cli({"--url", d.url(), "models", "pull", "alice/word-lang", tmp.path.string(), "-q"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(d.last().header("Range") == "bytes=1000-");
  BOOST_TEST(read_file(tmp.path / "model" / "weights.pt") == weights);
  BOOST_TEST(!fs::exists(tmp.path / "model" / ".weights.pt.potluck-part"));

  // A part file whose bytes are wrong: downloaded again whole.
  fs::remove(tmp.path / "model" / "weights.pt");
  write_file(tmp.path / "model" / ".weights.pt.potluck-part", std::string(1000, 'x'));
  auto damaged = run_cli({"--url", d.url(), "models", "pull", "alice/word-lang", tmp.path.string(), "-q"});
  BOOST_TEST(damaged.status == 0, damaged.err);
  BOOST_TEST(d.last().header("Range").empty());
  BOOST_TEST(read_file(tmp.path / "model" / "weights.pt") == weights);
}

BOOST_AUTO_TEST_CASE(pull_keeps_no_file_that_does_not_match_its_sha256) {
  temp_folder tmp;
  fake_files files;
  files.served["config.json"] = R"({"hidden": 99})";
  fake_daemon d(files);
  auto o = run_cli({"--url", d.url(), "models", "pull", "alice/word-lang", tmp.path.string()});
  BOOST_TEST(o.status == 4);
  BOOST_TEST(has(o.err, "error: config.json from the daemon does not match the hub's sha256 " +
                            sha256_of(config).substr(0, 12) + ": got sha256 " +
                            sha256_of(files.served["config.json"]).substr(0, 12) + "\n"
                            "The file was not kept."));
  BOOST_TEST(!fs::exists(tmp.path / "config.json"));
  BOOST_TEST(!fs::exists(tmp.path / ".config.json.potluck-part"));

  // A path that would leave the folder is never written.
  fake_files evil;
  evil.files.emplace_back("../evil.json", "{}");
  fake_daemon e(evil);
  const auto inside = tmp.path / "inside";
  auto refused = run_cli({"--url", e.url(), "models", "pull", "alice/word-lang", inside.string()});
  BOOST_TEST(refused.status == 4);
  BOOST_TEST(has(refused.err, "the daemon lists a file \"../evil.json\" that cannot be written: it leaves the folder"));
  BOOST_TEST(!fs::exists(tmp.path / "evil.json"));
  BOOST_TEST(!fs::exists(inside));

  // A file the daemon lists but cannot serve: its refusal.
  fake_files missing;
  missing.files.emplace_back("extra.json", "{}");
  fake_daemon m([&](const recorded_request& r) {
    if (r.target.ends_with("/extra.json")) return scripted_reply{404, error_body("entry_not_found", "no file 'extra.json'")};
    return missing(r);
  });
  auto gone = run_cli({"--url", m.url(), "models", "pull", "alice/word-lang", (tmp.path / "m").string()});
  BOOST_TEST(gone.status == 4);
  BOOST_TEST(has(gone.err, "error: no file 'extra.json'\nSee the revisions of alice/word-lang: potluck models show alice/word-lang\n"));
}

BOOST_AUTO_TEST_CASE(help_lists_the_models_commands_with_examples) {
  std::ostringstream out, err;
  BOOST_TEST(run({"help", "models"}, terminal{}, out, err) == 0);
  BOOST_TEST(has(out.str(), "potluck models push   Publish a folder as a new revision of a model on the hub"));
  BOOST_TEST(has(out.str(), "potluck models pull"));
  std::ostringstream push_help;
  BOOST_TEST(run({"models", "push", "--help"}, terminal{}, push_help, err) == 0);
  BOOST_TEST(has(push_help.str(), "Usage:\n  potluck models push DIR OWNER/NAME [--message TEXT] [flags]"));
  BOOST_TEST(has(push_help.str(), "Examples:\n  potluck models push ./word-lang alice/word-lang\n"));
  std::ostringstream overview;
  run({"help"}, terminal{}, overview, err);
  BOOST_TEST(has(overview.str(), "Models (the hub):\n  models push"));
}

// ---------------------------------------------------------------------------------------------
// models rm

namespace {

// The daemon's side of a removal: `reply` answers the DELETE; the model is there for GETs.
struct fake_removal {
  scripted_reply reply{200, R"({"id": "alice/word-lang", "removed": true, "bytes_freed": 1572864})"};
  scripted_reply operator()(const recorded_request& r) const {
    if (r.method == "DELETE" && r.target == "/api/models/alice/word-lang") return reply;
    return show_answer(r);
  }
};

// A terminal whose user types `typed` at the prompt (nullopt: the end of stdin).
terminal typing(std::optional<std::string> typed) {
  terminal term;
  term.token = token;
  term.stdin_tty = true;
  term.read_line = [typed] { return typed; };
  return term;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rm_with_yes_removes_the_model_and_says_how_much_it_freed) {
  fake_daemon d(fake_removal{});
  auto o = run_cli({"--url", d.url(), "models", "rm", "alice/word-lang", "--yes"});
  BOOST_TEST(o.status == 0, o.err);
  BOOST_TEST(o.out == "Removed alice/word-lang (1.5 MiB freed).\n");
  BOOST_TEST(o.err.empty());
  BOOST_TEST(methods_and_targets(d.requests()) == std::vector<std::string>{"DELETE /api/models/alice/word-lang"},
             boost::test_tools::per_element());
  BOOST_TEST(d.last().authorization == "Bearer " + token);
  BOOST_TEST(d.last().body.empty());

  auto quiet = run_cli({"--url", d.url(), "models", "rm", "-q", "alice/word-lang", "-y"});
  BOOST_TEST(quiet.status == 0, quiet.err);
  BOOST_TEST(quiet.out == "alice/word-lang\n");
  auto as_json = run_cli({"--url", d.url(), "models", "rm", "alice/word-lang", "--yes", "--json"});
  BOOST_TEST(json::parse(as_json.out) == json::parse(fake_removal{}.reply.body));
}

BOOST_AUTO_TEST_CASE(rm_without_yes_off_a_terminal_refuses_and_sends_nothing) {
  fake_daemon d(fake_removal{});
  auto o = run_cli({"--url", d.url(), "models", "rm", "alice/word-lang"});
  BOOST_TEST(o.status == 2);
  BOOST_TEST(o.out.empty());
  BOOST_TEST(has(o.err, "error: potluck models rm removes alice/word-lang and all its revisions for good; pass --yes to "
                        "confirm (stdin is not a terminal, so it cannot ask)\n"));
  BOOST_TEST(has(o.err, "Run 'potluck models rm --help' for usage."));
  // A name that is not one, or none: exit 2 before anything is sent.
  BOOST_TEST(run_cli({"--url", d.url(), "models", "rm", "word-lang", "--yes"}).status == 2);
  BOOST_TEST(run_cli({"--url", d.url(), "models", "rm", "--yes"}).status == 2);
  BOOST_TEST(d.requests().empty());
}

BOOST_AUTO_TEST_CASE(rm_on_a_terminal_asks_for_the_name_and_removes_only_when_it_is_typed) {
  fake_daemon d(fake_removal{});
  auto yes = run_cli({"--url", d.url(), "models", "rm", "alice/word-lang"}, typing("alice/word-lang"));
  BOOST_TEST(yes.status == 0, yes.err);
  BOOST_TEST(yes.err == "This removes alice/word-lang for good: 2 revisions, the latest 3 files, " +
                            format_bytes(card.size() + config.size() + weights.size()) +
                            ".\nType alice/word-lang to confirm: ");
  BOOST_TEST(yes.out == "Removed alice/word-lang (1.5 MiB freed).\n");
  BOOST_TEST(d.last().method == "DELETE");

  const auto before = d.requests().size();
  auto wrong = run_cli({"--url", d.url(), "models", "rm", "alice/word-lang"}, typing("word-lang"));
  BOOST_TEST(wrong.status == 2);
  BOOST_TEST(has(wrong.err, "Type alice/word-lang to confirm: Not removed: 'word-lang' is not alice/word-lang.\n"));
  auto ended = run_cli({"--url", d.url(), "models", "rm", "alice/word-lang"}, typing(std::nullopt));
  BOOST_TEST(ended.status == 2);
  BOOST_TEST(has(ended.err, "to confirm: \nNot removed.\n"));
  for (std::size_t i = before; i < d.requests().size(); ++i) BOOST_TEST(d.requests()[i].method == "GET");

  // A model that is not there is said so before anything is asked.
  auto missing = run_cli({"--url", d.url(), "models", "rm", "alice/nope"}, typing("alice/nope"));
  BOOST_TEST(missing.status == 4);
  BOOST_TEST(missing.err == "error: no model alice/nope\nSee the models on the hub: potluck models ls\n");
}

BOOST_AUTO_TEST_CASE(rm_refusals_exit_4_with_the_daemons_message_and_what_to_do) {
  auto rm = [](scripted_reply reply) {
    fake_removal removal;
    removal.reply = std::move(reply);
    fake_daemon d(removal);
    return run_cli({"--url", d.url(), "models", "rm", "alice/word-lang", "--yes"});
  };
  auto missing = rm({404, error_body("model_not_found", "no model alice/word-lang")});
  BOOST_TEST(missing.status == 4);
  BOOST_TEST(missing.out.empty());
  BOOST_TEST(missing.err == "error: no model alice/word-lang\nSee the models on the hub: potluck models ls\n");

  auto theirs = rm({403, error_body("not_yours", "only alice (or a member, for an organisation) may remove alice/word-lang")});
  BOOST_TEST(theirs.status == 4);
  BOOST_TEST(theirs.err == "error: only alice (or a member, for an organisation) may remove alice/word-lang\n"
                           "Only alice may remove alice/word-lang (for an organisation: its members). See who you are: "
                           "potluck account\n");

  auto scope = rm({403, error_body("missing_scope", "API token 'ci' lacks the scope this needs: publish")});
  BOOST_TEST(scope.status == 4);
  BOOST_TEST(has(scope.err, "Removing a model takes a token with the publish scope.\n"
                            "Make one: potluck tokens create NAME --scope publish\n"));

  auto anonymous = rm({401, error_body("bad_token", "the token is not valid")});
  BOOST_TEST(anonymous.status == 4);
  BOOST_TEST(has(anonymous.err, "error: the token is not valid\n"));
  BOOST_TEST(has(anonymous.err, "Log in again: potluck login"));
}

BOOST_AUTO_TEST_CASE(help_shows_models_rm_and_run) {
  std::ostringstream out, err;
  BOOST_TEST(run({"help", "models"}, terminal{}, out, err) == 0);
  BOOST_TEST(has(out.str(), "potluck models rm     Remove a model and all its revisions from the hub\n"));
  BOOST_TEST(has(out.str(), "Run one on your inputs: potluck run OWNER/NAME --input ..."));
  std::ostringstream rm_help;
  BOOST_TEST(run({"models", "rm", "--help"}, terminal{}, rm_help, err) == 0);
  BOOST_TEST(has(rm_help.str(), "Usage:\n  potluck models rm OWNER/NAME [--yes] [flags]"));
  BOOST_TEST(has(rm_help.str(), "  potluck models rm alice/word-lang --yes\n"));
  std::ostringstream run_help;
  BOOST_TEST(run({"run", "--help"}, terminal{}, run_help, err) == 0);
  BOOST_TEST(has(run_help.str(), "Usage:\n  potluck run OWNER/NAME[@REV] [--input NAME=VALUE]..."));
  BOOST_TEST(has(run_help.str(), "  potluck run alice/word-lang --input text=bonjour\n"));
  std::ostringstream overview;
  run({"help"}, terminal{}, overview, err);
  BOOST_TEST(has(overview.str(), "  models rm "));
  BOOST_TEST(has(overview.str(), "  run "));
}
