// Device detection: /proc parsing, and no GPU (and no error) where no NVIDIA library is found.
#define BOOST_TEST_MODULE workers_devices
#include "workers/devices.hpp"

#include <boost/test/unit_test.hpp>

#include <dlfcn.h>

using namespace potluck::worker;

BOOST_AUTO_TEST_CASE(cpu_model_comes_from_cpuinfo) {
  const char* x86 =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\n"
      "model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\nflags\t\t: fpu vme\n\n"
      "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n";
  BOOST_TEST(parse_cpu_model(x86) == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz");
  const char* arm = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd0c\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
  BOOST_TEST(parse_cpu_model(arm) == "BCM2835");
  BOOST_TEST(parse_cpu_model("processor : 0\n").empty());
  BOOST_TEST(parse_cpu_model("").empty());
}

BOOST_AUTO_TEST_CASE(memory_comes_from_meminfo_in_kib) {
  BOOST_TEST(parse_mem_total_bytes("MemTotal:       16318412 kB\nMemFree:         1234 kB\n") == 16318412ull * 1024);
  BOOST_TEST(parse_mem_total_bytes("MemFree: 12 kB\n") == 0u);
  BOOST_TEST(parse_mem_total_bytes("MemTotal: lots\n") == 0u);
}

BOOST_AUTO_TEST_CASE(this_machine_has_a_cpu) {
  const auto cpu = detect_cpu();
  BOOST_TEST(!cpu.model.empty());
  BOOST_TEST(cpu.cores >= 1u);
  BOOST_TEST(cpu.memory_bytes > 0u);
}

BOOST_AUTO_TEST_CASE(missing_driver_libraries_mean_no_gpu_and_say_why) {
  gpu_libraries libs{"libpotluck-no-such-nvml.so.1", "libpotluck-no-such-cuda.so.1"};
  gpu_detection found;
  BOOST_CHECK_NO_THROW(found = detect_gpus(libs));
  BOOST_TEST(found.gpus.empty());
  BOOST_TEST(found.source.empty());
  BOOST_TEST(found.note.find("libpotluck-no-such-nvml.so.1") != std::string::npos, found.note);
  BOOST_TEST(found.note.find("libpotluck-no-such-cuda.so.1") != std::string::npos, found.note);
}

BOOST_AUTO_TEST_CASE(the_real_libraries_are_used_where_present) {
  // Where neither driver library exists (a machine without NVIDIA drivers), the default
  // detection finds no GPU and does not fail; where one exists, every GPU found is complete.
  const bool have_nvml = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD) || [] {
    void* h = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) ::dlclose(h);
    return h != nullptr;
  }();
  const bool have_cuda = [] {
    void* h = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) ::dlclose(h);
    return h != nullptr;
  }();
  gpu_detection found;
  BOOST_CHECK_NO_THROW(found = detect_gpus());
  if (!have_nvml && !have_cuda) {
    BOOST_TEST_MESSAGE("no NVIDIA driver library here: expecting no GPU");
    BOOST_TEST(found.gpus.empty());
    BOOST_TEST(!found.note.empty());
    return;
  }
  BOOST_TEST_MESSAGE("NVIDIA driver library present: found " << found.gpus.size() << " GPU(s) through '"
                                                             << found.source << "' " << found.note);
  for (std::size_t i = 0; i < found.gpus.size(); ++i) {
    BOOST_TEST(!found.gpus[i].name.empty());
    BOOST_TEST(found.gpus[i].memory_bytes > 0u);
  }
  BOOST_TEST((found.gpus.empty() ? !found.note.empty() : !found.source.empty()));
}
