/*
 * The ABI seen from C: this file is compiled as strict C11 with -Wall -Wextra -pedantic -Werror,
 * so plugin.h must stay plain C. It uses every type, constant and function pointer of the
 * header, and hands the C++ side (abi_test.cpp) two things to compare with its own view:
 * the size and offset of every field as C lays them out, and a descriptor built in C.
 */
#include <potluck/plugin.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "abi_c.h"

/* ---- layout as C sees it ---- */

#define FIELD(type, field) {#type "." #field, offsetof(type, field), sizeof(((type *)0)->field)}
#define WHOLE(type) {#type, 0, sizeof(type)}

static const sdktest_c_field c_layout[] = {
    WHOLE(plk_status), WHOLE(plk_dtype), WHOLE(plk_log_level),

    WHOLE(plk_tensor_view),
    FIELD(plk_tensor_view, struct_size), FIELD(plk_tensor_view, dtype), FIELD(plk_tensor_view, rank),
    FIELD(plk_tensor_view, shape), FIELD(plk_tensor_view, data), FIELD(plk_tensor_view, size_bytes),

    WHOLE(plk_tensor_decl),
    FIELD(plk_tensor_decl, struct_size), FIELD(plk_tensor_decl, name), FIELD(plk_tensor_decl, spec),
    FIELD(plk_tensor_decl, description),

    WHOLE(plk_task_decl),
    FIELD(plk_task_decl, struct_size), FIELD(plk_task_decl, name), FIELD(plk_task_decl, backend),
    FIELD(plk_task_decl, description), FIELD(plk_task_decl, inputs), FIELD(plk_task_decl, input_count),
    FIELD(plk_task_decl, outputs), FIELD(plk_task_decl, output_count), FIELD(plk_task_decl, params_schema),
    FIELD(plk_task_decl, cost), FIELD(plk_task_decl, rtol), FIELD(plk_task_decl, atol),

    WHOLE(plk_session_config),
    FIELD(plk_session_config, struct_size), FIELD(plk_session_config, task_index),
    FIELD(plk_session_config, device_index), FIELD(plk_session_config, model_dir),

    WHOLE(plk_host_api),
    FIELD(plk_host_api, struct_size), FIELD(plk_host_api, abi_major), FIELD(plk_host_api, abi_minor),
    FIELD(plk_host_api, host_ctx), FIELD(plk_host_api, log), FIELD(plk_host_api, get_input),
    FIELD(plk_host_api, get_params), FIELD(plk_host_api, alloc_output), FIELD(plk_host_api, progress),
    FIELD(plk_host_api, is_cancelled), FIELD(plk_host_api, set_error),

    WHOLE(plk_plugin_desc),
    FIELD(plk_plugin_desc, struct_size), FIELD(plk_plugin_desc, abi_major),
    FIELD(plk_plugin_desc, abi_minor_required), FIELD(plk_plugin_desc, name), FIELD(plk_plugin_desc, version),
    FIELD(plk_plugin_desc, description), FIELD(plk_plugin_desc, tasks), FIELD(plk_plugin_desc, task_count),
    FIELD(plk_plugin_desc, init), FIELD(plk_plugin_desc, shutdown), FIELD(plk_plugin_desc, session_create),
    FIELD(plk_plugin_desc, session_destroy), FIELD(plk_plugin_desc, run),
};

const sdktest_c_field *sdktest_c_layout(size_t *count) {
  *count = sizeof(c_layout) / sizeof(c_layout[0]);
  return c_layout;
}

/* ---- every constant, as an integer constant expression ---- */

int32_t sdktest_c_constant(const char *name) {
  static const struct {
    const char *name;
    int32_t value;
  } constants[] = {
      {"PLK_ABI_MAJOR", PLK_ABI_MAJOR},
      {"PLK_ABI_MINOR", PLK_ABI_MINOR},
      {"PLK_OK", PLK_OK},
      {"PLK_ERR_INVALID_ARGUMENT", PLK_ERR_INVALID_ARGUMENT},
      {"PLK_ERR_UNSUPPORTED", PLK_ERR_UNSUPPORTED},
      {"PLK_ERR_NOT_FOUND", PLK_ERR_NOT_FOUND},
      {"PLK_ERR_OUT_OF_MEMORY", PLK_ERR_OUT_OF_MEMORY},
      {"PLK_ERR_CANCELLED", PLK_ERR_CANCELLED},
      {"PLK_ERR_INTERNAL", PLK_ERR_INTERNAL},
      {"PLK_DTYPE_INVALID", PLK_DTYPE_INVALID},
      {"PLK_DTYPE_F32", PLK_DTYPE_F32},
      {"PLK_DTYPE_F64", PLK_DTYPE_F64},
      {"PLK_DTYPE_I32", PLK_DTYPE_I32},
      {"PLK_DTYPE_I64", PLK_DTYPE_I64},
      {"PLK_DTYPE_U8", PLK_DTYPE_U8},
      {"PLK_DTYPE_I8", PLK_DTYPE_I8},
      {"PLK_DTYPE_F16", PLK_DTYPE_F16},
      {"PLK_DTYPE_BF16", PLK_DTYPE_BF16},
      {"PLK_DTYPE_BOOL", PLK_DTYPE_BOOL},
      {"PLK_LOG_DEBUG", PLK_LOG_DEBUG},
      {"PLK_LOG_INFO", PLK_LOG_INFO},
      {"PLK_LOG_WARN", PLK_LOG_WARN},
      {"PLK_LOG_ERROR", PLK_LOG_ERROR},
  };
  size_t i;
  for (i = 0; i < sizeof(constants) / sizeof(constants[0]); ++i)
    if (strcmp(constants[i].name, name) == 0) return constants[i].value;
  return -1;
}

