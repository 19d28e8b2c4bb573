/*
 * Test-only plugins for the loader tests, in plain C against plugin.h. One source, built once
 * per variant with -DSDKTEST_VARIANT_<name>: each variant is a plugin that is right or wrong in
 * exactly one way.
 *
 *   good            a sound plugin: sdktest.good (cpu), y = x + 1 over i32[n]; logs "shutting
 *                   down" from shutdown
 *   major2          says ABI 2.0                        -> refused, names both versions
 *   minor3          needs host minor 3                  -> refused by a 1.0 host, loads on 1.3
 *   dup_a, dup_b    two plugins offering sdktest.dup on cpu -> the second is refused
 *   bad_spec        input spec "f32[m,,k]"              -> refused
 *   bad_cost        cost "2*m*"                         -> refused
 *   cost_unbound    cost "2*q" (no input binds q)       -> refused
 *   bad_backend     backend "tpu"                       -> refused
 *   older_structs   task and tensor declarations from an "older" plugin: they stop before
 *                   params_schema/cost and description, so arrays are strided by the smaller
 *                   size                                -> loads, missing fields read as absent
 *   newer_structs   descriptor, tasks and tensors with extra trailing fields from a "newer"
 *                   plugin that still needs only 1.0    -> loads, the extras are ignored
 *   tiny_desc       descriptor struct_size 6            -> refused (cannot hold its version)
 *   short_desc      descriptor without run()            -> refused
 *   init_fails      init logs why and fails             -> refused with that reason
 *   null_desc       entry returns NULL                  -> refused
 *   no_init         init and shutdown are NULL          -> loads (nothing to initialise)
 */
#include <potluck/plugin.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define SDKTEST_EXPORT __attribute__((visibility("default")))
#else
#define SDKTEST_EXPORT
#endif

#if defined(SDKTEST_VARIANT_major2)
#define PLUGIN_NAME "sdktest_major2"
#define ABI_MAJOR 2
#elif defined(SDKTEST_VARIANT_minor3)
#define PLUGIN_NAME "sdktest_minor3"
#define ABI_MINOR_REQUIRED 3
#elif defined(SDKTEST_VARIANT_dup_a)
#define PLUGIN_NAME "sdktest_dup_a"
#define TASK_NAME "sdktest.dup"
#elif defined(SDKTEST_VARIANT_dup_b)
#define PLUGIN_NAME "sdktest_dup_b"
#define TASK_NAME "sdktest.dup"
#elif defined(SDKTEST_VARIANT_bad_spec)
#define PLUGIN_NAME "sdktest_bad_spec"
#define INPUT_SPEC "f32[m,,k]"
#elif defined(SDKTEST_VARIANT_bad_cost)
#define PLUGIN_NAME "sdktest_bad_cost"
#define COST "2*m*"
#elif defined(SDKTEST_VARIANT_cost_unbound)
#define PLUGIN_NAME "sdktest_cost_unbound"
#define COST "2*q"
#elif defined(SDKTEST_VARIANT_bad_backend)
#define PLUGIN_NAME "sdktest_bad_backend"
#define BACKEND "tpu"
#elif defined(SDKTEST_VARIANT_older_structs)
#define PLUGIN_NAME "sdktest_older"
#elif defined(SDKTEST_VARIANT_newer_structs)
#define PLUGIN_NAME "sdktest_newer"
#elif defined(SDKTEST_VARIANT_tiny_desc)
#define PLUGIN_NAME "sdktest_tiny_desc"
#define DESC_SIZE 6
#elif defined(SDKTEST_VARIANT_short_desc)
#define PLUGIN_NAME "sdktest_short_desc"
#define DESC_SIZE offsetof(plk_plugin_desc, run)
#elif defined(SDKTEST_VARIANT_init_fails)
#define PLUGIN_NAME "sdktest_init_fails"
#define INIT_FAILS 1
#elif defined(SDKTEST_VARIANT_null_desc)
#define PLUGIN_NAME "sdktest_null_desc"
#define NULL_DESC 1
#elif defined(SDKTEST_VARIANT_no_init)
#define PLUGIN_NAME "sdktest_no_init"
#define NO_INIT 1
#elif defined(SDKTEST_VARIANT_good)
#define PLUGIN_NAME "sdktest_good"
#else
#error "build with -DSDKTEST_VARIANT_<name>"
#endif

