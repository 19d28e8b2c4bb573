// The worker's model cache (see the header).
#include "workers/model_cache.hpp"

#include "cli/http_client.hpp"

#include <boost/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace potluck::worker {

namespace {

constexpr std::size_t hash_buffer_bytes = 1 << 20;
constexpr auto fetch_timeout = std::chrono::seconds(60);  // per wait for bytes, not per file

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A name of the hub (owner, model, revision): letters, digits, '.', '_', '-', not "." or "..".
bool safe_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

// A file's path inside a model: relative, '/'-separated, no empty, "." or ".." segments.
bool safe_path(std::string_view p) {
  if (p.empty() || p.size() > 255 || p.front() == '/') return false;
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const auto seg = p.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg)
      if (static_cast<unsigned char>(c) < 0x20 || c == '\\' || c == 0x7f) return false;
    start = end + 1;
  }
  return true;
}

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) out += digits[bytes[i] >> 4], out += digits[bytes[i] & 0xf];
  return out;
}

std::string hash_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw model_error("cannot read " + file.string());
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<char> buffer(hash_buffer_bytes);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = in.gcount();
    if (n > 0) crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(buffer.data()), static_cast<unsigned long long>(n));
  }
  if (in.bad()) throw model_error("cannot read " + file.string());
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state, digest.data());
  return to_hex(digest.data(), digest.size());
}

std::optional<std::pair<std::uint64_t, std::int64_t>> stat_of(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return std::make_pair(static_cast<std::uint64_t>(st.st_size),
                        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Percent-encodes one URL path segment (RFC 3986 unreserved characters stay).
std::string encode_segment(std::string_view s) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
  }
  return out;
}

std::string encode_path(std::string_view p) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    auto end = p.find('/', start);
    out += encode_segment(p.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    out += '/';
    start = end + 1;
  }
  return out;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

model_request parse_model_request(const json::value& v) {
  if (!v.is_object()) throw std::invalid_argument("the job's \"model\" is not an object");
  const auto& o = v.as_object();
  auto* id = o.if_contains("id");
  auto* files = o.if_contains("files");
  if (!id || !id->is_string()) throw std::invalid_argument("the job's \"model\" has no \"id\"");
  if (!files || !files->is_array()) throw std::invalid_argument("the job's \"model\" has no \"files\" array");
  model_request m;
  m.id = std::string(id->as_string());
  const auto slash = m.id.find('/'), at = m.id.find('@');
  if (slash == std::string::npos || at == std::string::npos || at < slash)
    throw std::invalid_argument("the job's model \"" + m.id + "\" is not owner/name@revision");
  m.owner = m.id.substr(0, slash);
  m.name = m.id.substr(slash + 1, at - slash - 1);
  m.revision = m.id.substr(at + 1);
  if (!safe_name(m.owner) || !safe_name(m.name) || !safe_name(m.revision))
    throw std::invalid_argument("the job's model \"" + m.id + "\" is not a safe owner/name@revision");
  std::set<std::string> seen;
  for (const auto& f : files->as_array()) {
    if (!f.is_object()) throw std::invalid_argument("a file of model " + m.id + " is not an object");
    const auto& fo = f.as_object();
    auto* path = fo.if_contains("path");
    auto* sha = fo.if_contains("sha256");
    auto* size = fo.if_contains("size");
    if (!path || !path->is_string() || !sha || !sha->is_string() || !size || !size->is_int64() || size->as_int64() < 0)
      throw std::invalid_argument("a file of model " + m.id + " lacks \"path\", \"sha256\" or \"size\"");
    model_file_ref ref{std::string(path->as_string()), std::string(sha->as_string()), static_cast<std::uint64_t>(size->as_int64())};
    if (!safe_path(ref.path)) throw std::invalid_argument("model " + m.id + " names an unsafe path \"" + ref.path + "\"");
    if (!is_hex64(ref.sha256)) throw std::invalid_argument("model " + m.id + " file " + ref.path + " has a bad sha256");
    if (!seen.insert(ref.path).second) throw std::invalid_argument("model " + m.id + " names " + ref.path + " twice");
    m.files.push_back(std::move(ref));
  }
  return m;
}

std::uint64_t parse_byte_size(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data() || !(value >= 0) || !std::isfinite(value))
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a size such as 20G, 512M or 100000");
  std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.remove_suffix(1);
  if (unit.size() > 1 && (unit.back() == 'i')) unit.remove_suffix(1);
  double scale = 1;
  if (unit.empty()) scale = 1;
  else if (unit == "K" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw std::invalid_argument("\"" + std::string(text) + "\" has an unknown unit (K, M, G or T)");
  const double bytes = value * scale;
  if (bytes > 1e18) throw std::invalid_argument("\"" + std::string(text) + "\" is too large");
  return static_cast<std::uint64_t>(bytes);
}

