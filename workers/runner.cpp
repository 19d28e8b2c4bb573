// The runner process: plugin_host + one job thread, driven by the supervisor over ipc.
// Ownership: the main thread owns the socket, the plugin_host and the job thread; the job
// thread owns the sessions. Input tensors stay in the JOB's frames, which the job thread keeps
// alive until run() returns; outputs leave as frames over the plugin's buffers (no copy).
#include "workers/runner.hpp"

#include "potluck/protocol/task_spec.hpp"
#include "potluck/protocol/wire.hpp"
#include "workers/plugin_host.hpp"
#include "workers/worker_common.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>

namespace potluck::worker {
namespace {

namespace json = boost::json;
namespace proto = potluck::protocol;
using clock = std::chrono::steady_clock;
using proto::command;

// At most one PROGRESS per job per this interval reaches the supervisor (the latest wins).
constexpr auto progress_min_interval = std::chrono::milliseconds(50);
constexpr std::size_t max_model_sessions = 2;  // models kept loaded per runner

struct pending_run {
  std::int64_t job_id = 0;
  plugin_host::task_ref ref;
  std::string model, model_dir;  // a job for a model: its id and the folder the supervisor made
  std::vector<zmq::message_t> payload;  // the input bytes request.inputs points into
  run_request request;
};

struct finished_run {
  std::int64_t job_id = 0;
  run_outcome outcome;
  std::string model;             // the job's model, when it named one
  bool model_did_not_load = false;  // its session did not open: the model's fault, not the plugin's
  std::int64_t elapsed_ms = 0;
  std::int64_t elapsed_us = 0;
};

struct progress_note {
  double fraction = 0;
  std::string message;
};

// What the main thread and the job thread share. Everything but `cancel` under `mutex`.
struct mailbox {
  std::mutex mutex;
  std::condition_variable wake_job_thread;
  std::optional<pending_run> next;
  bool stop = false;
  std::optional<progress_note> progress;
  std::optional<finished_run> done;
  std::atomic<bool> cancel{false};
  int event_fd = -1;  // the job thread writes it when progress or done is set

  void notify_main() {
    const std::uint64_t one = 1;
    (void)!::write(event_fd, &one, sizeof one);
  }
};

void free_output_buffer(void* data, void* /*hint*/) { delete[] static_cast<std::byte*>(data); }

void write_marker(const std::filesystem::path& marker, const std::string& text) {
  if (marker.empty()) return;
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());  // the page cache outlives a crash of this process
  ::close(fd);
}

// plugin_host::load_dir, one file at a time: the same files in the same order (regular files
// ending in ".so", by name), with the file at hand named in the load marker and the files that
// crashed an earlier runner left out.
std::vector<std::string> load_plugins(plugin_host& host, const runner_config& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(config.plugin_dir, ec)) return host.load_dir(config.plugin_dir);  // its one error line
  std::vector<std::string> errors;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(config.plugin_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->path().extension() == ".so" && it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) errors.push_back("plugin folder " + config.plugin_dir.string() + " cannot be read: " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    if (std::find(config.skip_plugins.begin(), config.skip_plugins.end(), file) != config.skip_plugins.end()) {
      errors.push_back(file.string() + ": not loaded: it crashed a runner while loading; fix or remove it and restart the worker");
      continue;
    }
    write_marker(config.load_marker, file.string());
    try {
      host.load(file);
    } catch (const plugin_load_error& e) {
      errors.push_back(e.what());
    } catch (const std::exception& e) {
      errors.push_back(file.string() + ": " + e.what());
    }
  }
  if (!config.load_marker.empty()) fs::remove(config.load_marker, ec);
  return errors;
}

// The plugins and their tasks as the supervisor forwards them in the daemon's HELLO.
json::array plugins_json(const plugin_host& host, json::array& load_errors) {
  json::array plugins;
  for (const auto& p : host.plugins()) {
    json::array tasks;
    for (const auto& t : p.tasks) {
      try {
        proto::task_decl decl;
        decl.name = t.name;
        decl.backend = t.backend;
        decl.description = t.description;
        for (const auto& in : t.inputs) {
          decl.inputs.push_back(proto::parse_tensor_spec(in.name, in.spec));
          decl.inputs.back().description = in.description;
        }
        for (const auto& out : t.outputs) {
          decl.outputs.push_back(proto::parse_tensor_spec(out.name, out.spec));
          decl.outputs.back().description = out.description;
        }
        decl.params_schema = t.params_schema;
        decl.cost = t.cost;
        decl.plugin = p.name;
        decl.plugin_version = p.version;
        tasks.push_back(proto::to_json(decl));
      } catch (const std::exception& e) {
        load_errors.push_back(json::string(p.file.string() + ": task '" + t.name + "' skipped: " + e.what()));
      }
    }
    plugins.push_back(json::object{{"name", p.name},
                                   {"version", p.version},
                                   {"file", p.file.string()},
                                   {"tasks", std::move(tasks)}});
  }
  return plugins;
}