#ifndef ABI_MAJOR
#define ABI_MAJOR PLK_ABI_MAJOR
#endif
#ifndef ABI_MINOR_REQUIRED
#define ABI_MINOR_REQUIRED 0
#endif
#ifndef TASK_NAME
#define TASK_NAME "sdktest.good"
#endif
#ifndef INPUT_SPEC
#define INPUT_SPEC "i32[n]"
#endif
#ifndef COST
#define COST "n"
#endif
#ifndef BACKEND
#define BACKEND "cpu"
#endif
#ifndef DESC_SIZE
#define DESC_SIZE sizeof(plk_plugin_desc)
#endif
#ifdef NO_INIT
#define INIT_FN NULL
#define SHUTDOWN_FN NULL
#else
#define INIT_FN plugin_init
#define SHUTDOWN_FN plugin_shutdown
#endif

static const plk_host_api *host_api;
static int plugin_state = 7; /* the plugin context: proves init's out-parameter reaches run */

#ifndef NO_INIT
static plk_status plugin_init(const plk_host_api *host, void **plugin_ctx) {
  host_api = host;
#ifdef INIT_FAILS
  (void)plugin_ctx;
  host->log(host->host_ctx, PLK_LOG_ERROR, "license file /nonexistent/sdktest.lic is missing");
  return PLK_ERR_INTERNAL;
#else
  *plugin_ctx = &plugin_state;
  return PLK_OK;
#endif
}

static void plugin_shutdown(void *plugin_ctx) {
  (void)plugin_ctx;
  host_api->log(host_api->host_ctx, PLK_LOG_INFO, "shutting down");
}
#endif

static plk_status session_create(void *plugin_ctx, const plk_session_config *config, void **session_ctx) {
  if (plugin_ctx != &plugin_state || config->struct_size < sizeof(plk_session_config)) return PLK_ERR_INTERNAL;
  *session_ctx = plugin_ctx;
  return PLK_OK;
}

static void session_destroy(void *session_ctx) { (void)session_ctx; }

/* y = x + 1 over i32 */
static plk_status run(void *session_ctx, plk_job *job) {
  plk_tensor_view x;
  void *out = NULL;
  uint64_t i, n;
  if (session_ctx != &plugin_state) return PLK_ERR_INTERNAL;
  memset(&x, 0, sizeof(x));
  x.struct_size = sizeof(x);
  if (host_api->get_input(job, "x", &x) != PLK_OK) {
    host_api->set_error(job, "missing input 'x'");
    return PLK_ERR_INVALID_ARGUMENT;
  }
  if (x.dtype != PLK_DTYPE_I32 || x.rank != 1) {
    host_api->set_error(job, "input 'x' must be i32[n]");
    return PLK_ERR_INVALID_ARGUMENT;
  }
  if (host_api->alloc_output(job, "y", PLK_DTYPE_I32, 1, x.shape, &out) != PLK_OK) return PLK_ERR_INTERNAL;
  n = x.size_bytes / 4;
  for (i = 0; i < n; ++i) ((int32_t *)out)[i] = ((const int32_t *)x.data)[i] + 1;
  return PLK_OK;
}

#if defined(SDKTEST_VARIANT_older_structs)

/* What an older plugin.h had: task declarations without params_schema and cost, tensor
 * declarations without description. */
typedef struct old_tensor_decl {
  uint32_t struct_size;
  const char *name;
  const char *spec;
} old_tensor_decl;

typedef struct old_task_decl {
  uint32_t struct_size;
  const char *name;
  const char *backend;
  const char *description;
  const old_tensor_decl *inputs;
  uint32_t input_count;
  const old_tensor_decl *outputs;
  uint32_t output_count;
} old_task_decl;

