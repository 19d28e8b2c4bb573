// blob_store: the model hub's files, kept once each by the sha256 of their content, however
// many revisions or models hold them: ROOT/sha256/ab/abcdef… (the 64 hex digits).
//
// Writes stream: a writer hashes each chunk as it goes to a temporary file in ROOT/tmp, so no
// file is ever whole in memory; commit() checks the size limit and the expected hash, makes the
// file durable (fsync), and renames it into place, or drops it when that content is already
// kept. Until commit() a blob is invisible; a writer destroyed without commit(), or a daemon
// that dies mid-upload, leaves only a temporary file, which the next start sweeps away.
//
// Threads: a writer belongs to one thread at a time; the store's other methods may be called
// from any thread (they only read the file system, and a rename is atomic).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace potluck::daemon::hub {

// A refusal, with a stable code: too_large (over the limit), hash_mismatch (the content is not
// what the uploader said), bad_hash (not 64 lowercase hex digits), io (the disk).
class blob_error : public std::runtime_error {
 public:
  blob_error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

struct blob_ref {
  std::string sha256;   // 64 lowercase hex digits
  std::uint64_t size = 0;
  bool existed = false;  // the content was kept already: this write added nothing
};

bool is_sha256_hex(std::string_view text) noexcept;

class blob_store {
 public:
  // Creates ROOT (and ROOT/tmp) when missing and sweeps temporary files left by writes that
  // never committed. Throws blob_error(io) naming the folder when it cannot.
  blob_store(std::filesystem::path root, std::uint64_t max_blob_bytes);

  class writer {
   public:
    ~writer();
    writer(writer&&) noexcept;
    writer& operator=(writer&&) = delete;
    writer(const writer&) = delete;

    // Appends a chunk. Throws blob_error(too_large) as soon as the limit is passed (the
    // temporary file is dropped then), blob_error(io) when the disk refuses.
    void write(std::string_view chunk);
    std::uint64_t size() const noexcept;
    // Ends the write: throws blob_error(hash_mismatch) when `expected_sha256` is given and
    // differs (nothing is kept). Once only.
    blob_ref commit(std::optional<std::string_view> expected_sha256 = std::nullopt);

   private:
    friend class blob_store;
    struct state;
    explicit writer(std::unique_ptr<state> s);
    std::unique_ptr<state> s_;
  };

  writer begin();
  // The blob's size when it is kept.
  std::optional<std::uint64_t> size_of(std::string_view sha256) const;
  // Where a kept blob lies (whether or not it exists); throws blob_error(bad_hash).
  std::filesystem::path path_of(std::string_view sha256) const;
  // Reads the blob again and checks its hash: false when missing or corrupt.
  bool verify(std::string_view sha256) const;
  // Temporary files removed by the constructor's sweep (interrupted writes).
  std::size_t swept() const noexcept { return swept_; }
  std::uint64_t max_blob_bytes() const noexcept { return max_blob_bytes_; }

 private:
  std::filesystem::path root_;
  std::uint64_t max_blob_bytes_;
  std::size_t swept_ = 0;
};

}  // namespace potluck::daemon::hub