constexpr std::size_t max_jobs_ahead = 64;  // JOBs held while one runs; more are RETURNED

class runner {
 public:
  runner(const runner_config& config, std::shared_ptr<spdlog::logger> log)
      : config_(config), log_(std::move(log)), socket_(context_, zmq::socket_type::dealer) {}

  int run();

 private:
  void main_loop(signal_pipe& signals);
  void job_thread_main();
  void on_message(std::vector<zmq::message_t>&& frames);
  void on_job(proto::message&& m);
  void start_next();
  void begin_stopping(const char* why);
  void on_mailbox(clock::time_point now);
  void flush_progress(clock::time_point now);
  void send_reply(command cmd, const json::object& header, std::vector<zmq::message_t> payload = {});
  void fail(std::int64_t job_id, std::string_view code, const std::string& message);
  void reply_outcome(finished_run&& fin);

  runner_config config_;
  std::shared_ptr<spdlog::logger> log_;
  plugin_host host_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  mailbox mailbox_;
  bool stopping_ = false;
  // The job being run, as the main thread sees it.
  std::optional<std::int64_t> current_job_;
  // JOBs the supervisor sent ahead while one runs, started in order as the job at hand ends.
  std::deque<proto::message> ahead_;
  std::string current_task_;
  std::size_t current_plugin_ = 0;
  std::optional<progress_note> unsent_progress_;
  clock::time_point last_progress_sent_{};
};

int runner::run() {
  const auto load_errors_text = load_plugins(host_, config_);
  json::array load_errors;
  for (const auto& e : load_errors_text) {
    log_->debug("plugin not loaded: {}", e);
    load_errors.push_back(json::string(e));
  }
  auto plugins = plugins_json(host_, load_errors);
  log_->debug("{} plugin(s) loaded from {}", host_.plugins().size(), config_.plugin_dir.string());

  mailbox_.event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (mailbox_.event_fd < 0) {
    log_->error("cannot create an eventfd: {}", std::strerror(errno));
    return 1;
  }
  socket_.set(zmq::sockopt::routing_id, runner_routing_id(config_.slot));
  socket_.set(zmq::sockopt::linger, 1000);
  socket_.connect(config_.endpoint);
  send_reply(command::hello, json::object{{"slot", config_.slot},
                                          {"pid", ::getpid()},
                                          {"backend", config_.backend},
                                          {"device", config_.device_index},
                                          {"plugins", std::move(plugins)},
                                          {"load_errors", std::move(load_errors)}});

  signal_pipe signals{SIGTERM};
  std::thread job_thread([this] { job_thread_main(); });
  int exit_code = 0;
  try {
    main_loop(signals);
  } catch (const std::exception& e) {
    log_->error("runner stopped: {}", e.what());
    mailbox_.cancel = true;
    exit_code = 1;
  }
  {
    std::lock_guard lock(mailbox_.mutex);
    mailbox_.stop = true;
  }
  mailbox_.wake_job_thread.notify_one();
  job_thread.join();
  ::close(mailbox_.event_fd);
  return exit_code;
}

void runner::main_loop(signal_pipe& signals) {
  while (!(stopping_ && !current_job_)) {
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, mailbox_.event_fd, ZMQ_POLLIN, 0},
                               {nullptr, signals.fd(), ZMQ_POLLIN, 0}};
    long timeout_ms = -1;
    if (unsent_progress_) {
      const auto due = last_progress_sent_ + progress_min_interval - clock::now();
      timeout_ms = std::max<long>(0, std::chrono::ceil<std::chrono::milliseconds>(due).count());
    }
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (items[2].revents & ZMQ_POLLIN) {
      // Not a cancel: the supervisor decides the fate of the job (it may let it finish within
      // its grace period when the whole process group got the signal, as under systemd).
      if (!signals.drain().empty() && !stopping_) begin_stopping("SIGTERM");
    }
    std::vector<zmq::message_t> frames;
    while (proto::recv_all(socket_, frames)) on_message(std::move(frames));
    const auto now = clock::now();
    if (items[1].revents & ZMQ_POLLIN) {
      std::uint64_t count = 0;
      (void)!::read(mailbox_.event_fd, &count, sizeof count);
      on_mailbox(now);
    }
    flush_progress(now);
  }
}

