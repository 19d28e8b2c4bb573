// The errors the potluck CLI turns into exit statuses (see cli/app.hpp): a mistake on the
// command line, an unusable config file or local file (2) and a daemon that cannot be reached (3).
#pragma once

#include <stdexcept>
#include <string>

namespace potluck::cli {

// A mistake in the command line: shown with a pointer to --help, exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The config file cannot be used (unreadable, not JSON, a token in a file others may read) or
// written: shown as is, exit status 2. The message names the file and what to do.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A local file or folder a command reads or writes cannot be used (missing, unreadable, not
// what it must be): shown with its hint, exit status 2. The message names the file.
class file_error : public std::runtime_error {
 public:
  explicit file_error(const std::string& message, std::string hint = {})
      : std::runtime_error(message), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }  // what to do; may span lines; "" for none

 private:
  std::string hint_;
};

// The daemon could not be reached or stopped answering: exit status 3.
class unreachable_error : public std::runtime_error {
 public:
  // `reason` is short and lower-case: "connection refused", "no answer within 30s".
  unreachable_error(std::string url, std::string reason)
      : std::runtime_error(reason), url_(std::move(url)), reason_(std::move(reason)) {}
  const std::string& url() const { return url_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string url_, reason_;
};

}  // namespace potluck::cli
