// Device detection: /proc for the CPU, dlopen'ed NVML or CUDA driver for NVIDIA GPUs.
#include "workers/devices.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace potluck::worker {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Calls `fn(key, value)` for each "key : value" line of a /proc text.
template <typename Fn>
void for_each_field(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (!fn(trim(line.substr(0, colon)), trim(line.substr(colon + 1)))) return;
  }
}

// Owns one dlopen handle.
class library {
 public:
  explicit library(const std::string& name) : handle_(::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    if (!handle_) {
      const char* e = ::dlerror();
      error_ = e ? e : "unknown dlopen error";
    }
  }
  ~library() {
    if (handle_) ::dlclose(handle_);
  }
  library(const library&) = delete;
  library& operator=(const library&) = delete;
  explicit operator bool() const { return handle_ != nullptr; }
  const std::string& error() const { return error_; }
  template <typename Fn>
  Fn symbol(const char* name) const {
    return reinterpret_cast<Fn>(::dlsym(handle_, name));
  }

 private:
  void* handle_;
  std::string error_;
};

// The few NVML entry points used; the types are those of nvml.h (nvmlReturn_t is an int enum,
// nvmlDevice_t an opaque pointer, nvmlMemory_t three unsigned long long).
struct nvml_memory {
  unsigned long long total, free, used;
};
using nvml_device = void*;
using nvml_init_fn = int (*)();
using nvml_shutdown_fn = int (*)();
using nvml_count_fn = int (*)(unsigned int*);
using nvml_handle_fn = int (*)(unsigned int, nvml_device*);
using nvml_name_fn = int (*)(nvml_device, char*, unsigned int);
using nvml_memory_fn = int (*)(nvml_device, nvml_memory*);

bool detect_with_nvml(const std::string& lib_name, gpu_detection& out, std::string& why) {
  library lib(lib_name);
  if (!lib) {
    why = lib_name + " not loadable";
    return false;
  }
  auto init = lib.symbol<nvml_init_fn>("nvmlInit_v2");
  auto shutdown = lib.symbol<nvml_shutdown_fn>("nvmlShutdown");
  auto count = lib.symbol<nvml_count_fn>("nvmlDeviceGetCount_v2");
  auto handle = lib.symbol<nvml_handle_fn>("nvmlDeviceGetHandleByIndex_v2");
  auto name = lib.symbol<nvml_name_fn>("nvmlDeviceGetName");
  auto memory = lib.symbol<nvml_memory_fn>("nvmlDeviceGetMemoryInfo");
  if (!init || !shutdown || !count || !handle || !name || !memory) {
    why = lib_name + " lacks an NVML entry point";
    return false;
  }
  if (int rc = init(); rc != 0) {
    why = "nvmlInit_v2 failed with code " + std::to_string(rc);
    return false;
  }
  unsigned int n = 0;
  if (int rc = count(&n); rc != 0) {
    why = "nvmlDeviceGetCount_v2 failed with code " + std::to_string(rc);
    shutdown();
    return false;
  }
  for (unsigned int i = 0; i < n; ++i) {
    nvml_device dev = nullptr;
    if (handle(i, &dev) != 0) continue;  // e.g. a GPU we may not access: skip it, keep the others
    std::array<char, 256> buf{};
    gpu_info g;
    g.index = static_cast<int>(i);
    g.name = name(dev, buf.data(), static_cast<unsigned int>(buf.size())) == 0 ? buf.data() : "NVIDIA GPU";
    nvml_memory mem{};
    if (memory(dev, &mem) == 0) g.memory_bytes = mem.total;
    out.gpus.push_back(std::move(g));
  }
  shutdown();
  if (out.gpus.empty()) {
    why = "NVML reports no usable device";
    return false;
  }
  out.source = "nvml";
  return true;
}

