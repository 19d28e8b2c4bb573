// Helpers shared by the SDK tests: where the plugins are, temp folders, captured log lines,
// and inputs built from vectors.
#pragma once

#include "workers/plugin_host.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace sdk_test {

namespace fs = std::filesystem;

// The folder the build puts real plugins in (ctest sets POTLUCK_PLUGIN_DIR to it).
inline fs::path plugin_dir() {
  if (const char* env = std::getenv("POTLUCK_PLUGIN_DIR"); env && *env) return env;
  return POTLUCK_TEST_BUILD_PLUGIN_DIR;
}

inline fs::path real_plugin(const std::string& name) { return plugin_dir() / ("libpotluck-" + name + ".so"); }

#ifdef SDKTEST_PLUGIN_DIR
// A test-only plugin built from tests/unit/sdk/plugins.
inline fs::path test_plugin(const std::string& variant) {
  return fs::path(SDKTEST_PLUGIN_DIR) / ("libsdktest-" + variant + ".so");
}
#endif

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A fresh folder under the system temp folder, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
      path_ = fs::temp_directory_path() / ("potluck-sdk-test-" + std::to_string(rd()));
      if (fs::create_directory(path_)) return;
    }
    throw std::runtime_error("cannot create a temp folder");
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// While alive, spdlog's default logger writes into a string (every level).
class log_capture {
 public:
  log_capture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~log_capture() { spdlog::set_default_logger(previous_); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  std::string text() {
    spdlog::default_logger()->flush();
    return stream_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream stream_;
};

// An input over `bytes` bytes at `data` (kept by the caller while the run lasts).
inline potluck::worker::input_tensor make_input(const std::string& name, plk_dtype dtype, std::vector<std::int64_t> shape,
                                                const void* data, std::size_t bytes) {
  potluck::worker::input_tensor in;
  in.name = name;
  in.dtype = dtype;
  in.shape = std::move(shape);
  in.data = data;
  in.size_bytes = bytes;
  return in;
}

// An input whose bytes live in `storage` (kept by the caller while the run lasts).
template <class T>
potluck::worker::input_tensor make_input(const std::string& name, plk_dtype dtype, std::vector<std::int64_t> shape,
                                         const std::vector<T>& values) {
  potluck::worker::input_tensor in;
  in.name = name;
  in.dtype = dtype;
  in.shape = std::move(shape);
  in.data = values.data();
  in.size_bytes = values.size() * sizeof(T);
  return in;
}

template <class T> std::vector<T> output_values(const potluck::worker::output_tensor& out) {
  std::vector<T> v(out.size_bytes / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), out.data.get(), v.size() * sizeof(T));
  return v;
}

}  // namespace sdk_test