void runner::job_thread_main() {
  // Sessions are opened lazily, kept per task (and model) and closed on this thread. A model's
  // session holds its weights in memory: only the most recently used few stay open.
  using session_key = std::tuple<std::size_t, std::uint32_t, std::string>;
  std::map<session_key, std::unique_ptr<session>> sessions;
  std::deque<session_key> model_sessions;  // least recently used first
  for (;;) {
    pending_run job;
    {
      std::unique_lock lock(mailbox_.mutex);
      mailbox_.wake_job_thread.wait(lock, [&] { return mailbox_.stop || mailbox_.next.has_value(); });
      if (!mailbox_.next) break;
      job = std::move(*mailbox_.next);
      mailbox_.next.reset();
    }
    finished_run fin;
    fin.job_id = job.job_id;
    const auto started = clock::now();
    const session_key key{job.ref.plugin, job.ref.task_index, job.model_dir};
    fin.model = job.model;
    try {
      auto it = sessions.find(key);
      if (!job.model_dir.empty()) {
        model_sessions.erase(std::remove(model_sessions.begin(), model_sessions.end(), key), model_sessions.end());
        model_sessions.push_back(key);
        while (model_sessions.size() > max_model_sessions) {
          sessions.erase(model_sessions.front());
          model_sessions.pop_front();
        }
      }
      if (it == sessions.end()) {
        try {
          it = sessions.emplace(key, host_.open_session(job.ref, config_.device_index,
                                                        job.model_dir.empty() ? nullptr : job.model_dir.c_str())).first;
        } catch (const std::exception&) {
          fin.model_did_not_load = !job.model_dir.empty();
          model_sessions.erase(std::remove(model_sessions.begin(), model_sessions.end(), key), model_sessions.end());
          throw;
        }
      }
      fin.outcome = it->second->run(std::move(job.request));
      // A plugin that failed may have left its session broken: the next job opens a fresh one.
      if (fin.outcome.status == run_status::plugin_error) {
        sessions.erase(key);
        model_sessions.erase(std::remove(model_sessions.begin(), model_sessions.end(), key), model_sessions.end());
      }
    } catch (const std::exception& e) {
      fin.outcome = run_outcome{};
      fin.outcome.status = run_status::plugin_error;
      fin.outcome.plugin_status = PLK_ERR_INTERNAL;
      fin.outcome.message = e.what();
      sessions.erase(key);
    }
    fin.elapsed_us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started).count();
    fin.elapsed_ms = fin.elapsed_us / 1000;
    job.payload.clear();
    {
      std::lock_guard lock(mailbox_.mutex);
      mailbox_.done = std::move(fin);
    }
    mailbox_.notify_main();
  }
  sessions.clear();
}

void runner::on_message(std::vector<zmq::message_t>&& frames) {
  proto::message m;
  try {
    m = proto::decode(std::move(frames));
  } catch (const proto::protocol_error& e) {
    log_->warn("dropped a bad message from the supervisor: {}", e.what());
    return;
  }
  switch (m.cmd) {
    case command::job:
      on_job(std::move(m));
      return;
    case command::cancel: {
      const auto id = header_int(m.header, "job_id");
      if (id && current_job_ && *id == *current_job_) {
        log_->debug("job {}: cancel requested", *id);
        mailbox_.cancel = true;
        return;
      }
      for (auto it = ahead_.begin(); id && it != ahead_.end(); ++it) {
        if (header_int(it->header, "job_id") != id) continue;
        log_->debug("job {}: cancelled before it started", *id);
        ahead_.erase(it);
        send_reply(command::cancelled, json::object{{"job_id", *id}});
        return;
      }
      return;
    }
    case command::disconnect:
      if (!stopping_) begin_stopping("DISCONNECT");
      return;
    default:
      log_->warn("dropped an unexpected {} message from the supervisor", proto::command_name(m.cmd));
      return;
  }
}

