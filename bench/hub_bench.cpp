// potluck-hub-bench: moving a model file through the hub, against copying the same bytes.
//
// Starts a potluckd (temp data folder, free port), signs up, and for one file of --mb MiB of
// random bytes measures, on loopback:
//   upload    PUT /api/blobs (streamed to disk and hashed by the daemon, fsync'ed)
//   download  GET /{owner}/{name}/resolve/main/{file} (streamed from disk)
// and, as the ceiling, in the same run and on the same disk:
//   copy      read the kept blob and write a new file, with an fsync (what the upload must do)
//   read      read the kept blob (what the download must do)
// It prints MB/s for each and the ratios. It asserts nothing but that every step worked and
// the downloaded bytes are the uploaded ones.
#include "bench_process.hpp"
#include "http_client.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using namespace potluck::bench;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::size_t read_file(const fs::path& file) {
  const int in = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw std::runtime_error("cannot open " + file.string());
  std::string buffer(1 << 20, '\0');
  std::size_t total = 0;
  for (;;) {
    const auto n = ::read(in, buffer.data(), buffer.size());
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  ::close(in);
  return total;
}

std::string field(const std::string& json, const std::string& key) {
  const auto k = "\"" + key + "\":\"";
  const auto at = json.find(k);
  if (at == std::string::npos) return {};
  return json.substr(at + k.size(), json.find('"', at + k.size()) - at - k.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mib = 256;
  fs::path build_dir = self_exe().parent_path().parent_path();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc) {
      mib = static_cast<std::size_t>(std::stoul(argv[++i]));
    } else if (a == "--build-dir" && i + 1 < argc) {
      build_dir = argv[++i];
    } else {
      std::cerr << "usage: potluck-hub-bench [--mb MiB (default 256)] [--build-dir DIR]\n";
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  install_cleanup_on_signal();
  const auto dir = make_temp_dir("potluck-hub-bench");
  try {
    const auto port = free_tcp_port();
    auto daemon = start_potluckd(build_dir, dir / "data", port, "tcp://127.0.0.1:" + std::to_string(free_tcp_port()),
                                 dir / "potluckd.log");
    http_connection anonymous(port);
    const auto signed_up = anonymous.request("POST", "/api/v1/accounts", R"({"name":"bench"})");
    const auto token = field(signed_up.body, "secret");
    if (token.empty()) throw std::runtime_error("sign-up failed: " + signed_up.body);
    http_connection c(port, token);

    std::string bytes(mib << 20, '\0');
    std::mt19937_64 random(42);
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      const auto v = random();
      std::memcpy(bytes.data() + i, &v, 8);
    }
    bytes.replace(0, 4, "PK\x03\x04", 4);  // what a TorchScript archive starts with

    auto t0 = clock_type::now();
    const auto up = c.request("PUT", "/api/blobs", bytes);
    const double upload_s = seconds_since(t0);
    if (up.status != 201) throw std::runtime_error("upload answered " + std::to_string(up.status) + ": " + up.body);
    const auto sha = field(up.body, "sha256");
    const std::string card = "---\ntask: tensor\nformat: torchscript\n---\n# bench\n";
    const auto card_up = c.request("PUT", "/api/blobs", card);
    const auto commit = c.request("POST", "/api/models/bench/big/commits",
                                  R"({"files":[{"path":"README.md","sha256":")" + field(card_up.body, "sha256") +
                                      R"("},{"path":"model.pt","sha256":")" + sha + R"("}]})");
    if (commit.status != 201) throw std::runtime_error("commit answered " + std::to_string(commit.status) + ": " + commit.body);

    t0 = clock_type::now();
    const auto down = c.request("GET", "/bench/big/resolve/main/model.pt");
    const double download_s = seconds_since(t0);
    if (down.status != 200 || down.body != bytes) throw std::runtime_error("the download is not the upload");

    const auto blob = dir / "data" / "blobs" / "sha256" / sha.substr(0, 2) / sha;
    t0 = clock_type::now();
    copy_file_bytes(blob, dir / "copy.bin", true);  // what an upload must do
    const double copy_s = seconds_since(t0);
    t0 = clock_type::now();
    if (read_file(blob) != bytes.size()) throw std::runtime_error("the blob is short");
    const double read_s = seconds_since(t0);
    daemon->stop(std::chrono::milliseconds(5000));

    const double mb = static_cast<double>(bytes.size()) / 1e6;
    std::printf("potluck-hub-bench: one %zu MiB file over loopback, build %s\n\n", mib, fs::weakly_canonical(build_dir).c_str());
    std::printf("%-10s %10s %10s   %s\n", "path", "MB/s", "ceiling", "ratio");
    std::printf("%-10s %10.0f %10.0f   %.0f%% of a plain copy with fsync\n", "upload", mb / upload_s, mb / copy_s,
                100 * copy_s / upload_s);
    std::printf("%-10s %10.0f %10.0f   %.0f%% of a plain read\n", "download", mb / download_s, mb / read_s,
                100 * read_s / download_s);
    std::printf("\nupload = PUT /api/blobs (streamed, hashed, fsync'ed); download = GET …/resolve/main/model.pt;\n"
                "copy and read: the same bytes on the same disk, in this process (page cache warm for the read).\n");
  } catch (const std::exception& e) {
    std::cerr << "potluck-hub-bench: FAILED: " << e.what() << "\n  logs kept in " << dir.string() << "\n";
    return 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
