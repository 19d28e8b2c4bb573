/*
 * A test-only plugin, in plain C against plugin.h, whose tasks probe the host services and
 * break the rules on purpose, so the tests can see how the host answers:
 *
 *   sdktest.no_output       declares y but returns PLK_OK without allocating it
 *   sdktest.double_alloc    allocates y twice; fails with the second call's status when it is
 *                           refused (as it must be), returns PLK_OK when it is not
 *   sdktest.alloc_checks    tries alloc_output with every kind of bad argument, then a good
 *                           one; writes each status into `statuses` (i32[9])
 *   sdktest.inspect         reports how input x reached it: info = [address % 16, rank,
 *                           size_bytes, status of get_input("absent"), status of get_input
 *                           with a struct_size of 8] (i64[5])
 *   sdktest.progress        reports out-of-range and NaN fractions, then 0.5; logs at each level
 *   sdktest.params          copies get_params() into `text` (u8[...])
 *   sdktest.odd_status      sets an error and returns 42, a status outside the ABI's set
 *   sdktest.silent_invalid  returns PLK_ERR_INVALID_ARGUMENT without saying why
 *   sdktest.no_session      session_create logs why and fails
 */
#include <potluck/plugin.h>

#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
  TASK_NO_OUTPUT,
  TASK_DOUBLE_ALLOC,
  TASK_ALLOC_CHECKS,
  TASK_INSPECT,
  TASK_PROGRESS,
  TASK_PARAMS,
  TASK_ODD_STATUS,
  TASK_SILENT_INVALID,
  TASK_NO_SESSION,
  TASK_COUNT
};

static const plk_host_api *host_api;
static uint32_t session_tasks[TASK_COUNT]; /* session contexts point into this: one per task */

static plk_status plugin_init(const plk_host_api *host, void **plugin_ctx) {
  uint32_t i;
  host_api = host;
  for (i = 0; i < TASK_COUNT; ++i) session_tasks[i] = i;
  *plugin_ctx = NULL;
  return PLK_OK;
}

static void plugin_shutdown(void *plugin_ctx) { (void)plugin_ctx; }

static plk_status session_create(void *plugin_ctx, const plk_session_config *config, void **session_ctx) {
  (void)plugin_ctx;
  if (config->task_index >= TASK_COUNT) return PLK_ERR_NOT_FOUND;
  if (config->task_index == TASK_NO_SESSION) {
    host_api->log(host_api->host_ctx, PLK_LOG_ERROR, "no sdktest device 0: the test rig is unplugged");
    return PLK_ERR_UNSUPPORTED;
  }
  *session_ctx = &session_tasks[config->task_index];
  return PLK_OK;
}

static void session_destroy(void *session_ctx) { (void)session_ctx; }

static plk_status double_alloc(plk_job *job) {
  static const int64_t shape[1] = {2};
  void *data = NULL;
  plk_status second;
  char message[128];
  if (host_api->alloc_output(job, "y", PLK_DTYPE_F32, 1, shape, &data) != PLK_OK) return PLK_ERR_INTERNAL;
  second = host_api->alloc_output(job, "y", PLK_DTYPE_F32, 1, shape, &data);
  if (second == PLK_OK) return PLK_OK;
  snprintf(message, sizeof(message), "second alloc_output of 'y' returned status %d", (int)second);
  host_api->set_error(job, message);
  return PLK_ERR_INTERNAL;
}

static plk_status alloc_checks(plk_job *job) {
  static const int64_t nine[1] = {9};
  static const int64_t negative[1] = {-1};
  static const int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
  static const int64_t deep[17] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  static const int64_t two_by_three[2] = {2, 3};
  void *statuses_data = NULL, *data = NULL;
  int32_t *statuses;
  size_t i;
  int zeroed = 1;
  if (host_api->alloc_output(job, "statuses", PLK_DTYPE_I32, 1, nine, &statuses_data) != PLK_OK)
    return PLK_ERR_INTERNAL;
  statuses = (int32_t *)statuses_data;
  statuses[0] = host_api->alloc_output(job, "nope", PLK_DTYPE_F32, 1, nine, &data);      /* undeclared */
  statuses[1] = host_api->alloc_output(job, "y", PLK_DTYPE_INVALID, 1, nine, &data);     /* dtype 0 */
  statuses[2] = host_api->alloc_output(job, "y", 99, 1, nine, &data);                    /* dtype 99 */
  statuses[3] = host_api->alloc_output(job, "y", PLK_DTYPE_F32, 1, negative, &data);     /* dim < 0 */
  statuses[4] = host_api->alloc_output(job, "y", PLK_DTYPE_F32, 2, huge, &data);         /* too big */
  statuses[5] = host_api->alloc_output(job, "y", PLK_DTYPE_F32, 17, deep, &data);        /* rank 17 */
  statuses[6] = host_api->alloc_output(job, "y", PLK_DTYPE_F64, 2, two_by_three, &data); /* not f32 */
  statuses[7] = host_api->alloc_output(job, "y", PLK_DTYPE_F32, 2, two_by_three, &data); /* good */
  if (statuses[7] == PLK_OK) {
    for (i = 0; i < 6 * sizeof(float); ++i) zeroed &= ((const unsigned char *)data)[i] == 0;
    if (((uintptr_t)data) % 16 != 0 || !zeroed) statuses[7] = 100;
    ((float *)data)[5] = 6.5f;
  }
  statuses[8] = host_api->alloc_output(job, "y", PLK_DTYPE_F32, 2, two_by_three, &data); /* again */
  return PLK_OK;
}