void runner::on_job(proto::message&& m) {
  const auto job_id = header_int(m.header, "job_id");
  if (!job_id) {
    log_->warn("dropped a job without an integer job_id");
    return;
  }
  if (stopping_ || (current_job_ && ahead_.size() >= max_jobs_ahead)) {
    send_reply(command::returned,
               json::object{{"job_id", *job_id}, {"reason", stopping_ ? "runner stopping" : "runner busy"}});
    return;
  }
  if (current_job_) {
    ahead_.push_back(std::move(m));
    return;
  }
  const auto task = header_string(m.header, "task");
  auto backend = header_string(m.header, "backend");
  if (backend.empty()) backend = config_.backend;
  if (backend != config_.backend)
    return fail(*job_id, "bad_request", "job for backend '" + backend + "' reached a " + config_.backend + " runner");
  const auto ref = host_.find(task, backend);
  if (!ref)
    return fail(*job_id, "no_plugin", "no plugin on this worker offers task '" + task + "' on backend '" + backend + "'");

  pending_run job;
  job.job_id = *job_id;
  job.ref = *ref;
  job.model_dir = header_string(m.header, "model_dir");
  if (const auto* model = m.header.if_contains("model"); model && model->is_object())
    job.model = header_string(model->as_object(), "id");
  if (const auto* params = m.header.if_contains("params"); params && !params->is_null()) {
    if (!params->is_object()) return fail(*job_id, "bad_request", "job \"params\" is not a JSON object");
    job.request.params_json = json::serialize(*params);
  }
  const auto* inputs = m.header.if_contains("inputs");
  if (!inputs) return fail(*job_id, "bad_request", "job header lacks \"inputs\"");
  std::vector<proto::tensor_meta> metas;
  try {
    metas = proto::read_tensor_metas(*inputs);
    if (metas.size() != m.payload.size())
      throw proto::protocol_error("header lists " + std::to_string(metas.size()) + " inputs but " +
                                  std::to_string(m.payload.size()) + " tensor frames came");
    for (std::size_t i = 0; i < metas.size(); ++i) {
      const auto expected = static_cast<std::uint64_t>(proto::element_count(metas[i].shape)) *
                            proto::dtype_size(metas[i].type);
      if (expected != m.payload[i].size())
        throw proto::protocol_error("input '" + metas[i].name + "' of dtype " + proto::dtype_name(metas[i].type) +
                                    " and shape " + proto::shape_string(metas[i].shape) + " needs " +
                                    std::to_string(expected) + " bytes, got " + std::to_string(m.payload[i].size()));
    }
  } catch (const proto::protocol_error& e) {
    return fail(*job_id, "bad_request", e.what());
  }
  for (std::size_t i = 0; i < metas.size(); ++i) {
    input_tensor in;
    in.name = std::move(metas[i].name);
    in.dtype = static_cast<plk_dtype>(metas[i].type);
    in.shape = std::move(metas[i].shape);
    in.data = m.payload[i].data();
    in.size_bytes = m.payload[i].size();
    job.request.inputs.push_back(std::move(in));
  }
  // The views above point into these frames. Small frames keep their bytes inside the
  // message_t itself, so the frames must never be moved one by one: only the vector moves
  // (which keeps its buffer) from here to the job thread.
  job.payload = std::move(m.payload);
  job.request.cancel_flag = &mailbox_.cancel;
  job.request.on_progress = [box = &mailbox_](double fraction, std::string_view message) {
    if (!std::isfinite(fraction)) fraction = 0;
    {
      std::lock_guard lock(box->mutex);
      box->progress = progress_note{std::clamp(fraction, 0.0, 1.0), proto::to_valid_utf8(message)};
    }
    box->notify_main();
  };

  current_job_ = *job_id;
  current_task_ = task;
  current_plugin_ = ref->plugin;
  unsent_progress_.reset();
  last_progress_sent_ = {};
  mailbox_.cancel = false;
  log_->debug("job {} {}: started", *job_id, task);
  {
    std::lock_guard lock(mailbox_.mutex);
    mailbox_.next = std::move(job);
  }
  mailbox_.wake_job_thread.notify_one();
}

void runner::start_next() {
  // A job that fails before it starts (a bad header) leaves the runner free for the next.
  while (!current_job_ && !stopping_ && !ahead_.empty()) {
    auto m = std::move(ahead_.front());
    ahead_.pop_front();
    on_job(std::move(m));
  }
}

void runner::begin_stopping(const char* why) {
  log_->debug("{}: stopping after the current job", why);
  stopping_ = true;
  for (auto& m : ahead_)
    if (const auto id = header_int(m.header, "job_id"))
      send_reply(command::returned, json::object{{"job_id", *id}, {"reason", "runner stopping"}});
  ahead_.clear();
}

void runner::on_mailbox(clock::time_point now) {
  std::optional<progress_note> progress;
  std::optional<finished_run> done;
  {
    std::lock_guard lock(mailbox_.mutex);
    progress.swap(mailbox_.progress);
    done.swap(mailbox_.done);
  }
  if (done) {
    unsent_progress_.reset();  // the outcome says it all
    reply_outcome(std::move(*done));
    start_next();
    return;
  }
  if (progress && current_job_) {
    unsent_progress_ = std::move(progress);
    flush_progress(now);
  }
}

