// Tests of cli/config.hpp: where the config file is, that it is written with mode 0600 in a
// 0700 folder, atomically, keeping unknown keys; that a token in a file others may read is
// refused with the chmod to run; which token wins (flag > environment > file) and that a saved
// token goes only to the URL it was saved for.
#define BOOST_TEST_MODULE cli_config
#include <boost/test/unit_test.hpp>

#include "cli/config.hpp"

#include <boost/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace potluck::cli;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temp folder, removed at the end of the test.
struct temp_folder {
  fs::path path;
  temp_folder() {
    std::string pattern = (fs::temp_directory_path() / "potluck-cli-config-XXXXXX").string();
    BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_folder() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text, mode_t mode) {
  std::ofstream(p) << text;
  BOOST_TEST_REQUIRE(::chmod(p.c_str(), mode) == 0);
}

const std::string token_a = "plk_" + std::string(64, 'a');
const std::string token_b = "plk_" + std::string(64, 'b');
const std::string token_c = "plk_" + std::string(64, 'c');

}  // namespace

BOOST_AUTO_TEST_CASE(the_file_is_under_xdg_config_home_else_home) {
  BOOST_TEST(config_path(std::string("/x/cfg"), std::string("/home/a"))->string() == "/x/cfg/potluck/config.json");
  BOOST_TEST(config_path(std::nullopt, std::string("/home/a"))->string() == "/home/a/.config/potluck/config.json");
  // A relative XDG_CONFIG_HOME is invalid by the spec, and ignored.
  BOOST_TEST(config_path(std::string("cfg"), std::string("/home/a"))->string() == "/home/a/.config/potluck/config.json");
  BOOST_TEST(!config_path(std::nullopt, std::nullopt).has_value());
}

BOOST_AUTO_TEST_CASE(written_with_mode_0600_in_a_new_0700_folder_and_read_back) {
  temp_folder dir;
  const auto path = dir.path / "cfg" / "potluck" / "config.json";
  config_file c;
  c.url = "http://127.0.0.1:9000";
  c.token = token_a;
  write_config(path, c);
  BOOST_TEST(mode_of(path) == 0600u);
  BOOST_TEST(mode_of(path.parent_path()) == 0700u);
  BOOST_TEST(mode_of(path.parent_path().parent_path()) == 0700u);
  auto back = read_config(path, permission_check::enforce);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(*back->url == "http://127.0.0.1:9000");
  BOOST_TEST(*back->token == token_a);
  auto parsed = boost::json::parse(read_text(path));
  BOOST_TEST(parsed.at("token").as_string() == token_a);
}

BOOST_AUTO_TEST_CASE(the_mode_is_0600_whatever_the_umask_and_the_old_mode) {
  temp_folder dir;
  const auto path = dir.path / "config.json";
  write_text(path, "{}", 0644);
  const mode_t old_umask = ::umask(0);
  config_file c;
  c.token = token_a;
  write_config(path, c);
  ::umask(old_umask);
  BOOST_TEST(mode_of(path) == 0600u);
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_no_config) {
  temp_folder dir;
  BOOST_TEST(!read_config(dir.path / "nothing.json", permission_check::enforce).has_value());
}

