// plugin_host: loads plugin shared libraries with Boost.DLL, checks their ABI version before
// calling anything else, validates their declarations, and runs jobs through them with the
// host services of potluck/plugin.h. Used by the runner process (never by the supervisor or
// the daemon: plugin code runs only in runners) and by the conformance tests.
//
// Threads: load()/load_dir() and destruction from one thread. Sessions may run on other
// threads; one session runs one job at a time. The cancel flag and progress callback of a
// run may be touched from the plugin's threads while run() is in progress.
#pragma once

#include <potluck/plugin.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::worker {

class plugin_load_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tensor_decl_info {
  std::string name, spec, description;
};

struct task_info {
  std::string name, backend, description;
  std::vector<tensor_decl_info> inputs, outputs;
  std::string params_schema;  // "" = no parameters
  std::string cost;           // "" = "1"
};

struct plugin_info {
  std::filesystem::path file;
  std::string name, version, description;
  std::uint16_t abi_major = 0, abi_minor_required = 0;
  std::vector<task_info> tasks;
};

// An input handed to a plugin: a view the caller keeps alive during run().
struct input_tensor {
  std::string name;
  plk_dtype dtype = PLK_DTYPE_INVALID;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;  // need not be aligned: the host copies to aligned memory if not
  std::size_t size_bytes = 0;
};

// An output the plugin allocated and filled. `data` comes from new std::byte[] (16-aligned).
struct output_tensor {
  std::string name;
  plk_dtype dtype = PLK_DTYPE_INVALID;
  std::vector<std::int64_t> shape;
  std::unique_ptr<std::byte[]> data;
  std::size_t size_bytes = 0;
};

struct run_request {
  std::string params_json = "{}";
  std::vector<input_tensor> inputs;
  const std::atomic<bool>* cancel_flag = nullptr;  // may be null
  // Called from whatever thread the plugin reports on; may be empty.
  std::function<void(double fraction, std::string_view message)> on_progress;
};

enum class run_status {
  succeeded,      // every declared output was produced
  invalid_input,  // the plugin refused the job's input: the user's fault
  cancelled,      // stopped on request
  plugin_error,   // the plugin or its device failed (status other than OK/INVALID/CANCELLED,
                  // or PLK_OK with a declared output missing)
};

struct run_outcome {
  run_status status = run_status::plugin_error;
  plk_status plugin_status = PLK_ERR_INTERNAL;
  std::string message;  // the plugin's set_error text, or the host's explanation
  std::vector<output_tensor> outputs;
};

class plugin_host;

// One open session (one task, one device). Destroying it calls session_destroy.
class session {
 public:
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  run_outcome run(run_request request);

 private:
  friend class plugin_host;
  session() = default;
  struct state;
  std::unique_ptr<state> state_;
};

class plugin_host {
 public:
  explicit plugin_host(std::uint16_t host_abi_major = PLK_ABI_MAJOR,
                       std::uint16_t host_abi_minor = PLK_ABI_MINOR);
  // Shuts every plugin down in reverse load order, then unloads the libraries.
  ~plugin_host();
  plugin_host(const plugin_host&) = delete;
  plugin_host& operator=(const plugin_host&) = delete;

  // Loads and initialises one plugin. Throws plugin_load_error with one line naming the file
  // and what is wrong and what to do, when: the file cannot be loaded; it lacks the entry
  // symbol; its ABI major differs from the host's; it needs a newer host minor; a declaration
  // is invalid (bad tensor spec, bad cost expression, unknown backend, empty name); a task
  // (name + backend) is already offered by a loaded plugin (naming both files); init fails.
  const plugin_info& load(const std::filesystem::path& file);
  // Loads every regular file ending in ".so" in `dir`, in name order. Returns one line per
  // refused file (the loaded ones are in plugins()). A missing dir is one error line.
  std::vector<std::string> load_dir(const std::filesystem::path& dir);

  const std::vector<plugin_info>& plugins() const;

  struct task_ref {
    std::size_t plugin = 0;       // index into plugins()
    std::uint32_t task_index = 0; // index into that plugin's tasks
  };
  std::optional<task_ref> find(std::string_view task, std::string_view backend) const;

  // Opens a session; throws plugin_load_error-free std::runtime_error naming the plugin and
  // status when session_create fails.
  std::unique_ptr<session> open_session(task_ref task, int device_index,
                                        const char* model_dir = nullptr);

 private:
  struct loaded;
  std::vector<std::unique_ptr<loaded>> loaded_;
  std::vector<plugin_info> infos_;
  plk_host_api api_{};
};

// "PLK_ERR_INTERNAL" style name of a status, for messages.
const char* status_name(plk_status status) noexcept;

}  // namespace potluck::worker
