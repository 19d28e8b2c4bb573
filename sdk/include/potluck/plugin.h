/*
 * potluck/plugin.h — the Potluck plugin ABI (pure C).
 *
 * ABI changelog (the host and a plugin agree when the majors are equal and the host's
 * minor is at least the minor the plugin says it needs):
 *   1.0  first version: one entry point, tasks with declared tensors, parameters schema
 *        and cost expression; plugin, session and run levels; host services for logging,
 *        inputs, outputs, progress, cancellation and errors.
 *
 * Shape of the ABI
 *   A plugin exports exactly one function, POTLUCK_PLUGIN_ENTRY_SYMBOL, which returns a
 *   pointer to a static plk_plugin_desc. The entry does nothing else: the host checks the
 *   versions in the descriptor before it calls anything in it. Everything else is reached
 *   through the descriptor.
 *
 *   Every struct that crosses the boundary starts with `struct_size` and only ever grows at
 *   the end. A reader copies min(its size, struct_size) bytes into a zeroed local, so a
 *   field the other side does not know reads as zero ("not provided"). Appending a field is
 *   a minor bump; any other change is a major bump. An array of such structs (tasks, inputs,
 *   outputs) is laid out with the writer's size: every entry has the same struct_size, and a
 *   reader steps through the array by that size, not by its own sizeof.
 *
 *   Only C types cross: integers, opaque handles, (pointer, length) spans and NUL-terminated
 *   UTF-8 strings. No memory is freed on the other side from where it was allocated. Each
 *   pointer carries an OWNERSHIP note.
 *
 * Lifecycle and threads
 *   init -> (session_create -> run* -> session_destroy)* -> shutdown.
 *   init and shutdown are called once each, from one thread, with nothing else in flight.
 *   session_create, session_destroy and run may be called from different threads, and
 *   concurrently for different sessions, never concurrently for the same session.
 *   The host services may be called from any thread while the run they belong to is in
 *   progress, and never after it returned. shutdown must join every thread the plugin
 *   started.
 *
 * Two kinds of failure
 *   Bad job input (wrong shape, bad parameter) is the user's: the plugin calls
 *   host->set_error(job, message) and returns PLK_ERR_INVALID_ARGUMENT; the job fails with
 *   that message. Any other failing status means the plugin or its device is broken; the
 *   worker reports it with the message given to set_error, if any.
 */
#ifndef POTLUCK_PLUGIN_H
#define POTLUCK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLK_ABI_MAJOR 1
#define PLK_ABI_MINOR 1

/* The one symbol a plugin exports. Plugin authors using plugin.hpp never spell it. */
#define POTLUCK_PLUGIN_ENTRY_SYMBOL potluck_plugin_entry

/* Status codes: the fixed set every call returns. */
typedef int32_t plk_status;
#define PLK_OK 0
#define PLK_ERR_INVALID_ARGUMENT 1 /* the job's input or parameters are wrong: the user's fault */
#define PLK_ERR_UNSUPPORTED 2      /* asked for something this plugin or device cannot do */
#define PLK_ERR_NOT_FOUND 3        /* a named input, task or device does not exist */
#define PLK_ERR_OUT_OF_MEMORY 4
#define PLK_ERR_CANCELLED 5 /* the run stopped because the host asked it to */
#define PLK_ERR_INTERNAL 6  /* anything else: the plugin or its device is broken */

/* Element types. Values are part of the ABI and never change. */
typedef int32_t plk_dtype;
#define PLK_DTYPE_INVALID 0
#define PLK_DTYPE_F32 1
#define PLK_DTYPE_F64 2
#define PLK_DTYPE_I32 3
#define PLK_DTYPE_I64 4
#define PLK_DTYPE_U8 5
#define PLK_DTYPE_I8 6
#define PLK_DTYPE_F16 7
#define PLK_DTYPE_BF16 8
#define PLK_DTYPE_BOOL 9

/* Log levels for plk_host_api.log. */
typedef int32_t plk_log_level;
#define PLK_LOG_DEBUG 0
#define PLK_LOG_INFO 1
#define PLK_LOG_WARN 2
#define PLK_LOG_ERROR 3

/* Opaque handle to one job while it runs. Owned by the host; valid during run() only. */
typedef struct plk_job plk_job;

/* A dense tensor in C order, little-endian. */
typedef struct plk_tensor_view {
  uint32_t struct_size;
  plk_dtype dtype;
  uint32_t rank;
  const int64_t *shape; /* OWNERSHIP: host; `rank` entries; valid until run() returns */
  const void *data;     /* OWNERSHIP: host; `size_bytes` bytes, 16-byte aligned; valid until run() returns */
  uint64_t size_bytes;
} plk_tensor_view;

/*
 * One named input or output of a task. `spec` is declarative, so the daemon validates
 * shapes (and prices jobs) without running plugin code:
 *     spec   := dtype '[' dims ']'
 *     dtype  := f32 | f64 | i32 | i64 | u8 | i8 | f16 | bf16 | bool | any
 *     dims   := '...' | dim (',' dim)*        ('...' alone: any rank, any sizes)
 *     dim    := name | integer               (a name binds one size across all tensors)
 * Examples: "f32[m,k]", "f32[k,n]", "any[...]", "u8[h,w,3]".
 */
typedef struct plk_tensor_decl {
  uint32_t struct_size;
  const char *name;        /* OWNERSHIP: plugin, static */
  const char *spec;        /* OWNERSHIP: plugin, static */
  const char *description; /* OWNERSHIP: plugin, static; may be NULL */
} plk_tensor_decl;