BOOST_AUTO_TEST_CASE(a_token_in_a_file_others_may_read_is_refused_with_the_fix) {
  temp_folder dir;
  const auto path = dir.path / "config.json";
  for (mode_t mode : {0644, 0640, 0604, 0620, 0602, 0660}) {
    write_text(path, R"({"url": "http://127.0.0.1:8080", "token": ")" + token_a + "\"}", mode);
    try {
      read_config(path, permission_check::enforce);
      BOOST_FAIL("a file with mode 0" << std::oct << mode << " was used");
    } catch (const config_error& e) {
      const std::string what = e.what();
      BOOST_TEST(what.find("chmod 600 " + path.string()) != std::string::npos, what);
      BOOST_TEST(what.find(token_a) == std::string::npos);  // the message never shows the token
    }
  }
  // Without a token there is nothing to protect; login and logout (skip) read it anyway.
  write_text(path, R"({"url": "http://127.0.0.1:8080"})", 0644);
  BOOST_TEST(read_config(path, permission_check::enforce)->url.value() == "http://127.0.0.1:8080");
  write_text(path, R"({"token": ")" + token_a + "\"}", 0644);
  BOOST_TEST(read_config(path, permission_check::skip)->token.value() == token_a);
  // After chmod 600 it is fine.
  BOOST_TEST_REQUIRE(::chmod(path.c_str(), 0600) == 0);
  BOOST_TEST(read_config(path, permission_check::enforce)->token.value() == token_a);
}

BOOST_AUTO_TEST_CASE(a_broken_file_says_which_and_what_to_do) {
  temp_folder dir;
  const auto path = dir.path / "config.json";
  write_text(path, "{\"url\": ", 0600);
  BOOST_CHECK_EXCEPTION(read_config(path, permission_check::enforce), config_error, [&](const config_error& e) {
    return std::string(e.what()).find(path.string() + " is not a JSON object") != std::string::npos;
  });
  write_text(path, R"({"token": 5})", 0600);
  BOOST_CHECK_EXCEPTION(read_config(path, permission_check::enforce), config_error, [&](const config_error& e) {
    return std::string(e.what()).find("\"token\" must be a string") != std::string::npos;
  });
  write_text(path, "[]", 0600);
  BOOST_CHECK_THROW(read_config(path, permission_check::enforce), config_error);
}

BOOST_AUTO_TEST_CASE(rewriting_keeps_unknown_keys_and_leaves_no_temp_file) {
  temp_folder dir;
  const auto path = dir.path / "config.json";
  write_text(path, R"({"url": "http://a:1", "token": ")" + token_a + R"(", "editor": {"theme": "dark"}})", 0600);
  auto c = read_config(path, permission_check::enforce).value();
  c.token.reset();
  write_config(path, c);
  auto parsed = boost::json::parse(read_text(path)).as_object();
  BOOST_TEST(!parsed.contains("token"));
  BOOST_TEST(parsed.at("url").as_string() == "http://a:1");
  BOOST_TEST(parsed.at("editor").at("theme").as_string() == "dark");
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    ++files;
    BOOST_TEST(entry.path().filename() == "config.json");
  }
  BOOST_TEST(files == 1u);
}

BOOST_AUTO_TEST_CASE(the_write_is_atomic_a_reader_sees_the_old_file_or_the_new_one) {
  temp_folder dir;
  const auto path = dir.path / "config.json";
  config_file old_config;
  old_config.token = token_a;
  write_config(path, old_config);
  // An open reader keeps the old file: the new one replaces it by rename, not by rewriting it.
  std::ifstream reader(path);
  struct stat before {};
  BOOST_TEST_REQUIRE(::stat(path.c_str(), &before) == 0);
  config_file new_config;
  new_config.token = token_b;
  write_config(path, new_config);
  struct stat after {};
  BOOST_TEST_REQUIRE(::stat(path.c_str(), &after) == 0);
  BOOST_TEST(before.st_ino != after.st_ino);
  std::stringstream old_text;
  old_text << reader.rdbuf();
  BOOST_TEST(old_text.str().find(token_a) != std::string::npos);
  BOOST_TEST(read_config(path, permission_check::enforce)->token.value() == token_b);
}

BOOST_AUTO_TEST_CASE(a_failed_write_leaves_the_old_file_whole) {
  if (::geteuid() == 0) return;  // root writes into read-only folders
  temp_folder dir;
  const auto path = dir.path / "config.json";
  config_file c;
  c.token = token_a;
  write_config(path, c);
  BOOST_TEST_REQUIRE(::chmod(dir.path.c_str(), 0500) == 0);
  c.token = token_b;
  BOOST_CHECK_THROW(write_config(path, c), config_error);
  BOOST_TEST_REQUIRE(::chmod(dir.path.c_str(), 0700) == 0);
  BOOST_TEST(read_config(path, permission_check::enforce)->token.value() == token_a);
}

BOOST_AUTO_TEST_CASE(a_linked_config_file_keeps_its_link) {
  temp_folder dir;
  const auto target = dir.path / "dotfiles-potluck.json";
  const auto path = dir.path / "config.json";
  write_text(target, "{}", 0600);
  fs::create_symlink(target, path);
  config_file c;
  c.token = token_a;
  write_config(path, c);
  BOOST_TEST(fs::is_symlink(path));
  BOOST_TEST(read_config(target, permission_check::enforce)->token.value() == token_a);
}

BOOST_AUTO_TEST_CASE(the_flag_wins_over_the_environment_which_wins_over_the_file) {
  config_file file;
  file.url = "http://127.0.0.1:8080";
  file.token = token_c;
  credential_sources s;
  s.config = &file;
  s.flag_token = token_a;
  s.env_token = token_b;
  auto c = resolve_credentials(s, "http://127.0.0.1:8080");
  BOOST_TEST(c.token == token_a);
  BOOST_TEST((c.source == token_source::flag));
  s.flag_token.reset();
  c = resolve_credentials(s, "http://127.0.0.1:8080");
  BOOST_TEST(c.token == token_b);
  BOOST_TEST((c.source == token_source::environment));
  s.env_token.reset();
  c = resolve_credentials(s, "http://127.0.0.1:8080");
  BOOST_TEST(c.token == token_c);
  BOOST_TEST((c.source == token_source::config_file));
  s.config = nullptr;
  c = resolve_credentials(s, "http://127.0.0.1:8080");
  BOOST_TEST(c.token.empty());
  BOOST_TEST((c.source == token_source::none));
}

BOOST_AUTO_TEST_CASE(the_url_comes_from_the_flag_the_environment_the_file_or_the_default) {
  config_file file;
  file.url = "http://file:1";
  credential_sources s;
  BOOST_TEST(resolve_credentials(s, "http://default:1").url == "http://default:1");
  s.config = &file;
  BOOST_TEST(resolve_credentials(s, "http://default:1").url == "http://file:1");
  s.env_url = "http://env:1";
  BOOST_TEST(resolve_credentials(s, "http://default:1").url == "http://env:1");
  s.flag_url = "http://flag:1";
  BOOST_TEST(resolve_credentials(s, "http://default:1").url == "http://flag:1");
}

BOOST_AUTO_TEST_CASE(a_saved_token_goes_only_to_the_daemon_it_was_saved_for) {
  config_file file;
  file.url = "http://127.0.0.1:8080";
  file.token = token_c;
  credential_sources s;
  s.config = &file;
  s.flag_url = "127.0.0.1:8080/";  // the same daemon, written differently
  BOOST_TEST(resolve_credentials(s, "http://127.0.0.1:8080").token == token_c);
  s.flag_url = "http://elsewhere:8080";
  auto c = resolve_credentials(s, "http://127.0.0.1:8080");
  BOOST_TEST(c.token.empty());
  BOOST_TEST(c.token_saved_for.value() == "http://127.0.0.1:8080");
  // A file without a url saved its token for the default URL.
  file.url.reset();
  s.flag_url.reset();
  BOOST_TEST(resolve_credentials(s, "http://127.0.0.1:8080").token == token_c);
  s.env_url = "http://127.0.0.1:9999";
  BOOST_TEST(resolve_credentials(s, "http://127.0.0.1:8080").token.empty());
}

BOOST_AUTO_TEST_CASE(tokens_that_cannot_go_into_a_header) {
  BOOST_TEST(token_problem(token_a).empty());
  BOOST_TEST(!token_problem("").empty());
  BOOST_TEST(!token_problem("plk_abc\r\nX-Evil: 1").empty());
  BOOST_TEST(!token_problem("plk_abc def").empty());
  BOOST_TEST(!token_problem("plk_\xc3\xa9").empty());
  BOOST_TEST(!token_problem(std::string(2000, 'a')).empty());
  BOOST_TEST(token_problem("plk_abc\nsecret").find("secret") == std::string::npos);
}
