/* What abi_c.c (compiled as C) hands to abi_test.cpp (compiled as C++). */
#ifndef POTLUCK_TESTS_SDK_ABI_C_H
#define POTLUCK_TESTS_SDK_ABI_C_H

#include <potluck/plugin.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdktest_c_field {
  const char *what; /* "plk_task_decl.cost", or "plk_task_decl" for the whole struct */
  size_t offset;
  size_t size;
} sdktest_c_field;

const sdktest_c_field *sdktest_c_layout(size_t *count);
int32_t sdktest_c_constant(const char *name); /* -1 for an unknown name */
plk_plugin_entry_fn sdktest_c_entry(void);
plk_host_api sdktest_c_host_api(void);
void sdktest_c_fill(plk_tensor_view *view, plk_session_config *config);

#ifdef __cplusplus
}
#endif

#endif
