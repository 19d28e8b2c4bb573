// potluck: the command-line client of a Potluck daemon. Reads the environment and the terminal
// (only here), then hands over to potluck::cli::run.
#include "cli/app.hpp"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <clocale>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <langinfo.h>

namespace {

// The terminal's settings while a prompt hides what is typed. A signal handler restores them,
// so it must be reachable from one: the only global of the CLI.
termios saved_termios{};
volatile std::sig_atomic_t echo_off = 0;

void restore_echo_and_reraise(int sig) {
  if (echo_off) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::optional<std::string> read_line() {
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  return line;
}

// Prompts on stderr and reads a line from the terminal on stdin without echoing it.
std::optional<std::string> read_secret(std::string_view prompt) {
  std::cerr << prompt << std::flush;
  termios quiet{};
  const bool can_hide = ::tcgetattr(STDIN_FILENO, &saved_termios) == 0;
  if (can_hide) {
    quiet = saved_termios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    std::signal(SIGINT, restore_echo_and_reraise);
    std::signal(SIGTERM, restore_echo_and_reraise);
    echo_off = 1;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  auto line = read_line();
  if (can_hide) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
    echo_off = 0;
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  } else {
    std::cerr << '\n';
  }
  return line;
}

std::optional<std::string> non_empty_env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

}  // namespace

int main(int argc, char** argv) {
  std::setlocale(LC_CTYPE, "");
  potluck::cli::terminal term;
  term.url = non_empty_env("POTLUCK_URL");
  term.token = non_empty_env("POTLUCK_TOKEN");
  term.xdg_config_home = non_empty_env("XDG_CONFIG_HOME");
  term.home = non_empty_env("HOME");
  if (non_empty_env("NO_COLOR")) term.no_color = true;
  if (const char* t = std::getenv("TERM"); !t || std::strcmp(t, "dumb") == 0) term.ansi = false;
  term.stdin_tty = ::isatty(STDIN_FILENO) == 1;
  term.stdout_tty = ::isatty(STDOUT_FILENO) == 1;
  term.stderr_tty = ::isatty(STDERR_FILENO) == 1;
  const char* codeset = nl_langinfo(CODESET);
  term.unicode = codeset && (std::strcmp(codeset, "UTF-8") == 0 || std::strcmp(codeset, "utf8") == 0);
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) term.columns = ws.ws_col;
  else if (const char* columns = std::getenv("COLUMNS"); columns && std::strtoul(columns, nullptr, 10) > 0)
    term.columns = std::strtoul(columns, nullptr, 10);
  term.read_line = read_line;
  term.read_secret = read_secret;

  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int status = potluck::cli::run(args, term, std::cout, std::cerr);
  std::cout.flush();
  return status;
}
