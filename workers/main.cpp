// potluck-worker: donate this machine to a Potluck daemon. Parses the command line and the
// environment (the only place either is read), then runs the supervisor, or a runner when
// started with the hidden --runner flag by a supervisor.
#include "workers/runner.hpp"
#include "workers/model_cache.hpp"
#include "workers/supervisor.hpp"
#include "workers/worker_common.hpp"

#include <boost/program_options.hpp>
#include <zmq.h>

#include <unistd.h>

#include <array>
#include <charconv>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace potluck::worker;

namespace {

constexpr std::size_t max_name_length = 64;
constexpr std::size_t max_cpu_slots = 256;

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "worker";
  return buf.data();
}

fs::path self_executable() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

spdlog::level::level_enum parse_level(const std::string& text) {
  static const std::array<std::string, 7> names = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  for (std::size_t i = 0; i < names.size(); ++i)
    if (text == names[i]) return static_cast<spdlog::level::level_enum>(i);
  throw usage_error("--log-level must be one of trace, debug, info, warn, error, critical, off (got '" + text + "')");
}

void print_help(const po::options_description& visible) {
  std::cout << "Usage: potluck-worker [options]\n"
               "Donates this machine's CPU (and NVIDIA GPUs) to a Potluck daemon: registers with it,\n"
               "then runs the jobs it sends with the installed plugins, each slot in its own process.\n\n"
               "Example:\n"
               "  potluck-worker --daemon tcp://hub.example.org:5555 --slots 4 --name alice-laptop\n\n"
            << visible
            << "\nThe plugin folder may also be set with the environment variable POTLUCK_WORKER_PLUGINS.\n"
               "SIGTERM or Ctrl-C: running jobs get --grace-ms to finish, the rest go back to the daemon.\n";
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description visible("Options");
  visible.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the version and exit")
      ("daemon", po::value<std::string>()->default_value("tcp://127.0.0.1:5555"), "the daemon's worker endpoint")
      ("plugins", po::value<std::string>(),
       "folder of plugin .so files (default: <exe dir>/../lib/potluck/plugins)")
      ("slots", po::value<long>()->default_value(1), "CPU slots: jobs run at once on the CPU (1..256)")
      ("prefetch", po::value<long>()->default_value(8),
       "jobs the daemon may send ahead while every slot is busy (0..1024); it sends only short ones")
      ("token", po::value<std::string>(),
       "the donor's API token (other users of this machine can see it in 'ps': prefer --token-file)")
      ("server-key", po::value<std::string>(),
       "the daemon's public key (40 characters), when it encrypts its worker link: the daemon prints it")
      ("server-key-file", po::value<std::string>(), "file holding the daemon's public key (its worker-link.pub)")
      ("token-file", po::value<std::string>(),
       "file holding the donor's API token (a token with the donate scope); or set POTLUCK_TOKEN")
      ("price", po::value<std::string>(),
       "what this machine asks, in credits per million work units: 0.5 (every backend) or cpu=0.5,cuda=4 "
       "(default 0: it runs jobs for free; a price needs a donor token)")
      ("free-jobs", po::value<std::string>()->default_value("yes"),
       "yes: also run free jobs (bid 0) when no paid job it could run is waiting; no: only paid jobs")
      ("name", po::value<std::string>(), "this worker's name as the daemon shows it (default: the hostname)")
      ("gpus", po::value<std::string>()->default_value("all"),
       "all: one slot per NVIDIA GPU; none: CPU only; or the GPUs to lend by index, like 0,2")
      ("model-cache", po::value<std::string>(),
       "folder for the hub's model files this worker fetches, one per worker (default: "
       "~/.cache/potluck/models/NAME, or under $XDG_CACHE_HOME)")
      ("model-cache-size", po::value<std::string>()->default_value("20G"),
       "at most this much disk for cached models, e.g. 20G or 512M; the least recently used go first")
      ("hub-url", po::value<std::string>(),
       "where to fetch model files, e.g. http://hub.example.org:8080 (default: what the daemon says)")
      ("log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error, critical, off")
      ("grace-ms", po::value<long>()->default_value(10000),
       "on SIGTERM, how long running jobs may take to finish (and a cancelled job to stop)");
  po::options_description hidden;
  hidden.add_options()
      ("runner", "run as a runner (started by the supervisor)")
      ("slot", po::value<long>()->default_value(0))
      ("backend", po::value<std::string>()->default_value("cpu"))
      ("device", po::value<long>()->default_value(-1))
      ("endpoint", po::value<std::string>())
      ("skip-plugin", po::value<std::vector<std::string>>())
      ("load-marker", po::value<std::string>())
      ("stray", po::value<std::vector<std::string>>());  // words that are not flags: an error
  po::options_description all;
  all.add(visible).add(hidden);

  po::variables_map vm;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string name;
  fs::path plugin_dir;
  try {
    po::positional_options_description stray;
    stray.add("stray", -1);
    po::store(po::command_line_parser(argc, argv).options(all).positional(stray).run(), vm);
    po::notify(vm);
    if (vm.count("stray"))
      throw usage_error("unexpected argument '" + vm["stray"].as<std::vector<std::string>>().front() +
                        "': every setting is a --flag");
    if (vm.count("help")) {
      print_help(visible);
      return 0;
    }
    if (vm.count("version")) {
      std::cout << "potluck-worker " << worker_version << "\n";
      return 0;
    }
    level = parse_level(vm["log-level"].as<std::string>());
    name = vm.count("name") ? vm["name"].as<std::string>() : host_name().substr(0, max_name_length);
    if (name.empty() || name.size() > max_name_length)
      throw usage_error("--name must have 1 to " + std::to_string(max_name_length) + " characters");
    if (vm.count("plugins")) {
      plugin_dir = vm["plugins"].as<std::string>();
    } else if (const char* env = std::getenv("POTLUCK_WORKER_PLUGINS"); env && *env) {
      plugin_dir = env;
    } else {
      const auto exe = self_executable();
      if (exe.empty()) throw usage_error("cannot find this program's folder; give --plugins");
      plugin_dir = (exe.parent_path() / ".." / "lib" / "potluck" / "plugins").lexically_normal();
    }
  } catch (const std::exception& e) {  // po::error and usage_error
    std::cerr << "potluck-worker: " << e.what() << " (see --help)\n";
    return 2;
  }

  if (vm.count("runner")) {
    runner_config config;
    config.slot = static_cast<std::size_t>(std::max(0L, vm["slot"].as<long>()));
    config.backend = vm["backend"].as<std::string>();
    config.device_index = static_cast<int>(vm["device"].as<long>());
    config.endpoint = vm.count("endpoint") ? vm["endpoint"].as<std::string>() : "";
    config.plugin_dir = plugin_dir;
    if (vm.count("skip-plugin"))
      for (const auto& f : vm["skip-plugin"].as<std::vector<std::string>>()) config.skip_plugins.emplace_back(f);
    if (vm.count("load-marker")) config.load_marker = vm["load-marker"].as<std::string>();
    if (config.endpoint.empty()) {
      std::cerr << "potluck-worker: --runner needs --endpoint (runners are started by the worker itself)\n";
      return 2;
    }
    auto log = make_logger(name + "/" + runner_routing_id(config.slot), level);
    spdlog::set_default_logger(log);  // plugin log lines share the runner's format
    return run_runner(config, log);
  }

  supervisor_config config;
  try {
    config.daemon_endpoint = vm["daemon"].as<std::string>();
    if (config.daemon_endpoint.rfind("tcp://", 0) != 0 && config.daemon_endpoint.rfind("ipc://", 0) != 0)
      throw usage_error("--daemon must look like tcp://HOST:PORT (got '" + config.daemon_endpoint + "')");
    const long slots = vm["slots"].as<long>();
    if (slots < 1 || slots > static_cast<long>(max_cpu_slots))
      throw usage_error("--slots must be between 1 and " + std::to_string(max_cpu_slots) + " (got " +
                        std::to_string(slots) + ")");
    config.cpu_slots = static_cast<std::size_t>(slots);
    const long prefetch = vm["prefetch"].as<long>();
    if (prefetch < 0 || prefetch > 1024)
      throw usage_error("--prefetch must be between 0 and 1024 (got " + std::to_string(prefetch) + ")");
    config.prefetch = static_cast<std::size_t>(prefetch);
    if (vm.count("token") && vm.count("token-file")) throw usage_error("give --token or --token-file, not both");
    if (vm.count("token")) {
      config.token = vm["token"].as<std::string>();
    } else if (vm.count("token-file")) {
      const auto file = vm["token-file"].as<std::string>();
      std::ifstream in(file);
      if (!in) throw usage_error("--token-file: cannot read '" + file + "'");
      std::getline(in, config.token);
      while (!config.token.empty() && std::isspace(static_cast<unsigned char>(config.token.back()))) config.token.pop_back();
      if (config.token.empty()) throw usage_error("--token-file: '" + file + "' is empty");
    } else if (const char* env = std::getenv("POTLUCK_TOKEN"); env && *env) {
      config.token = env;
    }
    if (vm.count("price")) config.prices = potluck::worker::parse_prices(vm["price"].as<std::string>());
    if (vm.count("server-key") && vm.count("server-key-file"))
      throw usage_error("give --server-key or --server-key-file, not both");
    if (vm.count("server-key")) {
      config.server_key = vm["server-key"].as<std::string>();
    } else if (vm.count("server-key-file")) {
      const auto file = vm["server-key-file"].as<std::string>();
      std::ifstream in(file);
      if (!in) throw usage_error("--server-key-file: cannot read '" + file + "'");
      std::getline(in, config.server_key);
      while (!config.server_key.empty() && std::isspace(static_cast<unsigned char>(config.server_key.back())))
        config.server_key.pop_back();
    }
    if (vm.count("server-key") || vm.count("server-key-file")) {
      std::uint8_t decoded[32];
      if (config.server_key.size() != 40 || zmq_z85_decode(decoded, config.server_key.c_str()) == nullptr)
        throw usage_error("the daemon's public key must be the 40 characters potluckd printed (Z85), got '" +
                          config.server_key.substr(0, 60) + "'");
    }
    const auto free_jobs = vm["free-jobs"].as<std::string>();
    if (free_jobs != "yes" && free_jobs != "no")
      throw usage_error("--free-jobs must be 'yes' or 'no' (got '" + free_jobs + "')");
    config.accept_free = free_jobs == "yes";
    const auto gpus = vm["gpus"].as<std::string>();
    if (gpus == "all" || gpus == "none") {
      config.gpus = gpus == "none" ? gpu_mode::none : gpu_mode::all;
    } else {
      config.gpus = gpu_mode::some;
      std::size_t start = 0;
      while (start <= gpus.size()) {
        const auto end = std::min(gpus.find(',', start), gpus.size());
        const auto item = gpus.substr(start, end - start);
        int index = -1;
        auto r = std::from_chars(item.data(), item.data() + item.size(), index);
        if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size() || index < 0 || index > 63)
          throw usage_error("--gpus must be 'all', 'none' or GPU indices like 0,2 (got '" + gpus + "')");
        config.gpu_indices.push_back(index);
        start = end + 1;
      }
    }
    const long grace_ms = vm["grace-ms"].as<long>();
    if (grace_ms < 0) throw usage_error("--grace-ms must not be negative");
    config.grace = std::chrono::milliseconds(grace_ms);
    try {
      config.model_cache_bytes = potluck::worker::parse_byte_size(vm["model-cache-size"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("--model-cache-size: ") + e.what());
    }
    if (vm.count("model-cache")) {
      config.model_cache_dir = vm["model-cache"].as<std::string>();
    } else {
      // A folder per worker name, so that several workers on one machine each have theirs.
      std::string folder;
      for (char c : name) folder += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
      if (folder.empty() || folder == "." || folder == "..") folder = "worker";
      if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/')
        config.model_cache_dir = std::filesystem::path(xdg) / "potluck" / "models" / folder;
      else if (const char* home = std::getenv("HOME"); home && *home)
        config.model_cache_dir = std::filesystem::path(home) / ".cache" / "potluck" / "models" / folder;
      else
        throw usage_error("--model-cache: give a folder for model files (no HOME to put them under)");
    }
    if (vm.count("hub-url")) {
      config.hub_url = vm["hub-url"].as<std::string>();
      if (config.hub_url.rfind("http://", 0) != 0)
        throw usage_error("--hub-url must look like http://HOST:PORT (got '" + config.hub_url + "')");
      while (config.hub_url.ends_with('/')) config.hub_url.pop_back();
    }
  } catch (const std::exception& e) {
    std::cerr << "potluck-worker: " << e.what() << " (see --help)\n";
    return 2;
  }
  config.plugin_dir = plugin_dir;
  config.runner_executable = self_executable();
  const char* tmpdir = std::getenv("TMPDIR");
  config.runtime_parent_dir = tmpdir && *tmpdir ? tmpdir : "/tmp";
  config.name = name;
  config.hostname = host_name();
  config.log_level = vm["log-level"].as<std::string>();
  auto log = make_logger(name, level);
  spdlog::set_default_logger(log);
  return run_supervisor(config, log);
}
