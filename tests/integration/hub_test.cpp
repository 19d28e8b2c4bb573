// The model hub end to end: files streamed to a real potluckd, revisions committed in its
// journal, and every bad upload refused with a clear error and nothing kept.
#define BOOST_TEST_MODULE integration_hub
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace potluck::testing;
using namespace std::chrono_literals;

namespace {

std::string sha256_of(const std::string& bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) out += digits[b >> 4], out += digits[b & 0xf];
  return out;
}

http_reply upload(const daemon_process& d, const std::string& token, const std::string& bytes, const std::string& sha = "") {
  return http(d.http_port(), "PUT", "/api/blobs" + (sha.empty() ? std::string() : "?sha256=" + sha), bytes,
              "application/octet-stream", {{"Authorization", "Bearer " + token}});
}

std::string code_of(const http_reply& r) { return std::string(r.json().at("error").at("code").as_string()); }
std::string message_of(const http_reply& r) { return std::string(r.json().at("error").at("message").as_string()); }

const std::string card =
    "---\ntask: text-classification\nformat: torchscript\nlicense: mit\nlabels: [en, fr]\ntags: [words]\n---\n# word-lang\n";
// Not a real model, but what a TorchScript archive starts with (a zip file).
const std::string weights = std::string("PK\x03\x04", 4) + std::string(100000, 'w');