typedef struct plk_task_decl {
  uint32_t struct_size;
  const char *name;        /* OWNERSHIP: plugin, static; "area.verb", e.g. "linalg.matmul" */
  const char *backend;     /* OWNERSHIP: plugin, static; "cpu" or "cuda" */
  const char *description; /* OWNERSHIP: plugin, static; may be NULL */
  const plk_tensor_decl *inputs; /* OWNERSHIP: plugin, static; `input_count` entries */
  uint32_t input_count;
  const plk_tensor_decl *outputs; /* OWNERSHIP: plugin, static; `output_count` entries */
  uint32_t output_count;
  /* JSON Schema (an object schema) for the job's parameters; NULL means no parameters.
   * The daemon checks "type", "properties", "required", "minimum", "maximum" and "enum". */
  const char *params_schema; /* OWNERSHIP: plugin, static */
  /* Work units of one job, an integer expression over the dimension names of the inputs
   * with + - * / and parentheses, e.g. "2*m*n*k". NULL means "1". */
  const char *cost; /* OWNERSHIP: plugin, static */
  /* Since 1.1. How closely two runs' floating-point outputs must agree when the daemon
   * compares them (when it checks a new donor's result, or a job's replicas), element by
   * element: |a - b| <= atol + rtol * |b|. Both 0 (and any plugin built for 1.0) means the
   * daemon's default, rtol 1e-5 and atol 1e-8; PLK_TOLERANCE_EXACT in rtol asks for equal
   * values. Integer outputs are always compared exactly. */
  double rtol;
  double atol;
} plk_task_decl;

#define PLK_TOLERANCE_EXACT (-1.0)

/* What a session is for: one task, one device. */
typedef struct plk_session_config {
  uint32_t struct_size;
  uint32_t task_index;   /* index into plk_plugin_desc.tasks */
  int32_t device_index;  /* -1 for the CPU, else the index of the GPU of the task's backend */
  const char *model_dir; /* OWNERSHIP: host; NULL when the job names no model */
} plk_session_config;

/* Services the host offers. Every function is safe to call from any thread of the plugin
 * while the run it is given belongs to is in progress. */
typedef struct plk_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  void *host_ctx; /* OWNERSHIP: host; pass back to log() */

  /* Write one log line in the worker's log. `message` is copied. */
  void (*log)(void *host_ctx, plk_log_level level, const char *message);

  /* Look up an input by name. Fills `out` (whose struct_size the caller sets).
   * Returns PLK_OK or PLK_ERR_NOT_FOUND. */
  plk_status (*get_input)(plk_job *job, const char *name, plk_tensor_view *out);

  /* The job's parameters as a JSON object text, "{}" when none.
   * OWNERSHIP: host; valid until run() returns. */
  const char *(*get_params)(plk_job *job);

  /* Allocate output `name` with the given dtype and shape; `*data` receives writable,
   * 16-byte aligned, zero-filled memory of the exact size. Each output may be allocated once.
   * OWNERSHIP: `shape` is copied; `*data` belongs to the host and stays valid until run()
   * returns. Returns PLK_OK, PLK_ERR_INVALID_ARGUMENT, or PLK_ERR_OUT_OF_MEMORY. */
  plk_status (*alloc_output)(plk_job *job, const char *name, plk_dtype dtype, uint32_t rank,
                             const int64_t *shape, void **data);

  /* Report progress: `fraction` in [0, 1]; `message` may be NULL and is copied. */
  void (*progress)(plk_job *job, double fraction, const char *message);

  /* Non-zero once the host wants this run to stop; the plugin should then return
   * PLK_ERR_CANCELLED soon. Cheap: fine to call in a loop. */
  int32_t (*is_cancelled)(plk_job *job);

  /* Say why the run fails, before returning a failing status. `message` is copied;
   * the last call wins. */
  void (*set_error)(plk_job *job, const char *message);
} plk_host_api;

/* The descriptor a plugin returns. Static: it lives as long as the library is loaded. */
typedef struct plk_plugin_desc {
  uint32_t struct_size;
  uint16_t abi_major;          /* PLK_ABI_MAJOR the plugin was written for */
  uint16_t abi_minor_required; /* lowest host minor the plugin needs (not the header's) */
  const char *name;            /* OWNERSHIP: plugin, static; e.g. "blas" */
  const char *version;         /* OWNERSHIP: plugin, static; the plugin's own version */
  const char *description;     /* OWNERSHIP: plugin, static; may be NULL */
  const plk_task_decl *tasks;  /* OWNERSHIP: plugin, static; `task_count` entries */
  uint32_t task_count;

  /* Called once after the version check. `host` stays valid until shutdown returns.
   * `*plugin_ctx` receives the plugin's context (may stay NULL). NULL: nothing to initialise. */
  plk_status (*init)(const plk_host_api *host, void **plugin_ctx);
  /* Called once; joins every thread the plugin started. NULL: nothing to shut down. */
  void (*shutdown)(void *plugin_ctx);

  /* Prepare to run one task on one device. `config` is valid during the call only. */
  plk_status (*session_create)(void *plugin_ctx, const plk_session_config *config,
                               void **session_ctx);
  void (*session_destroy)(void *session_ctx);

  /* Run one job. Returns PLK_OK when every declared output was allocated and filled. */
  plk_status (*run)(void *session_ctx, plk_job *job);
} plk_plugin_desc;

/* The entry function's type. `host` is the host's services table, valid until shutdown;
 * the entry must not call it. Returns the static descriptor, never NULL. */
typedef const plk_plugin_desc *(*plk_plugin_entry_fn)(const plk_host_api *host,
                                                      uint32_t host_abi_major,
                                                      uint32_t host_abi_minor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* POTLUCK_PLUGIN_H */
