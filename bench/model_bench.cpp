// potluck-model-bench: models of the hub on a worker, each figure beside its ceiling measured
// in the same run, on loopback:
//
//   download  a model of one --mb MiB file fetched into a worker's model cache (the worker's own
//             code: HTTP from the daemon, sha256 on the way, written to disk), against a plain
//             copy of the same bytes on the same disk;
//   latency   a job's answer (POST ?wait=true) on a fresh worker (fetch, check, load the model),
//             on a restarted worker whose cache holds the model (check the files, load), and on
//             a warm worker (median of 20), for the same --mb model;
//   inference the word-language example (examples/word-lang, trained --quick here) on batches of
//             64 words: words per second through Potluck (one worker, one slot, one LibTorch
//             thread, jobs submitted in batches) against the same TorchScript model called
//             directly from C++ in a loop on one thread (potluck-torch-direct). Target: 80%.
//
// It needs the torch plugin and a python3 with torch (potluck.sh installs both). It asserts
// nothing but that every step worked.
#include "bench_process.hpp"
#include "http_client.hpp"
#include "workers/model_cache.hpp"

#include <boost/json.hpp>
#include <sodium.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace potluck::bench;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

std::string python() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("POTLUCK_PYTHON"); env && *env) candidates.emplace_back(env);
  candidates.emplace_back("/usr/bin/python3");
  candidates.emplace_back("python3");
  for (const auto& c : candidates)
    if (std::system((c + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0) return c;
  throw std::runtime_error("no python3 with torch (potluck.sh installs python3-torch)");
}

// Waits for a child to exit on its own (stop() would signal it at once); its wait status.
int wait_exit(child_process& p, std::chrono::seconds limit) {
  const auto deadline = clock_type::now() + limit;
  while (p.running() && clock_type::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return p.stop(std::chrono::milliseconds(100));
}

// Runs a command to its end; throws with its log when it fails.
void run(std::vector<std::string> argv, const fs::path& log) {
  child_process p(std::move(argv), log);
  const int status = wait_exit(p, std::chrono::seconds(600));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(p.name() + " failed (" + describe_wait_status(status) + "): " + p.log_tail());
}

// SHA-256 of a file, as the worker checks each file it fetches (the bound of a download).
void hash_file(const fs::path& file) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  const int in = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw std::runtime_error("cannot open " + file.string());
  std::string buffer(1 << 20, '\0');
  for (;;) {
    const auto n = ::read(in, buffer.data(), buffer.size());
    if (n <= 0) break;
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(buffer.data()), static_cast<unsigned long long>(n));
  }
  ::close(in);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
}

