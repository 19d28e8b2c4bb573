// potluck/plugin.hpp — header-only C++20 wrapper over potluck/plugin.h.
//
// A plugin written with it declares its tasks with a builder and exports them with one
// macro; it never writes `extern "C"` and no exception ever crosses the boundary:
//
//     static void echo(potluck::job& job) {
//       auto x = job.input("x");
//       auto out = job.output_bytes("x", x.dtype(), x.shape());
//       std::memcpy(out.data(), x.data(), x.size_bytes());
//     }
//     POTLUCK_PLUGIN(potluck::plugin_def("testing", "1.0.0")
//         .add(potluck::task("test.echo", "cpu").input("x", "any[...]").output("x", "any[...]")
//                  .run(echo)));
//
// Exceptions thrown by a task map to statuses: potluck::job_error -> PLK_ERR_INVALID_ARGUMENT
// (the job fails with its message), potluck::cancelled -> PLK_ERR_CANCELLED,
// std::bad_alloc -> PLK_ERR_OUT_OF_MEMORY, anything else -> PLK_ERR_INTERNAL.
#ifndef POTLUCK_PLUGIN_HPP
#define POTLUCK_PLUGIN_HPP

#include <potluck/plugin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace potluck {

// Size in bytes of one element; 0 for an unknown dtype.
inline std::size_t dtype_size(plk_dtype dtype) noexcept {
  switch (dtype) {
    case PLK_DTYPE_F64: case PLK_DTYPE_I64: return 8;
    case PLK_DTYPE_F32: case PLK_DTYPE_I32: return 4;
    case PLK_DTYPE_F16: case PLK_DTYPE_BF16: return 2;
    case PLK_DTYPE_U8: case PLK_DTYPE_I8: case PLK_DTYPE_BOOL: return 1;
    default: return 0;
  }
}

inline const char* dtype_name(plk_dtype dtype) noexcept {
  switch (dtype) {
    case PLK_DTYPE_F32: return "f32"; case PLK_DTYPE_F64: return "f64";
    case PLK_DTYPE_I32: return "i32"; case PLK_DTYPE_I64: return "i64";
    case PLK_DTYPE_U8: return "u8";   case PLK_DTYPE_I8: return "i8";
    case PLK_DTYPE_F16: return "f16"; case PLK_DTYPE_BF16: return "bf16";
    case PLK_DTYPE_BOOL: return "bool";
    default: return "invalid";
  }
}

template <class T> constexpr plk_dtype dtype_of() noexcept;
template <> constexpr plk_dtype dtype_of<float>() noexcept { return PLK_DTYPE_F32; }
template <> constexpr plk_dtype dtype_of<double>() noexcept { return PLK_DTYPE_F64; }
template <> constexpr plk_dtype dtype_of<std::int32_t>() noexcept { return PLK_DTYPE_I32; }
template <> constexpr plk_dtype dtype_of<std::int64_t>() noexcept { return PLK_DTYPE_I64; }
template <> constexpr plk_dtype dtype_of<std::uint8_t>() noexcept { return PLK_DTYPE_U8; }
template <> constexpr plk_dtype dtype_of<std::int8_t>() noexcept { return PLK_DTYPE_I8; }

// The job's input or parameters are wrong: the job fails with this message.
class job_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by job::throw_if_cancelled(); the run ends as cancelled.
class cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "cancelled"; }
};