static plk_status inspect(plk_job *job) {
  static const int64_t five[1] = {5};
  plk_tensor_view x, small;
  void *data = NULL;
  int64_t *info;
  memset(&x, 0, sizeof(x));
  x.struct_size = sizeof(x);
  if (host_api->get_input(job, "x", &x) != PLK_OK) return PLK_ERR_INTERNAL;
  if (host_api->alloc_output(job, "info", PLK_DTYPE_I64, 1, five, &data) != PLK_OK) return PLK_ERR_INTERNAL;
  info = (int64_t *)data;
  info[0] = (int64_t)(((uintptr_t)x.data) % 16);
  info[1] = (int64_t)x.rank;
  info[2] = (int64_t)x.size_bytes;
  info[3] = host_api->get_input(job, "absent", &x);
  /* An older caller whose view holds only struct_size and dtype: the host writes no further. */
  memset(&small, 0xab, sizeof(small));
  small.struct_size = 8;
  info[4] = host_api->get_input(job, "x", &small);
  if (small.dtype != x.dtype || small.rank != 0xabababab) info[4] = 100;
  return PLK_OK;
}

static plk_status progress(plk_job *job) {
  host_api->progress(job, -1.0, "below");
  host_api->progress(job, 2.0, "above");
  host_api->progress(job, NAN, NULL);
  host_api->progress(job, 0.5, "half");
  host_api->log(host_api->host_ctx, PLK_LOG_DEBUG, "debug line");
  host_api->log(host_api->host_ctx, PLK_LOG_INFO, "info line\nwith a newline");
  host_api->log(host_api->host_ctx, PLK_LOG_WARN, "warn line");
  host_api->log(host_api->host_ctx, PLK_LOG_ERROR, "error line");
  host_api->log(host_api->host_ctx, 77, "odd level line");
  return host_api->is_cancelled(job) ? PLK_ERR_CANCELLED : PLK_OK;
}

static plk_status params(plk_job *job) {
  const char *text = host_api->get_params(job);
  int64_t length = (int64_t)strlen(text);
  void *data = NULL;
  if (host_api->alloc_output(job, "text", PLK_DTYPE_U8, 1, &length, &data) != PLK_OK) return PLK_ERR_INTERNAL;
  memcpy(data, text, (size_t)length);
  return PLK_OK;
}

static plk_status run(void *session_ctx, plk_job *job) {
  switch (*(const uint32_t *)session_ctx) {
    case TASK_NO_OUTPUT: return PLK_OK;
    case TASK_DOUBLE_ALLOC: return double_alloc(job);
    case TASK_ALLOC_CHECKS: return alloc_checks(job);
    case TASK_INSPECT: return inspect(job);
    case TASK_PROGRESS: return progress(job);
    case TASK_PARAMS: return params(job);
    case TASK_ODD_STATUS: host_api->set_error(job, "odd things happened"); return 42;
    case TASK_SILENT_INVALID: return PLK_ERR_INVALID_ARGUMENT;
    default: return PLK_ERR_INTERNAL;
  }
}

#define TENSOR(name, spec) {sizeof(plk_tensor_decl), name, spec, NULL}
static const plk_tensor_decl y_f32_2[] = {TENSOR("y", "f32[2]")};
static const plk_tensor_decl alloc_outputs[] = {TENSOR("statuses", "i32[9]"), TENSOR("y", "f32[...]")};
static const plk_tensor_decl x_any[] = {TENSOR("x", "any[...]")};
static const plk_tensor_decl info_out[] = {TENSOR("info", "i64[5]")};
static const plk_tensor_decl text_out[] = {TENSOR("text", "u8[...]")};

#define TASK(name, in, in_count, out, out_count) \
  {sizeof(plk_task_decl), name, "cpu", NULL, in, in_count, out, out_count, NULL, NULL}
static const plk_task_decl tasks[TASK_COUNT] = {
    TASK("sdktest.no_output", NULL, 0, y_f32_2, 1),
    TASK("sdktest.double_alloc", NULL, 0, y_f32_2, 1),
    TASK("sdktest.alloc_checks", NULL, 0, alloc_outputs, 2),
    TASK("sdktest.inspect", x_any, 1, info_out, 1),
    TASK("sdktest.progress", NULL, 0, NULL, 0),
    TASK("sdktest.params", NULL, 0, text_out, 1),
    TASK("sdktest.odd_status", NULL, 0, NULL, 0),
    TASK("sdktest.silent_invalid", NULL, 0, NULL, 0),
    TASK("sdktest.no_session", NULL, 0, NULL, 0),
};

static const plk_plugin_desc descriptor = {
    sizeof(plk_plugin_desc), PLK_ABI_MAJOR, 0, "sdktest_misbehave", "0.0.1", "breaks the rules on purpose",
    tasks, TASK_COUNT, plugin_init, plugin_shutdown, session_create, session_destroy, run};

__attribute__((visibility("default"))) const plk_plugin_desc *POTLUCK_PLUGIN_ENTRY_SYMBOL(const plk_host_api *host,
                                                                                          uint32_t major,
                                                                                          uint32_t minor) {
  (void)host;
  (void)major;
  (void)minor;
  return &descriptor;
}
