// Device detection for the worker: the CPU (model, cores, memory) and NVIDIA GPUs.
//
// GPUs are found at run time only: NVML (libnvidia-ml.so.1) is tried first, then the CUDA
// driver (libcuda.so.1), both through dlopen with the few function types declared here. Nothing
// NVIDIA is included or linked, so the worker builds and runs on machines without a GPU. No
// library or no device simply means no GPU; the reason is returned for one info log line.
//
// Threads: plain functions without shared state; call them from one thread at a time (the
// driver libraries are loaded and unloaded within one call).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::worker {

struct cpu_info {
  std::string model;              // "AMD EPYC 7763 64-Core Processor"; "unknown" if not found
  unsigned cores = 1;             // logical CPUs (std::thread::hardware_concurrency)
  std::uint64_t memory_bytes = 0; // physical memory
};

struct gpu_info {
  int index = 0;  // ordinal as the plugins see it (runners get CUDA_DEVICE_ORDER=PCI_BUS_ID)
  std::string name;
  std::uint64_t memory_bytes = 0;
};

struct gpu_detection {
  std::vector<gpu_info> gpus;
  std::string source;  // "nvml", "cuda" or "" when none was found
  std::string note;    // why no GPU was found, for one info line; empty when some were
};

// The shared libraries tried in order; tests pass names that do not exist.
struct gpu_libraries {
  std::string nvml = "libnvidia-ml.so.1";
  std::string cuda = "libcuda.so.1";
};

cpu_info detect_cpu();
gpu_detection detect_gpus(const gpu_libraries& libraries = {});

// Parsers of /proc texts, exposed for tests. Both return an empty/zero value when not found.
std::string parse_cpu_model(std::string_view proc_cpuinfo);
std::uint64_t parse_mem_total_bytes(std::string_view proc_meminfo);

}  // namespace potluck::worker