/* ---- a descriptor and a host table built in C ---- */

static plk_status c_init(const plk_host_api *host, void **plugin_ctx) {
  *plugin_ctx = (void *)host;
  return PLK_OK;
}
static void c_shutdown(void *plugin_ctx) { (void)plugin_ctx; }
static plk_status c_session_create(void *plugin_ctx, const plk_session_config *config, void **session_ctx) {
  (void)config;
  *session_ctx = plugin_ctx;
  return PLK_OK;
}
static void c_session_destroy(void *session_ctx) { (void)session_ctx; }
static plk_status c_run(void *session_ctx, plk_job *job) {
  (void)session_ctx;
  (void)job;
  return PLK_ERR_UNSUPPORTED;
}

static const plk_tensor_decl c_inputs[] = {
    {sizeof(plk_tensor_decl), "a", "f32[m,k]", "left"},
    {sizeof(plk_tensor_decl), "b", "f32[k,n]", NULL},
};
static const plk_tensor_decl c_outputs[] = {{sizeof(plk_tensor_decl), "c", "f32[m,n]", "product"}};
static const plk_task_decl c_tasks[] = {{sizeof(plk_task_decl), "linalg.matmul", "cpu", "c = a.b", c_inputs, 2,
                                         c_outputs, 1, "{\"type\":\"object\"}", "2*m*n*k", 1e-4, 1e-6}};
static const plk_plugin_desc c_descriptor = {
    sizeof(plk_plugin_desc), PLK_ABI_MAJOR, 0, "c-plugin", "0.1.0", "built in C", c_tasks, 1,
    c_init, c_shutdown, c_session_create, c_session_destroy, c_run};

static const plk_plugin_desc *c_entry(const plk_host_api *host, uint32_t major, uint32_t minor) {
  (void)host;
  (void)major;
  (void)minor;
  return &c_descriptor;
}

plk_plugin_entry_fn sdktest_c_entry(void) { return &c_entry; }

/* Host services written in C; they only prove that the function pointer types fit. */
static void c_log(void *host_ctx, plk_log_level level, const char *message) {
  (void)host_ctx;
  (void)level;
  (void)message;
}
static plk_status c_get_input(plk_job *job, const char *name, plk_tensor_view *out) {
  (void)job;
  (void)name;
  (void)out;
  return PLK_ERR_NOT_FOUND;
}
static const char *c_get_params(plk_job *job) {
  (void)job;
  return "{}";
}
static plk_status c_alloc_output(plk_job *job, const char *name, plk_dtype dtype, uint32_t rank,
                                 const int64_t *shape, void **data) {
  (void)job;
  (void)name;
  (void)dtype;
  (void)rank;
  (void)shape;
  *data = NULL;
  return PLK_ERR_OUT_OF_MEMORY;
}
static void c_progress(plk_job *job, double fraction, const char *message) {
  (void)job;
  (void)fraction;
  (void)message;
}
static int32_t c_is_cancelled(plk_job *job) {
  (void)job;
  return 0;
}
static void c_set_error(plk_job *job, const char *message) {
  (void)job;
  (void)message;
}

plk_host_api sdktest_c_host_api(void) {
  plk_host_api api;
  memset(&api, 0, sizeof(api));
  api.struct_size = sizeof(api);
  api.abi_major = PLK_ABI_MAJOR;
  api.abi_minor = PLK_ABI_MINOR;
  api.log = c_log;
  api.get_input = c_get_input;
  api.get_params = c_get_params;
  api.alloc_output = c_alloc_output;
  api.progress = c_progress;
  api.is_cancelled = c_is_cancelled;
  api.set_error = c_set_error;
  return api;
}

/* A tensor view and a session config filled in C, read back in C++. */
void sdktest_c_fill(plk_tensor_view *view, plk_session_config *config) {
  static const int64_t shape[2] = {2, 3};
  static const float data[6] = {1, 2, 3, 4, 5, 6};
  view->struct_size = sizeof(*view);
  view->dtype = PLK_DTYPE_F32;
  view->rank = 2;
  view->shape = shape;
  view->data = data;
  view->size_bytes = sizeof(data);
  config->struct_size = sizeof(*config);
  config->task_index = 3;
  config->device_index = -1;
  config->model_dir = "/models/x";
}
