// The plugin ABI pinned down: sizes and offsets of every struct on x86-64 LP64 (a change here is
// an ABI break: see the versioning rules in plugin.h), the values of every constant, and C and
// C++ agreeing on all of it (abi_c.c is compiled as strict C11).
#define BOOST_TEST_MODULE sdk_abi
#include <boost/test/unit_test.hpp>

#include <potluck/plugin.h>
#include <potluck/plugin.hpp>

#include <cstddef>
#include <cstring>
#include <map>
#include <string>

#include "abi_c.h"

#if defined(__x86_64__) && defined(__LP64__)
#define PIN(type, field, offset, size)                                    \
  static_assert(offsetof(type, field) == (offset), #type "." #field);    \
  static_assert(sizeof(type::field) == (size), #type "." #field " size")

static_assert(sizeof(plk_status) == 4 && sizeof(plk_dtype) == 4 && sizeof(plk_log_level) == 4);

static_assert(sizeof(plk_tensor_view) == 40);
PIN(plk_tensor_view, struct_size, 0, 4);
PIN(plk_tensor_view, dtype, 4, 4);
PIN(plk_tensor_view, rank, 8, 4);
PIN(plk_tensor_view, shape, 16, 8);
PIN(plk_tensor_view, data, 24, 8);
PIN(plk_tensor_view, size_bytes, 32, 8);

static_assert(sizeof(plk_tensor_decl) == 32);
PIN(plk_tensor_decl, struct_size, 0, 4);
PIN(plk_tensor_decl, name, 8, 8);
PIN(plk_tensor_decl, spec, 16, 8);
PIN(plk_tensor_decl, description, 24, 8);

static_assert(sizeof(plk_task_decl) == 96);
PIN(plk_task_decl, struct_size, 0, 4);
PIN(plk_task_decl, name, 8, 8);
PIN(plk_task_decl, backend, 16, 8);
PIN(plk_task_decl, description, 24, 8);
PIN(plk_task_decl, inputs, 32, 8);
PIN(plk_task_decl, input_count, 40, 4);
PIN(plk_task_decl, outputs, 48, 8);
PIN(plk_task_decl, output_count, 56, 4);
PIN(plk_task_decl, params_schema, 64, 8);
PIN(plk_task_decl, cost, 72, 8);
PIN(plk_task_decl, rtol, 80, 8);
PIN(plk_task_decl, atol, 88, 8);

static_assert(sizeof(plk_session_config) == 24);
PIN(plk_session_config, struct_size, 0, 4);
PIN(plk_session_config, task_index, 4, 4);
PIN(plk_session_config, device_index, 8, 4);
PIN(plk_session_config, model_dir, 16, 8);

static_assert(sizeof(plk_host_api) == 72);
PIN(plk_host_api, struct_size, 0, 4);
PIN(plk_host_api, abi_major, 4, 2);
PIN(plk_host_api, abi_minor, 6, 2);
PIN(plk_host_api, host_ctx, 8, 8);
PIN(plk_host_api, log, 16, 8);
PIN(plk_host_api, get_input, 24, 8);
PIN(plk_host_api, get_params, 32, 8);
PIN(plk_host_api, alloc_output, 40, 8);
PIN(plk_host_api, progress, 48, 8);
PIN(plk_host_api, is_cancelled, 56, 8);
PIN(plk_host_api, set_error, 64, 8);

static_assert(sizeof(plk_plugin_desc) == 88);
PIN(plk_plugin_desc, struct_size, 0, 4);
PIN(plk_plugin_desc, abi_major, 4, 2);
PIN(plk_plugin_desc, abi_minor_required, 6, 2);
PIN(plk_plugin_desc, name, 8, 8);
PIN(plk_plugin_desc, version, 16, 8);
PIN(plk_plugin_desc, description, 24, 8);
PIN(plk_plugin_desc, tasks, 32, 8);
PIN(plk_plugin_desc, task_count, 40, 4);
PIN(plk_plugin_desc, init, 48, 8);
PIN(plk_plugin_desc, shutdown, 56, 8);
PIN(plk_plugin_desc, session_create, 64, 8);
PIN(plk_plugin_desc, session_destroy, 72, 8);
PIN(plk_plugin_desc, run, 80, 8);
#endif

// The values are part of the ABI: they never change.
static_assert(PLK_ABI_MAJOR == 1 && PLK_ABI_MINOR == 1);
static_assert(PLK_OK == 0 && PLK_ERR_INVALID_ARGUMENT == 1 && PLK_ERR_UNSUPPORTED == 2 && PLK_ERR_NOT_FOUND == 3 &&
              PLK_ERR_OUT_OF_MEMORY == 4 && PLK_ERR_CANCELLED == 5 && PLK_ERR_INTERNAL == 6);
static_assert(PLK_DTYPE_INVALID == 0 && PLK_DTYPE_F32 == 1 && PLK_DTYPE_F64 == 2 && PLK_DTYPE_I32 == 3 &&
              PLK_DTYPE_I64 == 4 && PLK_DTYPE_U8 == 5 && PLK_DTYPE_I8 == 6 && PLK_DTYPE_F16 == 7 &&
              PLK_DTYPE_BF16 == 8 && PLK_DTYPE_BOOL == 9);
static_assert(PLK_LOG_DEBUG == 0 && PLK_LOG_INFO == 1 && PLK_LOG_WARN == 2 && PLK_LOG_ERROR == 3);

namespace {

#define CXX_FIELD(type, field) {#type "." #field, {offsetof(type, field), sizeof(type::field)}}
#define CXX_WHOLE(type) {#type, {0, sizeof(type)}}

std::map<std::string, std::pair<std::size_t, std::size_t>> cxx_layout() {
  return {
      CXX_WHOLE(plk_status), CXX_WHOLE(plk_dtype), CXX_WHOLE(plk_log_level),
      CXX_WHOLE(plk_tensor_view),
      CXX_FIELD(plk_tensor_view, struct_size), CXX_FIELD(plk_tensor_view, dtype), CXX_FIELD(plk_tensor_view, rank),
      CXX_FIELD(plk_tensor_view, shape), CXX_FIELD(plk_tensor_view, data), CXX_FIELD(plk_tensor_view, size_bytes),
      CXX_WHOLE(plk_tensor_decl),
      CXX_FIELD(plk_tensor_decl, struct_size), CXX_FIELD(plk_tensor_decl, name), CXX_FIELD(plk_tensor_decl, spec),
      CXX_FIELD(plk_tensor_decl, description),
      CXX_WHOLE(plk_task_decl),
      CXX_FIELD(plk_task_decl, struct_size), CXX_FIELD(plk_task_decl, name), CXX_FIELD(plk_task_decl, backend),
      CXX_FIELD(plk_task_decl, description), CXX_FIELD(plk_task_decl, inputs), CXX_FIELD(plk_task_decl, input_count),
      CXX_FIELD(plk_task_decl, outputs), CXX_FIELD(plk_task_decl, output_count),
      CXX_FIELD(plk_task_decl, params_schema), CXX_FIELD(plk_task_decl, cost), CXX_FIELD(plk_task_decl, rtol),
      CXX_FIELD(plk_task_decl, atol),
      CXX_WHOLE(plk_session_config),
      CXX_FIELD(plk_session_config, struct_size), CXX_FIELD(plk_session_config, task_index),
      CXX_FIELD(plk_session_config, device_index), CXX_FIELD(plk_session_config, model_dir),
      CXX_WHOLE(plk_host_api),
      CXX_FIELD(plk_host_api, struct_size), CXX_FIELD(plk_host_api, abi_major), CXX_FIELD(plk_host_api, abi_minor),
      CXX_FIELD(plk_host_api, host_ctx), CXX_FIELD(plk_host_api, log), CXX_FIELD(plk_host_api, get_input),
      CXX_FIELD(plk_host_api, get_params), CXX_FIELD(plk_host_api, alloc_output), CXX_FIELD(plk_host_api, progress),
      CXX_FIELD(plk_host_api, is_cancelled), CXX_FIELD(plk_host_api, set_error),
      CXX_WHOLE(plk_plugin_desc),
      CXX_FIELD(plk_plugin_desc, struct_size), CXX_FIELD(plk_plugin_desc, abi_major),
      CXX_FIELD(plk_plugin_desc, abi_minor_required), CXX_FIELD(plk_plugin_desc, name),
      CXX_FIELD(plk_plugin_desc, version), CXX_FIELD(plk_plugin_desc, description), CXX_FIELD(plk_plugin_desc, tasks),
      CXX_FIELD(plk_plugin_desc, task_count), CXX_FIELD(plk_plugin_desc, init), CXX_FIELD(plk_plugin_desc, shutdown),
      CXX_FIELD(plk_plugin_desc, session_create), CXX_FIELD(plk_plugin_desc, session_destroy),
      CXX_FIELD(plk_plugin_desc, run),
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(c_and_cxx_lay_out_every_field_the_same) {
  std::size_t count = 0;
  const sdktest_c_field* c = sdktest_c_layout(&count);
  const auto cxx = cxx_layout();
  BOOST_TEST(count == cxx.size());
  for (std::size_t i = 0; i < count; ++i) {
    BOOST_TEST_CONTEXT(c[i].what) {
      const auto it = cxx.find(c[i].what);
      BOOST_TEST_REQUIRE((it != cxx.end()));
      BOOST_TEST(c[i].offset == it->second.first);
      BOOST_TEST(c[i].size == it->second.second);
    }
  }
}

BOOST_AUTO_TEST_CASE(c_sees_the_same_constants) {
  const std::map<std::string, int> cxx = {
      {"PLK_ABI_MAJOR", PLK_ABI_MAJOR}, {"PLK_ABI_MINOR", PLK_ABI_MINOR}, {"PLK_OK", PLK_OK},
      {"PLK_ERR_INVALID_ARGUMENT", PLK_ERR_INVALID_ARGUMENT}, {"PLK_ERR_UNSUPPORTED", PLK_ERR_UNSUPPORTED},
      {"PLK_ERR_NOT_FOUND", PLK_ERR_NOT_FOUND}, {"PLK_ERR_OUT_OF_MEMORY", PLK_ERR_OUT_OF_MEMORY},
      {"PLK_ERR_CANCELLED", PLK_ERR_CANCELLED}, {"PLK_ERR_INTERNAL", PLK_ERR_INTERNAL},
      {"PLK_DTYPE_INVALID", PLK_DTYPE_INVALID}, {"PLK_DTYPE_F32", PLK_DTYPE_F32}, {"PLK_DTYPE_F64", PLK_DTYPE_F64},
      {"PLK_DTYPE_I32", PLK_DTYPE_I32}, {"PLK_DTYPE_I64", PLK_DTYPE_I64}, {"PLK_DTYPE_U8", PLK_DTYPE_U8},
      {"PLK_DTYPE_I8", PLK_DTYPE_I8}, {"PLK_DTYPE_F16", PLK_DTYPE_F16}, {"PLK_DTYPE_BF16", PLK_DTYPE_BF16},
      {"PLK_DTYPE_BOOL", PLK_DTYPE_BOOL}, {"PLK_LOG_DEBUG", PLK_LOG_DEBUG}, {"PLK_LOG_INFO", PLK_LOG_INFO},
      {"PLK_LOG_WARN", PLK_LOG_WARN}, {"PLK_LOG_ERROR", PLK_LOG_ERROR},
  };
  for (const auto& [name, value] : cxx) BOOST_TEST(sdktest_c_constant(name.c_str()) == value, name);
  BOOST_TEST(sdktest_c_constant("PLK_NOT_A_CONSTANT") == -1);
}

BOOST_AUTO_TEST_CASE(a_descriptor_built_in_c_reads_right_in_cxx) {
  const plk_host_api host = sdktest_c_host_api();
  const plk_plugin_desc* d = sdktest_c_entry()(&host, PLK_ABI_MAJOR, PLK_ABI_MINOR);
  BOOST_TEST_REQUIRE(d != nullptr);
  BOOST_TEST(d->struct_size == sizeof(plk_plugin_desc));
  BOOST_TEST(d->abi_major == PLK_ABI_MAJOR);
  BOOST_TEST(d->abi_minor_required == 0);
  BOOST_TEST(std::string(d->name) == "c-plugin");
  BOOST_TEST(std::string(d->version) == "0.1.0");
  BOOST_TEST_REQUIRE(d->task_count == 1u);
  const plk_task_decl& t = d->tasks[0];
  BOOST_TEST(t.struct_size == sizeof(plk_task_decl));
  BOOST_TEST(std::string(t.name) == "linalg.matmul");
  BOOST_TEST(std::string(t.backend) == "cpu");
  BOOST_TEST_REQUIRE(t.input_count == 2u);
  BOOST_TEST(std::string(t.inputs[1].spec) == "f32[k,n]");
  BOOST_TEST(t.inputs[1].description == nullptr);
  BOOST_TEST_REQUIRE(t.output_count == 1u);
  BOOST_TEST(std::string(t.outputs[0].name) == "c");
  BOOST_TEST(std::string(t.params_schema) == "{\"type\":\"object\"}");
  BOOST_TEST(std::string(t.cost) == "2*m*n*k");
  BOOST_TEST(t.rtol == 1e-4);
  BOOST_TEST(t.atol == 1e-6);

  void* plugin_ctx = nullptr;
  BOOST_TEST(d->init(&host, &plugin_ctx) == PLK_OK);
  BOOST_TEST(plugin_ctx == static_cast<const void*>(&host));
  void* session_ctx = nullptr;
  plk_session_config config{};
  config.struct_size = sizeof(config);
  BOOST_TEST(d->session_create(plugin_ctx, &config, &session_ctx) == PLK_OK);
  BOOST_TEST(d->run(session_ctx, nullptr) == PLK_ERR_UNSUPPORTED);
  d->session_destroy(session_ctx);
  d->shutdown(plugin_ctx);

  // The host table built in C: every service is set and callable from C++.
  BOOST_TEST(host.struct_size == sizeof(plk_host_api));
  BOOST_TEST(std::string(host.get_params(nullptr)) == "{}");
  void* data = &plugin_ctx;
  BOOST_TEST(host.alloc_output(nullptr, "x", PLK_DTYPE_F32, 0, nullptr, &data) == PLK_ERR_OUT_OF_MEMORY);
  BOOST_TEST(data == nullptr);
  BOOST_TEST(host.is_cancelled(nullptr) == 0);
  plk_tensor_view view{};
  BOOST_TEST(host.get_input(nullptr, "x", &view) == PLK_ERR_NOT_FOUND);
  host.log(nullptr, PLK_LOG_INFO, "x");
  host.progress(nullptr, 0.5, "x");
  host.set_error(nullptr, "x");
}

BOOST_AUTO_TEST_CASE(structs_filled_in_c_read_right_in_cxx) {
  plk_tensor_view view{};
  plk_session_config config{};
  sdktest_c_fill(&view, &config);
  BOOST_TEST(view.struct_size == sizeof(plk_tensor_view));
  BOOST_TEST(view.dtype == PLK_DTYPE_F32);
  BOOST_TEST_REQUIRE(view.rank == 2u);
  BOOST_TEST(view.shape[0] == 2);
  BOOST_TEST(view.shape[1] == 3);
  BOOST_TEST(view.size_bytes == 24u);
  BOOST_TEST(static_cast<const float*>(view.data)[5] == 6.0f);
  BOOST_TEST(config.task_index == 3u);
  BOOST_TEST(config.device_index == -1);
  BOOST_TEST(std::string(config.model_dir) == "/models/x");
}

BOOST_AUTO_TEST_CASE(wrapper_dtype_helpers_cover_every_dtype) {
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_F32) == 4u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_F64) == 8u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_I32) == 4u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_I64) == 8u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_U8) == 1u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_I8) == 1u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_F16) == 2u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_BF16) == 2u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_BOOL) == 1u);
  BOOST_TEST(potluck::dtype_size(PLK_DTYPE_INVALID) == 0u);
  BOOST_TEST(potluck::dtype_size(42) == 0u);
  BOOST_TEST(std::string(potluck::dtype_name(PLK_DTYPE_BF16)) == "bf16");
  BOOST_TEST(std::string(potluck::dtype_name(42)) == "invalid");
  const std::int64_t shape[] = {2, 0, 3};
  BOOST_TEST(potluck::shape_string(shape) == "[2,0,3]");
}
