// Tests of cli/app.hpp without a daemon: help on every command, usage mistakes (exit 2, with a
// pointer to --help), an unreachable daemon (exit 3, with what to do), the version, and that
// nothing is coloured when the output is not a terminal.
#define BOOST_TEST_MODULE cli_app
#include <boost/test/unit_test.hpp>

#include "cli/app.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

using namespace potluck::cli;

namespace {

struct outcome {
  int status = -1;
  std::string out, err;
};

outcome run_cli(std::vector<std::string> args, terminal term = {}) {
  std::ostringstream out, err;
  outcome o;
  o.status = run(args, term, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

std::string closed_url() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

bool has(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return true;
  BOOST_TEST_MESSAGE("\"" << text << "\" lacks \"" << needle << "\"");
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(no_arguments_and_help_show_the_overview) {
  for (auto args : {std::vector<std::string>{}, {"help"}, {"--help"}, {"-h"}}) {
    auto o = run_cli(args);
    BOOST_TEST(o.status == 0);
    for (const char* command : {"submit", "quote", "jobs", "job", "cancel", "workers", "tasks", "account create", "login",
                                "logout", "tokens create", "tokens revoke", "ledger", "donate workers", "donate pause",
                                "donate resume", "donate set", "donate earnings", "donors", "admin audit", "admin grant",
                                "admin settings"})
      BOOST_TEST(has(o.out, std::string("\n  ") + command + " "));
    BOOST_TEST(has(o.out, "POTLUCK_URL"));
    BOOST_TEST(has(o.out, "POTLUCK_TOKEN"));
    BOOST_TEST(has(o.out, "--token TOKEN"));
    BOOST_TEST(has(o.out, "Exit status"));
  }
}

BOOST_AUTO_TEST_CASE(every_command_has_help_with_an_example) {
  for (std::string command : {"submit", "quote", "jobs", "job", "cancel", "workers", "tasks", "account", "account show",
                              "account create", "login", "logout", "tokens", "tokens create", "tokens revoke", "ledger",
                              "donate workers", "donate pause", "donate resume", "donate set", "donate earnings",
                              "donors", "admin audit", "admin grant", "admin settings"}) {
    std::vector<std::string> words;
    for (std::size_t start = 0; start <= command.size();) {
      auto end = std::min(command.find(' ', start), command.size());
      words.push_back(command.substr(start, end - start));
      start = end + 1;
    }
    auto with = [&](std::vector<std::string> before, std::vector<std::string> after) {
      before.insert(before.end(), words.begin(), words.end());
      before.insert(before.end(), after.begin(), after.end());
      return before;
    };
    for (auto args : {with({}, {"--help"}), with({"help"}, {}), with({}, {"-h"})}) {
      auto o = run_cli(args);
      BOOST_TEST(o.status == 0);
      BOOST_TEST(has(o.out, "Usage:\n  potluck " + command));
      BOOST_TEST(has(o.out, "Examples:\n  potluck " + command));
      BOOST_TEST(has(o.out, "--json"));
      BOOST_TEST(o.err.empty());
    }
  }
  // --help wins over anything else on the line, even mistakes.
  BOOST_TEST(run_cli({"job", "--help"}).status == 0);
  BOOST_TEST(run_cli({"admin", "grant", "--help"}).status == 0);
  // A group's help lists its commands.
  for (auto args : {std::vector<std::string>{"help", "admin"}, {"admin", "--help"}}) {
    auto o = run_cli(args);
    BOOST_TEST(o.status == 0);
    BOOST_TEST(has(o.out, "potluck admin audit"));
    BOOST_TEST(has(o.out, "potluck admin grant"));
    BOOST_TEST(has(o.out, "potluck admin settings"));
  }
  // The donor's group says why it is called donate, next to potluck workers.
  for (auto args : {std::vector<std::string>{"help", "donate"}, {"donate", "--help"}}) {
    auto o = run_cli(args);
    BOOST_TEST(o.status == 0);
    BOOST_TEST(has(o.out, "It is called donate, not worker,\nbecause potluck workers lists every worker on the daemon"));
    for (const char* command : {"workers", "pause", "resume", "set", "earnings"})
      BOOST_TEST(has(o.out, std::string("  potluck donate ") + command + " "));
  }
  BOOST_TEST(has(run_cli({"donate", "set", "--help"}).out, "22-7 from 22:00 to 07:00 overnight"));
  BOOST_TEST(has(run_cli({"jobs", "--help"}).out, "--paid-to ACCOUNT"));
}

BOOST_AUTO_TEST_CASE(help_explains_prices_with_examples) {
  for (const char* command : {"submit", "quote"}) {
    auto o = run_cli({command, "--help"});
    BOOST_TEST(o.status == 0);
    BOOST_TEST(has(o.out, "--bid CREDITS"));
    BOOST_TEST(has(o.out, "--max-price CREDITS"));
    BOOST_TEST(has(o.out, "per million work units"));
    BOOST_TEST(has(o.out, std::string("  potluck ") + command + " linalg.matmul --input a=@a.json --input b=@b.json --bid 0.5"));
  }
  BOOST_TEST(has(run_cli({"quote", "--help"}).out, "exits 1 when no connected worker takes the\njob"));
  BOOST_TEST(has(run_cli({"help"}).out, "or no worker takes a quoted job"));
}

BOOST_AUTO_TEST_CASE(the_version) {
  auto o = run_cli({"--version"});
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out == "potluck " POTLUCK_VERSION "\n");
}

BOOST_AUTO_TEST_CASE(usage_mistakes_exit_2_and_point_to_help) {
  struct mistake {
    std::vector<std::string> args;
    std::string says, help;
  };
  const std::vector<mistake> mistakes = {
      {{"sbumit"}, "unknown command 'sbumit'; did you mean 'submit'?", "potluck --help"},
      {{"submit"}, "potluck submit needs a TASK", "potluck submit --help"},
      {{"submit", "linalg.matmul", "--input", "a"}, "--input expects NAME=VALUE", "potluck submit --help"},
      {{"submit", "linalg.matmul", "--input", "a=[[1,2],[3,4]"}, "--input a: the value is not valid JSON",
       "potluck submit --help"},
      {{"submit", "linalg.matmul", "--input"}, "--input needs a value: --input NAME=VALUE", "potluck submit --help"},
      {{"submit", "t", "--backend", "tpu"}, "--backend must be cpu or cuda", "potluck submit --help"},
      {{"submit", "t", "--bid", "-1"}, "--bid '-1': it is negative", "potluck submit --help"},
      {{"submit", "t", "--bid", "1e6"}, "--bid '1e6': it is not a number of credits", "potluck submit --help"},
      {{"submit", "t", "--max-price", "0.1234567"}, "--max-price '0.1234567': it has more than 6 decimals",
       "potluck submit --help"},
      {{"submit", "t", "--bid", "1", "--max-price", "1"}, "not both", "potluck submit --help"},
      {{"submit", "t", "--bid"}, "--bid needs a value: --bid CREDITS", "potluck submit --help"},
      {{"quote"}, "potluck quote needs a TASK", "potluck quote --help"},
      {{"quote", "t", "--wait"}, "unknown flag '--wait'", "potluck quote --help"},
      {{"quote", "t", "--bid", "0.5", "--bid", "1"}, "--bid is given twice", "potluck quote --help"},
      {{"jobs", "--stat", "failed"}, "unknown flag '--stat'; did you mean --state?", "potluck jobs --help"},
      {{"jobs", "--state", "done"}, "--state must be one of queued, running, succeeded, failed, cancelled", "potluck jobs --help"},
      {{"jobs", "--limit", "0"}, "--limit takes a number from 1 to 1000", "potluck jobs --help"},
      {{"jobs", "12"}, "to show one job: potluck job ID", "potluck jobs --help"},
      {{"job"}, "potluck job takes a job ID, like: potluck job 12", "potluck job --help"},
      {{"job", "twelve"}, "'twelve' is not a job ID", "potluck job --help"},
      {{"cancel", "-3"}, "unknown flag '-3'", "potluck cancel --help"},
      {{"workers", "--json=yes"}, "--json takes no value", "potluck workers --help"},
      {{"jobs", "--limit", "5", "--limit", "6"}, "--limit is given twice", "potluck jobs --help"},
      {{"jobs", "--url", "https://example.org"}, "only http:// URLs are supported", "potluck jobs --help"},
      {{"jobs", "--paid-to"}, "--paid-to needs a value: --paid-to ACCOUNT", "potluck jobs --help"},
      {{"jobs", "--paid-to="}, "--paid-to needs an account's name", "potluck jobs --help"},
      {{"jobs", "--mine=yes"}, "--mine takes no value", "potluck jobs --help"},
      {{"donate"}, "potluck donate needs a command: workers, pause, resume, set, earnings", "potluck help donate"},
      {{"donate", "paus", "w"}, "unknown command 'donate paus'; did you mean 'donate pause'?", "potluck help donate"},
      {{"donate", "pause"}, "needs a worker's NAME, like: potluck donate pause dora-box", "potluck donate pause --help"},
      {{"donate", "resume", "a", "b"}, "needs a worker's NAME", "potluck donate resume --help"},
      {{"donate", "set", "w", "--hours", "24-7"}, "--hours '24-7': 24 is not an hour; hours go from 0 to 23",
       "potluck donate set --help"},
      {{"donate", "set", "w", "--hours", "-1-7"}, "--hours '-1-7': write FROM-TO in whole hours", "potluck donate set --help"},
      {{"donate", "set", "w", "--hours", "22"}, "--hours '22': write FROM-TO", "potluck donate set --help"},
      {{"donate", "set", "w", "--hours", "7-7"}, "--hours '7-7' is an empty window", "potluck donate set --help"},
      {{"donate", "set", "w", "--max-slots", "257"}, "--max-slots takes a number from 1 to 256, or 0 or all for every slot",
       "potluck donate set --help"},
      {{"donate", "set", "w", "--max-slots", "-1"}, "--max-slots takes a number", "potluck donate set --help"},
      {{"donate", "set", "w", "--free-jobs", "true"}, "--free-jobs must be yes, no, or worker", "potluck donate set --help"},
      {{"donate", "set", "w"}, "potluck donate set needs --max-slots, --hours or --free-jobs", "potluck donate set --help"},
      {{"donate", "set", "", "--hours", "9-17"}, "a worker's NAME is 1 to 64 bytes", "potluck donate set --help"},
      {{"donate", "earnings", "--days", "367"}, "--days takes a number from 1 to 366", "potluck donate earnings --help"},
      {{"donate", "workers", "box"}, "potluck donate workers takes no arguments", "potluck donate workers --help"},
      {{"donors", "--limit", "101"}, "--limit takes a number from 1 to 100", "potluck donors --help"},
      {{"donors", "--days", "0"}, "--days takes a number from 1 to 366", "potluck donors --help"},
      {{"admin", "settings", "x"}, "potluck admin settings takes no arguments", "potluck admin settings --help"},
  };
  for (const auto& m : mistakes) {
    auto o = run_cli(m.args);
    BOOST_TEST(o.status == 2, m.args.front() << ": status " << o.status << ", stderr: " << o.err);
    BOOST_TEST(has(o.err, "error: " ));
    BOOST_TEST(has(o.err, m.says));
    BOOST_TEST(has(o.err, "Run '" + m.help + "' for usage."));
    BOOST_TEST(o.out.empty());
  }
}

BOOST_AUTO_TEST_CASE(flags_go_before_or_after_the_command) {
  const auto url = closed_url();
  for (auto args : {std::vector<std::string>{"--url", url, "jobs"}, {"jobs", "--url", url}, {"jobs", "--url=" + url},
                    {"-q", "--url", url, "jobs", "--state", "failed"}}) {
    auto o = run_cli(args);
    BOOST_TEST(o.status == 3, "stderr: " << o.err);
  }
}

BOOST_AUTO_TEST_CASE(an_unreachable_daemon_exits_3_and_says_what_to_do) {
  const auto url = closed_url();
  auto o = run_cli({"--url", url, "workers"});
  BOOST_TEST(o.status == 3);
  BOOST_TEST(o.err ==
             "error: cannot reach the Potluck daemon at " + url + ": connection refused.\n"
             "Is potluckd running? Start it with ./potluck.sh run, or set POTLUCK_URL.\n");
  BOOST_TEST(o.out.empty());
}

BOOST_AUTO_TEST_CASE(potluck_url_from_the_environment_is_used_and_the_flag_wins) {
  terminal term;
  term.url = closed_url();
  auto from_env = run_cli({"tasks"}, term);
  BOOST_TEST(from_env.status == 3);
  BOOST_TEST(has(from_env.err, "at " + *term.url + ":"));
  const auto other = closed_url();
  auto from_flag = run_cli({"tasks", "--url", other}, term);
  BOOST_TEST(has(from_flag.err, "at " + other + ":"));
}

BOOST_AUTO_TEST_CASE(colour_only_on_a_terminal_and_never_with_no_color) {
  const auto url = closed_url();
  terminal tty;
  tty.stdout_tty = tty.stderr_tty = true;
  BOOST_TEST(has(run_cli({"--url", url, "jobs"}, tty).err, "\x1b[31merror:"));
  terminal pipe;
  BOOST_TEST(run_cli({"--url", url, "jobs"}, pipe).err.find('\x1b') == std::string::npos);
  BOOST_TEST(run_cli({"--url", url, "jobs", "--no-color"}, tty).err.find('\x1b') == std::string::npos);
  terminal no_color = tty;
  no_color.no_color = true;
  BOOST_TEST(run_cli({"--url", url, "jobs"}, no_color).err.find('\x1b') == std::string::npos);
  terminal dumb = tty;
  dumb.ansi = false;
  BOOST_TEST(run_cli({"--url", url, "jobs"}, dumb).err.find('\x1b') == std::string::npos);
  // A usage mistake is reported before flags are read, and still honours NO_COLOR.
  BOOST_TEST(run_cli({"sbumit"}, no_color).err.find('\x1b') == std::string::npos);
}
