// potluckd: the Potluck daemon. Parses flags, starts the app, waits for SIGINT/SIGTERM.
// Environment variables are read here only.
#include "daemon/app/app.hpp"

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <cmath>
#include <iostream>
#include <unistd.h>

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

constexpr const char* usage_example = R"(Examples:
  potluckd                                   # HTTP on 127.0.0.1:8080, workers on tcp://127.0.0.1:5555, data in ./var
  potluckd --http 127.0.0.1:9000 --data-dir /srv/potluck
  potluckd --http 0.0.0.0:8080 --workers tcp://0.0.0.0:5555 --public
)";

bool is_loopback_host(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

fs::path exe_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}

// The dashboard folder: the installed one (PREFIX/share/potluck/web), else the source tree's.
std::optional<fs::path> find_web_dir() {
  for (const auto& candidate : {exe_dir() / ".." / "share" / "potluck" / "web", fs::path(POTLUCK_SOURCE_WEB_DIR)}) {
    std::error_code ec;
    if (fs::exists(candidate / "index.html", ec)) return fs::weakly_canonical(candidate, ec);
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  potluck::daemon::daemon_options options;
  std::string http = "127.0.0.1:8080", log_level = "info", web_dir;
  int heartbeat_ms = 1000;
  int prefetch_ms = 5;
  double starter_credits = 100;
  std::string signup = "open";
  std::string free_tier = "on";
  double fee_percent = 0;
  double check_percent = 10;
  double rate_limit = 100;
  po::options_description desc("Usage: potluckd [options]\n\nThe Potluck daemon: HTTP API, dashboard, job journal and worker broker.\n\nOptions");
  desc.add_options()
      ("help,h", "show this help")
      ("version", "print the version")
      ("http", po::value(&http)->default_value(http), "HTTP address:port for the API and the dashboard")
      ("workers", po::value(&options.workers_endpoint)->default_value(options.workers_endpoint), "ZeroMQ endpoint workers connect to")
      ("data-dir", po::value<std::string>()->default_value("var"), "folder for the journal (potluck.db)")
      ("web-dir", po::value(&web_dir), "folder of dashboard assets (default: the installed one)")
      ("heartbeat-ms", po::value(&heartbeat_ms)->default_value(heartbeat_ms), "worker heartbeat interval; 3 missed = dead")
      ("prefetch-ms", po::value(&prefetch_ms)->default_value(prefetch_ms),
       "send short jobs to a busy worker ahead of a free slot, up to this much waiting there; 0: never")
      ("max-attempts", po::value(&options.max_attempts)->default_value(options.max_attempts), "dispatches of a job before it fails")
      ("max-body-bytes", po::value(&options.max_body_bytes)->default_value(options.max_body_bytes), "largest request body accepted")
      ("http-threads", po::value(&options.http_threads)->default_value(options.http_threads), "HTTP I/O threads")
      ("starter-grant", po::value(&starter_credits)->default_value(starter_credits), "credits granted to each new account")
      ("signup", po::value(&signup)->default_value(signup), "open: anyone may create an account; closed: nobody")
      ("free-tier", po::value(&free_tier)->default_value(free_tier),
       "on: jobs may bid 0 and run free on workers that accept free jobs; off: every job pays")
      ("fee-percent", po::value(&fee_percent)->default_value(fee_percent),
       "the operator's share of each charge, 0 to 100 (paid into the fees account)")
      ("max-model-file-bytes", po::value(&options.max_model_file_bytes)->default_value(options.max_model_file_bytes),
       "the largest file a model may hold (uploads beyond it get 413)")
      ("public-url", po::value(&options.public_url),
       "the daemon's HTTP address as workers on other machines reach it, e.g. http://hub.example.org:8080 "
       "(they fetch model files from it); default: the --http address")
      ("check-percent", po::value(&check_percent)->default_value(check_percent),
       "the share of a new donor's results run again on the operator's own workers and compared before the "
       "job ends, 0 to 100 (0: no checks); a donor whose results agreed --trusted-after times in a row is "
       "checked at a tenth of it")
      ("trusted-after", po::value(&options.trusted_after)->default_value(options.trusted_after),
       "agreements in a row after which a donor is checked less")
      ("rate-limit", po::value(&rate_limit)->default_value(rate_limit),
       "requests a second each API token may make, bursts of 10 times that; 0: no limit")
      ("anonymous-workers", "accept workers that give no donor token")
      ("local-session", "let a dashboard on this machine sign in as the operator by itself (single-user machines)")
      ("public", "allow listening on addresses other than loopback")
      ("encrypt-workers", po::value<std::string>()->default_value("auto"),
       "encrypt and authenticate the worker link with CurveZMQ: on, off, or auto (on unless --workers is "
       "loopback); workers then need the daemon's public key, --server-key-file DATA_DIR/worker-link.pub")
      ("log-level", po::value(&log_level)->default_value(log_level), "trace, debug, info, warn, error");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "potluckd: " << e.what() << "\nTry 'potluckd --help'.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << usage_example;
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "potluckd 0.1.0\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  const auto colon = http.rfind(':');
  int port = -1;
  if (colon != std::string::npos) port = std::atoi(http.c_str() + colon + 1);
  if (colon == std::string::npos || port < 0 || port > 65535) {
    std::cerr << "potluckd: --http must be ADDRESS:PORT, like 127.0.0.1:8080\n";
    return 2;
  }
  options.http_address = http.substr(0, colon);
  options.http_port = static_cast<std::uint16_t>(port);
  options.data_dir = vm["data-dir"].as<std::string>();
  options.heartbeat_interval = std::chrono::milliseconds(std::max(10, heartbeat_ms));
  if (prefetch_ms < 0) {
    std::cerr << "potluckd: --prefetch-ms must not be negative\n";
    return 2;
  }
  options.prefetch_budget = std::chrono::milliseconds(prefetch_ms);
  if (!(starter_credits >= 0 && starter_credits <= 1e9)) {
    std::cerr << "potluckd: --starter-grant must be from 0 to 1000000000 credits\n";
    return 2;
  }
  options.starter_grant = static_cast<std::int64_t>(std::llround(starter_credits * 1e6));
  if (signup != "open" && signup != "closed") {
    std::cerr << "potluckd: --signup must be 'open' or 'closed'\n";
    return 2;
  }
  options.signup_open = signup == "open";
  if (free_tier != "on" && free_tier != "off") {
    std::cerr << "potluckd: --free-tier must be 'on' or 'off'\n";
    return 2;
  }
  options.free_tier = free_tier == "on";
  if (!(fee_percent >= 0 && fee_percent <= 100)) {
    std::cerr << "potluckd: --fee-percent must be from 0 to 100\n";
    return 2;
  }
  options.fee_ppm = static_cast<std::int64_t>(std::llround(fee_percent * 1e4));
  while (options.public_url.ends_with('/')) options.public_url.pop_back();
  if (!options.public_url.empty() &&
      (!options.public_url.starts_with("http://") || options.public_url.size() <= 7 ||
       options.public_url.find_first_of(" \t\r\n") != std::string::npos)) {
    std::cerr << "potluckd: --public-url must look like http://HOST:PORT (workers fetch model files from it), got '"
              << options.public_url << "'\n";
    return 2;
  }
  if (!(check_percent >= 0 && check_percent <= 100)) {
    std::cerr << "potluckd: --check-percent must be from 0 to 100\n";
    return 2;
  }
  options.check_rate = check_percent / 100;
  if (options.trusted_after < 1) {
    std::cerr << "potluckd: --trusted-after must be 1 or more\n";
    return 2;
  }
  if (!(rate_limit >= 0 && rate_limit <= 1e6)) {
    std::cerr << "potluckd: --rate-limit must be from 0 to 1000000\n";
    return 2;
  }
  options.token_rate_limit = {rate_limit, rate_limit * 10};
  options.anonymous_workers = vm.count("anonymous-workers") > 0;
  options.local_session = vm.count("local-session") > 0;
  if (options.max_attempts < 1) {
    std::cerr << "potluckd: --max-attempts must be at least 1\n";
    return 2;
  }
  std::string worker_host = options.workers_endpoint;
  if (auto p = worker_host.find("://"); p != std::string::npos) worker_host = worker_host.substr(p + 3);
  if (auto p = worker_host.rfind(':'); p != std::string::npos) worker_host = worker_host.substr(0, p);
  const bool worker_local = options.workers_endpoint.rfind("ipc://", 0) == 0 || options.workers_endpoint.rfind("inproc://", 0) == 0 ||
                            is_loopback_host(worker_host);
  if (!vm.count("public") && (!is_loopback_host(options.http_address) || !worker_local)) {
    std::cerr << "potluckd: refusing to listen beyond loopback (" << http << ", " << options.workers_endpoint
              << ") without --public\n";
    return 2;
  }
  const auto encrypt = vm["encrypt-workers"].as<std::string>();
  if (encrypt != "auto" && encrypt != "on" && encrypt != "off") {
    std::cerr << "potluckd: --encrypt-workers must be 'on', 'off' or 'auto'\n";
    return 2;
  }
  options.encrypt_worker_link = encrypt == "on" || (encrypt == "auto" && !worker_local);
  if (!web_dir.empty()) options.web_dir = fs::path(web_dir);
  else options.web_dir = find_web_dir();

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  potluck::daemon::daemon_app app(options);
  try {
    app.start();
  } catch (const std::exception& e) {
    spdlog::critical("potluckd cannot start: {}", e.what());
    return 1;
  }
  spdlog::info("potluckd listening on http://{}:{} (dashboard{}), workers on {}, journal {}", options.http_address,
               app.http_port(), options.web_dir ? " from " + options.web_dir->string() : " not found",
               app.workers_endpoint(), (options.data_dir / "potluck.db").string());
  if (!app.worker_link_key().empty()) {
    spdlog::info("the worker link is encrypted (CurveZMQ); the daemon's public key{}: {}",
                 app.worker_link_key_created() ? " (new)" : "", app.worker_link_key());
    std::cout << "\nWorkers on other machines connect with the daemon's public key:\n\n  potluck-worker --daemon "
              << app.workers_endpoint() << " --server-key " << app.worker_link_key()
              << " --token-file FILE\n\n(the key is also in " << (options.data_dir / "worker-link.pub").string()
              << ")\n\n" << std::flush;
  }
  if (const auto& token = app.new_admin_token()) {
    // Shown this once; the file keeps it (mode 0600) for the operator's tools.
    std::cout << "\nThe operator's admin token (also in " << app.admin_token_file().string()
              << ", readable only by you):\n\n  " << *token << "\n\n"
              << "Use it with: export POTLUCK_TOKEN=$(cat " << app.admin_token_file().string() << ")\n\n"
              << std::flush;
  } else {
    spdlog::info("the operator's admin token is in {}", app.admin_token_file().string());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("potluckd: {} received; stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  app.stop();
  spdlog::info("potluckd stopped");
  return 0;
}