inline std::string shape_string(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// A read-only input tensor.
class tensor_in {
 public:
  tensor_in(std::string name, const plk_tensor_view& view) : name_(std::move(name)), view_(view) {}

  const std::string& name() const noexcept { return name_; }
  plk_dtype dtype() const noexcept { return view_.dtype; }
  std::span<const std::int64_t> shape() const noexcept { return {view_.shape, view_.rank}; }
  std::size_t rank() const noexcept { return view_.rank; }
  std::int64_t dim(std::size_t i) const noexcept { return view_.shape[i]; }
  const void* data() const noexcept { return view_.data; }
  std::size_t size_bytes() const noexcept { return static_cast<std::size_t>(view_.size_bytes); }

  // Throws job_error naming the input when the dtype or the rank is not the expected one.
  const tensor_in& expect(plk_dtype dtype, std::size_t rank) const {
    if (view_.dtype != dtype)
      throw job_error("input '" + name_ + "' must be " + dtype_name(dtype) + ", got " +
                      dtype_name(view_.dtype));
    if (view_.rank != rank)
      throw job_error("input '" + name_ + "' must have rank " + std::to_string(rank) +
                      ", got shape " + shape_string(shape()));
    return *this;
  }

  template <class T> std::span<const T> as() const {
    if (dtype_of<T>() != view_.dtype)
      throw job_error("input '" + name_ + "' is " + dtype_name(view_.dtype) + ", not " +
                      dtype_name(dtype_of<T>()));
    return {static_cast<const T*>(view_.data), view_.size_bytes / sizeof(T)};
  }

 private:
  std::string name_;
  plk_tensor_view view_;
};

// One job while it runs. Valid only inside the task's run.
class job {
 public:
  job(const plk_host_api* host, plk_job* handle) noexcept : host_(host), handle_(handle) {}

  // Throws job_error when the job has no input of that name.
  tensor_in input(const char* name) const {
    plk_tensor_view view{};
    view.struct_size = sizeof(view);
    if (host_->get_input(handle_, name, &view) != PLK_OK)
      throw job_error(std::string("missing input '") + name + "'");
    return tensor_in(name, view);
  }

  // The parameters as a JSON object text ("{}" when none).
  std::string_view params() const { return host_->get_params(handle_); }

  // Allocate an output; returns its zero-filled bytes.
  std::span<std::byte> output_bytes(const char* name, plk_dtype dtype,
                                    std::span<const std::int64_t> shape) {
    void* data = nullptr;
    const plk_status st = host_->alloc_output(handle_, name, dtype,
                                              static_cast<std::uint32_t>(shape.size()),
                                              shape.data(), &data);
    if (st == PLK_ERR_OUT_OF_MEMORY) throw std::bad_alloc();
    if (st != PLK_OK) throw std::runtime_error(std::string("cannot allocate output '") + name + "'");
    std::size_t n = dtype_size(dtype);
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    return {static_cast<std::byte*>(data), n};
  }

  template <class T> std::span<T> output(const char* name, std::span<const std::int64_t> shape) {
    auto bytes = output_bytes(name, dtype_of<T>(), shape);
    return {reinterpret_cast<T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
  template <class T> std::span<T> output(const char* name, std::initializer_list<std::int64_t> shape) {
    return output<T>(name, std::span<const std::int64_t>(shape.begin(), shape.size()));
  }

  void progress(double fraction, const char* message = nullptr) {
    host_->progress(handle_, fraction, message);
  }
  bool is_cancelled() const { return host_->is_cancelled(handle_) != 0; }
  void throw_if_cancelled() const {
    if (is_cancelled()) throw cancelled();
  }
  void log(plk_log_level level, const std::string& message) const {
    host_->log(host_->host_ctx, level, message.c_str());
  }

 private:
  const plk_host_api* host_;
  plk_job* handle_;
};

// What a session was created for.
struct session_info {
  const plk_host_api* host;
  std::uint32_t task_index;
  int device_index;       // -1: CPU
  const char* model_dir;  // nullptr when no model
};

// Per-session state for tasks that need some (a loaded model, a device handle).
class session {
 public:
  virtual ~session() = default;
  virtual void run(job& job) = 0;
};

using session_factory = std::function<std::unique_ptr<session>(const session_info&)>;

// Declares one task on one backend.
class task {
 public:
  task(std::string name, std::string backend) : name_(std::move(name)), backend_(std::move(backend)) {}

  task& describe(std::string text) { description_ = std::move(text); return *this; }
  task& input(std::string name, std::string spec, std::string description = {}) {
    inputs_.push_back({std::move(name), std::move(spec), std::move(description)});
    return *this;
  }
  task& output(std::string name, std::string spec, std::string description = {}) {
    outputs_.push_back({std::move(name), std::move(spec), std::move(description)});
    return *this;
  }
  task& params(std::string json_schema) { params_schema_ = std::move(json_schema); return *this; }
  task& cost(std::string expression) { cost_ = std::move(expression); return *this; }
  // How closely two runs' float outputs must agree (plk_task_decl::rtol/atol): the default is
  // rtol 1e-5, atol 1e-8; exact() asks for equal values.
  task& tolerance(double rtol, double atol) { rtol_ = rtol; atol_ = atol; return *this; }
  task& exact() { rtol_ = PLK_TOLERANCE_EXACT; atol_ = 0; return *this; }

  // A task without per-session state.
  task& run(void (*fn)(job&)) {
    factory_ = [fn](const session_info&) -> std::unique_ptr<session> {
      struct fn_session final : session {
        explicit fn_session(void (*f)(job&)) : f_(f) {}
        void run(job& j) override { f_(j); }
        void (*f_)(job&);
      };
      return std::make_unique<fn_session>(fn);
    };
    return *this;
  }
  // A task whose state lives in S, constructed as S(const session_info&).
  template <class S> task& with_session() {
    factory_ = [](const session_info& info) -> std::unique_ptr<session> {
      return std::make_unique<S>(info);
    };
    return *this;
  }

 private:
  friend class plugin_def;
  struct tensor_decl {
    std::string name, spec, description;
  };
  std::string name_, backend_, description_, params_schema_, cost_;
  double rtol_ = 0, atol_ = 0;
  std::vector<tensor_decl> inputs_, outputs_;
  session_factory factory_;
};

// Declares the plugin: its name, version and tasks. Built once, kept for the library's life.
class plugin_def {
 public:
  plugin_def(std::string name, std::string version) : name_(std::move(name)), version_(std::move(version)) {}
  plugin_def(const plugin_def&) = delete;
  plugin_def& operator=(const plugin_def&) = delete;
  plugin_def(plugin_def&& other) noexcept { *this = std::move(other); }
  plugin_def& operator=(plugin_def&& other) noexcept {
    name_ = std::move(other.name_); version_ = std::move(other.version_);
    description_ = std::move(other.description_); tasks_ = std::move(other.tasks_);
    abi_minor_required_ = other.abi_minor_required_;
    return *this;
  }

  plugin_def&& describe(std::string text) && { description_ = std::move(text); return std::move(*this); }
  plugin_def&& add(task t) && { tasks_.push_back(std::move(t)); return std::move(*this); }
  // The lowest host ABI minor this plugin needs; 0 unless it uses a later addition.
  plugin_def&& requires_abi_minor(std::uint16_t minor) && { abi_minor_required_ = minor; return std::move(*this); }

  // Lays out the C descriptor. Called once, by the entry function.
  const plk_plugin_desc* descriptor() {
    c_tasks_.clear();
    c_tensors_.clear();
    c_tensors_.reserve(count_tensors());
    for (auto& t : tasks_) {
      plk_task_decl d{};
      d.struct_size = sizeof(d);
      d.name = t.name_.c_str();
      d.backend = t.backend_.c_str();
      d.description = t.description_.empty() ? nullptr : t.description_.c_str();
      d.inputs = push_tensors(t.inputs_);
      d.input_count = static_cast<std::uint32_t>(t.inputs_.size());
      d.outputs = push_tensors(t.outputs_);
      d.output_count = static_cast<std::uint32_t>(t.outputs_.size());
      d.params_schema = t.params_schema_.empty() ? nullptr : t.params_schema_.c_str();
      d.cost = t.cost_.empty() ? nullptr : t.cost_.c_str();
      d.rtol = t.rtol_;
      d.atol = t.atol_;
      c_tasks_.push_back(d);
    }
    desc_ = {};
    desc_.struct_size = sizeof(desc_);
    desc_.abi_major = PLK_ABI_MAJOR;
    desc_.abi_minor_required = abi_minor_required_;
    desc_.name = name_.c_str();
    desc_.version = version_.c_str();
    desc_.description = description_.empty() ? nullptr : description_.c_str();
    desc_.tasks = c_tasks_.data();
    desc_.task_count = static_cast<std::uint32_t>(c_tasks_.size());
    desc_.init = &plugin_def::c_init;
    desc_.shutdown = &plugin_def::c_shutdown;
    desc_.session_create = &plugin_def::c_session_create;
    desc_.session_destroy = &plugin_def::c_session_destroy;
    desc_.run = &plugin_def::c_run;
    self_ = this;
    return &desc_;
  }

 private:
  struct session_box {
    const plk_host_api* host;
    std::unique_ptr<session> impl;
  };

  std::size_t count_tensors() const {
    std::size_t n = 0;
    for (auto& t : tasks_) n += t.inputs_.size() + t.outputs_.size();
    return n;
  }
  const plk_tensor_decl* push_tensors(const std::vector<task::tensor_decl>& list) {
    const std::size_t first = c_tensors_.size();
    for (auto& t : list) {
      plk_tensor_decl d{};
      d.struct_size = sizeof(d);
      d.name = t.name.c_str();
      d.spec = t.spec.c_str();
      d.description = t.description.empty() ? nullptr : t.description.c_str();
      c_tensors_.push_back(d);
    }
    return list.empty() ? nullptr : c_tensors_.data() + first;
  }

  // The descriptor is static, so the context is the one plugin_def that built it. Hidden even
  // when the plugin is built without -fvisibility=hidden: a default-visibility inline variable
  // is one process-wide (STB_GNU_UNIQUE) symbol, which two such plugins would share, and which
  // keeps a library from ever being unloaded.
  __attribute__((visibility("hidden"))) static inline plugin_def* self_ = nullptr;

  static plk_status c_init(const plk_host_api* host, void** plugin_ctx) noexcept {
    if (!self_ || !host) return PLK_ERR_INVALID_ARGUMENT;
    self_->host_ = host;
    *plugin_ctx = self_;
    return PLK_OK;
  }
  static void c_shutdown(void*) noexcept {}

  static plk_status c_session_create(void* plugin_ctx, const plk_session_config* config,
                                     void** session_ctx) noexcept {
    auto* self = static_cast<plugin_def*>(plugin_ctx);
    if (!self || !config || !session_ctx) return PLK_ERR_INVALID_ARGUMENT;
    plk_session_config cfg{};
    std::memcpy(&cfg, config, std::min<std::size_t>(sizeof(cfg), config->struct_size));
    if (cfg.task_index >= self->tasks_.size()) return PLK_ERR_NOT_FOUND;
    auto& t = self->tasks_[cfg.task_index];
    if (!t.factory_) return PLK_ERR_UNSUPPORTED;
    try {
      auto box = std::make_unique<session_box>();
      box->host = self->host_;
      box->impl = t.factory_(session_info{self->host_, cfg.task_index, cfg.device_index, cfg.model_dir});
      *session_ctx = box.release();
      return PLK_OK;
    } catch (const std::bad_alloc&) {
      return PLK_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
      self->host_->log(self->host_->host_ctx, PLK_LOG_ERROR, e.what());
      return PLK_ERR_INTERNAL;
    } catch (...) {
      return PLK_ERR_INTERNAL;
    }
  }
  static void c_session_destroy(void* session_ctx) noexcept {
    delete static_cast<session_box*>(session_ctx);
  }
  static plk_status c_run(void* session_ctx, plk_job* handle) noexcept {
    auto* box = static_cast<session_box*>(session_ctx);
    if (!box || !handle) return PLK_ERR_INVALID_ARGUMENT;
    try {
      job j(box->host, handle);
      box->impl->run(j);
      return PLK_OK;
    } catch (const job_error& e) {
      box->host->set_error(handle, e.what());
      return PLK_ERR_INVALID_ARGUMENT;
    } catch (const cancelled&) {
      return PLK_ERR_CANCELLED;
    } catch (const std::bad_alloc&) {
      box->host->set_error(handle, "out of memory");
      return PLK_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
      box->host->set_error(handle, e.what());
      return PLK_ERR_INTERNAL;
    } catch (...) {
      box->host->set_error(handle, "unknown exception");
      return PLK_ERR_INTERNAL;
    }
  }

  std::string name_, version_, description_;
  std::vector<task> tasks_;
  std::uint16_t abi_minor_required_ = 0;
  const plk_host_api* host_ = nullptr;
  std::vector<plk_task_decl> c_tasks_;
  std::vector<plk_tensor_decl> c_tensors_;
  plk_plugin_desc desc_{};
};

}  // namespace potluck

// Exports the plugin's one entry function. The argument is a plugin_def expression; it is
// evaluated once, on the first call.
#define POTLUCK_PLUGIN(...)                                                                  \
  extern "C" __attribute__((visibility("default"))) const plk_plugin_desc*                  \
  POTLUCK_PLUGIN_ENTRY_SYMBOL(const plk_host_api*, std::uint32_t, std::uint32_t) {           \
    static ::potluck::plugin_def potluck_plugin_definition_ = (__VA_ARGS__);                 \
    static const plk_plugin_desc* potluck_plugin_descriptor_ =                               \
        potluck_plugin_definition_.descriptor();                                             \
    return potluck_plugin_descriptor_;                                                       \
  }

#endif  // POTLUCK_PLUGIN_HPP