std::size_t files_under(const fs::path& folder) {
  std::size_t n = 0;
  if (!fs::exists(folder)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_model_is_uploaded_committed_listed_and_described) {
  daemon_process d;
  const auto alice = sign_up_token(d, "alice");
  for (const auto* bytes : {&card, &weights}) {
    auto r = upload(d, alice, *bytes, sha256_of(*bytes));
    BOOST_TEST_REQUIRE(r.status == 201, r.body);
    BOOST_TEST(r.json().at("sha256").as_string() == sha256_of(*bytes));
  }
  // The hub says which content it lacks.
  auto missing = http_as(alice, d.http_port(), "POST", "/api/blobs/missing",
                         R"({"sha256":[")" + sha256_of(card) + R"(",")" + std::string(64, 'e') + R"("]})");
  BOOST_TEST_REQUIRE(missing.status == 200, missing.body);
  BOOST_TEST(json::serialize(missing.json().at("missing")) == R"([")" + std::string(64, 'e') + R"("])");
  BOOST_TEST(http_as(alice, d.http_port(), "POST", "/api/blobs/missing", R"({"sha256":["nope"]})").status == 400);
  BOOST_TEST(http(d.http_port(), "POST", "/api/blobs/missing", R"({"sha256":[]})").status == 401);
  // The same content again is stored once.
  auto again = upload(d, alice, weights);
  BOOST_TEST(again.status == 200);
  BOOST_TEST(again.json().at("existed").as_bool());
  BOOST_TEST(files_under(d.data_dir() / "blobs" / "sha256") == 2u);

  const auto commit_body = R"({"message":"first","files":[{"path":"README.md","sha256":")" + sha256_of(card) +
                           R"("},{"path":"model/weights.pt","sha256":")" + sha256_of(weights) + R"("}]})";
  auto made = http_as(alice, d.http_port(), "POST", "/api/models/alice/word-lang/commits", commit_body);
  BOOST_TEST_REQUIRE(made.status == 201, made.body);
  const auto head = std::string(made.json().at("sha").as_string());
  BOOST_TEST(head.size() == 40u);

  auto model = http(d.http_port(), "GET", "/api/models/alice/word-lang");
  BOOST_TEST_REQUIRE(model.status == 200, model.body);
  const auto m = model.json();
  BOOST_TEST(m.at("id").as_string() == "alice/word-lang");
  BOOST_TEST(m.at("pipeline_tag").as_string() == "text-classification");
  BOOST_TEST(m.at("format").as_string() == "torchscript");
  BOOST_TEST(m.at("sha").as_string() == head);
  const auto& siblings = m.at("siblings").as_array();
  BOOST_TEST_REQUIRE(siblings.size() == 2u);
  BOOST_TEST(siblings[1].at("rfilename").as_string() == "model/weights.pt");
  BOOST_TEST(siblings[1].at("size").as_int64() == static_cast<std::int64_t>(weights.size()));
  BOOST_TEST(siblings[1].at("sha256").as_string() == sha256_of(weights));
  BOOST_TEST(std::string(m.at("card").as_string()) == "# word-lang\n");

  // A second revision on top of the first; the old one stays readable.
  const auto second = R"({"parent":")" + head + R"(","files":[{"path":"README.md","sha256":")" + sha256_of(card) +
                      R"("},{"path":"weights.pt","sha256":")" + sha256_of(weights) + R"("}]})";
  auto next = http_as(alice, d.http_port(), "POST", "/api/models/alice/word-lang/commits", second);
  BOOST_TEST_REQUIRE(next.status == 201, next.body);
  auto old = http(d.http_port(), "GET", "/api/models/alice/word-lang?revision=" + head);
  BOOST_TEST(old.json().at("siblings").as_array()[1].at("rfilename").as_string() == "model/weights.pt");
  auto revisions = http(d.http_port(), "GET", "/api/models/alice/word-lang/revisions").json();
  BOOST_TEST(revisions.at("revisions").as_array().size() == 2u);
  // A commit on a stale parent is a conflict.
  auto stale = http_as(alice, d.http_port(), "POST", "/api/models/alice/word-lang/commits", second);
  BOOST_TEST(stale.status == 409, stale.body);

  // Files download as they were uploaded, whole or by range, with the Hub's headers.
  auto whole = http(d.http_port(), "GET", "/alice/word-lang/resolve/main/weights.pt");
  BOOST_TEST_REQUIRE(whole.status == 200, whole.body.substr(0, 200));
  BOOST_TEST((whole.body == weights));
  BOOST_TEST(whole.header("etag") == "\"" + sha256_of(weights) + "\"");
  BOOST_TEST(whole.header("x-repo-commit") == std::string(next.json().at("sha").as_string()));
  auto by_path = http(d.http_port(), "GET", "/alice/word-lang/resolve/" + head + "/model/weights.pt");
  BOOST_TEST((by_path.body == weights));
  auto part = http(d.http_port(), "GET", "/alice/word-lang/resolve/main/weights.pt", "", "", {{"Range", "bytes=2-9"}});
  BOOST_TEST(part.status == 206);
  BOOST_TEST((part.body == weights.substr(2, 8)));
  BOOST_TEST(part.header("content-range") == "bytes 2-9/" + std::to_string(weights.size()));
  auto tail = http(d.http_port(), "GET", "/alice/word-lang/resolve/main/weights.pt", "", "", {{"Range", "bytes=-5"}});
  BOOST_TEST((tail.body == weights.substr(weights.size() - 5)));
  for (const char* bad : {"bytes=999999999-", "bytes=5-2", "bytes=0-1,4-5", "lines=1-2"}) {
    auto r = http(d.http_port(), "GET", "/alice/word-lang/resolve/main/weights.pt", "", "", {{"Range", bad}});
    BOOST_TEST(r.status == 416, bad);
  }
  auto cached = http(d.http_port(), "GET", "/alice/word-lang/resolve/main/weights.pt", "", "",
                     {{"If-None-Match", "\"" + sha256_of(weights) + "\""}});
  BOOST_TEST(cached.status == 304);
  BOOST_TEST(http(d.http_port(), "GET", "/alice/word-lang/resolve/main/nothing.pt").status == 404);
  BOOST_TEST(http(d.http_port(), "GET", "/alice/word-lang/resolve/" + std::string(40, '0') + "/weights.pt").status == 404);
  // One download per fetch of the model (its README.md), not per file.
  BOOST_TEST(http(d.http_port(), "GET", "/alice/word-lang/resolve/main/README.md").body == card);
  // (The count rides the journal's next commit.)
  BOOST_TEST(eventually([&] {
    return http(d.http_port(), "GET", "/api/models/alice/word-lang").json().at("downloads").as_int64() == 1;
  }, 10s));

  // Search and filters.
  auto found = http(d.http_port(), "GET", "/api/models?search=word&task=text-classification").json();
  BOOST_TEST(found.as_array().size() == 1u);
  BOOST_TEST(http(d.http_port(), "GET", "/api/models?task=text-generation").json().as_array().empty());
  BOOST_TEST(http(d.http_port(), "GET", "/api/models?sort=downloads&limit=5").status == 200);
  BOOST_TEST(http(d.http_port(), "GET", "/api/models?sort=size").status == 400);
  BOOST_TEST(http(d.http_port(), "GET", "/api/models/alice/nothing").status == 404);
  BOOST_TEST(http(d.http_port(), "GET", "/api/models/alice/word-lang?revision=0000").status == 404);
}

