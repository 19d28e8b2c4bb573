// Implements config.hpp with POSIX calls: the permission check must look at the file that was
// opened (fstat on the descriptor), and the atomic write needs mkostemp, fsync and rename.
#include "cli/config.hpp"

#include "cli/format.hpp"
#include "cli/http_client.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace potluck::cli {
namespace {

constexpr std::size_t max_config_bytes = 1 << 20;
constexpr std::size_t max_token_bytes = 1024;
constexpr mode_t config_file_mode = 0600;
constexpr mode_t config_folder_mode = 0700;

std::string errno_text(int error) { return std::strerror(error); }

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Closes a descriptor on every path out.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

std::optional<std::string> optional_string(const json::object& o, std::string_view key, const fs::path& path) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string())
    throw config_error(path.string() + ": \"" + std::string(key) + "\" must be a string; fix the file, or remove it and "
                       "run potluck login");
  return std::string(v->as_string());
}

// Creates the missing folders of `dir`, each with mode 0700; folders that exist are left as they are.
void make_private_folders(const fs::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  make_private_folders(dir.parent_path());
  if (::mkdir(dir.c_str(), config_folder_mode) != 0 && errno != EEXIST)
    throw config_error("cannot create the folder " + dir.string() + ": " + errno_text(errno));
}

void write_all(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw config_error("cannot write " + path.string() + ": " + errno_text(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::optional<fs::path> config_path(const std::optional<std::string>& xdg_config_home,
                                    const std::optional<std::string>& home) {
  // The XDG base directory spec: a relative XDG_CONFIG_HOME is invalid and ignored.
  if (xdg_config_home && !xdg_config_home->empty() && fs::path(*xdg_config_home).is_absolute())
    return fs::path(*xdg_config_home) / "potluck" / "config.json";
  if (home && !home->empty()) return fs::path(*home) / ".config" / "potluck" / "config.json";
  return std::nullopt;
}

std::optional<config_file> read_config(const fs::path& path, permission_check check) {
  fd_guard file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw config_error("cannot read the config file " + path.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0)
    throw config_error("cannot read the config file " + path.string() + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw config_error("the config file " + path.string() + " is not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_config_bytes)
    throw config_error("the config file " + path.string() + " is larger than 1 MiB; it cannot be potluck's");
  std::string text;
  char buf[8192];
  for (;;) {
    const auto n = ::read(file.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw config_error("cannot read the config file " + path.string() + ": " + errno_text(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_config_bytes)
      throw config_error("the config file " + path.string() + " is larger than 1 MiB; it cannot be potluck's");
  }
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object())
    throw config_error("the config file " + path.string() + " is not a JSON object" +
                       (ec ? " (" + ec.message() + ")" : "") + "; fix it, or remove it and run potluck login");
  config_file out;
  out.other = std::move(parsed.as_object());
  out.url = optional_string(out.other, "url", path);
  out.token = optional_string(out.other, "token", path);
  out.other.erase("url");
  out.other.erase("token");
  if (check == permission_check::enforce && out.token && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw config_error("the config file " + path.string() + " holds an API token but group or others may access it "
                       "(mode " + octal_mode(st.st_mode) + "), so potluck will not use it.\n"
                       "Make it private: chmod 600 " + path.string());
  }
  return out;
}

void write_config(const fs::path& path, const config_file& config) {
  fs::path target = path;
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    target = fs::weakly_canonical(path, ec);
    if (ec) throw config_error("cannot follow the link " + path.string() + ": " + ec.message());
  }
  make_private_folders(target.parent_path());

  json::object o;
  if (config.url) o["url"] = *config.url;
  if (config.token) o["token"] = *config.token;
  for (const auto& [key, value] : config.other) o[key] = value;
  const std::string text = pretty_json(o) + "\n";

  // mkostemp creates the file with mode 0600; fchmod pins it whatever the umask did.
  std::string temp = target.string() + ".XXXXXX";
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  fd_guard file{::mkostemp(name.data(), O_CLOEXEC)};
  if (file.fd < 0) throw config_error("cannot write in " + target.parent_path().string() + ": " + errno_text(errno));
  temp = name.data();
  try {
    if (::fchmod(file.fd, config_file_mode) != 0) throw config_error("cannot chmod " + temp + ": " + errno_text(errno));
    write_all(file.fd, text, temp);
    if (::fsync(file.fd) != 0) throw config_error("cannot write " + temp + ": " + errno_text(errno));
    const int fd = file.fd;
    file.fd = -1;
    if (::close(fd) != 0) throw config_error("cannot write " + temp + ": " + errno_text(errno));
    if (::rename(temp.c_str(), target.c_str()) != 0)
      throw config_error("cannot replace " + target.string() + ": " + errno_text(errno));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  // The rename is durable once the folder is synced; a failure here loses nothing written.
  fd_guard folder{::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (folder.fd >= 0) ::fsync(folder.fd);
}

std::string token_problem(std::string_view token) {
  if (token.empty()) return "it is empty";
  if (token.size() > max_token_bytes) return "it is longer than " + std::to_string(max_token_bytes) + " bytes";
  for (const char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return "it holds a space, a control character or a non-ASCII character";
  }
  return {};
}

const char* to_string(token_source source) noexcept {
  switch (source) {
    case token_source::flag: return "--token";
    case token_source::environment: return "POTLUCK_TOKEN";
    case token_source::config_file: return "the config file";
    case token_source::none: break;
  }
  return "";
}

bool same_daemon(std::string_view a, std::string_view b) {
  try {
    const auto x = parse_base_url(a), y = parse_base_url(b);
    return x.host == y.host && x.port == y.port && x.prefix == y.prefix;
  } catch (const usage_error&) {
    return a == b;
  }
}

credentials resolve_credentials(const credential_sources& sources, std::string_view default_url) {
  credentials out;
  const config_file* config = sources.config;
  if (sources.flag_url) out.url = *sources.flag_url;
  else if (sources.env_url) out.url = *sources.env_url;
  else if (config && config->url) out.url = *config->url;
  else out.url = std::string(default_url);

  if (sources.flag_token) {
    out.token = *sources.flag_token;
    out.source = token_source::flag;
  } else if (sources.env_token) {
    out.token = *sources.env_token;
    out.source = token_source::environment;
  } else if (config && config->token) {
    const std::string saved_for = config->url.value_or(std::string(default_url));
    if (same_daemon(saved_for, out.url)) {
      out.token = *config->token;
      out.source = token_source::config_file;
    } else {
      out.token_saved_for = saved_for;
    }
  }
  return out;
}

}  // namespace potluck::cli
