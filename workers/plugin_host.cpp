// plugin_host: see plugin_host.hpp.
//
// Loading a plugin, in order: dlopen (lazy, local) -> look up the one entry symbol -> call it
// with this plugin's copy of the host services -> read the descriptor's size and versions ->
// refuse a foreign major or a too-new minor -> copy the rest of the descriptor, its tasks and
// their tensors (each min(sizes) into a zeroed local; arrays are strided by their entries'
// struct_size) -> validate every declaration with the protocol's own checks -> refuse a task
// another loaded plugin already offers -> init. Nothing in the descriptor is called before
// the version check, and nothing but init before the declarations are known to be sound.
//
// A run: the host builds a job_state (the plk_job the plugin sees), copies misaligned inputs
// into 16-byte aligned storage up front so get_input never writes, and serves the host API from
// it. alloc_output, set_error and progress take locks: the header lets any plugin thread call
// them while the run is in progress. The run's outcome is read after the plugin returned.
//
// Ownership: each loaded plugin (library, descriptor copy, host services table, context) lives
// in a unique_ptr so its address stays put; a session points at it and must not outlive the
// plugin_host. Messages a plugin logs at warn or error while init or session_create run are
// kept, so a refusal can say why.
//
// One plugin_host per process (the runner has one): the dynamic loader hands a second host the
// same library, whose init the ABI allows once, so two live hosts must not load the same file.
#include "workers/plugin_host.hpp"

#include <potluck/protocol/task_spec.hpp>
#include <potluck/protocol/tensor.hpp>

#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include <dlfcn.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <mutex>
#include <new>
#include <set>
#include <system_error>
#include <utility>