// ---------------------------------------------------------------------------------------------

model_cache::model_cache(fs::path root, std::uint64_t max_bytes, std::shared_ptr<spdlog::logger> log)
    : root_(std::move(root)), max_bytes_(max_bytes), log_(std::move(log)) {
  if (sodium_init() < 0) throw model_error("libsodium cannot start");
  std::error_code ec;
  for (const char* sub : {"blobs", "models", "tmp"}) {
    fs::create_directories(root_ / sub, ec);
    if (ec) throw model_error("cannot make the model cache folder " + (root_ / sub).string() + ": " + ec.message());
  }
  // One worker process per folder: another one's evictions would pull files from under this one.
  lock_fd_ = ::open((root_ / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw model_error("the model cache " + root_.string() + " is in use by another worker on this machine: give each "
                      "worker its own --model-cache folder");
  }
  // Downloads cut off by an earlier worker's end ("<sha256>.<pid>.part", that pid gone).
  for (fs::directory_iterator it(root_ / "tmp", ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    const auto dot = name.find('.');
    pid_t pid = 0;
    if (dot != std::string::npos) std::from_chars(name.data() + dot + 1, name.data() + name.size(), pid);
    if (pid > 0 && pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM)) continue;  // another worker's
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
  scan();
}

model_cache::~model_cache() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

void model_cache::scan() {
  std::error_code ec;
  for (fs::directory_iterator it(root_ / "blobs", ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    auto st = stat_of(it->path());
    if (is_hex64(name) && st) blob_sizes_[name] = st->first;
  }
  // models/<owner>/<name>/<revision>: its links name the blobs.
  for (fs::recursive_directory_iterator it(root_ / "models", ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() != 2 || !it->is_directory()) continue;
    it.disable_recursion_pending();
    const auto rev_dir = it->path();
    const auto id = rev_dir.parent_path().parent_path().filename().string() + "/" + rev_dir.parent_path().filename().string() +
                    "@" + rev_dir.filename().string();
    held_model h;
    bool whole = true;
    std::error_code fec;
    for (fs::recursive_directory_iterator f(rev_dir, fec), fend; !fec && f != fend; f.increment(fec)) {
      if (!f->is_symlink()) continue;
      const auto target = fs::read_symlink(f->path(), fec).filename().string();
      auto size = blob_sizes_.find(target);
      if (size == blob_sizes_.end()) {
        whole = false;
        continue;
      }
      h.files.push_back({fs::relative(f->path(), rev_dir, fec).generic_string(), target, size->second});
    }
    struct stat st {};
    if (::stat(rev_dir.c_str(), &st) == 0)
      h.last_used_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (whole && !h.files.empty()) held_[id] = std::move(h);
  }
  std::uint64_t total = 0;
  for (const auto& [_, size] : blob_sizes_) total += size;
  if (!held_.empty() || total > 0)
    log_->info("model cache {}: {} models, {} of {} used", root_.string(), held_.size(), human_bytes(total), human_bytes(max_bytes_));
}

fs::path model_cache::model_dir(const model_request& m) const { return root_ / "models" / m.owner / m.name / m.revision; }

bool model_cache::blob_checked(const model_file_ref& f) {
  auto st = stat_of(blob_path(f.sha256));
  if (!st || st->first != f.size) return false;
  auto c = checked_.find(f.sha256);
  return c != checked_.end() && c->second.size == st->first && c->second.mtime_ns == st->second;
}

std::optional<fs::path> model_cache::ready(const model_request& m) {
  std::lock_guard lock(mutex_);
  if (!held_.count(m.id)) return std::nullopt;
  const auto dir = model_dir(m);
  for (const auto& f : m.files) {
    if (!blob_checked(f)) return std::nullopt;
    std::error_code ec;
    if (fs::read_symlink(dir / f.path, ec).filename() != f.sha256 || ec) return std::nullopt;
  }
  pinned_.insert(m.id);  // a job is about to use it: kept until set_in_use() says otherwise
  return dir;
}

void model_cache::touch(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(id);
  if (it == held_.end()) return;
  const auto now = now_ns();
  it->second.last_used_ns = now;
  // On disk (for the next process) once a minute: the order within a minute matters little.
  if (now - it->second.stamped_ns < 60'000'000'000LL) return;
  it->second.stamped_ns = now;
  const auto at = id.find('@'), slash = id.find('/');
  const auto dir = root_ / "models" / id.substr(0, slash) / id.substr(slash + 1, at - slash - 1) / id.substr(at + 1);
  ::utimes(dir.c_str(), nullptr);
}

void model_cache::set_in_use(std::set<std::string> ids) {
  std::lock_guard lock(mutex_);
  pinned_ = std::move(ids);
}

std::vector<std::string> model_cache::models() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [id, _] : held_) out.push_back(id);
  return out;
}

std::uint64_t model_cache::bytes_held() const {
  std::lock_guard lock(mutex_);
  std::uint64_t total = 0;
  for (const auto& [_, size] : blob_sizes_) total += size;
  return total;
}

model_cache_stats model_cache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

// With mutex_ held: removes least recently used models (never `keep` or one in `in_use`) and
// the blobs no model holds any more, until `needed` more bytes fit.
void model_cache::make_room(std::uint64_t needed, const std::string& keep, const std::set<std::string>& in_use) {
  auto total = [&] {
    std::uint64_t t = 0;
    for (const auto& [_, size] : blob_sizes_) t += size;
    return t;
  };
  auto drop_orphans = [&] {
    std::set<std::string> referenced;
    for (const auto& [_, h] : held_)
      for (const auto& f : h.files) referenced.insert(f.sha256);
    // Blobs the model being prepared will use stay too: they count as found, not fetched.
    for (auto it = blob_sizes_.begin(); it != blob_sizes_.end();) {
      if (referenced.count(it->first) || keep_blobs_.count(it->first)) {
        ++it;
        continue;
      }
      std::error_code ec;
      fs::remove(blob_path(it->first), ec);
      checked_.erase(it->first);
      it = blob_sizes_.erase(it);
    }
  };
  if (total() + needed <= max_bytes_) return;
  drop_orphans();
  while (total() + needed > max_bytes_) {
    auto victim = held_.end();
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      // `in_use` was taken when the fetch was asked for; pinned_ is what jobs use now.
      if (it->first == keep || in_use.count(it->first) || pinned_.count(it->first)) continue;
      if (victim == held_.end() || it->second.last_used_ns < victim->second.last_used_ns) victim = it;
    }
    if (victim == held_.end()) break;
    const auto id = victim->first;
    const auto at = id.find('@'), slash = id.find('/');
    std::error_code ec;
    fs::remove_all(root_ / "models" / id.substr(0, slash) / id.substr(slash + 1, at - slash - 1) / id.substr(at + 1), ec);
    held_.erase(victim);
    stats_.models_evicted++;
    log_->info("model cache: removed {} (least recently used) to make room", id);
    drop_orphans();
  }
}

void model_cache::fetch(const model_request& m, const model_file_ref& f, const std::string& hub_url) {
  cli::http_client client(cli::parse_base_url(hub_url), fetch_timeout);
  const auto target = "/" + encode_segment(m.owner) + "/" + encode_segment(m.name) + "/resolve/" + encode_segment(m.revision) +
                      "/" + encode_path(f.path);
  const auto tmp = root_ / "tmp" / (f.sha256 + "." + std::to_string(::getpid()) + ".part");
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw model_error("cannot write " + tmp.string());
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::uint64_t got = 0;
  cli::http_response answer;
  try {
    answer = client.download(target, {}, [](const cli::http_response&) {},
                             [&](std::string_view bytes) {
                               got += bytes.size();
                               if (got > f.size) throw model_error("the daemon sent more than the " + std::to_string(f.size) + " bytes of " + f.path);
                               crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
                               out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                               if (!out) throw model_error("cannot write " + tmp.string() + " (is the disk full?)");
                             });
  } catch (const cli::unreachable_error& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw model_error("cannot fetch " + f.path + " of " + m.id + " from " + hub_url + ": " + e.what());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  out.close();
  std::error_code ec;
  if (answer.status < 200 || answer.status >= 300) {
    fs::remove(tmp, ec);
    throw model_error("cannot fetch " + f.path + " of " + m.id + ": the daemon answered " + std::to_string(answer.status) +
                      (answer.body.empty() ? "" : ": " + answer.body.substr(0, 300)));
  }
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state, digest.data());
  const auto sha = to_hex(digest.data(), digest.size());
  if (got != f.size || sha != f.sha256) {
    fs::remove(tmp, ec);
    throw model_error("file " + f.path + " of " + m.id + " arrived with " + std::to_string(got) + " bytes and sha256 " + sha +
                      ", not the " + std::to_string(f.size) + " bytes and sha256 " + f.sha256 + " the hub names");
  }
  fs::rename(tmp, blob_path(f.sha256), ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw model_error("cannot move " + f.path + " into the model cache: " + ec.message());
  }
  auto st = stat_of(blob_path(f.sha256));
  std::lock_guard lock(mutex_);
  blob_sizes_[f.sha256] = f.size;
  if (st) checked_[f.sha256] = {st->first, st->second};
  stats_.files_fetched++;
  stats_.bytes_fetched += f.size;
}

void model_cache::link_model(const model_request& m) {
  const auto dir = model_dir(m);
  std::error_code ec;
  for (const auto& f : m.files) {
    const auto link = dir / f.path;
    fs::create_directories(link.parent_path(), ec);
    if (ec) throw model_error("cannot make " + link.parent_path().string() + ": " + ec.message());
    if (fs::read_symlink(link, ec) == blob_path(f.sha256) && !ec) continue;
    fs::remove(link, ec);
    fs::create_symlink(blob_path(f.sha256), link, ec);
    if (ec) throw model_error("cannot link " + link.string() + ": " + ec.message());
  }
}

fs::path model_cache::prepare(const model_request& m, const std::string& hub_url, const std::set<std::string>& in_use) {
  // 1. Which files are there and sound: a file not checked since it last changed is hashed now.
  std::vector<const model_file_ref*> missing;
  for (const auto& f : m.files) {
    {
      std::lock_guard lock(mutex_);
      if (blob_checked(f)) {
        stats_.files_reused++;
        continue;
      }
    }
    const auto path = blob_path(f.sha256);
    auto st = stat_of(path);
    if (!st) {
      missing.push_back(&f);
      continue;
    }
    const auto sha = st->first == f.size ? hash_file(path) : std::string("(size ") + std::to_string(st->first) + ")";
    std::lock_guard lock(mutex_);
    if (sha == f.sha256) {
      checked_[f.sha256] = {st->first, st->second};
      stats_.files_reused++;
      continue;
    }
    log_->warn("model cache: file {} of {} was changed on disk (sha256 {}, expected {}): fetching it again", f.path, m.id, sha,
               f.sha256);
    std::error_code ec;
    fs::remove(path, ec);
    blob_sizes_.erase(f.sha256);
    checked_.erase(f.sha256);
    stats_.corrupt_refetched++;
    missing.push_back(&f);
  }
  // 2. Room for what is missing.
  std::uint64_t needed = 0;
  for (const auto* f : missing) needed += f->size;
  {
    std::lock_guard lock(mutex_);
    keep_blobs_.clear();
    for (const auto& f : m.files) keep_blobs_.insert(f.sha256);
    make_room(needed, m.id, in_use);
    std::uint64_t total = 0;
    for (const auto& [_, size] : blob_sizes_) total += size;
    keep_blobs_.clear();
    if (total + needed > max_bytes_)
      throw model_error("model " + m.id + " needs " + human_bytes(needed) + " more on this worker's disk, but its model cache (" +
                        human_bytes(max_bytes_) + ", --model-cache-size) holds " + human_bytes(total) +
                        " of models that jobs here are using");
  }
  // 3. Fetch, each file checked as it arrives.
  if (!missing.empty() && hub_url.empty())
    throw model_error("this worker does not know where to fetch model files from: the daemon sent no hub_url (give --hub-url)");
  for (const auto* f : missing) {
    // Two paths of one model may hold the same content: fetched once.
    {
      std::lock_guard lock(mutex_);
      if (blob_checked(*f)) continue;
    }
    log_->info("model cache: fetching {} of {} ({})", f->path, m.id, human_bytes(f->size));
    fetch(m, *f, hub_url);
  }
  // 4. The model's folder.
  link_model(m);
  std::lock_guard lock(mutex_);
  auto& h = held_[m.id];
  h.files = m.files;
  h.last_used_ns = h.stamped_ns = now_ns();
  pinned_.insert(m.id);
  ::utimes(model_dir(m).c_str(), nullptr);
  return model_dir(m);
}

// ---------------------------------------------------------------------------------------------

model_fetcher::model_fetcher(model_cache& cache, std::function<void(outcome)> done)
    : cache_(cache), done_(std::move(done)), thread_([this] { run(); }) {}

model_fetcher::~model_fetcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void model_fetcher::request(model_request m, std::string hub_url, std::set<std::string> in_use) {
  {
    std::lock_guard lock(mutex_);
    if (!pending_.insert(m.id).second) return;
    queue_.push_back({std::move(m), std::move(hub_url), std::move(in_use)});
  }
  wake_.notify_one();
}

void model_fetcher::run() {
  for (;;) {
    item next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    outcome out;
    out.id = next.model.id;
    try {
      out.dir = cache_.prepare(next.model, next.hub_url, next.in_use);
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    {
      std::lock_guard lock(mutex_);
      pending_.erase(out.id);
    }
    done_(std::move(out));
  }
}

}  // namespace potluck::worker