std::string json_string(const std::string& s) { return json::serialize(json::value(s)); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mib = 256, jobs = 400;
  fs::path build_dir = self_exe().parent_path().parent_path();
  fs::path source_dir = POTLUCK_BENCH_SOURCE_DIR;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc) mib = static_cast<std::size_t>(std::stoul(argv[++i]));
    else if (a == "--jobs" && i + 1 < argc) jobs = static_cast<std::size_t>(std::stoul(argv[++i]));
    else if (a == "--build-dir" && i + 1 < argc) build_dir = argv[++i];
    else if (a == "--source-dir" && i + 1 < argc) source_dir = argv[++i];
    else if (a == "--quick") mib = 16, jobs = 50;
    else {
      std::cerr << "usage: potluck-model-bench [--mb MiB (256)] [--jobs N (400)] [--quick] [--build-dir DIR] [--source-dir DIR]\n";
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  install_cleanup_on_signal();
  const auto dir = make_temp_dir("potluck-model-bench");
  constexpr std::size_t batch = 64;
  try {
    const auto py = python();
    const auto port = free_tcp_port();
    const auto workers = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
    const auto url = "http://127.0.0.1:" + std::to_string(port);
    auto daemon = start_potluckd(build_dir, dir / "data", port, workers, dir / "potluckd.log");
    http_connection anonymous(port);
    const auto signed_up = json::parse(anonymous.request("POST", "/api/v1/accounts", R"({"name":"bench"})").body);
    const std::string token(signed_up.at("token").at("secret").as_string());
    http_connection c(port, token);
    ::setenv("POTLUCK_URL", url.c_str(), 1);
    ::setenv("POTLUCK_TOKEN", token.c_str(), 1);
    ::setenv("POTLUCK_TORCH_THREADS", "1", 1);  // the worker's runners, like the direct loop

    // The models: the word-language example, and a tensor model carrying one big file.
    std::printf("potluck-model-bench: training the word-language example (--quick) and making the models...\n");
    std::fflush(stdout);
    run({py, (source_dir / "examples" / "word-lang" / "train.py").string(), "--quick", "--out", (dir / "word-lang").string()},
        dir / "train.log");
    run({py, (source_dir / "examples" / "make_test_models.py").string(), "--out", (dir / "test-models").string()},
        dir / "make.log");
    const auto big = dir / "test-models" / "tensor-model";
    {
      std::string bytes(mib << 20, '\0');
      std::mt19937_64 random(42);
      for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
        const auto v = random();
        std::memcpy(bytes.data() + i, &v, 8);
      }
      bytes.replace(0, 4, "PK\x03\x04", 4);  // what a TorchScript archive starts with
      std::ofstream(big / "extra.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    const auto potluck = (build_dir / "bin" / "potluck").string();
    run({potluck, "models", "push", (dir / "word-lang").string(), "bench/word-lang", "-q"}, dir / "push-word-lang.log");
    run({potluck, "models", "push", big.string(), "bench/big", "-q"}, dir / "push-big.log");

    // 1. Download into a worker's model cache, in this process, with the worker's code.
    const auto model = json::parse(c.request("GET", "/api/models/bench/big").body);
    potluck::worker::model_request request;
    request.id = "bench/big@" + std::string(model.at("sha").as_string());
    request.owner = "bench";
    request.name = "big";
    request.revision = std::string(model.at("sha").as_string());
    std::uint64_t total = 0;
    for (const auto& f : model.at("siblings").as_array()) {
      request.files.push_back({std::string(f.at("rfilename").as_string()), std::string(f.at("sha256").as_string()),
                               static_cast<std::uint64_t>(f.at("size").as_int64())});
      total += static_cast<std::uint64_t>(f.at("size").as_int64());
    }
    auto quiet = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
    double fetch_s = 0, copy_s = 0, hash_s = 0;
    {
      potluck::worker::model_cache cache(dir / "cache-inline", 1ULL << 40, quiet);
      auto t0 = clock_type::now();
      const auto folder = cache.prepare(request, url, {});
      fetch_s = seconds_since(t0);
      t0 = clock_type::now();
      copy_file_bytes(fs::read_symlink(folder / "extra.pt"), dir / "copy.bin", false);
      copy_s = seconds_since(t0) * static_cast<double>(total) / static_cast<double>(mib << 20);  // same bytes as the fetch
      t0 = clock_type::now();
      hash_file(fs::read_symlink(folder / "extra.pt"));
      hash_s = seconds_since(t0) * static_cast<double>(total) / static_cast<double>(mib << 20);
    }

    // 2. Latency of a job for the big model: first use, after a restart, warm.
    const std::string tensor_job = R"({"model":"bench/big","inputs":{"input":{"dtype":"f32","data":[1,2,3]}}})";
    auto timed_job = [&](const std::string& body) {
      const auto t0 = clock_type::now();
      auto r = c.request("POST", "/api/v1/jobs?wait=true&wait_ms=600000", body);
      const double ms = seconds_since(t0) * 1000;
      if (r.status != 200 || r.body.find("\"state\":\"succeeded\"") == std::string::npos)
        throw std::runtime_error("a job did not succeed: " + std::to_string(r.status) + " " + r.body.substr(0, 400));
      return ms;
    };
    auto start_worker = [&](const std::string& name) {
      auto w = std::make_unique<child_process>(
          std::vector<std::string>{(build_dir / "bin" / "potluck-worker").string(), "--daemon", workers, "--slots", "1", "--name",
                                   name, "--gpus", "none", "--model-cache", (dir / "cache-worker").string(), "--log-level",
                                   "warn", "--plugins", (build_dir / "lib" / "potluck" / "plugins").string()},
          dir / (name + ".log"));
      for (int i = 0;; ++i) {
        auto r = c.request("GET", "/api/v1/workers");
        if (r.body.find("\"" + name + "\"") != std::string::npos) break;
        if (i > 600) throw std::runtime_error("the worker did not register: " + w->log_tail());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return w;
    };
    auto worker = start_worker("bench-worker");
    const double first_ms = timed_job(tensor_job);
    std::vector<double> warm;
    for (int i = 0; i < 20; ++i) warm.push_back(timed_job(tensor_job));
    worker->stop(std::chrono::seconds(10));
    for (int i = 0; c.request("GET", "/api/v1/workers").body.find("bench-worker\"") != std::string::npos; ++i) {
      if (i > 400) throw std::runtime_error("the stopped worker is still listed");
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    worker = start_worker("bench-worker-2");
    const double restarted_ms = timed_job(tensor_job);

    // 3. Word-language inference, batches of 64: Potluck, then direct.
    std::vector<std::string> words;
    {
      std::mt19937_64 random(7);
      for (const char* list : {"american-english", "french", "ngerman", "spanish", "italian"}) {
        std::ifstream in(std::string("/usr/share/dict/") + list);
        for (std::string w; std::getline(in, w);)
          if (!w.empty() && w.size() <= 24 && w.find('\'') == std::string::npos && w.find('"') == std::string::npos)
            words.push_back(w);
      }
      std::shuffle(words.begin(), words.end(), random);
      words.resize(std::min<std::size_t>(words.size(), jobs * batch));
      std::ofstream out(dir / "words.txt");
      for (const auto& w : words) out << w << '\n';
    }
    auto batch_body = [&](std::size_t job) {
      std::string body = R"({"model":"bench/word-lang","inputs":{"text":{"text":[)";
      for (std::size_t i = 0; i < batch; ++i) body += (i ? "," : "") + json_string(words[(job * batch + i) % words.size()]);
      return body + "]}}}";
    };
    timed_job(batch_body(0));  // loads the model in the runner
    auto stats = [&] { return json::parse(c.request("GET", "/api/v1/stats").body); };
    const auto before = stats().at("jobs_succeeded").to_number<double>();
    const auto t0 = clock_type::now();
    for (std::size_t first = 0; first < jobs; first += 100) {
      std::string body = R"({"jobs":[)";
      for (std::size_t j = first; j < std::min(jobs, first + 100); ++j) body += (j > first ? "," : "") + batch_body(j);
      auto r = c.request("POST", "/api/v1/jobs/batch", body + "]}");
      if (r.status != 202) throw std::runtime_error("a batch was refused: " + r.body.substr(0, 400));
    }
    for (int i = 0;; ++i) {
      const auto s = stats();
      if (s.at("jobs_failed").to_number<double>() > 0) throw std::runtime_error("a word-lang job failed");
      if (s.at("jobs_succeeded").to_number<double>() >= before + static_cast<double>(jobs)) break;
      if (i > 60000) throw std::runtime_error("the word-lang jobs did not finish");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double potluck_wps = static_cast<double>(jobs * batch) / seconds_since(t0);
    worker->stop(std::chrono::seconds(10));

    ::setenv("OPENBLAS_NUM_THREADS", "1", 1);  // one thread, as the plugin sets it in the worker
    child_process direct({(build_dir / "bin" / "potluck-torch-direct").string(), (dir / "word-lang").string(),
                          (dir / "words.txt").string(), std::to_string(batch), std::to_string(jobs)},
                         dir / "direct.log");
    const int status = wait_exit(direct, std::chrono::seconds(600));
    const auto out = direct.log_tail();
    const auto at = out.find("words_per_second ");
    if (status != 0 || at == std::string::npos) throw std::runtime_error("potluck-torch-direct failed: " + out);
    const double direct_wps = std::stod(out.substr(at + 17));
    daemon->stop(std::chrono::milliseconds(5000));

    const double mb = static_cast<double>(total) / 1e6;
    std::printf("\npotluck-model-bench: build %s, loopback\n\n", fs::weakly_canonical(build_dir).c_str());
    std::printf("download into a worker's cache (%.0f MB model): %.0f MB/s; plain copy of the same bytes %.0f MB/s (%.0f%%); "
                "SHA-256 alone %.0f MB/s (%.0f%%)\n",
                mb, mb / fetch_s, mb / copy_s, 100 * copy_s / fetch_s, mb / hash_s, 100 * hash_s / fetch_s);
    std::printf("job latency, %.0f MB model: first use %.0f ms (fetch, check, load); after a worker restart %.0f ms "
                "(check the cached files, load); warm %.1f ms (median of 20)\n",
                mb, first_ms, restarted_ms, median(warm));
    std::printf("word-lang inference, batches of %zu words, %zu batches: Potluck %.0f words/s; direct TorchScript %.0f words/s "
                "(%.0f%%, target 80%%)\n",
                batch, jobs, potluck_wps, direct_wps, 100 * potluck_wps / direct_wps);
  } catch (const std::exception& e) {
    std::cerr << "potluck-model-bench: FAILED: " << e.what() << "\n  logs kept in " << dir.string() << "\n";
    return 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