// The CUDA driver API entry points (CUresult is an int enum, CUdevice an int).
using cu_init_fn = int (*)(unsigned int);
using cu_count_fn = int (*)(int*);
using cu_get_fn = int (*)(int*, int);
using cu_name_fn = int (*)(char*, int, int);
using cu_mem_fn = int (*)(std::size_t*, int);

bool detect_with_cuda(const std::string& lib_name, gpu_detection& out, std::string& why) {
  library lib(lib_name);
  if (!lib) {
    why = lib_name + " not loadable";
    return false;
  }
  auto init = lib.symbol<cu_init_fn>("cuInit");
  auto count = lib.symbol<cu_count_fn>("cuDeviceGetCount");
  auto get = lib.symbol<cu_get_fn>("cuDeviceGet");
  auto name = lib.symbol<cu_name_fn>("cuDeviceGetName");
  auto mem = lib.symbol<cu_mem_fn>("cuDeviceTotalMem_v2");
  if (!init || !count || !get || !name || !mem) {
    why = lib_name + " lacks a CUDA driver entry point";
    return false;
  }
  if (int rc = init(0); rc != 0) {
    why = "cuInit failed with code " + std::to_string(rc);
    return false;
  }
  int n = 0;
  if (int rc = count(&n); rc != 0) {
    why = "cuDeviceGetCount failed with code " + std::to_string(rc);
    return false;
  }
  for (int i = 0; i < n; ++i) {
    int dev = 0;
    if (get(&dev, i) != 0) continue;
    std::array<char, 256> buf{};
    gpu_info g;
    g.index = i;
    g.name = name(buf.data(), static_cast<int>(buf.size()), dev) == 0 ? buf.data() : "NVIDIA GPU";
    std::size_t bytes = 0;
    if (mem(&bytes, dev) == 0) g.memory_bytes = bytes;
    out.gpus.push_back(std::move(g));
  }
  if (out.gpus.empty()) {
    why = "the CUDA driver reports no device";
    return false;
  }
  out.source = "cuda";
  return true;
}

}  // namespace

std::string parse_cpu_model(std::string_view proc_cpuinfo) {
  // x86 says "model name"; ARM kernels say "Hardware" or "Model"; others "cpu model" or "cpu".
  static constexpr std::array<std::string_view, 5> keys = {"model name", "Hardware", "Model", "cpu model", "cpu"};
  for (auto key : keys) {
    std::string found;
    for_each_field(proc_cpuinfo, [&](std::string_view k, std::string_view v) {
      if (k != key || v.empty()) return true;
      found = std::string(v);
      return false;
    });
    if (!found.empty()) return found;
  }
  return {};
}

std::uint64_t parse_mem_total_bytes(std::string_view proc_meminfo) {
  std::uint64_t bytes = 0;
  for_each_field(proc_meminfo, [&](std::string_view k, std::string_view v) {
    if (k != "MemTotal") return true;
    std::uint64_t kib = 0;
    std::istringstream in{std::string(v)};
    if (in >> kib) bytes = kib * 1024;  // the kernel's "kB" is KiB
    return false;
  });
  return bytes;
}

cpu_info detect_cpu() {
  cpu_info cpu;
  cpu.model = parse_cpu_model(read_file("/proc/cpuinfo"));
  if (cpu.model.empty()) cpu.model = "unknown";
  cpu.cores = std::max(1u, std::thread::hardware_concurrency());
  cpu.memory_bytes = parse_mem_total_bytes(read_file("/proc/meminfo"));
  if (cpu.memory_bytes == 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0)
      cpu.memory_bytes = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
  }
  return cpu;
}

gpu_detection detect_gpus(const gpu_libraries& libraries) {
  gpu_detection out;
  std::string why_nvml, why_cuda;
  if (detect_with_nvml(libraries.nvml, out, why_nvml)) return out;
  out.gpus.clear();
  if (detect_with_cuda(libraries.cuda, out, why_cuda)) return out;
  out.gpus.clear();
  out.note = why_nvml + "; " + why_cuda;
  return out;
}

}  // namespace potluck::worker
