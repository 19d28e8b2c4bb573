// potluck: the command-line client of a Potluck daemon. Reads the environment and the terminal
// (only here), then hands over to potluck::cli::run.
#include "cli/app.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <langinfo.h>

int main(int argc, char** argv) {
  std::setlocale(LC_CTYPE, "");
  potluck::cli::terminal term;
  if (const char* url = std::getenv("POTLUCK_URL"); url && *url) term.url = url;
  if (const char* no_color = std::getenv("NO_COLOR"); no_color && *no_color) term.no_color = true;
  if (const char* t = std::getenv("TERM"); !t || std::strcmp(t, "dumb") == 0) term.ansi = false;
  term.stdout_tty = ::isatty(STDOUT_FILENO) == 1;
  term.stderr_tty = ::isatty(STDERR_FILENO) == 1;
  const char* codeset = nl_langinfo(CODESET);
  term.unicode = codeset && (std::strcmp(codeset, "UTF-8") == 0 || std::strcmp(codeset, "utf8") == 0);
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) term.columns = ws.ws_col;
  else if (const char* columns = std::getenv("COLUMNS"); columns && std::strtoul(columns, nullptr, 10) > 0)
    term.columns = std::strtoul(columns, nullptr, 10);

  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int status = potluck::cli::run(args, term, std::cout, std::cerr);
  std::cout.flush();
  return status;
}
