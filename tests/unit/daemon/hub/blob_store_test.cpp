// The model hub's content-addressed store: streamed writes hashed on the fly, one copy per
// content, limits, hash checks, and nothing visible from a write that did not commit.
#define BOOST_TEST_MODULE daemon_hub_blob_store
#include <boost/test/unit_test.hpp>

#include "daemon/hub/blob_store.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;
using namespace potluck::daemon::hub;

namespace {

struct temp_folder {
  fs::path path;
  temp_folder() {
    std::random_device random;
    path = fs::temp_directory_path() / ("potluck-hub-test-" + std::to_string(random()) + std::to_string(random()));
    fs::create_directories(path);
  }
  ~temp_folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// sha256("abc"), from FIPS 180-2.
const std::string abc_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::size_t files_in(const fs::path& folder) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file()) ++n;
  return n;
}

std::string code_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const blob_error& e) {
    BOOST_TEST_MESSAGE("refused (" << e.code() << "): " << e.what());
    return e.code();
  }
  return "none";
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_streamed_write_is_hashed_kept_once_and_verified) {
  temp_folder t;
  blob_store store(t.path / "blobs", 1 << 20);
  auto w = store.begin();
  w.write("a");
  w.write("bc");  // chunks hash as one stream
  const auto ref = w.commit(abc_sha256);
  BOOST_TEST(ref.sha256 == abc_sha256);
  BOOST_TEST(ref.size == 3u);
  BOOST_TEST(!ref.existed);
  BOOST_TEST(store.size_of(abc_sha256).value_or(0) == 3u);
  BOOST_TEST(store.verify(abc_sha256));
  BOOST_TEST(store.path_of(abc_sha256).filename() == abc_sha256);

  // The same content again: kept once.
  auto again = store.begin();
  again.write("abc");
  BOOST_TEST(again.commit().existed);
  BOOST_TEST(files_in(t.path / "blobs") == 1u);
}

BOOST_AUTO_TEST_CASE(a_wrong_hash_or_a_file_over_the_limit_keeps_nothing) {
  temp_folder t;
  blob_store store(t.path / "blobs", 10);
  auto w = store.begin();
  w.write("abd");
  BOOST_TEST(code_of([&] { w.commit(abc_sha256); }) == "hash_mismatch");
  auto big = store.begin();
  big.write("0123456789");  // exactly the limit
  BOOST_TEST(code_of([&] { big.write("x"); }) == "too_large");
  BOOST_TEST(files_in(t.path / "blobs") == 0u);
  BOOST_TEST(!store.size_of(abc_sha256).has_value());
  BOOST_TEST(code_of([&] { store.path_of("../../etc/passwd"); }) == "bad_hash");
  BOOST_TEST(code_of([&] { store.path_of(std::string(64, 'A')); }) == "bad_hash");
}

BOOST_AUTO_TEST_CASE(an_unfinished_write_is_invisible_and_swept_at_the_next_start) {
  temp_folder t;
  {
    blob_store store(t.path / "blobs", 1 << 20);
    auto w = store.begin();
    w.write("half of a file");
    // As a daemon killed here would: the temporary file stays behind, unnamed by any hash.
    const auto left = files_in(t.path / "blobs");
    BOOST_TEST(left == 1u);
    std::ofstream(t.path / "blobs" / "tmp" / "upload-crashed") << "from a daemon killed mid-upload";
  }
  // The writer's destructor dropped its own file; the stray one is swept at the next start.
  blob_store reopened(t.path / "blobs", 1 << 20);
  BOOST_TEST(reopened.swept() == 1u);
  BOOST_TEST(files_in(t.path / "blobs") == 0u);
}

BOOST_AUTO_TEST_CASE(a_corrupted_file_on_disk_fails_verification) {
  temp_folder t;
  blob_store store(t.path / "blobs", 1 << 20);
  auto w = store.begin();
  w.write("abc");
  w.commit();
  std::ofstream(store.path_of(abc_sha256), std::ios::trunc) << "abx";
  BOOST_TEST(!store.verify(abc_sha256));
  BOOST_TEST(!store.verify(std::string(64, '0')));  // missing
}