namespace potluck::worker {

namespace proto = potluck::protocol;

namespace {

#define POTLUCK_STRINGIFY_(x) #x
#define POTLUCK_STRINGIFY(x) POTLUCK_STRINGIFY_(x)
constexpr const char* entry_symbol_name = POTLUCK_STRINGIFY(POTLUCK_PLUGIN_ENTRY_SYMBOL);

// Sanity limits on what a descriptor may claim, so a broken one is refused instead of making
// the host read far out of bounds.
constexpr std::uint32_t max_struct_size = 64 * 1024;
constexpr std::uint32_t max_task_count = 4096;
constexpr std::uint32_t max_tensor_count = 1024;

// Fields ABI 1.0 requires: a struct that stops earlier is refused; later fields are optional.
constexpr std::size_t min_desc_size = offsetof(plk_plugin_desc, run) + sizeof(plk_plugin_desc::run);
constexpr std::size_t min_task_size = offsetof(plk_task_decl, output_count) + sizeof(std::uint32_t);
constexpr std::size_t min_tensor_size = offsetof(plk_tensor_decl, spec) + sizeof(const char*);
constexpr std::size_t desc_version_size = offsetof(plk_plugin_desc, abi_minor_required) + sizeof(std::uint16_t);

std::string str_or_empty(const char* s) { return s ? std::string(s) : std::string(); }

// Bytes of one element; 0 for a dtype outside the ABI's list.
std::size_t element_size_of(plk_dtype dtype) {
  const auto t = proto::dtype_from_int(dtype);
  return t ? proto::dtype_size(*t) : 0;
}

// "PLK_ERR_INTERNAL", or "status 42" for a value outside the ABI's set.
std::string status_text(plk_status status) {
  const char* name = status_name(status);
  return std::strncmp(name, "PLK_", 4) == 0 ? std::string(name) : "status " + std::to_string(status);
}

// Where a plugin's log lines come from: the host_ctx of its services table.
struct log_source {
  std::string plugin;  // the plugin's name once known, else its file name
};

// Copies a struct laid out by the other side: min(sizes) into a zeroed local. The local keeps
// the other side's struct_size, which is also the stride of the array it sits in.
template <class T> T read_struct(const void* p) {
  T out{};
  std::uint32_t size = 0;
  std::memcpy(&size, p, sizeof(size));
  std::memcpy(static_cast<void*>(&out), p, std::min<std::size_t>(size, sizeof(T)));
  out.struct_size = size;
  return out;
}

// One line: control characters (newlines included) become spaces.
std::string one_line(const char* text) {
  std::string s = text ? text : "(null)";
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

// While alive, messages the plugins log at warn or error on this thread are appended to `sink`.
thread_local std::string* log_capture_sink = nullptr;
class log_capture {
 public:
  explicit log_capture(std::string& sink) : previous_(log_capture_sink) { log_capture_sink = &sink; }
  ~log_capture() { log_capture_sink = previous_; }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

 private:
  std::string* previous_;
};

std::string version_text(unsigned major, unsigned minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string device_text(const std::string& backend, int device_index) {
  if (device_index < 0) return "the CPU";
  return backend + " device " + std::to_string(device_index);
}

// ---- one run ----

struct output_decl {
  std::string name;
  proto::tensor_spec spec;
};

struct stored_input {
  std::string name;
  plk_dtype dtype = PLK_DTYPE_INVALID;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::uint64_t size_bytes = 0;
  std::unique_ptr<std::byte[]> aligned_copy;  // set when the caller's data was misaligned
};

// What the plugin's plk_job handle points at.
struct job_state {
  const std::string* plugin_name = nullptr;
  const std::string* task_name = nullptr;
  const std::vector<output_decl>* declared_outputs = nullptr;
  std::vector<stored_input> inputs;
  std::string params;
  const std::atomic<bool>* cancel_flag = nullptr;
  const std::function<void(double, std::string_view)>* on_progress = nullptr;

  std::mutex progress_mutex;  // the progress callback never runs twice at once
  std::mutex mutex;           // guards everything below
  std::vector<output_tensor> outputs;
  std::string plugin_message;
  std::vector<std::string> host_errors;  // why alloc_output refused, for the outcome message
};

job_state* state_of(plk_job* job) { return reinterpret_cast<job_state*>(job); }
plk_job* handle_of(job_state* job) { return reinterpret_cast<plk_job*>(job); }

std::string declared_names(const std::vector<output_decl>& outputs) {
  if (outputs.empty()) return "none";
  std::string s;
  for (const auto& o : outputs) s += (s.empty() ? "'" : ", '") + o.name + "'";
  return s;
}

// Why an output of this dtype and shape does not fit the declaration, or "".
std::string output_mismatch(const output_decl& decl, plk_dtype dtype, const std::vector<std::int64_t>& shape) {
  const auto& spec = decl.spec;
  const auto got = std::string(proto::dtype_name(static_cast<proto::dtype>(dtype))) + proto::shape_string(shape);
  if (spec.type && static_cast<plk_dtype>(*spec.type) != dtype)
    return "output '" + decl.name + "' is declared " + spec.text + " but was allocated as " + got;
  if (spec.any_shape) return {};
  if (spec.dims.size() != shape.size())
    return "output '" + decl.name + "' is declared " + spec.text + " but was allocated as " + got;
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (const auto* fixed = std::get_if<std::int64_t>(&spec.dims[i]); fixed && *fixed != shape[i])
      return "output '" + decl.name + "' is declared " + spec.text + " but was allocated as " + got;
  return {};
}

plk_status refuse_output(job_state* job, std::string why) {
  spdlog::warn("plugin '{}' task '{}': alloc_output refused: {}", *job->plugin_name, *job->task_name, why);
  std::lock_guard lock(job->mutex);
  job->host_errors.push_back(std::move(why));
  return PLK_ERR_INVALID_ARGUMENT;
}

// ---- host services (plk_host_api); none of them lets an exception out ----

plk_status host_get_input(plk_job* job_handle, const char* name, plk_tensor_view* out) noexcept {
  auto* job = state_of(job_handle);
  if (!job || !name || !out || out->struct_size < sizeof(std::uint32_t)) return PLK_ERR_INVALID_ARGUMENT;
  for (const auto& in : job->inputs) {
    if (in.name != name) continue;
    plk_tensor_view view{};
    view.struct_size = out->struct_size;
    view.dtype = in.dtype;
    view.rank = static_cast<std::uint32_t>(in.shape.size());
    view.shape = in.shape.data();
    view.data = in.data;
    view.size_bytes = in.size_bytes;
    std::memcpy(static_cast<void*>(out), &view, std::min<std::size_t>(out->struct_size, sizeof(view)));
    return PLK_OK;
  }
  return PLK_ERR_NOT_FOUND;
}

const char* host_get_params(plk_job* job_handle) noexcept {
  auto* job = state_of(job_handle);
  return job ? job->params.c_str() : "{}";
}

plk_status host_alloc_output(plk_job* job_handle, const char* name, plk_dtype dtype, std::uint32_t rank,
                             const std::int64_t* shape, void** data) noexcept {
  auto* job = state_of(job_handle);
  if (!job || !data) return PLK_ERR_INVALID_ARGUMENT;
  *data = nullptr;
  try {
    if (!name) return refuse_output(job, "alloc_output called without a name");
    const auto decl = std::find_if(job->declared_outputs->begin(), job->declared_outputs->end(),
                                   [&](const output_decl& d) { return d.name == name; });
    if (decl == job->declared_outputs->end())
      return refuse_output(job, "output '" + std::string(name) + "' is not declared by the task (declared: " +
                                    declared_names(*job->declared_outputs) + ")");
    const std::size_t element_size = element_size_of(dtype);
    if (element_size == 0)
      return refuse_output(job, "output '" + std::string(name) + "' has invalid dtype " + std::to_string(dtype));
    if (rank > proto::max_tensor_rank)
      return refuse_output(job, "output '" + std::string(name) + "' has rank " + std::to_string(rank) +
                                    ", over the limit of " + std::to_string(proto::max_tensor_rank));
    if (rank > 0 && !shape) return refuse_output(job, "output '" + std::string(name) + "' has rank > 0 but no shape");
    std::vector<std::int64_t> dims(shape, shape + rank);
    std::int64_t elements = 1;
    for (const auto d : dims) {
      if (d < 0)
        return refuse_output(job, "output '" + std::string(name) + "' has a negative dimension in " +
                                      proto::shape_string(dims));
      if (d != 0 && elements > proto::max_tensor_elements / d)
        return refuse_output(job, "output '" + std::string(name) + "' of shape " + proto::shape_string(dims) +
                                      " is too large");
      elements *= d;
    }
    if (elements > proto::max_tensor_elements)
      return refuse_output(job, "output '" + std::string(name) + "' of shape " + proto::shape_string(dims) +
                                    " is too large");
    if (auto why = output_mismatch(*decl, dtype, dims); !why.empty()) return refuse_output(job, std::move(why));
    const auto bytes = static_cast<std::size_t>(elements) * element_size;

    std::lock_guard lock(job->mutex);
    for (const auto& o : job->outputs)
      if (o.name == name) {
        const std::string why = "output '" + std::string(name) + "' was already allocated";
        spdlog::warn("plugin '{}' task '{}': alloc_output refused: {}", *job->plugin_name, *job->task_name, why);
        job->host_errors.push_back(why);
        return PLK_ERR_INVALID_ARGUMENT;
      }
    // new std::byte[] is aligned to __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16 on the platforms we build for).
    static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ >= 16);
    std::unique_ptr<std::byte[]> memory(new (std::nothrow) std::byte[bytes == 0 ? 1 : bytes]());
    if (!memory) {
      job->host_errors.push_back("out of memory allocating output '" + std::string(name) + "' (" +
                                 std::to_string(bytes) + " bytes)");
      return PLK_ERR_OUT_OF_MEMORY;
    }
    output_tensor out;
    out.name = name;
    out.dtype = dtype;
    out.shape = std::move(dims);
    out.size_bytes = bytes;
    out.data = std::move(memory);
    *data = out.data.get();
    job->outputs.push_back(std::move(out));
    return PLK_OK;
  } catch (const std::bad_alloc&) {
    *data = nullptr;
    return PLK_ERR_OUT_OF_MEMORY;
  } catch (...) {
    *data = nullptr;
    return PLK_ERR_INTERNAL;
  }
}

void host_progress(plk_job* job_handle, double fraction, const char* message) noexcept {
  auto* job = state_of(job_handle);
  if (!job || !job->on_progress || !*job->on_progress) return;
  if (!(fraction >= 0.0)) fraction = 0.0;  // NaN too
  if (fraction > 1.0) fraction = 1.0;
  try {
    std::lock_guard lock(job->progress_mutex);
    (*job->on_progress)(fraction, message ? std::string_view(message) : std::string_view());
  } catch (const std::exception& e) {
    spdlog::warn("plugin '{}' task '{}': progress callback threw: {}", *job->plugin_name, *job->task_name,
                 e.what());
  } catch (...) {
  }
}

std::int32_t host_is_cancelled(plk_job* job_handle) noexcept {
  auto* job = state_of(job_handle);
  return job && job->cancel_flag && job->cancel_flag->load(std::memory_order_acquire) ? 1 : 0;
}

void host_set_error(plk_job* job_handle, const char* message) noexcept {
  auto* job = state_of(job_handle);
  if (!job) return;
  try {
    std::lock_guard lock(job->mutex);
    job->plugin_message = message ? message : "";
  } catch (...) {
  }
}

}  // namespace

// ---- loaded plugins ----

struct task_runtime {
  std::vector<output_decl> outputs;
};

struct plugin_host::loaded {
  // Declared first so it is destroyed last: nothing of the plugin may outlive its code.
  boost::dll::shared_library library;
  std::filesystem::path file;
  std::string name;      // the plugin's name once known, else the file name
  log_source source;     // what api.host_ctx points at
  plk_host_api api{};    // this plugin's copy of the services
  plk_plugin_desc desc{};  // min(sizes) copy of the plugin's descriptor
  void* plugin_ctx = nullptr;
  bool initialised = false;
  std::vector<task_runtime> tasks;
  std::atomic<int> open_sessions{0};
};

namespace {

void host_log(void* host_ctx, plk_log_level level, const char* message) noexcept {
  try {
    const auto* source = static_cast<const log_source*>(host_ctx);
    const std::string text = one_line(message);
    const std::string who = source ? source->plugin : std::string("?");
    switch (level) {
      case PLK_LOG_DEBUG: spdlog::debug("plugin '{}': {}", who, text); break;
      case PLK_LOG_WARN: spdlog::warn("plugin '{}': {}", who, text); break;
      case PLK_LOG_ERROR: spdlog::error("plugin '{}': {}", who, text); break;
      default: spdlog::info("plugin '{}': {}", who, text); break;
    }
    if (log_capture_sink && (level == PLK_LOG_WARN || level == PLK_LOG_ERROR)) {
      if (!log_capture_sink->empty()) *log_capture_sink += "; ";
      *log_capture_sink += text;
    }
  } catch (...) {
  }
}

}  // namespace

plugin_host::plugin_host(std::uint16_t host_abi_major, std::uint16_t host_abi_minor) {
  api_.struct_size = sizeof(api_);
  api_.abi_major = host_abi_major;
  api_.abi_minor = host_abi_minor;
  api_.host_ctx = nullptr;
  api_.log = &host_log;
  api_.get_input = &host_get_input;
  api_.get_params = &host_get_params;
  api_.alloc_output = &host_alloc_output;
  api_.progress = &host_progress;
  api_.is_cancelled = &host_is_cancelled;
  api_.set_error = &host_set_error;
}

plugin_host::~plugin_host() {
  for (auto it = loaded_.rbegin(); it != loaded_.rend(); ++it) {
    auto& plugin = **it;
    assert(plugin.open_sessions.load() == 0 && "every session must be destroyed before its plugin_host");
    if (plugin.initialised && plugin.desc.shutdown) plugin.desc.shutdown(plugin.plugin_ctx);
  }
  while (!loaded_.empty()) loaded_.pop_back();
}

const std::vector<plugin_info>& plugin_host::plugins() const { return infos_; }

const plugin_info& plugin_host::load(const std::filesystem::path& requested) {
  std::error_code ec;
  std::filesystem::path file = std::filesystem::absolute(requested, ec);
  if (ec) file = requested;
  const std::string where = "plugin " + file.string();
  auto refuse = [&](const std::string& why) { return plugin_load_error(where + " " + why); };

  if (!std::filesystem::is_regular_file(file, ec))
    throw refuse("does not exist or is not a file: check the path and the plugin folder");

  auto item = std::make_unique<loaded>();
  item->file = file;
  item->name = file.filename().string();
  item->source.plugin = item->name;
  item->api = api_;
  item->api.host_ctx = &item->source;

  // dlopen: lazy binding, symbols kept local so two plugins never see each other's.
  boost::dll::fs::error_code load_ec;
  ::dlerror();
  item->library.load(boost::dll::fs::path(file.native()),
                     boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local, load_ec);
  if (load_ec || !item->library.is_loaded()) {
    const char* why = ::dlerror();
    throw refuse("cannot be loaded: " + (why ? one_line(why) : load_ec.message()) +
                 ": check that it is a shared library for this platform and that the libraries it needs are installed");
  }
  if (!item->library.has(entry_symbol_name))
    throw refuse(std::string("has no ") + entry_symbol_name +
                 " symbol: is it a Potluck plugin? Declare it with POTLUCK_PLUGIN(...)");

  using entry_fn = const plk_plugin_desc*(const plk_host_api*, std::uint32_t, std::uint32_t);
  const plk_plugin_desc* raw = nullptr;
  try {
    raw = item->library.get<entry_fn>(entry_symbol_name)(&item->api, api_.abi_major, api_.abi_minor);
  } catch (...) {
    throw refuse(std::string("threw an exception from ") + entry_symbol_name + ": the plugin is broken");
  }
  if (!raw) throw refuse(std::string("returned no descriptor from ") + entry_symbol_name + ": the plugin is broken");

  // The version check comes before anything else in the descriptor is trusted or called.
  std::uint32_t desc_size = 0;
  std::memcpy(&desc_size, raw, sizeof(desc_size));
  if (desc_size < desc_version_size || desc_size > max_struct_size)
    throw refuse("has a descriptor of " + std::to_string(desc_size) +
                 " bytes, which cannot hold its ABI version: the plugin is broken; rebuild it against this SDK");
  plk_plugin_desc desc = read_struct<plk_plugin_desc>(raw);
  const std::string host_version = version_text(api_.abi_major, api_.abi_minor);
  if (desc.abi_major != api_.abi_major)
    throw refuse("needs Potluck plugin ABI " + std::to_string(desc.abi_major) + ".x but this worker speaks " +
                 host_version + ": rebuild the plugin against this SDK or upgrade the worker");
  if (desc.abi_minor_required > api_.abi_minor)
    throw refuse("needs Potluck plugin ABI " + version_text(desc.abi_major, desc.abi_minor_required) +
                 " but this worker speaks " + host_version + ": upgrade the worker");
  if (desc_size < min_desc_size)
    throw refuse("has a descriptor of " + std::to_string(desc_size) + " bytes but ABI " +
                 std::to_string(api_.abi_major) + ".0 needs " + std::to_string(min_desc_size) +
                 " bytes: the plugin is broken; rebuild it against this SDK");
  item->desc = desc;

  plugin_info info;
  info.file = file;
  info.name = str_or_empty(desc.name);
  info.version = str_or_empty(desc.version);
  info.description = str_or_empty(desc.description);
  info.abi_major = desc.abi_major;
  info.abi_minor_required = desc.abi_minor_required;

  if (info.name.empty()) throw refuse("declares no name: give plugin_def a name and rebuild the plugin");
  item->name = info.name;
  item->source.plugin = info.name;
  if (!desc.session_create || !desc.session_destroy || !desc.run)
    throw refuse("'" + info.name + "' lacks session_create, session_destroy or run in its descriptor: the plugin is broken");
  if (desc.task_count == 0 || !desc.tasks)
    throw refuse("'" + info.name + "' declares no tasks: a plugin must offer at least one");
  if (desc.task_count > max_task_count)
    throw refuse("'" + info.name + "' declares " + std::to_string(desc.task_count) + " tasks, over the limit of " +
                 std::to_string(max_task_count));
  for (const auto& other : infos_)
    if (other.file == file) throw refuse("is already loaded: load each plugin once");
  for (const auto& other : infos_)
    if (other.name == info.name)
      throw refuse("is named '" + info.name + "' like " + other.file.string() + ", which is already loaded: remove one");

  // Reads a plugin-side array strided by its entries' struct_size.
  auto element_at = [](const void* base, std::uint32_t stride, std::uint32_t i) {
    return static_cast<const void*>(static_cast<const char*>(base) + static_cast<std::size_t>(stride) * i);
  };
  // `detail` starts with "task 'name': ", as the protocol's own messages do.
  auto bad_task = [&](const std::string& detail) {
    return refuse("has an invalid task declaration: " + detail + ": fix the declaration and rebuild the plugin");
  };
  auto read_tensors = [&](const std::string& task, const char* kind, const plk_tensor_decl* array,
                          std::uint32_t count, std::vector<tensor_decl_info>& infos,
                          std::vector<proto::tensor_spec>& specs) {
    if (count == 0) return;
    if (!array) throw bad_task(task + std::string(kind) + "s are missing");
    if (count > max_tensor_count) throw bad_task(task + "too many " + kind + "s");
    std::uint32_t stride = 0;
    std::memcpy(&stride, array, sizeof(stride));
    if (stride < min_tensor_size || stride > max_struct_size)
      throw bad_task(task + kind + " declarations have struct_size " + std::to_string(stride));
    for (std::uint32_t i = 0; i < count; ++i) {
      const auto t = read_struct<plk_tensor_decl>(element_at(array, stride, i));
      if (t.struct_size != stride)
        throw bad_task(task + kind + " declarations differ in struct_size");
      tensor_decl_info ti{str_or_empty(t.name), str_or_empty(t.spec), str_or_empty(t.description)};
      if (ti.name.empty()) throw bad_task(task + "an " + kind + " has no name");
      try {
        auto spec = proto::parse_tensor_spec(ti.name, ti.spec);
        spec.description = ti.description;
        specs.push_back(std::move(spec));
      } catch (const std::exception& e) {
        throw bad_task(task + kind + " '" + ti.name + "': " + e.what());
      }
      infos.push_back(std::move(ti));
    }
  };

  std::uint32_t task_stride = 0;
  std::memcpy(&task_stride, desc.tasks, sizeof(task_stride));
  if (task_stride < min_task_size || task_stride > max_struct_size)
    throw refuse("'" + info.name + "' has task declarations of struct_size " + std::to_string(task_stride) +
                 ": the plugin is broken; rebuild it against this SDK");
  std::set<std::pair<std::string, std::string>> own_tasks;
  for (std::uint32_t i = 0; i < desc.task_count; ++i) {
    const auto t = read_struct<plk_task_decl>(element_at(desc.tasks, task_stride, i));
    task_info ti;
    ti.name = str_or_empty(t.name);
    ti.backend = str_or_empty(t.backend);
    ti.description = str_or_empty(t.description);
    ti.params_schema = str_or_empty(t.params_schema);
    ti.cost = str_or_empty(t.cost);
    const std::string shown = "task '" + (ti.name.empty() ? "#" + std::to_string(i) : ti.name) + "': ";
    if (t.struct_size != task_stride) throw bad_task(shown + "task declarations differ in struct_size");

    proto::task_decl decl;
    decl.name = ti.name;
    decl.backend = ti.backend;
    decl.description = ti.description;
    decl.params_schema = ti.params_schema;
    decl.cost = ti.cost;
    decl.rtol = t.rtol;  // 0 when the plugin was built for ABI 1.0 (read_struct zero-fills)
    decl.atol = t.atol;
    decl.plugin = info.name;
    decl.plugin_version = info.version;
    read_tensors(shown, "input", t.inputs, t.input_count, ti.inputs, decl.inputs);
    read_tensors(shown, "output", t.outputs, t.output_count, ti.outputs, decl.outputs);
    try {
      proto::validate_task_decl(decl);
    } catch (const std::exception& e) {
      throw bad_task(e.what());
    }
    if (!own_tasks.emplace(ti.name, ti.backend).second)
      throw bad_task(shown + "declared twice on " + ti.backend);
    for (const auto& other : infos_)
      for (const auto& ot : other.tasks)
        if (ot.name == ti.name && ot.backend == ti.backend)
          throw plugin_load_error("task '" + ti.name + "' on " + ti.backend + " is offered by both " +
                                  other.file.string() + " and " + file.string() + ": remove one");

    task_runtime rt;
    for (auto& spec : decl.outputs) rt.outputs.push_back({spec.name, std::move(spec)});
    item->tasks.push_back(std::move(rt));
    info.tasks.push_back(std::move(ti));
  }

  if (desc.init) {
    std::string said;
    plk_status status;
    {
      log_capture capture(said);
      status = desc.init(&item->api, &item->plugin_ctx);
    }
    if (status != PLK_OK)
      throw refuse("('" + info.name + "') failed to initialise with " + status_text(status) + ": " +
                   (said.empty() ? "it logged no reason" : said) + ": see the plugin's documentation");
  }
  item->initialised = true;

  std::string offered;
  for (const auto& t : info.tasks) offered += (offered.empty() ? "" : ", ") + t.name + " (" + t.backend + ")";
  spdlog::info("loaded plugin '{}' {} (ABI {}.{}) from {}: {}", info.name, info.version, info.abi_major,
               info.abi_minor_required, file.string(), offered);

  loaded_.push_back(std::move(item));
  infos_.push_back(std::move(info));
  return infos_.back();
}

std::vector<std::string> plugin_host::load_dir(const std::filesystem::path& dir) {
  std::vector<std::string> errors;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    errors.push_back("plugin folder " + dir.string() + " does not exist or is not a folder: create it or point the worker at the right one");
    return errors;
  }
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->path().extension() == ".so" && it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) errors.push_back("plugin folder " + dir.string() + " cannot be read: " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    try {
      load(file);
    } catch (const plugin_load_error& e) {
      errors.push_back(e.what());
    }
  }
  return errors;
}

