// End-to-end tests of the potluck CLI: the real binary, run as a user or a script would run it,
// against a real potluckd and potluck-worker (testing and blas plugins) on loopback. Checks what
// people see (tables, results, messages) and what scripts rely on (exit statuses, --json, -q),
// the account commands (sign-up, login and the config file, tokens, the ledger, the operator's
// audit and grants), the market: quotes, bids, what jobs are charged, refusals for funds,
// organisations (funded by transfers, billed with --bill-to), jobs run as replicas, and the model
// hub (models push, ls, show, pull, rm; run, up to the job waiting for a worker that can load it).
#define BOOST_TEST_MODULE integration_cli
#include <boost/test/unit_test.hpp>

#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

extern char** environ;

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace potluck::testing;

namespace {

struct cli_result {
  int status = -1;  // exit status; -1 when it did not exit in time, 128+N when killed by signal N
  std::string out, err;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using env_map = std::map<std::string, std::string>;

// A HOME of its own for every potluck the tests run unless they give one, so that no config file
// of the person running the tests is read or written.
const fs::path& test_home() {
  static const fs::path dir = make_temp_dir("potluck-cli-home");
  return dir;
}

// The potluck binary as a child process with its own stdout and stderr files, stdin from
// `stdin_file` (default /dev/null), and an environment without POTLUCK_URL, POTLUCK_TOKEN,
// NO_COLOR or XDG_CONFIG_HOME unless given, and with HOME at test_home() unless given.
class cli_process {
 public:
  explicit cli_process(const std::vector<std::string>& args, const env_map& env = {},
                       const fs::path& stdin_file = "/dev/null") {
    static int counter = 0;
    static const fs::path dir = make_temp_dir("potluck-cli-it");
    const auto n = std::to_string(++counter);
    out_ = dir / ("out-" + n);
    err_ = dir / ("err-" + n);
    std::vector<std::string> argv = {(build_dir() / "bin" / "potluck").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      if (entry.starts_with("POTLUCK_URL=") || entry.starts_with("POTLUCK_TOKEN=") || entry.starts_with("NO_COLOR=") ||
          entry.starts_with("HOME=") || entry.starts_with("XDG_CONFIG_HOME="))
        continue;
      envs.push_back(entry);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    if (!env.contains("HOME")) envs.push_back("HOME=" + test_home().string());
    std::vector<char*> argp, envp;
    for (auto& a : argv) argp.push_back(a.data());
    argp.push_back(nullptr);
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, stdin_file.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = ::posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  ~cli_process() {
    if (!done_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  cli_process(const cli_process&) = delete;
  cli_process& operator=(const cli_process&) = delete;

  cli_result wait(std::chrono::milliseconds deadline = 60s) {
    cli_result r;
    int st = 0;
    done_ = eventually([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, deadline);
    if (done_) r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = read_text(out_);
    r.err = read_text(err_);
    return r;
  }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  fs::path out_, err_;
};

cli_result run_potluck(const std::vector<std::string>& args, const env_map& env = {},
                       const fs::path& stdin_file = "/dev/null") {
  cli_process p(args, env, stdin_file);
  auto r = p.wait();
  BOOST_TEST_MESSAGE("potluck " << [&] {
    std::string s;
    for (const auto& a : args) s += a + " ";
    return s;
  }() << "-> " << r.status << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err);
  return r;
}

std::string url_of(const daemon_process& d) { return "http://127.0.0.1:" + std::to_string(d.http_port()); }

// The operator's token, which potluckd wrote to its data folder on its first start.
std::string admin_token(const daemon_process& d) {
  std::ifstream in(d.data_dir() / "admin-token");
  std::string token;
  std::getline(in, token);
  return token;
}

// One daemon with one worker (two slots) for the whole suite, and a user who submits the jobs.
struct hub {
  daemon_process daemon;
  std::unique_ptr<child_process> worker;
  std::string token;
  hub() : worker(start_worker(daemon, "cli-worker", 2)), token(sign_up_token(daemon, "cli-tests")) {
    if (!wait_for_workers(daemon, 1)) throw std::runtime_error("the worker did not register:\n" + worker->log());
  }
  std::string url() const { return url_of(daemon); }
  env_map env() const { return {{"POTLUCK_TOKEN", token}}; }
  // POTLUCK_TOKEN=the user's potluck --url URL ARGS...
  cli_result run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--url", url()});
    return run_potluck(args, env());
  }
};

hub& the_hub() {
  static hub h;
  return h;
}

bool contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return true;
  BOOST_TEST_MESSAGE("\"" << text << "\" lacks \"" << needle << "\"");
  return false;
}

std::int64_t id_from(const cli_result& r) {
  BOOST_TEST_REQUIRE(r.status == 0, "exit " << r.status << ": " << r.err);
  return std::stoll(r.out);
}

// The table line that starts with `first` (leading spaces of right-aligned cells ignored).
std::string table_line(const std::string& table, const std::string& first) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    auto start = line.find_first_not_of(' ');
    if (start != std::string::npos && line.compare(start, first.size() + 1, first + " ") == 0) return line;
  }
  return {};
}

const std::vector<std::string> matmul = {"submit", "linalg.matmul", "--input", "a=[[1,2],[3,4]]",
                                         "--input", "b=[[5,6],[7,8]]"};

std::vector<std::string> with(std::vector<std::string> base, std::initializer_list<std::string> more) {
  base.insert(base.end(), more);
  return base;
}

}  // namespace

BOOST_AUTO_TEST_CASE(empty_states_say_what_to_do_next) {
  daemon_process lonely;
  const auto url = url_of(lonely);
  auto workers = run_potluck({"--url", url, "workers"});
  BOOST_TEST(workers.status == 0);
  BOOST_TEST(workers.out == "No worker connected. Start one: potluck-worker --daemon " + lonely.workers_endpoint() + "\n");
  auto jobs = run_potluck({"--url", url, "jobs"});
  BOOST_TEST(jobs.status == 0);
  BOOST_TEST(contains(jobs.out, "No jobs yet. Submit one:\n  potluck submit linalg.matmul"));
  auto tasks = run_potluck({"--url", url, "tasks"});
  BOOST_TEST(tasks.status == 0);
  BOOST_TEST(contains(tasks.out, "No tasks on offer"));
  BOOST_TEST(contains(tasks.out, "potluck-worker --daemon " + lonely.workers_endpoint()));
  auto submit = run_potluck(with({"--url", url}, {"submit", "linalg.matmul", "--input", "a=[[1]]", "--input", "b=[[1]]"}),
                            {{"POTLUCK_TOKEN", sign_up_token(lonely, "lonely")}});
  BOOST_TEST(submit.status == 4);
  BOOST_TEST(contains(submit.err, "unknown task 'linalg.matmul'"));
  BOOST_TEST(contains(submit.err, "potluck tasks"));
}

BOOST_AUTO_TEST_CASE(tasks_and_workers_list_what_is_connected) {
  auto& h = the_hub();
  auto tasks = h.run({"tasks"});
  BOOST_TEST(tasks.status == 0);
  BOOST_TEST(tasks.out.starts_with("TASK "));
  const auto line = table_line(tasks.out, "linalg.matmul");
  BOOST_TEST(contains(line, "a: f32[m,k], b: f32[k,n]"));
  BOOST_TEST(contains(line, "c: f32[m,n]"));
  BOOST_TEST(contains(line, "cpu"));
  BOOST_TEST(!table_line(tasks.out, "test.sleep").empty());

  auto listed = h.run({"tasks", "--json"});
  BOOST_TEST_REQUIRE(listed.status == 0);
  bool found = false;
  const auto parsed = json::parse(listed.out);
  for (const auto& t : parsed.at("tasks").as_array()) found |= t.at("name").as_string() == "linalg.matmul";
  BOOST_TEST(found);
  BOOST_TEST(contains(h.run({"tasks", "-q"}).out, "linalg.matmul\n"));

  auto one = h.run({"tasks", "linalg.matmul"});
  BOOST_TEST(one.status == 0);
  BOOST_TEST(contains(one.out, "Inputs:"));
  BOOST_TEST(contains(one.out, "potluck submit linalg.matmul --input a=@a.json --input b=@b.json --wait"));
  auto unknown = h.run({"tasks", "no.such.task"});
  BOOST_TEST(unknown.status == 4);
  BOOST_TEST(contains(unknown.err, "no connected worker offers task 'no.such.task'"));

  auto workers = h.run({"workers"});
  BOOST_TEST(workers.status == 0);
  const auto w = table_line(workers.out, "cli-worker");
  BOOST_TEST(contains(w, "testing"));
  BOOST_TEST(contains(w, "/2"));
  BOOST_TEST(contains(w, "cores"));
  // Not a terminal: no colour.
  BOOST_TEST(workers.out.find('\x1b') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(submit_wait_prints_the_product) {
  auto r = the_hub().run(with(matmul, {"--wait"}));
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.out ==
             "c  f32[2,2]\n"
             "  19  22\n"
             "  43  50\n");
  BOOST_TEST(contains(r.err, "linalg.matmul succeeded"));
  BOOST_TEST(r.err.find('\x1b') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(submit_wait_json_is_the_final_job) {
  auto r = the_hub().run(with(matmul, {"--wait", "--json"}));
  BOOST_TEST_REQUIRE(r.status == 0);
  auto job = json::parse(r.out).as_object();
  BOOST_TEST(job.at("state").as_string() == "succeeded");
  const auto& c = job.at("result").at("outputs").at("c");
  BOOST_TEST(json::serialize(c.at("shape")) == "[2,2]");
  std::vector<double> data;
  for (const auto& v : c.at("data").as_array()) data.push_back(v.to_number<double>());
  BOOST_TEST((data == std::vector<double>{19, 22, 43, 50}));
}

BOOST_AUTO_TEST_CASE(submit_without_wait_gives_the_id) {
  auto& h = the_hub();
  auto quiet = h.run(with(matmul, {"-q"}));
  BOOST_TEST(quiet.status == 0);
  BOOST_TEST(std::regex_match(quiet.out, std::regex("[0-9]+\n")), "stdout: " << quiet.out);
  BOOST_TEST(quiet.err.empty());
  auto as_json = h.run(with(matmul, {"--json"}));
  BOOST_TEST_REQUIRE(as_json.status == 0);
  BOOST_TEST(json::parse(as_json.out).at("id").as_int64() == std::stoll(quiet.out) + 1);
  auto human = h.run(matmul);
  BOOST_TEST(contains(human.out, "Submitted job "));
  BOOST_TEST(contains(human.err, " --wait"));
  // The job can be followed afterwards.
  auto followed = h.run({"job", std::to_string(std::stoll(quiet.out)), "--wait", "-q"});
  BOOST_TEST(followed.status == 0);
  BOOST_TEST(contains(followed.out, "  19  22\n  43  50\n"));
}

BOOST_AUTO_TEST_CASE(inputs_come_from_files_too) {
  const auto dir = make_temp_dir("potluck-cli-inputs");
  std::ofstream(dir / "a.json") << "[[1, 2],\n [3, 4]]\n";
  std::ofstream(dir / "b.json") << R"({"dtype": "f32", "shape": [2, 2], "data": [5, 6, 7, 8]})";
  auto r = the_hub().run({"submit", "linalg.matmul", "--input", "a=@" + (dir / "a.json").string(), "--input",
                          "b=" + (dir / "b.json").string(), "--wait", "-q"});
  BOOST_TEST(r.status == 0);
  BOOST_TEST(contains(r.out, "  19  22\n  43  50\n"));
  BOOST_TEST(r.err.empty());
}

BOOST_AUTO_TEST_CASE(a_failed_job_exits_1_with_the_plugins_message) {
  auto& h = the_hub();
  auto r = h.run({"submit", "test.fail", "--wait"});
  BOOST_TEST(r.status == 1);
  BOOST_TEST(std::regex_search(r.err, std::regex("job [0-9]+ failed: [a-z_]+: test.fail: this task always fails")),
             "stderr: " << r.err);
  BOOST_TEST(r.out.empty());
  auto custom = h.run({"submit", "test.fail", "--param", "message=the model file is missing", "--wait"});
  BOOST_TEST(custom.status == 1);
  BOOST_TEST(contains(custom.err, "the model file is missing"));
  // --json still prints the job, and still exits 1.
  auto as_json = h.run({"submit", "test.fail", "--wait", "--json"});
  BOOST_TEST(as_json.status == 1);
  BOOST_TEST(json::parse(as_json.out).at("state").as_string() == "failed");
}

BOOST_AUTO_TEST_CASE(a_crashed_plugin_exits_1_naming_the_signal) {
  auto r = the_hub().run({"submit", "test.crash", "--wait"});
  BOOST_TEST(r.status == 1);
  BOOST_TEST(contains(r.err, "plugin_crashed"));
  BOOST_TEST(contains(r.err, "SIGSEGV"));
  BOOST_TEST(contains(r.err, "plugin 'testing'"));
}

BOOST_AUTO_TEST_CASE(jobs_and_job_show_what_ran) {
  auto& h = the_hub();
  const auto ok = id_from(h.run(with(matmul, {"-q"})));
  auto failed_run = h.run({"submit", "test.fail", "--wait", "-q"});
  BOOST_TEST(failed_run.status == 1);
  BOOST_TEST_REQUIRE(h.run({"job", std::to_string(ok), "--wait", "-q"}).status == 0);

  auto jobs = h.run({"jobs"});
  BOOST_TEST(jobs.status == 0);
  BOOST_TEST(jobs.out.starts_with("ID  TASK"));
  BOOST_TEST(contains(jobs.out, "DURATION"));
  const auto line = table_line(jobs.out, std::to_string(ok));
  BOOST_TEST(contains(line, "linalg.matmul"));
  BOOST_TEST(contains(line, "succeeded"));
  BOOST_TEST(contains(line, "cli-worker"));
  BOOST_TEST((contains(line, "ago") || contains(line, "just now")));
  BOOST_TEST(jobs.out.find('\x1b') == std::string::npos);

  auto failed = h.run({"jobs", "--state", "failed", "-q"});
  BOOST_TEST(failed.status == 0);
  BOOST_TEST(failed.out.find(std::to_string(ok) + "\n") == std::string::npos);
  BOOST_TEST(!failed.out.empty());
  auto limited = h.run({"jobs", "--limit", "1", "-q"});
  BOOST_TEST(std::count(limited.out.begin(), limited.out.end(), '\n') == 1);

  auto one = h.run({"job", std::to_string(ok)});
  BOOST_TEST(one.status == 0);
  BOOST_TEST(contains(one.out, "linalg.matmul  succeeded"));
  BOOST_TEST(contains(one.out, "Worker:"));
  BOOST_TEST(contains(one.out, "Inputs:"));
  BOOST_TEST(contains(one.out, "a f32[2,2], b f32[2,2]"));
  BOOST_TEST(contains(one.out, "Outputs:\n  c  f32[2,2]\n    19  22\n    43  50\n"));

  auto missing = h.run({"job", "999999"});
  BOOST_TEST(missing.status == 4);
  BOOST_TEST(contains(missing.err, "no job with id 999999"));
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_running_job_and_a_waiting_cli_exits_1) {
  auto& h = the_hub();
  const auto id = id_from(h.run({"submit", "-q", "test.sleep", "--param", "ms=60000"}));
  const auto sid = std::to_string(id);
  BOOST_TEST_REQUIRE(eventually([&] { return h.run({"job", sid, "-q"}).out == "running\n"; }, 20s));
  // A second CLI follows the job's event stream meanwhile.
  cli_process follower({"--url", h.url(), "job", sid, "--wait"}, h.env());

  auto cancel = h.run({"cancel", sid});
  BOOST_TEST(cancel.status == 0);
  BOOST_TEST(cancel.out == "Cancelled job " + sid + ".\n");
  auto followed = follower.wait(20s);
  BOOST_TEST(followed.status == 1, "stderr: " << followed.err);
  BOOST_TEST(contains(followed.out, "cancelled"));
  BOOST_TEST(h.run({"job", sid, "-q"}).out == "cancelled\n");

  auto again = h.run({"cancel", sid});
  BOOST_TEST(again.status == 4);
  BOOST_TEST(contains(again.err, "job " + sid + " already cancelled"));
}

BOOST_AUTO_TEST_CASE(submit_wait_ends_with_exit_1_when_the_job_is_cancelled) {
  auto& h = the_hub();
  cli_process waiting({"--url", h.url(), "submit", "test.sleep", "--param", "ms=60000", "--wait"}, h.env());
  std::string running;
  BOOST_TEST_REQUIRE(eventually([&] {
    running = h.run({"jobs", "--state", "running", "-q"}).out;
    return !running.empty();
  }, 20s));
  const auto id = running.substr(0, running.find('\n'));
  BOOST_TEST(h.run({"cancel", id}).status == 0);
  auto r = waiting.wait(20s);
  BOOST_TEST(r.status == 1);
  BOOST_TEST(contains(r.err, "job " + id + " was cancelled"));
  // Not a terminal: plain state lines instead of a progress bar.
  BOOST_TEST(contains(r.err, "job " + id + " running on cli-worker\n"));
  BOOST_TEST(r.err.find('\r') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(quiet_wait_prints_only_the_result) {
  auto r = the_hub().run({"submit", "test.sleep", "--param", "ms=50", "--wait", "-q"});
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.err.empty());
  BOOST_TEST(contains(r.out, "slept_ms  i64[1]\n"));
}

BOOST_AUTO_TEST_CASE(bad_input_gives_the_daemons_message_and_exit_4) {
  auto& h = the_hub();
  auto shape = h.run({"submit", "linalg.matmul", "--input", "a=[[1,2],[3,4]]", "--input", "b=[[1,2,3]]", "--wait"});
  BOOST_TEST(shape.status == 4);
  BOOST_TEST(contains(shape.err, "error: task 'linalg.matmul': input 'b'"));
  BOOST_TEST(contains(shape.err, "See what the task takes: potluck tasks linalg.matmul"));
  BOOST_TEST(shape.out.empty());
  auto ragged = h.run({"submit", "linalg.matmul", "--input", "a=[[1,2],[3]]", "--input", "b=[[1]]"});
  BOOST_TEST(ragged.status == 4);
  BOOST_TEST(contains(ragged.err, "ragged"));
  auto param = h.run({"submit", "test.sleep", "--param", "ms=-5"});
  BOOST_TEST(param.status == 4);
  BOOST_TEST(contains(param.err, "ms"));
  // A mistake the CLI catches itself is a usage error (2), before anything is sent.
  auto json_typo = h.run({"submit", "linalg.matmul", "--input", "a=[[1,2],[3,4]"});
  BOOST_TEST(json_typo.status == 2);
  BOOST_TEST(contains(json_typo.err, "--input a: the value is not valid JSON"));
}

BOOST_AUTO_TEST_CASE(an_unreachable_daemon_exits_3_with_what_to_do) {
  const auto url = "http://127.0.0.1:" + std::to_string(free_tcp_port());
  auto r = run_potluck({"--url", url, "jobs"});
  BOOST_TEST(r.status == 3);
  BOOST_TEST(r.err == "error: cannot reach the Potluck daemon at " + url +
                          ": connection refused.\nIs potluckd running? Start it with ./potluck.sh run, or set POTLUCK_URL.\n");
  auto waiting = run_potluck({"--url", url, "submit", "linalg.matmul", "--input", "a=[[1]]", "--wait"});
  BOOST_TEST(waiting.status == 3);
}

BOOST_AUTO_TEST_CASE(potluck_url_in_the_environment_is_used) {
  auto& h = the_hub();
  auto r = run_potluck({"tasks", "-q"}, {{"POTLUCK_URL", h.url()}});
  BOOST_TEST(r.status == 0);
  BOOST_TEST(contains(r.out, "linalg.matmul\n"));
}

BOOST_AUTO_TEST_CASE(a_waiting_cli_survives_a_daemon_restart) {
  daemon_process d;
  auto worker = start_worker(d, "restart-worker", 1);
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1));
  const auto url = url_of(d);
  cli_process waiting({"--url", url, "submit", "test.sleep", "--param", "ms=2000", "--wait"},
                      {{"POTLUCK_TOKEN", sign_up_token(d, "restarter")}});
  BOOST_TEST_REQUIRE(eventually([&] { return run_potluck({"--url", url, "jobs", "--state", "running", "-q"}).out == "1\n"; }, 20s));
  d.restart();  // kill -9, then the same ports and data
  auto r = waiting.wait(60s);
  BOOST_TEST(r.status == 0, "stderr: " << r.err << "\ndaemon log:\n" << d.process().log());
  BOOST_TEST(contains(r.err, "job 1: lost the daemon, reconnecting"));
  BOOST_TEST(contains(r.out, "slept_ms  i64[1]\n"));
}

// ---------------------------------------------------------------------------------------------
// Accounts and API tokens: each test has a daemon of its own (sign-ups are rate limited per
// client address) and a config folder of its own.

namespace {

// HOME and XDG_CONFIG_HOME in a fresh temp folder: where potluck login saves the token.
struct config_home {
  fs::path home = make_temp_dir("potluck-cli-user");
  fs::path file() const { return home / "cfg" / "potluck" / "config.json"; }
  env_map env(env_map more = {}) const {
    more.emplace("HOME", home.string());
    more.emplace("XDG_CONFIG_HOME", (home / "cfg").string());
    return more;
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

const std::regex secret_line("\n  (plk_[0-9a-f]{64})\n");

std::string secret_in(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, secret_line)) return {};
  return m[1];
}

}  // namespace

BOOST_AUTO_TEST_CASE(create_an_account_log_in_and_see_the_starter_balance) {
  daemon_process d;
  const auto url = url_of(d);
  config_home user;
  auto created = run_potluck({"--url", url, "account", "create", "alice", "--login"}, user.env());
  BOOST_TEST_REQUIRE(created.status == 0, created.err);
  BOOST_TEST(contains(created.out, "Created account alice (user) with 100 credits."));
  BOOST_TEST(contains(created.out, "\"default\" (read, submit, publish, donate)"));
  const auto secret = secret_in(created.out);
  BOOST_TEST_REQUIRE(!secret.empty(), "no secret in: " << created.out);
  BOOST_TEST(contains(created.err, "shown only this once"));
  BOOST_TEST(contains(created.err, "logged in as alice"));
  // The config file is private, and its folder too.
  BOOST_TEST(mode_of(user.file()) == 0600u);
  BOOST_TEST(mode_of(user.file().parent_path()) == 0700u);
  BOOST_TEST(contains(read_text(user.file()), secret));

  // The saved URL and token serve from now on, without --url.
  auto shown = run_potluck({"account"}, user.env());
  BOOST_TEST(shown.status == 0, shown.err);
  BOOST_TEST(contains(shown.out, "Account:  alice (user)"));
  BOOST_TEST(contains(shown.out, "Balance:  100 credits"));
  BOOST_TEST(contains(shown.out, "Token:    default: read, submit, publish, donate"));
  BOOST_TEST(contains(shown.out, "Daemon:   " + url));
  BOOST_TEST(shown.out.find(secret) == std::string::npos);
  auto as_json = run_potluck({"account", "show", "--json"}, user.env());
  BOOST_TEST_REQUIRE(as_json.status == 0);
  BOOST_TEST(json::parse(as_json.out).at("account").at("balance").as_int64() == 100'000'000);

  // Somewhere else, log in with the secret on stdin; logout forgets it.
  config_home laptop;
  const auto token_file = laptop.home / "token.txt";
  std::ofstream(token_file) << secret << "\n";
  auto login = run_potluck({"--url", url, "login"}, laptop.env(), token_file);
  BOOST_TEST(login.status == 0, login.err);
  BOOST_TEST(contains(login.out, "Logged in as alice at " + url));
  BOOST_TEST(mode_of(laptop.file()) == 0600u);
  BOOST_TEST(run_potluck({"account", "-q"}, laptop.env()).out == "alice\n");
  auto logout = run_potluck({"logout"}, laptop.env());
  BOOST_TEST(logout.status == 0);
  BOOST_TEST(contains(logout.out, "removed the token"));
  auto after = run_potluck({"account"}, laptop.env());
  BOOST_TEST(after.status == 4);
  BOOST_TEST(contains(after.err, "potluck login"));

  // A token in a config file others may read is refused, with the fix.
  BOOST_TEST_REQUIRE(::chmod(user.file().c_str(), 0644) == 0);
  auto exposed = run_potluck({"account"}, user.env());
  BOOST_TEST(exposed.status == 2);
  BOOST_TEST(contains(exposed.err, "chmod 600 " + user.file().string()));
  BOOST_TEST(exposed.err.find(secret) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(tokens_create_list_and_revoke_and_a_revoked_token_gets_401_with_the_hint) {
  daemon_process d;
  const auto url = url_of(d);
  const env_map alice = {{"POTLUCK_TOKEN", sign_up_token(d, "alice")}};

  auto made = run_potluck({"--url", url, "tokens", "create", "laptop", "--scope", "read", "--scope", "submit"}, alice);
  BOOST_TEST_REQUIRE(made.status == 0, made.err);
  BOOST_TEST(contains(made.out, "\"laptop\" (read, submit)"));
  const auto laptop = secret_in(made.out);
  BOOST_TEST_REQUIRE(!laptop.empty(), "no secret in: " << made.out);
  BOOST_TEST(contains(made.err, "shown only this once"));

  auto list = run_potluck({"--url", url, "tokens"}, alice);
  BOOST_TEST(list.status == 0);
  BOOST_TEST(list.out.starts_with("ID  NAME"));
  BOOST_TEST(contains(list.out, "LAST USED  STATE"));
  BOOST_TEST(contains(list.out, "read,submit"));
  BOOST_TEST(contains(list.out, "live, in use"));  // the default token, which made this call
  BOOST_TEST(list.out.find(laptop) == std::string::npos);

  auto listed = json::parse(run_potluck({"--url", url, "tokens", "--json"}, alice).out);
  std::int64_t laptop_id = 0;
  for (const auto& t : listed.at("tokens").as_array())
    if (t.at("name").as_string() == "laptop") laptop_id = t.at("id").as_int64();
  BOOST_TEST_REQUIRE(laptop_id > 0);

  // The new token works, within its scopes.
  const env_map with_laptop = {{"POTLUCK_TOKEN", laptop}};
  BOOST_TEST(run_potluck({"--url", url, "account", "-q"}, with_laptop).out == "alice\n");
  auto too_much = run_potluck({"--url", url, "tokens", "create", "more", "--scope", "donate"}, with_laptop);
  BOOST_TEST(too_much.status == 4);
  BOOST_TEST(contains(too_much.err, "lacks"));
  BOOST_TEST(contains(too_much.err, "scopes it has itself"));

  auto revoked = run_potluck({"--url", url, "tokens", "revoke", std::to_string(laptop_id)}, alice);
  BOOST_TEST(revoked.status == 0, revoked.err);
  BOOST_TEST(revoked.out == "Revoked token " + std::to_string(laptop_id) + ".\n");
  auto refused = run_potluck({"--url", url, "account"}, with_laptop);
  BOOST_TEST(refused.status == 4);
  BOOST_TEST(contains(refused.err, "was revoked"));
  BOOST_TEST(contains(refused.err, "The token from POTLUCK_TOKEN has been revoked"));
  BOOST_TEST(contains(refused.err, "potluck login"));
  BOOST_TEST(refused.err.find(laptop) == std::string::npos);
  BOOST_TEST(contains(run_potluck({"--url", url, "tokens"}, alice).out, "revoked"));

  auto again = run_potluck({"--url", url, "tokens", "revoke", std::to_string(laptop_id)}, alice);
  BOOST_TEST(again.status == 4);
  BOOST_TEST(contains(again.err, "List your tokens and their IDs: potluck tokens"));
}

BOOST_AUTO_TEST_CASE(the_operator_audits_grants_and_the_ledger_shows_the_grant) {
  daemon_process d;
  const auto url = url_of(d);
  const auto admin = admin_token(d);
  BOOST_TEST_REQUIRE(admin.starts_with("plk_"));
  const env_map operator_env = {{"POTLUCK_TOKEN", admin}};
  const env_map bob = {{"POTLUCK_TOKEN", sign_up_token(d, "bob")}};

  auto audit = run_potluck({"--url", url, "admin", "audit"}, operator_env);
  BOOST_TEST(audit.status == 0, audit.err);
  BOOST_TEST(std::regex_match(audit.out, std::regex("books balance: [0-9,.]+ credits minted, held by [0-9]+ accounts, "
                                                    "[0-9]+ ledger rows checked\n")),
             "stdout: " << audit.out);
  // Also with --token, the flag.
  BOOST_TEST(run_potluck({"--url", url, "--token", admin, "admin", "audit", "-q"}).status == 0);

  auto grant = run_potluck({"--url", url, "admin", "grant", "bob", "2.5", "--memo", "thanks for the GPU"}, operator_env);
  BOOST_TEST(grant.status == 0, grant.err);
  BOOST_TEST(std::regex_match(grant.out, std::regex("Granted 2.5 credits to bob \\(ledger entry [0-9]+\\)\\.\n")),
             "stdout: " << grant.out);

  auto ledger = run_potluck({"--url", url, "ledger"}, bob);
  BOOST_TEST(ledger.status == 0, ledger.err);
  BOOST_TEST(ledger.out.starts_with("TIME "));
  BOOST_TEST(contains(ledger.out, "KIND"));
  BOOST_TEST(contains(ledger.out, "COUNTERPARTY"));
  std::istringstream lines(ledger.out);
  std::string header, newest, oldest;
  std::getline(lines, header);
  std::getline(lines, newest);
  std::getline(lines, oldest);
  BOOST_TEST(contains(newest, "grant"));
  BOOST_TEST(contains(newest, "+2.5"));
  BOOST_TEST(contains(newest, "mint"));
  BOOST_TEST(contains(newest, "thanks for the GPU"));
  BOOST_TEST(contains(oldest, "+100"));  // the starter grant
  BOOST_TEST(contains(run_potluck({"--url", url, "account"}, bob).out, "Balance:  102.5 credits"));
  BOOST_TEST(run_potluck({"--url", url, "ledger", "--limit", "1", "-q"}, bob).out.size() > 1u);

  // Not the operator: refused, with where the admin token is.
  auto not_admin = run_potluck({"--url", url, "admin", "audit"}, bob);
  BOOST_TEST(not_admin.status == 4);
  BOOST_TEST(contains(not_admin.err, "admin"));
  BOOST_TEST(contains(not_admin.err, "admin-token"));
  auto nobody = run_potluck({"--url", url, "admin", "grant", "nobody", "1"}, operator_env);
  BOOST_TEST(nobody.status == 4);
  BOOST_TEST(contains(nobody.err, "nobody"));
  // A usage mistake is caught before anything is sent.
  BOOST_TEST(run_potluck({"--url", url, "admin", "grant", "bob", "-1"}, operator_env).status == 2);
  BOOST_TEST(run_potluck({"--url", url, "admin", "grant", "bob", "0.0000001"}, operator_env).status == 2);

  BOOST_TEST(run_potluck({"--url", url, "admin", "audit"}, operator_env).status == 0);
}

BOOST_AUTO_TEST_CASE(a_taken_name_and_a_missing_token_exit_4_with_what_to_do) {
  daemon_process d;
  const auto url = url_of(d);
  BOOST_TEST_REQUIRE(run_potluck({"--url", url, "account", "create", "carol", "-q"}).status == 0);
  auto taken = run_potluck({"--url", url, "account", "create", "carol"});
  BOOST_TEST(taken.status == 4);
  BOOST_TEST(contains(taken.err, "error: "));
  BOOST_TEST(contains(taken.err, "carol"));
  BOOST_TEST(contains(taken.err, "Pick another name."));
  BOOST_TEST(taken.out.empty());
  auto bad_name = run_potluck({"--url", url, "account", "create", "Carol_1"});
  BOOST_TEST(bad_name.status == 4);
  BOOST_TEST(contains(bad_name.err, "lowercase"));

  config_home nobody;
  for (auto args : {std::vector<std::string>{"account"}, {"tokens"}, {"ledger"}}) {
    args.insert(args.begin(), {"--url", url});
    auto r = run_potluck(args, nobody.env());
    BOOST_TEST(r.status == 4);
    BOOST_TEST(contains(r.err, "error: this needs an API token"));
    BOOST_TEST(contains(r.err, "Log in first: potluck login (or set POTLUCK_TOKEN)."));
  }
}

// ---------------------------------------------------------------------------------------------
// The market: a daemon with a 10% fee and small starter grants, and a worker whose donor asks
// 2 credits per million work units on the CPU.

namespace {

struct priced_hub {
  daemon_process daemon{{"--starter-grant", "10", "--fee-percent", "10"}};
  std::string donor = sign_up_token(daemon, "dora");
  std::unique_ptr<child_process> worker = start_worker(daemon, "dora-box", 1, {"--token", donor, "--price", "cpu=2"});
  std::string token = sign_up_token(daemon, "alice");
  priced_hub() {
    if (!wait_for_workers(daemon, 1)) throw std::runtime_error("the priced worker did not register:\n" + worker->log());
  }
  cli_result run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--url", url_of(daemon)});
    return run_potluck(args, {{"POTLUCK_TOKEN", token}});
  }
};

priced_hub& the_priced_hub() {
  static priced_hub h;
  return h;
}

// A 2x3 by 3x2 matmul: 2*m*n*k = 24 work units, which cost 0.000048 credits at dora's ask.
std::vector<std::string> small_matmul(const std::string& command, std::initializer_list<std::string> more) {
  return with({command, "linalg.matmul", "--input", "a=[[1,2,3],[4,5,6]]", "--input", "b=[[1,0],[0,1],[1,1]]"}, more);
}

}  // namespace

BOOST_AUTO_TEST_CASE(quote_shows_the_units_the_cheapest_worker_and_the_cost) {
  auto& h = the_priced_hub();
  auto quote = h.run(small_matmul("quote", {"--bid", "3"}));
  BOOST_TEST(quote.status == 0, quote.err);
  BOOST_TEST(quote.out.starts_with("Quote  linalg.matmul  any backend\n"));
  BOOST_TEST(contains(quote.out, "Work units:     24\n"));
  BOOST_TEST(contains(quote.out, "Bid:            3 credits per million units\n"));
  BOOST_TEST(contains(quote.out, "Reserves:       0.000072 credits until the job ends\n"));
  BOOST_TEST(contains(quote.out, "Cheapest:       dora-box (cpu) asks 2 per million units\n"));
  BOOST_TEST(contains(quote.out, "Cost:           0.000048 credits there\n"));
  BOOST_TEST(contains(quote.out, "Expected wait:  "));
  BOOST_TEST(contains(quote.out, "Queued ahead:   0 jobs\n"));
  BOOST_TEST(contains(table_line(quote.out, "dora-box"), "yes"));
  BOOST_TEST(quote.err.empty());

  // Scripts: the cost alone, or the daemon's JSON.
  auto quiet = h.run(small_matmul("quote", {"-q"}));
  BOOST_TEST(quiet.status == 0);
  BOOST_TEST(quiet.out == "0.000048\n");
  auto as_json = h.run(small_matmul("quote", {"--max-price", "0.0001", "--json"}));
  BOOST_TEST_REQUIRE(as_json.status == 0, as_json.err);
  const auto q = json::parse(as_json.out);
  BOOST_TEST(q.at("units").as_int64() == 24);
  BOOST_TEST(q.at("reserved").as_int64() == 100);
  BOOST_TEST(q.at("cost").as_int64() == 48);

  // Below every ask: nobody takes it, exit 1, and what bid would do.
  auto low = h.run(small_matmul("quote", {"--bid", "1"}));
  BOOST_TEST(low.status == 1);
  BOOST_TEST(contains(low.out, "Cheapest:       none"));
  BOOST_TEST(contains(low.out, "below every connected worker's ask"));
  BOOST_TEST(contains(low.err, "--bid 2"));
  auto low_quiet = h.run(small_matmul("quote", {"--bid", "1", "-q"}));
  BOOST_TEST(low_quiet.status == 1);
  BOOST_TEST(low_quiet.out.empty());
}

BOOST_AUTO_TEST_CASE(submit_with_a_bid_shows_the_charge_and_job_shows_whom_it_paid) {
  auto& h = the_priced_hub();
  auto r = h.run(small_matmul("submit", {"--bid", "3", "--wait"}));
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(contains(r.out, "c  f32[2,2]\n"));
  BOOST_TEST(contains(r.out, "10  11\n"));
  BOOST_TEST(contains(r.err, "linalg.matmul succeeded"));
  BOOST_TEST(contains(r.err, "charged 0.000048 credits (24 units at 2 per million"));
  BOOST_TEST(contains(r.err, "fee 0.000004)"));
  BOOST_TEST(contains(r.err, "; refunded 0.000024\n"));

  auto listed = h.run({"jobs", "-q", "--limit", "1"});
  const auto id = listed.out.substr(0, listed.out.find('\n'));
  auto job = h.run({"job", id});
  BOOST_TEST(job.status == 0, job.err);
  BOOST_TEST(contains(job.out, "Billing:  charged 0.000048 credits (24 units at 2 per million, paid to dora, fee "
                               "0.000004); refunded 0.000024\n"));

  auto workers = h.run({"workers"});
  BOOST_TEST(workers.status == 0);
  BOOST_TEST(contains(workers.out, "PRICE"));
  const auto line = table_line(workers.out, "dora-box");
  BOOST_TEST(contains(line, "cpu 2"));
  BOOST_TEST(contains(line, "yes"));  // it takes free jobs too (--free-jobs yes is the default)
  BOOST_TEST(contains(workers.err, "Prices are credits per million work units."));
}

BOOST_AUTO_TEST_CASE(bad_prices_exit_2_and_a_job_beyond_the_balance_exits_4_with_the_daemons_message) {
  auto& h = the_priced_hub();
  for (const auto& [flags, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--bid", "-1"}, "--bid '-1': it is negative"},
           {{"--bid", "1e6"}, "--bid '1e6': it is not a number of credits like 2.5 or 1000"},
           {{"--bid", "0.1234567"}, "--bid '0.1234567': it has more than 6 decimals"},
           {{"--bid", "1", "--max-price", "1"}, "give --bid (a price per million work units) or --max-price"}}) {
    auto args = small_matmul("submit", {});
    args.insert(args.end(), flags.begin(), flags.end());
    auto r = h.run(args);
    BOOST_TEST(r.status == 2, flags.front() << " " << flags.back() << ": " << r.err);
    BOOST_TEST(contains(r.err, "error: " + says));
    BOOST_TEST(contains(r.err, "Run 'potluck submit --help' for usage."));
  }

  // Alice holds 10 credits at most; a job that may cost 20 is refused before it is queued.
  auto broke = h.run(small_matmul("submit", {"--max-price", "20", "--wait"}));
  BOOST_TEST(broke.status == 4);
  BOOST_TEST(contains(broke.err, "error: your balance is "));
  BOOST_TEST(contains(broke.err, "reserves up to 20 credits"));
  BOOST_TEST(contains(broke.err, "See your balance: potluck account."));
  BOOST_TEST(broke.out.empty());
}

// ---------------------------------------------------------------------------------------------
// The donor's side: a donor of its own daemon (its worker is paused and capped here, which
// must not slow the other market cases), whose worker asks 2 credits per million work units.

BOOST_AUTO_TEST_CASE(a_donor_pauses_resumes_and_sets_a_worker_and_sees_what_it_earned) {
  daemon_process d({"--starter-grant", "10", "--fee-percent", "10"});
  const auto url = url_of(d);
  const auto erin = sign_up_token(d, "erin");
  const auto frank = sign_up_token(d, "frank");
  auto worker = start_worker(d, "erin-box", 2, {"--token", erin, "--price", "cpu=2"});
  BOOST_TEST_REQUIRE(wait_for_workers(d, 1), worker->log());
  auto as = [&](const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", url});
    return run_potluck(args, {{"POTLUCK_TOKEN", token}});
  };
  auto taking_jobs = [&] {
    return http(d.http_port(), "GET", "/api/v1/workers").json().at("workers").as_array().at(0).at("taking_jobs").as_bool();
  };

  auto listed = as(erin, {"donate", "workers"});
  BOOST_TEST(listed.status == 0, listed.err);
  BOOST_TEST(contains(table_line(listed.out, "erin-box"), "taking jobs  cpu 2   0/2"));

  // Paused: the daemon stops sending it jobs; resumed: it takes them again.
  auto paused = as(erin, {"donate", "pause", "erin-box"});
  BOOST_TEST(paused.status == 0, paused.err);
  BOOST_TEST(paused.out == "Saved erin-box: paused, every slot, all day, free jobs as its --free-jobs says.\n");
  BOOST_TEST(paused.err.empty());
  BOOST_TEST(eventually([&] { return !taking_jobs(); }, 10s));
  BOOST_TEST(contains(table_line(as(erin, {"donate", "workers"}).out, "erin-box"), "paused"));
  auto resumed = as(erin, {"donate", "resume", "erin-box", "-q"});
  BOOST_TEST(resumed.status == 0, resumed.err);
  BOOST_TEST(resumed.out == "erin-box\n");
  BOOST_TEST(eventually([&] { return taking_jobs(); }, 10s));

  // Settings: mistakes stop before the daemon; what is saved is said and listed.
  for (const auto& [flags, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--hours", "25-3"}, "--hours '25-3': 25 is not an hour; hours go from 0 to 23"},
           {{"--hours", "8-8"}, "--hours '8-8' is an empty window"},
           {{"--max-slots", "1000"}, "--max-slots takes a number from 1 to 256"}}) {
    auto args = with({"donate", "set", "erin-box"}, {});
    args.insert(args.end(), flags.begin(), flags.end());
    auto bad = as(erin, args);
    BOOST_TEST(bad.status == 2, flags.back() << ": " << bad.err);
    BOOST_TEST(contains(bad.err, "error: " + says));
    BOOST_TEST(contains(bad.err, "Run 'potluck donate set --help' for usage."));
  }
  auto set = as(erin, {"donate", "set", "erin-box", "--max-slots", "1", "--hours", "all", "--free-jobs", "no"});
  BOOST_TEST(set.status == 0, set.err);
  BOOST_TEST(set.out == "Saved erin-box: not paused, at most 1 slot, all day, no free jobs.\n");
  const auto mine = json::parse(as(erin, {"donate", "workers", "--json"}).out);
  const auto& settings = mine.at("workers").at(0).at("settings");
  BOOST_TEST(settings.at("max_slots").as_int64() == 1);
  BOOST_TEST(!settings.at("free_jobs").as_bool());
  BOOST_TEST(settings.at("hours").is_null());
  BOOST_TEST(contains(table_line(as(erin, {"donate", "workers"}).out, "erin-box"), "1          all day  no"));
  // Only a donor's own workers: frank has none.
  BOOST_TEST(contains(as(frank, {"donate", "workers"}).out, "You have no workers."));
  // A name no worker of erin's has: saved, with a note.
  auto typo = as(erin, {"donate", "pause", "erin-bx"});
  BOOST_TEST(typo.status == 0);
  BOOST_TEST(contains(typo.err, "note: no worker of yours named erin-bx is connected now"));

  // A paid job: 24 units at erin's ask of 2 per million, 48 micro-credits less the 10% fee.
  auto job = as(frank, small_matmul("submit", {"--bid", "3", "--wait"}));
  BOOST_TEST_REQUIRE(job.status == 0, job.err);
  const auto id = as(frank, {"jobs", "-q", "--limit", "1"}).out;
  BOOST_TEST_REQUIRE(!id.empty());
  auto earnings = as(erin, {"donate", "earnings", "--days", "7"});
  BOOST_TEST(earnings.status == 0, earnings.err);
  BOOST_TEST(earnings.out.starts_with("Earnings of erin  the last 7 days, "));
  BOOST_TEST(contains(earnings.out, "Earned:     0.000044 credits\n"));
  BOOST_TEST(contains(earnings.out, "Jobs:       1 (24 work units)\n"));
  BOOST_TEST(contains(earnings.out, "     1     24  0.000044  "));
  BOOST_TEST(contains(earnings.out, "(6 other days without jobs)\n"));
  BOOST_TEST(contains(table_line(earnings.out, id.substr(0, id.find('\n'))), "linalg.matmul  succeeded  erin-box"));
  BOOST_TEST(as(erin, {"donate", "earnings", "-q"}).out == "0.000044\n");
  BOOST_TEST(as(frank, {"donate", "earnings", "-q"}).out == "0\n");

  // The leaderboard (no token needed) and the job filters.
  auto board = run_potluck({"--url", url, "donors", "--days", "1"});
  BOOST_TEST(board.status == 0, board.err);
  BOOST_TEST(contains(board.out, "Donors of today (since "));
  BOOST_TEST(contains(table_line(board.out, "1"), "erin     0.000044     1          24"));
  BOOST_TEST(run_potluck({"--url", url, "donors", "-q"}).out == "erin\n");
  BOOST_TEST(as(frank, {"jobs", "-q", "--paid-to", "erin"}).out == id);
  BOOST_TEST(as(frank, {"jobs", "-q", "--mine"}).out == id);
  BOOST_TEST(as(erin, {"jobs", "-q", "--mine"}).out.empty());
  auto nobody = as(frank, {"jobs", "--paid-to", "nobody"});
  BOOST_TEST(nobody.status == 4);
  BOOST_TEST(contains(nobody.err, "no account named 'nobody'"));

  // The operator's settings, and a donor may not read them.
  auto operator_view = as(admin_token(d), {"admin", "settings"});
  BOOST_TEST(operator_view.status == 0, operator_view.err);
  BOOST_TEST(contains(operator_view.out, "Starter grant:      10 credits for each new account\n"));
  BOOST_TEST(contains(operator_view.out, "Fee:                10% of each charge"));
  auto refused = as(erin, {"admin", "settings"});
  BOOST_TEST(refused.status == 4);
  BOOST_TEST(contains(refused.err, "admin-token"));
}

// ---------------------------------------------------------------------------------------------
// Organisations and replicas: a daemon with a 10% fee and small starter grants, two donors
// (quinn and rita) whose workers each ask 2 credits per million work units on the CPU, and
// users who share an organisation's wallet.

namespace {

struct shared_hub {
  daemon_process daemon{{"--starter-grant", "10", "--fee-percent", "10"}};
  std::string quinn = sign_up_token(daemon, "quinn");
  std::string rita = sign_up_token(daemon, "rita");
  std::unique_ptr<child_process> quinn_box = start_worker(daemon, "quinn-box", 1, {"--token", quinn, "--price", "cpu=2"});
  std::unique_ptr<child_process> rita_box = start_worker(daemon, "rita-box", 1, {"--token", rita, "--price", "cpu=2"});
  std::string alice = sign_up_token(daemon, "alice");
  std::string bob = sign_up_token(daemon, "bob");
  std::string carol = sign_up_token(daemon, "carol");
  shared_hub() {
    if (!wait_for_workers(daemon, 2))
      throw std::runtime_error("the donors' workers did not register:\n" + quinn_box->log() + rita_box->log());
  }
  // POTLUCK_TOKEN=token potluck --url URL ARGS...
  cli_result as(const std::string& token, std::vector<std::string> args) const {
    args.insert(args.begin(), {"--url", url_of(daemon)});
    return run_potluck(args, {{"POTLUCK_TOKEN", token}});
  }
};

shared_hub& the_shared_hub() {
  static shared_hub h;
  return h;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_organisation_is_funded_by_a_transfer_and_pays_for_the_jobs_billed_to_it) {
  auto& h = the_shared_hub();
  auto created = h.as(h.alice, {"org", "create", "acme"});
  BOOST_TEST_REQUIRE(created.status == 0, created.err);
  BOOST_TEST(created.out == "Created organisation acme; you are its owner.\n");
  BOOST_TEST(contains(created.err, "potluck account transfer acme CREDITS"));
  auto added = h.as(h.alice, {"org", "add", "acme", "bob"});
  BOOST_TEST_REQUIRE(added.status == 0, added.err);
  BOOST_TEST(added.out == "bob is now a member of acme.\n");

  // Members see it: no credits yet, alice owns it, bob is a member.
  auto empty = h.as(h.bob, {"org", "show", "acme"});
  BOOST_TEST_REQUIRE(empty.status == 0, empty.err);
  BOOST_TEST(empty.out.starts_with("Organisation:  acme\nBalance:       0 credits\n"));
  BOOST_TEST(contains(table_line(empty.out, "alice"), "owner"));
  BOOST_TEST(contains(table_line(empty.out, "bob"), "member"));

  // Alice funds it; both ledgers and both members' accounts say so.
  auto moved = h.as(h.alice, {"account", "transfer", "acme", "1", "--memo", "for our jobs"});
  BOOST_TEST_REQUIRE(moved.status == 0, moved.err);
  BOOST_TEST(std::regex_match(moved.out, std::regex("Transferred 1 credit to acme \\(ledger entry [0-9]+\\)\\.\n")),
             "stdout: " << moved.out);
  auto alice_account = h.as(h.alice, {"account"});
  BOOST_TEST(contains(alice_account.out, "Balance:  9 credits\n"));
  BOOST_TEST(contains(alice_account.out, "Orgs:     acme (owner, 1 credit)\n"));
  BOOST_TEST(contains(h.as(h.bob, {"account"}).out, "Orgs:     acme (member, 1 credit)\n"));
  BOOST_TEST(contains(h.as(h.carol, {"account"}).out, "Orgs:     none\n"));
  auto ledger = h.as(h.alice, {"ledger", "--limit", "1"});
  BOOST_TEST(contains(ledger.out, "transfer"));
  BOOST_TEST(contains(ledger.out, "-1 "));
  BOOST_TEST(contains(ledger.out, "acme"));
  BOOST_TEST(contains(ledger.out, "for our jobs"));
  BOOST_TEST(h.as(h.bob, {"org", "show", "acme", "-q"}).out == "1\n");

  // Bob bills a job to acme: 24 units at the donor's ask of 2, 48 micro-credits, come out of
  // acme's balance, not his; the rest of the reserve goes back to acme.
  auto job = h.as(h.bob, small_matmul("submit", {"--bid", "3", "--bill-to", "acme", "--wait"}));
  BOOST_TEST_REQUIRE(job.status == 0, job.err);
  BOOST_TEST(contains(job.out, "10  11\n"));
  BOOST_TEST(contains(job.err, "charged 0.000048 credits (24 units at 2 per million"));
  BOOST_TEST(contains(job.err, "fee 0.000004 to fees, refund 0.000024 to acme\n"));
  auto after = h.as(h.bob, {"org", "show", "acme"});
  BOOST_TEST(after.status == 0, after.err);
  BOOST_TEST(contains(after.out, "Balance:       0.999952 credits\n"));
  BOOST_TEST(h.as(h.alice, {"org", "show", "acme", "-q"}).out == "0.999952\n");
  BOOST_TEST(contains(h.as(h.bob, {"account"}).out, "Balance:  10 credits\n"));
  const auto id = h.as(h.bob, {"jobs", "-q", "--limit", "1"}).out;
  BOOST_TEST_REQUIRE(!id.empty());
  auto shown = h.as(h.bob, {"job", id.substr(0, id.find('\n'))});
  BOOST_TEST(shown.status == 0, shown.err);
  BOOST_TEST(contains(shown.out, "\nPaid:     0.000044 to "));
  BOOST_TEST(contains(shown.out, ", refund 0.000024 to acme\n"));

  // Refusals, each with what to do.
  auto outsider = h.as(h.carol, small_matmul("submit", {"--bid", "3", "--bill-to", "acme"}));
  BOOST_TEST(outsider.status == 4);
  BOOST_TEST(contains(outsider.err, "error: X-Potluck-Bill-To: you are not a member of 'acme'\n"));
  BOOST_TEST(contains(outsider.err, "potluck org add acme YOUR-NAME"));
  auto nowhere = h.as(h.bob, small_matmul("submit", {"--bid", "3", "--bill-to", "nowhere"}));
  BOOST_TEST(nowhere.status == 4);
  BOOST_TEST(contains(nowhere.err, "no organisation named 'nowhere'"));
  BOOST_TEST(contains(nowhere.err, "See the organisations you belong to: potluck account"));
  auto beyond = h.as(h.bob, small_matmul("submit", {"--max-price", "5", "--bill-to", "acme"}));
  BOOST_TEST(beyond.status == 4);
  BOOST_TEST(contains(beyond.err, "See what acme holds: potluck org show acme"));
  BOOST_TEST(h.as(h.carol, {"org", "show", "acme"}).status == 4);
  auto not_owner = h.as(h.bob, {"org", "add", "acme", "carol"});
  BOOST_TEST(not_owner.status == 4);
  BOOST_TEST(contains(not_owner.err, "Only an owner of acme adds members."));
  auto broke = h.as(h.alice, {"account", "transfer", "acme", "1000"});
  BOOST_TEST(broke.status == 4);
  BOOST_TEST(contains(broke.err, "See your balance: potluck account."));
  auto nobody = h.as(h.alice, {"account", "transfer", "nobody", "1"});
  BOOST_TEST(nobody.status == 4);
  BOOST_TEST(contains(nobody.err, "nobody"));
  BOOST_TEST(contains(h.as(h.alice, {"org", "create", "acme"}).err, "Pick another name."));
  BOOST_TEST(contains(h.as(h.alice, {"org", "create", "Acme_2"}).err, "lowercase"));
  BOOST_TEST(h.as(h.alice, {"account", "transfer", "acme", "-1"}).status == 2);
  BOOST_TEST(h.as(h.alice, {"org", "show", "acme", "-q"}).out == "0.999952\n");  // nothing moved

  // An owner adds another owner.
  auto owner = h.as(h.alice, {"org", "add", "acme", "carol", "--owner"});
  BOOST_TEST(owner.status == 0, owner.err);
  BOOST_TEST(owner.out == "carol is now an owner of acme.\n");
  BOOST_TEST(contains(table_line(h.as(h.carol, {"org", "show", "acme"}).out, "carol"), "owner"));
}

BOOST_AUTO_TEST_CASE(replicas_run_on_two_donors_workers_and_the_job_shows_both_charges) {
  auto& h = the_shared_hub();
  // Two replicas reserve twice; both donors take the bid.
  auto quote = h.as(h.alice, small_matmul("quote", {"--bid", "3", "--replicas", "2"}));
  BOOST_TEST_REQUIRE(quote.status == 0, quote.err);
  BOOST_TEST(contains(quote.out, "Work units:     24 each\n"));
  BOOST_TEST(contains(quote.out, "Replicas:       2 (on distinct donors' workers"));
  BOOST_TEST(contains(quote.out, "Reserves:       0.000144 credits until the job ends\n"));
  BOOST_TEST(contains(quote.out, "Cost:           0.000048 credits there, for each replica\n"));
  BOOST_TEST(quote.out.find("Note:") == std::string::npos);
  // Three would wait for a third donor: the quote says so.
  auto three = h.as(h.alice, small_matmul("quote", {"--bid", "3", "--replicas", "3"}));
  BOOST_TEST(three.status == 0, three.err);
  BOOST_TEST(contains(three.out, "Note:           3 replicas need workers of 3 donors, and 2 connected now take this bid"));

  auto r = h.as(h.alice, small_matmul("submit", {"--bid", "3", "--replicas", "2", "--wait"}));
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(contains(r.out, "10  11\n"));
  BOOST_TEST(contains(r.err, "  charged 0.000096 credits for 2 replicas (24 units each, fee 0.000008); refunded 0.000048\n"));
  BOOST_TEST(contains(r.err, "0.000044 to quinn"));
  BOOST_TEST(contains(r.err, "0.000044 to rita"));

  const auto listed = h.as(h.alice, {"jobs", "-q", "--mine", "--limit", "1"}).out;
  BOOST_TEST_REQUIRE(!listed.empty());
  const auto id = listed.substr(0, listed.find('\n'));
  auto job = h.as(h.alice, {"job", id});
  BOOST_TEST_REQUIRE(job.status == 0, job.err);
  BOOST_TEST(contains(job.out, "\nBilling:  charged 0.000096 credits for 2 replicas (24 units each, fee 0.000008); "
                               "refunded 0.000048\n"));
  std::istringstream lines(job.out);
  std::string paid;
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("Paid:")) paid = line;
  BOOST_TEST(contains(paid, "0.000044 to quinn"));
  BOOST_TEST(contains(paid, "0.000044 to rita"));
  BOOST_TEST(contains(paid, "fee 0.000008 to fees, refund 0.000048 to alice"));
  const auto as_json = json::parse(h.as(h.alice, {"job", id, "--json"}).out);
  BOOST_TEST(as_json.at("billing").at("replicas").as_int64() == 2);
  int charges = 0;
  for (const auto& p : as_json.at("billing").at("payments").as_array()) charges += p.at("kind") == "charge";
  BOOST_TEST(charges == 2);

  // Out of range: a usage mistake, nothing sent.
  for (const char* bad : {"0", "6"}) {
    auto refused = h.as(h.alice, small_matmul("submit", {"--bid", "3", "--replicas", bad}));
    BOOST_TEST(refused.status == 2, bad << ": " << refused.err);
    BOOST_TEST(contains(refused.err, "--replicas takes a number from 1 to 5"));
  }
}

// ---------------------------------------------------------------------------------------------
// The model hub

namespace {

void write_bytes(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The revision a push or a show names: the first run of 40 hex digits.
std::string revision_in(const std::string& text) {
  std::smatch m;
  return std::regex_search(text, m, std::regex("[0-9a-f]{40}")) ? m.str() : std::string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_model_is_pushed_listed_shown_pushed_again_and_pulled_byte_for_byte) {
  daemon_process d;
  const env_map env = {{"POTLUCK_TOKEN", sign_up_token(d, "hana")}};
  auto potluck = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", url_of(d)});
    return run_potluck(args, env);
  };
  const auto root = make_temp_dir("potluck-cli-model");
  const auto dir = root / "word-lang";
  const std::string card =
      "---\ntask: text-classification\nformat: torchscript\nlicense: mit\nlabels: [en, fr]\n---\n# word-lang\n";
  // Not a real model, but what a TorchScript archive starts with (a zip file).
  std::string weights = std::string("PK\x03\x04", 4);
  for (int i = 0; weights.size() < 1'500'000; ++i) weights += static_cast<char>(i * 7 % 251);
  write_bytes(dir / "README.md", card);
  write_bytes(dir / "config.json", R"({"hidden": 16})");
  write_bytes(dir / "model" / "weights.pt", weights);
  write_bytes(dir / ".cache" / "notes.txt", "not pushed");

  auto first = potluck({"models", "push", dir.string(), "hana/word-lang"});
  BOOST_TEST_REQUIRE(first.status == 0, first.err);
  BOOST_TEST(first.out.starts_with("Created hana/word-lang revision "));
  BOOST_TEST(contains(first.out, "(3 files, 1.4 MiB).\n"));
  const auto rev1 = revision_in(first.out);
  BOOST_TEST_REQUIRE(rev1.size() == 40u);
  BOOST_TEST(contains(first.err, "uploaded model/weights.pt (1.4 MiB)\n"));

  auto ls = potluck({"models", "ls"});
  BOOST_TEST_REQUIRE(ls.status == 0, ls.err);
  BOOST_TEST(ls.out.starts_with("ID              TASK                 FORMAT       DOWNLOADS  UPDATED\n"));
  const auto row = table_line(ls.out, "hana/word-lang");
  BOOST_TEST(contains(row, "text-classification  torchscript"));
  BOOST_TEST(potluck({"models", "ls", "-q", "--task", "text-classification"}).out == "hana/word-lang\n");
  BOOST_TEST(potluck({"models", "ls", "-q", "--search", "nothing-like-it"}).out.empty());

  auto show = potluck({"models", "show", "hana/word-lang"});
  BOOST_TEST_REQUIRE(show.status == 0, show.err);
  BOOST_TEST(contains(show.out, "Model:      hana/word-lang\nRevision:   " + rev1 + " (the latest)\n"
                                "Task:       text-classification\nFormat:     torchscript\nLicense:    mit\n"
                                "Labels:     en, fr\n"));
  BOOST_TEST(contains(show.out, "\nFILE                 SIZE  SHA256\nREADME.md"));
  BOOST_TEST(contains(show.out, "model/weights.pt  1.4 MiB  "));
  BOOST_TEST(show.out.find(".cache") == std::string::npos);
  BOOST_TEST(contains(show.out, "\nREVISION      CREATED   MESSAGE\n" + rev1.substr(0, 12) + "  just now  Push 3 files\n"));

  // A changed file makes a second revision after the first.
  write_bytes(dir / "config.json", R"({"hidden": 32})");
  auto second = potluck({"models", "push", dir.string(), "hana/word-lang", "-q", "--message", "wider"});
  BOOST_TEST_REQUIRE(second.status == 0, second.err);
  const auto rev2 = second.out.substr(0, second.out.find('\n'));
  BOOST_TEST(rev2.size() == 40u);
  BOOST_TEST(rev2 != rev1);
  BOOST_TEST(second.err.empty());
  auto history = potluck({"models", "show", "hana/word-lang"});
  BOOST_TEST(contains(history.out, rev2.substr(0, 12) + "  just now  wider\n" + rev1.substr(0, 12)));
  BOOST_TEST(potluck({"models", "show", "hana/word-lang", "-q"}).out == rev2 + "\n");
  // The same folder again: nothing new.
  auto same = potluck({"models", "push", dir.string(), "hana/word-lang"});
  BOOST_TEST(same.out == "Nothing to push: hana/word-lang revision " + rev2 + " has these files already.\n");

  // Pulled: the files byte for byte, of the latest revision or of an earlier one.
  const auto pulled = root / "pulled";
  auto pull = potluck({"models", "pull", "hana/word-lang", pulled.string()});
  BOOST_TEST_REQUIRE(pull.status == 0, pull.err);
  BOOST_TEST(pull.out == "Pulled hana/word-lang revision " + rev2 + " into " + pulled.string() + " (3 files, 1.4 MiB).\n");
  for (const char* file : {"README.md", "config.json", "model/weights.pt"})
    BOOST_TEST(read_bytes(pulled / file) == read_bytes(dir / file), file);
  BOOST_TEST(!fs::exists(pulled / ".cache"));
  auto old = potluck({"models", "pull", "hana/word-lang", pulled.string(), "--revision", rev1.substr(0, 8)});
  BOOST_TEST_REQUIRE(old.status == 0, old.err);
  BOOST_TEST(contains(old.out, "revision " + rev1 + " into " + pulled.string() + " (3 files, 1.4 MiB; 2 already there).\n"));
  BOOST_TEST(read_bytes(pulled / "config.json") == R"({"hidden": 16})");
  // A pull counts one download (of README.md); the second found it there already.
  BOOST_TEST(contains(potluck({"models", "show", "hana/word-lang"}).out, "Downloads:  1\n"));
}

BOOST_AUTO_TEST_CASE(a_folder_without_a_card_exits_2_and_a_broken_card_gets_the_daemons_line) {
  daemon_process d;
  const env_map env = {{"POTLUCK_TOKEN", sign_up_token(d, "ivan")}};
  auto potluck = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", url_of(d)});
    return run_potluck(args, env);
  };
  const auto root = make_temp_dir("potluck-cli-model");
  write_bytes(root / "no-card" / "config.json", "{}");
  auto no_card = potluck({"models", "push", (root / "no-card").string(), "ivan/m"});
  BOOST_TEST(no_card.status == 2);
  BOOST_TEST(contains(no_card.err, "has no README.md: the hub needs a model card\n"));
  BOOST_TEST(contains(no_card.err, "  ---\n  task: text-classification"));

  write_bytes(root / "broken" / "README.md", "---\ntask: text-classification\nformat torchscript\n---\n# m\n");
  write_bytes(root / "broken" / "config.json", "{}");
  auto broken = potluck({"models", "push", (root / "broken").string(), "ivan/m"});
  BOOST_TEST(broken.status == 4);
  BOOST_TEST(contains(broken.err, "error: README.md line 3: expected \"key: value\", got \"format torchscript\"\n"
                                  "A model card starts with front matter between two '---' lines, like:\n"));
  // Someone else's name, and a model that is not there.
  auto theirs = potluck({"models", "push", (root / "broken").string(), "hana/m"});
  BOOST_TEST(theirs.status == 4);
  BOOST_TEST(contains(theirs.err, "error: you publish as 'ivan', not 'hana'\n"));
  auto missing = potluck({"models", "show", "ivan/m"});
  BOOST_TEST(missing.status == 4);
  BOOST_TEST(missing.err == "error: no model ivan/m\nSee the models on the hub: potluck models ls\n");
  BOOST_TEST(potluck({"models", "ls"}).out == "No models yet. Publish one: potluck models push DIR OWNER/NAME\n");
}

BOOST_AUTO_TEST_CASE(a_model_waits_for_a_worker_that_can_run_it_and_is_removed_by_its_owner) {
  daemon_process d;
  const env_map env = {{"POTLUCK_TOKEN", sign_up_token(d, "jana")}};
  auto potluck = [&](std::vector<std::string> args, const env_map& as = {}) {
    args.insert(args.begin(), {"--url", url_of(d)});
    return run_potluck(args, as.empty() ? env : as);
  };
  const auto dir = make_temp_dir("potluck-cli-model") / "word-lang";
  write_bytes(dir / "README.md", "---\ntask: text-classification\nformat: torchscript\nlabels: [en, fr]\n---\n# word-lang\n");
  write_bytes(dir / "model.pt", std::string("PK\x03\x04", 4) + std::string(2048, 'w'));
  BOOST_TEST_REQUIRE(potluck({"models", "push", dir.string(), "jana/word-lang", "-q"}).status == 0);

  // No worker loads TorchScript here: the job waits, says why, and is cancelled at the timeout.
  auto waited = potluck({"run", "jana/word-lang", "--input", "text=bonjour", "--timeout", "2s"});
  BOOST_TEST(waited.status == 1, waited.err);
  BOOST_TEST(waited.out.empty());
  BOOST_TEST(contains(waited.err, "waiting: no worker has a plugin for format torchscript (text-classification models)\n"));
  BOOST_TEST(contains(waited.err, "did not end within --timeout 2s\nCancelled job "));
  auto jobs = potluck({"jobs", "-q", "--state", "cancelled"});
  BOOST_TEST(!jobs.out.empty(), jobs.err);
  // An input it does not take: exit 2, nothing submitted.
  auto foo = potluck({"run", "jana/word-lang", "--input", "foo=1"});
  BOOST_TEST(foo.status == 2);
  BOOST_TEST(contains(foo.err, "jana/word-lang is a text-classification model: it takes --input text=TEXT"));

  // Removing: not without --yes off a terminal, not by someone else, then by its owner.
  auto unasked = potluck({"models", "rm", "jana/word-lang"});
  BOOST_TEST(unasked.status == 2);
  BOOST_TEST(contains(unasked.err, "pass --yes to confirm"));
  auto theirs = potluck({"models", "rm", "jana/word-lang", "--yes"}, {{"POTLUCK_TOKEN", sign_up_token(d, "karl")}});
  BOOST_TEST(theirs.status == 4);
  BOOST_TEST(contains(theirs.err, "Only jana may remove jana/word-lang"));
  auto removed = potluck({"models", "rm", "jana/word-lang", "--yes"});
  BOOST_TEST(removed.status == 0, removed.err);
  BOOST_TEST(removed.out.starts_with("Removed jana/word-lang ("));
  BOOST_TEST(contains(removed.out, " freed).\n"));
  auto gone = potluck({"models", "show", "jana/word-lang"});
  BOOST_TEST(gone.status == 4);
  auto again = potluck({"models", "rm", "jana/word-lang", "--yes"});
  BOOST_TEST(again.status == 4);
  BOOST_TEST(again.err == "error: no model jana/word-lang\nSee the models on the hub: potluck models ls\n");
}
