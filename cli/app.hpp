// The potluck command-line client: commands, flags, help texts and exit statuses.
//
//   potluck submit TASK --input NAME=VALUE ... [--param KEY=VALUE] [--bid C | --max-price C] [--replicas N]
//                  [--bill-to ORG] [--wait]
//   potluck quote TASK --input NAME=VALUE ... [--param KEY=VALUE] [--bid C | --max-price C] [--replicas N]
//   potluck jobs [--state S] [--mine] [--paid-to ACCOUNT] [--limit N]  |  job ID [--wait]  |  cancel ID...
//   potluck workers  |  tasks [TASK]  |  help [COMMAND]
//   potluck account [show]  |  account create NAME [--login]  |  login  |  logout
//   potluck account transfer ACCOUNT CREDITS [--memo TEXT]
//   potluck org create NAME  |  org show NAME  |  org add NAME ACCOUNT [--owner]
//   potluck tokens  |  tokens create NAME [--scope S]...  |  tokens revoke ID  |  ledger
//   potluck models push DIR OWNER/NAME [--message TEXT]  |  models ls [--search S] [--task T] [--sort S] [--limit N]
//   potluck models show OWNER/NAME [--revision R]  |  models pull OWNER/NAME [DIR] [--revision R]
//   potluck models rm OWNER/NAME [--yes]
//   potluck run OWNER/NAME[@REV] [--input NAME=VALUE]... [--param KEY=VALUE]... [--bid C | --max-price C]
//               [--backend B] [--timeout D]
//   potluck donate workers  |  donate pause|resume NAME  |  donate set NAME [--max-slots N] [--hours H] [--free-jobs F]
//   potluck donate earnings [--days N]  |  donors [--days N] [--limit M]
//   potluck admin audit  |  admin grant ACCOUNT CREDITS [--memo TEXT]  |  admin settings
//
// run() is the whole program except for reading the process environment and the terminal,
// which main() does and passes in (environment variables are read only in main).
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::cli {

// Exit statuses, stable for scripts.
enum exit_status : int {
  exit_ok = 0,
  exit_job_failed = 1,   // the job failed or was cancelled (submit --wait, job --wait, run)
  exit_check_failed = 1, // admin audit found problems in the books
  exit_not_covered = 1,  // quote: no connected worker takes the job at its bid now
  exit_usage = 2,        // a mistake on the command line, an unusable config file, or a local file or
                         // folder that cannot be used (models push DIR without README.md)
  exit_unreachable = 3,  // the daemon could not be reached
  exit_api_error = 4,    // the daemon refused the request (its message is shown)
  exit_interrupted = 130,
};

// What main() learned from the environment and the terminal.
struct terminal {
  std::optional<std::string> url;  // POTLUCK_URL
  bool no_color = false;           // NO_COLOR is set and not empty
  bool stdout_tty = false;
  bool stderr_tty = false;
  bool ansi = true;                // TERM is not "dumb": escapes for colour and redrawing work
  bool unicode = true;             // the locale's charset is UTF-8
  std::size_t columns = 80;        // the width of the terminal stderr is on
  std::optional<std::string> token;            // POTLUCK_TOKEN
  std::optional<std::string> xdg_config_home;  // XDG_CONFIG_HOME: where the config file is
  std::optional<std::string> home;             // HOME
  bool stdin_tty = false;
  // `potluck login` reads the token with these. read_line: one line of stdin (nullopt at its
  // end); read_secret: shows the prompt on the terminal and reads a line without echo. Unset
  // reads nothing.
  std::function<std::optional<std::string>()> read_line;
  std::function<std::optional<std::string>(std::string_view prompt)> read_secret;
};

inline constexpr const char* default_url = "http://127.0.0.1:8080";

// Runs one command line (without the program name). Output goes to `out`, messages, progress
// and errors to `err`. Returns the exit status.
int run(const std::vector<std::string>& args, const terminal& term, std::ostream& out, std::ostream& err);

}  // namespace potluck::cli