std::optional<plugin_host::task_ref> plugin_host::find(std::string_view task, std::string_view backend) const {
  for (std::size_t p = 0; p < infos_.size(); ++p)
    for (std::uint32_t t = 0; t < infos_[p].tasks.size(); ++t)
      if (infos_[p].tasks[t].name == task && infos_[p].tasks[t].backend == backend) return task_ref{p, t};
  return std::nullopt;
}

// ---- sessions ----

struct session::state {
  std::string plugin_name, task_name;
  std::vector<output_decl> outputs;
  plk_status (*run)(void*, plk_job*) = nullptr;
  void (*destroy)(void*) = nullptr;
  void* session_ctx = nullptr;
  std::atomic<int>* open_sessions = nullptr;
  std::atomic<bool> busy{false};
};

std::unique_ptr<session> plugin_host::open_session(task_ref ref, int device_index, const char* model_dir) {
  if (ref.plugin >= loaded_.size() || ref.task_index >= infos_[ref.plugin].tasks.size())
    throw std::out_of_range("open_session: no task " + std::to_string(ref.task_index) + " in plugin " +
                            std::to_string(ref.plugin));
  auto& plugin = *loaded_[ref.plugin];
  const auto& task = infos_[ref.plugin].tasks[ref.task_index];

  plk_session_config config{};
  config.struct_size = sizeof(config);
  config.task_index = ref.task_index;
  config.device_index = device_index;
  config.model_dir = model_dir;
  void* ctx = nullptr;
  std::string said;
  plk_status status;
  {
    log_capture capture(said);
    status = plugin.desc.session_create(plugin.plugin_ctx, &config, &ctx);
  }
  if (status != PLK_OK)
    throw std::runtime_error("plugin '" + plugin.name + "' cannot open a session for task '" + task.name + "' on " +
                             device_text(task.backend, device_index) + ": " + status_text(status) + ": " +
                             (said.empty() ? "it logged no reason" : said));

  auto s = std::unique_ptr<session>(new session());
  s->state_ = std::make_unique<session::state>();
  auto& st = *s->state_;
  st.plugin_name = plugin.name;
  st.task_name = task.name;
  st.outputs = plugin.tasks[ref.task_index].outputs;
  st.run = plugin.desc.run;
  st.destroy = plugin.desc.session_destroy;
  st.session_ctx = ctx;
  st.open_sessions = &plugin.open_sessions;
  plugin.open_sessions.fetch_add(1);
  return s;
}