static const old_tensor_decl inputs[] = {{sizeof(old_tensor_decl), "x", "i32[n]"},
                                         {sizeof(old_tensor_decl), "unused", "u8[...]"}};
static const old_tensor_decl outputs[] = {{sizeof(old_tensor_decl), "y", "i32[n]"}};
static const old_task_decl tasks[] = {
    {sizeof(old_task_decl), "sdktest.old_first", "cpu", "first", inputs, 1, outputs, 1},
    {sizeof(old_task_decl), "sdktest.old_second", "cpu", NULL, inputs, 2, outputs, 1},
};
#define TASKS ((const plk_task_decl *)(const void *)tasks)
#define TASK_COUNT 2

#elif defined(SDKTEST_VARIANT_newer_structs)

/* What a newer plugin.h might have: fields appended at the end of each struct. */
typedef struct new_tensor_decl {
  plk_tensor_decl base;
  const char *future_unit;
} new_tensor_decl;

typedef struct new_task_decl {
  plk_task_decl base;
  uint64_t future_flags;
  const char *future_text;
} new_task_decl;

typedef struct new_plugin_desc {
  plk_plugin_desc base;
  void *future_entry;
} new_plugin_desc;

static const new_tensor_decl inputs[] = {{{sizeof(new_tensor_decl), "x", "i32[n]", "numbers"}, "apples"}};
static const new_tensor_decl outputs[] = {{{sizeof(new_tensor_decl), "y", "i32[n]", NULL}, "pears"}};
static const new_task_decl tasks[] = {
    {{sizeof(new_task_decl), "sdktest.new_first", "cpu", NULL, (const plk_tensor_decl *)(const void *)inputs, 1,
      (const plk_tensor_decl *)(const void *)outputs, 1, NULL, "n"},
     0xffffffffu, "ignored"},
    {{sizeof(new_task_decl), "sdktest.new_second", "cpu", "second", (const plk_tensor_decl *)(const void *)inputs,
      1, (const plk_tensor_decl *)(const void *)outputs, 1, "{\"type\":\"object\"}", "2*n"},
     1u, "ignored"},
};
#define TASKS ((const plk_task_decl *)(const void *)tasks)
#define TASK_COUNT 2

#else

static const plk_tensor_decl inputs[] = {{sizeof(plk_tensor_decl), "x", INPUT_SPEC, "numbers"}};
static const plk_tensor_decl outputs[] = {{sizeof(plk_tensor_decl), "y", "i32[n]", "numbers plus one"}};
static const plk_task_decl tasks[] = {
    {sizeof(plk_task_decl), TASK_NAME, BACKEND, "adds one", inputs, 1, outputs, 1, NULL, COST},
};
#define TASKS tasks
#define TASK_COUNT 1

#endif

#if defined(SDKTEST_VARIANT_newer_structs)
static const new_plugin_desc descriptor = {
    {sizeof(new_plugin_desc), PLK_ABI_MAJOR, 0, PLUGIN_NAME, "9.9.9", NULL, TASKS, TASK_COUNT, plugin_init,
     plugin_shutdown, session_create, session_destroy, run},
    NULL};
#define DESCRIPTOR (&descriptor.base)
#else
static const plk_plugin_desc descriptor = {
    (uint32_t)(DESC_SIZE), ABI_MAJOR, ABI_MINOR_REQUIRED, PLUGIN_NAME, "1.2.3", "a loader test plugin", TASKS,
    TASK_COUNT, INIT_FN, SHUTDOWN_FN, session_create, session_destroy, run};
#define DESCRIPTOR (&descriptor)
#endif

SDKTEST_EXPORT const plk_plugin_desc *POTLUCK_PLUGIN_ENTRY_SYMBOL(const plk_host_api *host, uint32_t host_abi_major,
                                                                  uint32_t host_abi_minor) {
  (void)host;
  (void)host_abi_major;
  (void)host_abi_minor;
#ifdef NULL_DESC
  (void)DESCRIPTOR;
  return NULL;
#else
  return DESCRIPTOR;
#endif
}