BOOST_AUTO_TEST_CASE(bad_uploads_and_commits_are_refused_and_keep_nothing) {
  daemon_process d({"--max-model-file-bytes", "200000"});
  const auto bob = sign_up_token(d, "bob");
  const auto carol = sign_up_token(d, "carol");
  // A corrupted upload: the content is not what the uploader said.
  auto corrupted = upload(d, bob, weights, sha256_of(weights + "x"));
  BOOST_TEST(corrupted.status == 422, corrupted.body);
  BOOST_TEST(code_of(corrupted) == "hash_mismatch");
  // A file over the limit.
  auto big = upload(d, bob, std::string(300000, 'b'));
  BOOST_TEST(big.status == 413, big.body);
  BOOST_TEST(files_under(d.data_dir() / "blobs") == 0u);
  // No token, and a bad hash parameter.
  BOOST_TEST(http(d.http_port(), "PUT", "/api/blobs", "x", "application/octet-stream").status == 401);
  BOOST_TEST(upload(d, bob, "x", "not-a-hash").status == 400);

  const std::string pickle = std::string("\x80\x04\x95", 3) + std::string(50, 'p');
  const std::string broken_card = "---\ntask: text-classification\nformat torchscript\n---\n";
  const std::string notes = "notes";
  for (const auto* bytes : {&card, &weights, &pickle, &broken_card, &notes}) BOOST_TEST_REQUIRE(upload(d, bob, *bytes).status / 100 == 2);
  auto commit = [&](const std::string& token, const std::string& files) {
    return http_as(token, d.http_port(), "POST", "/api/models/bob/m/commits", R"({"files":[)" + files + "]}");
  };
  auto file = [](const std::string& path, const std::string& bytes) {
    return R"({"path":")" + path + R"(","sha256":")" + sha256_of(bytes) + R"("})";
  };
  const auto readme = file("README.md", card);
  const std::vector<std::tuple<std::string, int, std::string, std::string>> cases = {
      {readme + "," + file("../escape.pt", weights), 400, "bad_path", "leaves the model's folder"},
      {readme + "," + file("/etc/weights.pt", weights), 400, "bad_path", "absolute"},
      {readme + "," + file("a\\\\b.pt", weights), 400, "bad_path", "backslash"},
      {readme + "," + file("a//b.pt", weights), 400, "bad_path", "empty folder name"},
      {readme + "," + readme, 400, "bad_path", "listed twice"},
      {readme + R"(,{"path":"w.pt","sha256":")" + std::string(64, 'a') + R"("})", 409, "missing_blob", "upload it first"},
      {readme + "," + file("w.bin", weights), 422, "unsupported_file", "nothing else"},
      {readme + "," + file("w.pt", pickle), 422, "bad_file", "pickle"},
      {readme + "," + file("w.safetensors", weights), 422, "bad_file", "card says format: torchscript"},
      {readme + "," + file("w.pt", notes), 422, "bad_file", "not a TorchScript archive"},
      {file("w.pt", weights), 422, "no_card", "README.md"},
      {file("README.md", broken_card) + "," + file("w.pt", weights), 422, "bad_card", "line 3"},
  };
  for (const auto& [files, status, code, mention] : cases) {
    auto r = commit(bob, files);
    BOOST_TEST(r.status == status, files << " -> " << r.body);
    if (r.status != status) continue;
    BOOST_TEST(code_of(r) == code, r.body);
    BOOST_TEST(message_of(r).find(mention) != std::string::npos, r.body);
  }
  // Another account's namespace, a bad model name, and no token.
  auto theirs = http_as(carol, d.http_port(), "POST", "/api/models/bob/m/commits", R"({"files":[)" + readme + "]}");
  BOOST_TEST(theirs.status == 403, theirs.body);
  auto bad_name = http_as(bob, d.http_port(), "POST", "/api/models/bob/.hidden/commits", R"({"files":[)" + readme + "]}");
  BOOST_TEST(bad_name.status == 400, bad_name.body);
  BOOST_TEST(http(d.http_port(), "POST", "/api/models/bob/m/commits", "{}").status == 401);
  // None of it made a model.
  BOOST_TEST(http(d.http_port(), "GET", "/api/models/bob/m").status == 404);
  BOOST_TEST(http(d.http_port(), "GET", "/api/models").json().as_array().empty());
}

BOOST_AUTO_TEST_CASE(a_daemon_killed_mid_upload_keeps_no_part_of_it) {
  daemon_process d;
  const auto dan = sign_up_token(d, "dan");
  {
    // Half of a declared 1 MB body, then the daemon dies.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(d.http_port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string head = "PUT /api/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + dan +
                             "\r\nContent-Length: 1000000\r\n\r\n" + std::string(500000, 'h');
    BOOST_TEST_REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
    BOOST_TEST_REQUIRE(eventually([&] { return files_under(d.data_dir() / "blobs" / "tmp") == 1u; }, 10s));
    d.restart();
    ::close(fd);
  }
  BOOST_TEST(files_under(d.data_dir() / "blobs") == 0u, "the unfinished upload is swept at start");
  BOOST_TEST(d.process().log().find("removed 1 unfinished upload") != std::string::npos, d.process().log());
  BOOST_TEST(http(d.http_port(), "GET", "/api/models").json().as_array().empty());
}