session::~session() {
  if (!state_) return;
  state_->destroy(state_->session_ctx);
  state_->open_sessions->fetch_sub(1);
}

run_outcome session::run(run_request request) {
  auto& st = *state_;
  if (st.busy.exchange(true)) throw std::logic_error("session::run called while the session is already running a job");
  struct release {
    std::atomic<bool>& flag;
    ~release() { flag.store(false); }
  } release_busy{st.busy};

  const std::string who = "plugin '" + st.plugin_name + "' task '" + st.task_name + "'";
  run_outcome outcome;
  auto refuse_input = [&](std::string why) {
    outcome.status = run_status::invalid_input;
    outcome.plugin_status = PLK_ERR_INVALID_ARGUMENT;
    outcome.message = std::move(why);
    return std::move(outcome);
  };

  job_state job;
  job.plugin_name = &st.plugin_name;
  job.task_name = &st.task_name;
  job.declared_outputs = &st.outputs;
  job.params = request.params_json.empty() ? "{}" : std::move(request.params_json);
  job.cancel_flag = request.cancel_flag;
  job.on_progress = &request.on_progress;

  // Inputs must be self-consistent before the plugin sees them; misaligned ones are copied.
  std::set<std::string> seen;
  for (auto& in : request.inputs) {
    if (in.name.empty()) return refuse_input("an input has no name");
    if (!seen.insert(in.name).second) return refuse_input("input '" + in.name + "' is given twice");
    const std::size_t element_size = element_size_of(in.dtype);
    if (element_size == 0) return refuse_input("input '" + in.name + "' has invalid dtype " + std::to_string(in.dtype));
    std::int64_t elements = 0;
    try {
      elements = proto::element_count(in.shape);
    } catch (const std::exception& e) {
      return refuse_input("input '" + in.name + "': " + e.what());
    }
    const auto expected = static_cast<std::uint64_t>(elements) * element_size;
    if (in.size_bytes != expected)
      return refuse_input("input '" + in.name + "' of shape " + proto::shape_string(in.shape) + " holds " +
                          std::to_string(in.size_bytes) + " bytes, not " + std::to_string(expected));
    if (!in.data && in.size_bytes != 0) return refuse_input("input '" + in.name + "' has no data");

    stored_input s;
    s.name = in.name;
    s.dtype = in.dtype;
    s.shape = in.shape;
    s.size_bytes = in.size_bytes;
    s.data = in.data;
    if (reinterpret_cast<std::uintptr_t>(in.data) % 16 != 0) {
      s.aligned_copy.reset(new std::byte[in.size_bytes]);
      std::memcpy(s.aligned_copy.get(), in.data, in.size_bytes);
      s.data = s.aligned_copy.get();
    }
    job.inputs.push_back(std::move(s));
  }

  const plk_status status = st.run(st.session_ctx, handle_of(&job));

  std::lock_guard lock(job.mutex);  // a misbehaving plugin thread could still be calling in
  outcome.plugin_status = status;
  std::string host_said;
  for (const auto& e : job.host_errors) host_said += (host_said.empty() ? " [host: " : "; ") + e;
  if (!host_said.empty()) host_said += "]";

  switch (status) {
    case PLK_OK: {
      std::vector<output_tensor> ordered;
      for (const auto& decl : st.outputs) {
        auto it = std::find_if(job.outputs.begin(), job.outputs.end(),
                               [&](const output_tensor& o) { return o.name == decl.name; });
        if (it == job.outputs.end()) {
          outcome.status = run_status::plugin_error;
          outcome.message = who + " returned without output '" + decl.name + "'" + host_said;
          return outcome;
        }
        ordered.push_back(std::move(*it));
      }
      outcome.status = run_status::succeeded;
      outcome.outputs = std::move(ordered);
      return outcome;
    }
    case PLK_ERR_INVALID_ARGUMENT:
      outcome.status = run_status::invalid_input;
      outcome.message = job.plugin_message.empty() ? who + " refused the job's input without saying why"
                                                   : job.plugin_message;
      return outcome;
    case PLK_ERR_CANCELLED:
      outcome.status = run_status::cancelled;
      outcome.message = job.plugin_message.empty() ? "cancelled" : job.plugin_message;
      return outcome;
    default:
      outcome.status = run_status::plugin_error;
      outcome.message = who + " failed with " + status_text(status) +
                        (job.plugin_message.empty() ? std::string() : ": " + job.plugin_message) + host_said;
      return outcome;
  }
}

const char* status_name(plk_status status) noexcept {
  switch (status) {
    case PLK_OK: return "PLK_OK";
    case PLK_ERR_INVALID_ARGUMENT: return "PLK_ERR_INVALID_ARGUMENT";
    case PLK_ERR_UNSUPPORTED: return "PLK_ERR_UNSUPPORTED";
    case PLK_ERR_NOT_FOUND: return "PLK_ERR_NOT_FOUND";
    case PLK_ERR_OUT_OF_MEMORY: return "PLK_ERR_OUT_OF_MEMORY";
    case PLK_ERR_CANCELLED: return "PLK_ERR_CANCELLED";
    case PLK_ERR_INTERNAL: return "PLK_ERR_INTERNAL";
    default: return "an unknown status";
  }
}

}  // namespace potluck::worker