void runner::flush_progress(clock::time_point now) {
  if (!unsent_progress_ || !current_job_) return;
  if (now < last_progress_sent_ + progress_min_interval) return;
  auto frames = proto::encode(command::progress, json::object{{"job_id", *current_job_},
                                                              {"fraction", unsent_progress_->fraction},
                                                              {"message", unsent_progress_->message}});
  try {
    (void)proto::send_all(socket_, frames, true);  // progress may be dropped when the pipe is full
  } catch (const zmq::error_t& e) {
    log_->debug("job {}: progress not sent: {}", *current_job_, e.what());
  }
  last_progress_sent_ = now;
  unsent_progress_.reset();
}

void runner::reply_outcome(finished_run&& fin) {
  const auto job_id = fin.job_id;
  auto& out = fin.outcome;
  const auto plugin_name = current_plugin_ < host_.plugins().size() ? host_.plugins()[current_plugin_].name : "?";
  const auto task = current_task_;
  current_job_.reset();
  switch (out.status) {
    case run_status::succeeded: {
      std::vector<proto::tensor_meta> metas;
      std::vector<zmq::message_t> payload;
      for (auto& t : out.outputs) {
        const auto type = proto::dtype_from_int(t.dtype);
        if (!type)
          return fail(job_id, "plugin_error", "plugin '" + plugin_name + "' failed on task '" + task +
                                                  "': output '" + t.name + "' has an invalid dtype " +
                                                  std::to_string(t.dtype));
        metas.push_back(proto::tensor_meta{t.name, *type, t.shape});
        if (t.size_bytes == 0 || !t.data) {
          payload.emplace_back();
        } else {
          payload.emplace_back(t.data.release(), t.size_bytes, &free_output_buffer, nullptr);
        }
      }
      log_->debug("job {} {}: succeeded in {} ms", job_id, task, fin.elapsed_ms);
      send_reply(command::result,
                 json::object{{"job_id", job_id}, {"outputs", proto::tensor_list(metas)}, {"elapsed_ms", fin.elapsed_ms},
                              {"elapsed_us", fin.elapsed_us}},
                 std::move(payload));
      return;
    }
    case run_status::invalid_input:
      return fail(job_id, "invalid_input", out.message.empty() ? "the plugin refused the input" : out.message);
    case run_status::cancelled:
      log_->debug("job {} {}: cancelled", job_id, task);
      send_reply(command::cancelled, json::object{{"job_id", job_id}});
      return;
    case run_status::plugin_error:
      if (fin.model_did_not_load)
        return fail(job_id, "model_error", "model " + fin.model + " does not load: " +
                                               (out.message.empty() ? "no message" : out.message));
      return fail(job_id, "plugin_error", "plugin '" + plugin_name + "' failed on task '" + task + "': " +
                                              status_name(out.plugin_status) + ": " +
                                              (out.message.empty() ? "no message" : out.message));
  }
}

void runner::fail(std::int64_t job_id, std::string_view code, const std::string& message) {
  log_->debug("job {}: failed ({}): {}", job_id, code, message);
  // The plugin's words may be any bytes; the reply's header must be UTF-8 to be read at all.
  send_reply(command::failed, json::object{{"job_id", job_id}, {"code", code}, {"message", proto::to_valid_utf8(message)}});
}

void runner::send_reply(command cmd, const json::object& header, std::vector<zmq::message_t> payload) {
  auto frames = proto::encode(cmd, header, std::move(payload));
  // Blocking: a reply must not be dropped. The pipe to the supervisor holds far more than one
  // job's replies, so this only waits when the supervisor is gone (and we die with it).
  try {
    (void)proto::send_all(socket_, frames, false);
  } catch (const zmq::error_t& e) {
    log_->error("cannot send {} to the supervisor: {}", proto::command_name(cmd), e.what());
  }
}

}  // namespace

int run_runner(const runner_config& config, std::shared_ptr<spdlog::logger> log) {
  // Ctrl-C in a terminal reaches the whole process group: the supervisor decides when runners
  // stop (it lets jobs finish within the grace period), so runners ignore SIGINT.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    runner r(config, log);
    return r.run();
  } catch (const std::exception& e) {
    log->error("runner stopped: {}", e.what());
    return 1;
  }
}

}  // namespace potluck::worker
