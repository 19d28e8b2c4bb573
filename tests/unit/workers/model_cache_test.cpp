// The worker's model cache on a real folder: what a JOB's "model" may say (unsafe names and
// paths refused), sizes on the command line, files found on disk and checked by their sha256,
// room made by removing the least recently used models (never one in use), the folder read
// again by a new process, and clear errors when a file cannot be fetched.
#define BOOST_TEST_MODULE workers_model_cache
#include <boost/test/unit_test.hpp>

#include "workers/model_cache.hpp"

#include <boost/json.hpp>
#include <sodium.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>

namespace fs = std::filesystem;
namespace json = boost::json;
using potluck::worker::model_cache;
using potluck::worker::model_error;
using potluck::worker::model_request;
using potluck::worker::parse_byte_size;
using potluck::worker::parse_model_request;

namespace {

std::shared_ptr<spdlog::logger> quiet() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

fs::path temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "potluck-cache-test-XXXXXX").string();
  BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

std::string sha256(const std::string& bytes) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) out += digits[b >> 4], out += digits[b & 0xf];
  return out;
}

// A model whose files are already in the cache's blobs (as a fetch leaves them).
model_request local_model(const fs::path& root, const std::string& name, const std::vector<std::string>& contents) {
  model_request m;
  m.owner = "alice";
  m.name = name;
  m.revision = std::string(40, 'a' + static_cast<char>(name.size() % 6));
  m.id = m.owner + "/" + m.name + "@" + m.revision;
  fs::create_directories(root / "blobs");
  for (std::size_t i = 0; i < contents.size(); ++i) {
    const auto sha = sha256(contents[i]);
    std::ofstream(root / "blobs" / sha, std::ios::binary) << contents[i];
    m.files.push_back({"file" + std::to_string(i) + ".bin", sha, contents[i].size()});
  }
  return m;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_jobs_model_is_read_and_unsafe_ones_are_refused) {
  const std::string sha(64, 'b');
  auto ok = parse_model_request(json::parse(R"({"id":"alice/word-lang@abc123","files":[{"path":"weights/model.pt","size":3,"sha256":")" +
                                            sha + R"("}]})"));
  BOOST_TEST(ok.owner == "alice");
  BOOST_TEST(ok.name == "word-lang");
  BOOST_TEST(ok.revision == "abc123");
  BOOST_TEST(ok.files.at(0).path == "weights/model.pt");
  auto refused = [&](const std::string& id, const std::string& path, const std::string& file_sha = std::string(64, 'b')) {
    return message_of([&] {
      parse_model_request(json::parse(R"({"id":")" + id + R"(","files":[{"path":")" + path + R"(","size":1,"sha256":")" +
                                      file_sha + R"("}]})"));
    });
  };
  BOOST_TEST(refused("alice/m@r", "../etc/passwd").find("unsafe path") != std::string::npos);
  BOOST_TEST(refused("alice/m@r", "/etc/passwd").find("unsafe path") != std::string::npos);
  BOOST_TEST(refused("alice/m@r", "a//b").find("unsafe path") != std::string::npos);
  BOOST_TEST(refused("alice/m@r", "a/./b").find("unsafe path") != std::string::npos);
  BOOST_TEST(refused("alice/m@r", "a\\\\b").find("unsafe path") != std::string::npos);
  BOOST_TEST(refused("alice/m@r", "ok.pt", "XYZ").find("bad sha256") != std::string::npos);
  BOOST_TEST(refused("alice/..@r", "ok.pt").find("not a safe") != std::string::npos);
  BOOST_TEST(refused("alice/m@..", "ok.pt").find("not a safe") != std::string::npos);
  BOOST_TEST(refused("alice-m-r", "ok.pt").find("owner/name@revision") != std::string::npos);
  BOOST_TEST(message_of([] { parse_model_request(json::parse(R"({"id":"a/b@c"})")); }).find("files") != std::string::npos);
  BOOST_TEST(message_of([] { parse_model_request(json::parse("[]")); }).find("not an object") != std::string::npos);
  const auto twice = R"({"id":"a/b@c","files":[{"path":"x","size":1,"sha256":")" + sha + R"("},{"path":"x","size":1,"sha256":")" +
                     sha + R"("}]})";
  BOOST_TEST(message_of([&] { parse_model_request(json::parse(twice)); }).find("twice") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sizes_read_as_donors_write_them) {
  BOOST_TEST(parse_byte_size("20G") == 20ULL << 30);
  BOOST_TEST(parse_byte_size("20GiB") == 20ULL << 30);
  BOOST_TEST(parse_byte_size("512M") == 512ULL << 20);
  BOOST_TEST(parse_byte_size("1.5T") == (3ULL << 40) / 2);
  BOOST_TEST(parse_byte_size("100000") == 100000u);
  for (const char* bad : {"", "abc", "-1", "5X", "1e30", "G"})
    BOOST_CHECK_THROW(parse_byte_size(bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(files_on_disk_are_checked_and_linked_into_the_models_folder) {
  BOOST_TEST_REQUIRE(sodium_init() >= 0);
  const auto root = temp_dir();
  const auto m = local_model(root, "m", {"weights", "config"});
  model_cache cache(root, 1 << 20, quiet());
  BOOST_TEST(!cache.ready(m).has_value());  // never checked by this process
  const auto folder = cache.prepare(m, "", {});  // nothing to fetch: no daemon needed
  BOOST_TEST(fs::is_symlink(folder / "file0.bin"));
  std::ifstream in(folder / "file0.bin");
  std::string text;
  in >> text;
  BOOST_TEST(text == "weights");
  BOOST_TEST(cache.ready(m).has_value());
  BOOST_TEST(cache.models() == std::vector<std::string>{m.id});
  BOOST_TEST(cache.stats().files_reused == 2u);

  // Changed on disk: no longer ready; with no daemon to fetch from, a clear error.
  std::ofstream(root / "blobs" / m.files[0].sha256, std::ios::binary | std::ios::trunc) << "WEIGHTS";
  BOOST_TEST(!cache.ready(m).has_value());
  const auto why = message_of([&] { cache.prepare(m, "", {}); });
  BOOST_TEST(why.find("does not know where to fetch") != std::string::npos, why);
  BOOST_TEST(!fs::exists(root / "blobs" / m.files[0].sha256));  // the bad copy is gone
  BOOST_TEST(cache.stats().corrupt_refetched == 1u);

  // A daemon that is not there: the error names the file and the address.
  const auto unreachable = message_of([&] { cache.prepare(m, "http://127.0.0.1:1", {}); });
  BOOST_TEST(unreachable.find("cannot fetch file0.bin of alice/m@") != std::string::npos, unreachable);
  BOOST_TEST(unreachable.find("127.0.0.1:1") != std::string::npos, unreachable);
  fs::remove_all(root);
}

BOOST_AUTO_TEST_CASE(room_is_made_from_the_least_recently_used_and_never_from_a_model_in_use) {
  BOOST_TEST_REQUIRE(sodium_init() >= 0);
  const auto root = temp_dir();
  const auto a = local_model(root, "a", {std::string(400, 'a')});
  const auto bb = local_model(root, "bb", {std::string(400, 'b')});
  {
    model_cache cache(root, 100000, quiet());
    cache.prepare(a, "", {});
    cache.prepare(bb, "", {});
  }
  // Read again by a new process: both held.
  model_cache cache(root, 1000, quiet());
  BOOST_TEST(cache.models().size() == 2u);
  // A third model that needs fetching 500 bytes: only room after removing one; "a" is older.
  model_request c;
  c.owner = "alice";
  c.name = "ccc";
  c.revision = std::string(40, 'c');
  c.id = "alice/ccc@" + c.revision;
  c.files.push_back({"big.bin", std::string(64, 'd'), 500});
  const auto why = message_of([&] { cache.prepare(c, "", {}); });  // room is made, then the fetch fails
  BOOST_TEST(why.find("does not know where to fetch") != std::string::npos, why);
  BOOST_TEST(cache.models() == std::vector<std::string>{bb.id});
  BOOST_TEST(!fs::exists(root / "models" / "alice" / "a"/ a.revision));
  BOOST_TEST(!fs::exists(root / "blobs" / a.files[0].sha256));
  // In use, it stays, and the model that does not fit says why.
  c.files[0].size = 700;
  const auto full = message_of([&] { cache.prepare(c, "", {bb.id}); });
  BOOST_TEST(full.find("--model-cache-size") != std::string::npos, full);
  BOOST_TEST(cache.models() == std::vector<std::string>{bb.id});
  fs::remove_all(root);
}

BOOST_AUTO_TEST_CASE(a_folder_serves_one_worker_at_a_time) {
  const auto root = temp_dir();
  {
    model_cache first(root, 1 << 20, quiet());
    const auto why = message_of([&] { model_cache second(root, 1 << 20, quiet()); });
    BOOST_TEST(why.find("in use by another worker") != std::string::npos, why);
  }
  BOOST_CHECK_NO_THROW(model_cache again(root, 1 << 20, quiet()));  // free once the first is gone
  fs::remove_all(root);
}
