// The content-addressed file store of the model hub (see the header).
#include "daemon/hub/blob_store.hpp"

#include <sodium.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace potluck::daemon::hub {
namespace {

namespace fs = std::filesystem;

std::string hex(const unsigned char* bytes, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return out;
}

[[noreturn]] void io_failure(const std::string& what, const fs::path& path, int error) {
  throw blob_error("io", what + " " + path.string() + ": " + std::strerror(error));
}

// Makes a rename or a new file in `folder` durable.
void sync_folder(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the data itself is synced
  ::fsync(fd);
  ::close(fd);
}

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw blob_error("io", "libsodium cannot be initialised");
}

}  // namespace

bool is_sha256_hex(std::string_view text) noexcept {
  if (text.size() != 64) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

struct blob_store::writer::state {
  const blob_store* store = nullptr;
  fs::path temp;
  int fd = -1;
  std::uint64_t size = 0;
  crypto_hash_sha256_state hash{};
  bool done = false;

  void drop() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (!temp.empty()) ::unlink(temp.c_str());
    done = true;
  }
};

blob_store::blob_store(fs::path root, std::uint64_t max_blob_bytes)
    : root_(std::move(root)), max_blob_bytes_(max_blob_bytes) {
  ensure_sodium();
  std::error_code ec;
  fs::create_directories(root_ / "tmp", ec);
  if (ec) throw blob_error("io", "cannot create " + (root_ / "tmp").string() + ": " + ec.message());
  fs::create_directories(root_ / "sha256", ec);
  if (ec) throw blob_error("io", "cannot create " + (root_ / "sha256").string() + ": " + ec.message());
  // Writes that never committed (a daemon killed mid-upload) left their temporary files.
  for (const auto& entry : fs::directory_iterator(root_ / "tmp", ec)) {
    std::error_code ignored;
    if (fs::remove(entry.path(), ignored)) ++swept_;
  }
}

blob_store::writer blob_store::begin() {
  auto s = std::make_unique<writer::state>();
  s->store = this;
  std::string pattern = (root_ / "tmp" / "upload-XXXXXX").string();
  s->fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (s->fd < 0) io_failure("cannot create a temporary file in", root_ / "tmp", errno);
  s->temp = pattern;
  crypto_hash_sha256_init(&s->hash);
  return writer(std::move(s));
}

blob_store::writer::writer(std::unique_ptr<state> s) : s_(std::move(s)) {}
blob_store::writer::writer(writer&&) noexcept = default;

blob_store::writer::~writer() {
  if (s_ && !s_->done) s_->drop();
}

std::uint64_t blob_store::writer::size() const noexcept { return s_->size; }

void blob_store::writer::write(std::string_view chunk) {
  if (s_->done) throw std::logic_error("blob_store::writer::write after commit or failure");
  if (chunk.size() > s_->store->max_blob_bytes_ - std::min(s_->size, s_->store->max_blob_bytes_)) {
    const auto limit = s_->store->max_blob_bytes_;
    s_->drop();
    throw blob_error("too_large", "the file is over the limit of " + std::to_string(limit) + " bytes");
  }
  crypto_hash_sha256_update(&s_->hash, reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size());
  const char* p = chunk.data();
  std::size_t left = chunk.size();
  while (left > 0) {
    const auto n = ::write(s_->fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      const auto temp = s_->temp;
      s_->drop();
      io_failure("cannot write", temp, error);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  s_->size += chunk.size();
}

blob_ref blob_store::writer::commit(std::optional<std::string_view> expected_sha256) {
  if (s_->done) throw std::logic_error("blob_store::writer::commit twice");
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&s_->hash, digest.data());
  blob_ref ref;
  ref.sha256 = hex(digest.data(), digest.size());
  ref.size = s_->size;
  if (expected_sha256 && *expected_sha256 != ref.sha256) {
    s_->drop();
    throw blob_error("hash_mismatch", "the content's sha256 is " + ref.sha256 + ", not " +
                                          std::string(*expected_sha256) + " as the upload said: it was corrupted on the way");
  }
  if (::fsync(s_->fd) != 0) {
    const int error = errno;
    const auto temp = s_->temp;
    s_->drop();
    io_failure("cannot sync", temp, error);
  }
  ::close(s_->fd);
  s_->fd = -1;
  const auto target = s_->store->path_of(ref.sha256);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    // Kept already: one copy per content.
    ref.existed = true;
    s_->drop();
    return ref;
  }
  fs::create_directories(target.parent_path(), ec);
  if (::rename(s_->temp.c_str(), target.c_str()) != 0) {
    const int error = errno;
    const auto temp = s_->temp;
    s_->drop();
    io_failure("cannot move " + temp.string() + " to", target, error);
  }
  s_->temp.clear();
  s_->done = true;
  sync_folder(target.parent_path());
  return ref;
}

fs::path blob_store::path_of(std::string_view sha256) const {
  if (!is_sha256_hex(sha256)) throw blob_error("bad_hash", "'" + std::string(sha256) + "' is not a sha256 (64 hex digits)");
  return root_ / "sha256" / std::string(sha256.substr(0, 2)) / std::string(sha256);
}

std::optional<std::uint64_t> blob_store::size_of(std::string_view sha256) const {
  std::error_code ec;
  const auto size = fs::file_size(path_of(sha256), ec);
  if (ec) return std::nullopt;
  return size;
}

bool blob_store::verify(std::string_view sha256) const {
  const int fd = ::open(path_of(sha256).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  crypto_hash_sha256_state hash;
  crypto_hash_sha256_init(&hash);
  std::array<char, 1 << 16> buffer{};
  bool ok = true;
  for (;;) {
    const auto n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    crypto_hash_sha256_update(&hash, reinterpret_cast<const unsigned char*>(buffer.data()), static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!ok) return false;
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&hash, digest.data());
  return hex(digest.data(), digest.size()) == sha256;
}

}  // namespace potluck::daemon::hub
