/* A shared library that is not a Potluck plugin: it exports a function, but not the entry. */
#include <stdint.h>

__attribute__((visibility("default"))) int32_t sdktest_not_a_plugin(int32_t x) { return x + 1; }
