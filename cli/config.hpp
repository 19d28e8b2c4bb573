// Where the potluck CLI finds the daemon and the API token it sends: the --url / --token flags,
// POTLUCK_URL / POTLUCK_TOKEN, then the config file $XDG_CONFIG_HOME/potluck/config.json
// (default ~/.config/potluck/config.json), which holds {"url": ..., "token": ...}.
//
// The config file is written atomically (a temp file in the same folder, fsync, rename) with
// mode 0600, in a folder created with mode 0700; keys the CLI does not know are kept. A token
// is never read from a config file that group or others may read or write (ssh's rule for
// private keys): the file is refused with a message that says `chmod 600 FILE`. A saved token
// belongs to the URL saved with it and is not sent to another daemon.
//
// No state; the environment comes in as arguments (main reads it). Errors: config_error.
#pragma once

#include "cli/errors.hpp"

#include <boost/json/object.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace potluck::cli {

// $XDG_CONFIG_HOME/potluck/config.json when XDG_CONFIG_HOME is an absolute path, else
// $HOME/.config/potluck/config.json; nullopt when neither is usable.
std::optional<std::filesystem::path> config_path(const std::optional<std::string>& xdg_config_home,
                                                 const std::optional<std::string>& home);

struct config_file {
  std::optional<std::string> url;
  std::optional<std::string> token;
  boost::json::object other;  // keys the CLI does not know, written back as they were
};

enum class permission_check {
  enforce,  // refuse a file that holds a token when group or others have any access to it
  skip,     // the caller will not use the token (login replaces it, logout removes it)
};

// nullopt when the file does not exist. Throws config_error when it cannot be read, is not a
// JSON object, holds a url or token that is not a string, or (enforce) holds a token in a file
// group or others may access.
std::optional<config_file> read_config(const std::filesystem::path& path, permission_check check);

// Writes `config` to `path` atomically with mode 0600, creating missing folders with mode 0700.
// A symbolic link at `path` is followed: its target is replaced. Throws config_error.
void write_config(const std::filesystem::path& path, const config_file& config);

// Why `token` cannot go into an Authorization header, or "" when it can: printable ASCII
// without spaces, at most 1024 bytes. Never quotes the token.
std::string token_problem(std::string_view token);

enum class token_source { none, flag, environment, config_file };
// "--token", "POTLUCK_TOKEN", "the config file"; "" for none.
const char* to_string(token_source source) noexcept;

struct credential_sources {
  std::optional<std::string> flag_url, env_url;      // --url, POTLUCK_URL
  std::optional<std::string> flag_token, env_token;  // --token, POTLUCK_TOKEN
  const config_file* config = nullptr;               // nullptr: no file, or it was not needed
};

struct credentials {
  std::string url;  // as given, not yet parsed
  std::string token;  // empty when none is known
  token_source source = token_source::none;
  // The config file's token was left out because it was saved for this other URL.
  std::optional<std::string> token_saved_for;
};

// The URL: --url, POTLUCK_URL, the config file's, the default. The token: --token,
// POTLUCK_TOKEN, then the config file's when the URL is the one it was saved for (a file
// without a url saved its token for the default URL).
credentials resolve_credentials(const credential_sources& sources, std::string_view default_url);

// Whether two daemon URLs name the same daemon ("127.0.0.1:8080" and "http://127.0.0.1:8080/"
// do); URLs that do not parse are compared as text.
bool same_daemon(std::string_view a, std::string_view b);

}  // namespace potluck::cli
