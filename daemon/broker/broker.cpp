// The broker thread: worker registry, job queues and dispatch over the ZeroMQ ROUTER.
//
// Per-worker state table (protocol/PROTOCOL.md is the normative text):
//
//   state    event                         action               next
//   -------  ----------------------------  -------------------  -------
//   unknown  HELLO, valid                  on_register          ready
//   unknown  HELLO, invalid                on_refuse            unknown
//   unknown  any other valid command       on_stranger          unknown
//   ready    HELLO                         on_reregister        ready
//   ready    HEARTBEAT                     on_touch             ready
//   ready    PROGRESS                      on_progress          ready
//   ready    RESULT / FAILED / CANCELLED   on_job_done          ready
//   ready    RETURNED                      on_returned          ready
//   ready    DISCONNECT                    on_goodbye           unknown
//   ready    WELCOME / JOB / CANCEL        on_unexpected        unknown
//   ready    frames that do not decode     on_garbage           unknown
//   ready    silent for liveness intervals on_expired           unknown
//   unknown  frames that do not decode     (count only)         unknown
//
// Every message from a ready worker also counts as its heartbeat.
#include "daemon/broker/broker.hpp"

#include "daemon/app/events.hpp"
#include "daemon/app/metrics.hpp"
#include "potluck/protocol/credits.hpp"
#include "potluck/protocol/model_tasks.hpp"
#include "potluck/protocol/wire.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <cstdlib>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace json = boost::json;
using namespace std::chrono;

namespace potluck::daemon {
namespace {

constexpr std::size_t max_slots_per_worker = 256;
constexpr std::size_t max_models_per_worker = 10000;
constexpr std::int64_t max_prefetch_per_worker = 1024;
constexpr double run_average_weight = 0.2;  // of the newest sample in run_us_average
constexpr std::size_t max_messages_per_turn = 512;  // then look at the inbox and timers again
constexpr const char* software_version = "potluckd/0.1.0";

std::int64_t now_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
std::int64_t now_us_steady() {
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string queue_key(const std::string& task, const std::string& backend) { return task + '|' + backend; }
// Jobs waiting for a trusted worker to check a result queue apart: only trusted workers look there.
std::string check_queue_key(const std::string& task, const std::string& backend) {
  return queue_key(task, backend) + "|check";
}
// Replicas after the first queue apart too: each may run only on a donor that has not run it.
std::string replica_queue_key(const std::string& task, const std::string& backend) {
  return queue_key(task, backend) + "|replica";
}

// A queue of jobs of one task and backend, in dispatch order: higher bid first, then older
// (lower id) first. An entry is (-bid, id). Free jobs (bid 0) come last.
using queue_entry = std::pair<std::int64_t, std::int64_t>;
using job_queue = std::set<queue_entry>;
queue_entry queue_entry_of(const pending_job& job) { return {-job.bid, job.id}; }
// The first free job of a queue, if any.
job_queue::const_iterator first_free(const job_queue& q) {
  return q.lower_bound({0, std::numeric_limits<std::int64_t>::min()});
}

std::string job_event_json(std::int64_t id, const live_job& j) {
  json::object o;
  o["id"] = id;
  o["state"] = to_string(j.state);
  o["progress"] = j.progress;
  if (!j.message.empty()) o["message"] = j.message;
  if (!j.worker.empty()) o["worker"] = j.worker;
  o["attempt"] = j.attempt;
  return json::serialize(o);
}

}  // namespace

struct broker::impl {
  enum class worker_state { unknown, ready };
  enum class worker_event { hello_valid, hello_invalid, other, heartbeat, progress, job_done, returned,
                            goodbye, unexpected, garbage, expired };

  // A result waiting for a trusted worker's run of the same job, to be compared with it.
  struct pending_check {
    std::vector<protocol::tensor> outputs;  // the donor's result
    std::string worker_name;
    std::int64_t owner_id = 0;
    settlement pay;  // what the donor is paid when the results agree
  };

  // One replica's result, kept until every replica ran.
  struct replica_result {
    std::vector<protocol::tensor> outputs;
    std::string worker_name;
    std::int64_t owner_id = 0;
    settlement pay;
  };

  struct job_entry {
    pending_job job;
    std::optional<pending_check> check;  // set while a trusted worker re-runs it
    std::vector<replica_result> replica_results;  // replicas that ran so far
    std::set<std::string> replica_donors;         // donor_key() of the workers that ran them
    std::string worker_identity;  // empty while queued
    std::string slot_backend;     // the backend of the slot it runs in
    bool cancel_requested = false;
    bool long_task = false;       // sent when its task was not known to be short (see prefetch_for)
    std::int64_t queued_us = 0;   // steady clock, for the dispatch latency
  };

  struct worker {
    std::string identity;
    worker_snapshot info;
    std::set<std::pair<std::string, std::string>> offers;  // (task, backend)
    std::unordered_set<std::int64_t> running;  // sent and not answered: running or waiting there
    std::map<std::string, int> in_flight;       // by backend: running.size() split by backend
    std::map<std::string, int> long_in_flight;  // by backend: those of them with long_task
    int prefetch = 0;        // jobs it holds beyond its slots, waiting for a free slot (HELLO)
    std::int64_t token_id = 0;  // the donor token it registered with (0: anonymous)
    std::int64_t owner_id = 0;  // the account it earns for (0: anonymous, earns nothing)
    bool hello_accepts_free = true;  // what its HELLO said; settings may override it
    bool draining = false;  // returned a job: shutting down, gets no new jobs
    std::set<std::string> models;  // "owner/name@revision" it holds on disk (HELLO, HEARTBEAT)
    steady_clock::time_point last_recv, last_send;
  };

  // One received message and the context the actions need.
  struct context {
    std::string identity;
    worker* w = nullptr;
    protocol::message msg;
    std::string error;  // why a HELLO was refused, or why frames did not decode
    std::string owner;  // the account of a HELLO's donor token
    std::int64_t owner_id = 0;
    std::int64_t token_id = 0;
  };
  using action = void (impl::*)(context&);
  struct transition {
    worker_state state;
    worker_event event;
    action act;
    worker_state next;
  };
  static const transition table[14];


  impl(broker_options o, job_store& s, event_hub& e, metrics& m)
      : options(std::move(o)), store(s), events(e), counters(m), context_(1), router(context_, zmq::socket_type::router) {
    check_dice.seed(static_cast<std::uint64_t>(steady_clock::now().time_since_epoch().count()));
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) throw std::runtime_error("broker: eventfd failed");
    catalog_snapshot = std::make_shared<task_catalog>();
  }
  ~impl() {
    if (wake_fd >= 0) ::close(wake_fd);
  }

  // ---------------------------------------------------------------- configuration and state
  broker_options options;
  job_store& store;
  event_hub& events;
  metrics& counters;
  zmq::context_t context_;
  zmq::socket_t router;
  std::string bound_endpoint;
  int wake_fd = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};

  // Inbox from other threads.
  std::mutex inbox_mutex;
  std::vector<pending_job> inbox_jobs;
  std::vector<std::pair<std::int64_t, std::function<void(bool)>>> inbox_cancels;
  std::vector<std::int64_t> inbox_revoked_tokens;
  std::vector<std::tuple<std::int64_t, std::string, worker_settings>> inbox_settings;

  // Owned by the broker thread; `state_mutex` guards what snapshots read.
  mutable std::mutex state_mutex;
  std::unordered_map<std::string, std::unique_ptr<worker>> workers_by_identity;
  std::unordered_map<std::int64_t, job_entry> jobs;
  std::unordered_map<std::string, job_queue> queues;  // by queue_key(task, backend)
  std::map<std::pair<std::string, std::string>, protocol::task_decl> known_tasks;  // (name, backend)
  // Run time of a job on a worker, by queue_key(task, backend): a moving average of the
  // elapsed_us its RESULTs report. It decides how many jobs of a task a worker may hold ahead.
  std::unordered_map<std::string, double> run_us_average;
  std::shared_ptr<const task_catalog> catalog_snapshot;
  std::uint64_t next_worker_number = 1;
  std::unordered_map<std::int64_t, donor_trust> trust;  // by donor account, of connected workers
  std::mt19937_64 check_dice;
  // What each (owner, worker name) did across its registrations: a worker that drops jobs or
  // runs them implausibly fast keeps its record when it reconnects.
  struct track_record {
    std::uint64_t done = 0, failed = 0, lost = 0, too_fast = 0;
  };
  std::map<std::pair<std::int64_t, std::string>, track_record> records;
  std::unordered_map<std::string, std::uint64_t> run_samples;  // by queue_key(task, backend)

  mutable std::mutex live_mutex;
  std::unordered_map<std::int64_t, live_job> live_jobs;

  std::mutex hub_url_mutex;
  std::string hub_url;  // where workers fetch model files (WELCOME); "" until set

  // ---------------------------------------------------------------- thread and loop
  void start() {
    router.set(zmq::sockopt::router_mandatory, 1);
    router.set(zmq::sockopt::router_handover, 1);
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::sndhwm, 100000);
    router.set(zmq::sockopt::rcvhwm, 100000);
    if (!options.curve_secret_key.empty()) {
      router.set(zmq::sockopt::curve_server, 1);
      router.set(zmq::sockopt::curve_secretkey, options.curve_secret_key);
    }
    try {
      router.bind(options.endpoint);
    } catch (const zmq::error_t& e) {
      throw std::runtime_error("cannot listen for workers on " + options.endpoint + ": " + e.what());
    }
    bound_endpoint = router.get(zmq::sockopt::last_endpoint);
    thread = std::thread([this] { run(); });
  }

  void stop() {
    if (!thread.joinable()) return;
    stopping = true;
    wake();
    thread.join();
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  void run() {
    zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd, ZMQ_POLLIN, 0}};
    const auto tick = std::max<milliseconds>(options.heartbeat_interval / 4, milliseconds(10));
    auto next_tick = steady_clock::now() + tick;
    std::vector<zmq::message_t> frames;
    while (!stopping) {
      const auto wait = duration_cast<milliseconds>(next_tick - steady_clock::now());
      zmq::poll(items, 2, std::max<milliseconds>(wait, milliseconds(0)));
      if (items[1].revents & ZMQ_POLLIN) {
        std::uint64_t value;
        [[maybe_unused]] auto n = ::read(wake_fd, &value, sizeof value);
      }
      std::lock_guard lock(state_mutex);
      drain_inbox();
      for (std::size_t i = 0; i < max_messages_per_turn; ++i) {
        if (!protocol::recv_all(router, frames)) break;
        handle_frames(frames);
      }
      if (steady_clock::now() >= next_tick) {
        heartbeat_and_expire();
        next_tick = steady_clock::now() + tick;
      }
    }
  }

  void drain_inbox() {
    std::vector<pending_job> new_jobs;
    std::vector<std::pair<std::int64_t, std::function<void(bool)>>> cancels;
    std::vector<std::int64_t> revoked;
    std::vector<std::tuple<std::int64_t, std::string, worker_settings>> settings;
    {
      std::lock_guard lock(inbox_mutex);
      new_jobs.swap(inbox_jobs);
      cancels.swap(inbox_cancels);
      revoked.swap(inbox_revoked_tokens);
      settings.swap(inbox_settings);
    }
    for (auto& j : new_jobs) queue_new(std::move(j));
    for (auto& [id, done] : cancels) cancel_job(id, std::move(done));
    for (auto token_id : revoked) disconnect_workers_of(token_id);
    for (auto& [owner, name, s] : settings) change_settings(owner, name, s);
  }

  // ---------------------------------------------------------------- receiving
  void handle_frames(std::vector<zmq::message_t>& frames) {
    if (frames.empty()) return;
    context ctx;
    ctx.identity = frames[0].to_string();
    frames.erase(frames.begin());
    auto it = workers_by_identity.find(ctx.identity);
    ctx.w = it == workers_by_identity.end() ? nullptr : it->second.get();
    worker_event ev;
    try {
      ctx.msg = protocol::decode(std::move(frames));
      ev = classify(ctx);
    } catch (const protocol::protocol_error& e) {
      ctx.error = e.what();
      ev = worker_event::garbage;
    }
    if (ctx.w) {
      ctx.w->last_recv = steady_clock::now();
      ctx.w->info.last_seen_ms = now_ms();
    }
    apply(ctx, ev);
  }

  worker_event classify(context& ctx) {
    using protocol::command;
    switch (ctx.msg.cmd) {
      case command::hello:
        ctx.error = validate_hello(ctx.msg.header, ctx);
        return ctx.error.empty() ? worker_event::hello_valid : worker_event::hello_invalid;
      case command::heartbeat: return ctx.w ? worker_event::heartbeat : worker_event::other;
      case command::progress: return ctx.w ? worker_event::progress : worker_event::other;
      case command::result:
      case command::failed:
      case command::cancelled: return ctx.w ? worker_event::job_done : worker_event::other;
      case command::returned: return ctx.w ? worker_event::returned : worker_event::other;
      case command::disconnect: return ctx.w ? worker_event::goodbye : worker_event::other;
      default: return ctx.w ? worker_event::unexpected : worker_event::other;
    }
  }

  void apply(context& ctx, worker_event ev) {
    const auto state = ctx.w ? worker_state::ready : worker_state::unknown;
    for (const auto& t : table) {
      if (t.state == state && t.event == ev) {
        (this->*t.act)(ctx);
        return;
      }
    }
  }

  // ---------------------------------------------------------------- actions
  void on_register(context& ctx) { register_worker(ctx); }

  void on_refuse(context& ctx) {
    spdlog::warn("broker: refused hello from a worker: {}", ctx.error);
    send_disconnect(ctx.identity, "hello refused: " + ctx.error);
  }

  void on_refuse_known(context& ctx) {
    spdlog::warn("broker: worker {} ({}) sent an invalid hello: {}", ctx.w->info.id, ctx.w->info.name, ctx.error);
    forget_worker(*ctx.w, "sent an invalid hello");
    send_disconnect(ctx.identity, "hello refused: " + ctx.error);
  }

  void on_stranger(context& ctx) {
    // A worker we do not know (the daemon restarted, or it was declared dead): say hello again.
    counters.wire_unexpected++;
    if (ctx.msg.cmd != protocol::command::disconnect)
      send_disconnect(ctx.identity, "unknown worker: send hello");
  }

  void on_count_garbage(context& ctx) {
    counters.wire_bad_messages++;
    spdlog::debug("broker: dropped undecodable message from an unregistered peer: {}", ctx.error);
  }

  void on_reregister(context& ctx) {
    spdlog::info("broker: worker {} ({}) said hello again; its jobs go back to the queue", ctx.w->info.id,
                 ctx.w->info.name);
    forget_worker(*ctx.w, "re-registered");
    register_worker(ctx);
  }

  // A heartbeat may carry the models the worker holds now (it sends them when they change).
  void on_touch(context& ctx) {
    if (ctx.msg.header.if_contains("models")) read_models(*ctx.w, ctx.msg.header);
  }

  static std::string models_problem(const json::object& h) {
    auto* m = h.if_contains("models");
    if (!m || m->is_null()) return {};
    if (!m->is_array() || m->as_array().size() > max_models_per_worker)
      return "\"models\" must be an array of at most " + std::to_string(max_models_per_worker) +
             " strings \"owner/name@revision\"";
    for (const auto& v : m->as_array())
      if (!v.is_string() || v.as_string().empty() || v.as_string().size() > 300)
        return "\"models\" must hold strings \"owner/name@revision\" of at most 300 bytes";
    return {};
  }
  void read_models(worker& w, const json::object& h) {
    if (!models_problem(h).empty()) {
      counters.wire_bad_messages++;
      return;
    }
    w.models.clear();
    if (auto* m = h.if_contains("models"); m && m->is_array())
      for (const auto& v : m->as_array()) w.models.emplace(v.as_string());
    w.info.models.assign(w.models.begin(), w.models.end());
  }

  void on_progress(context& ctx) {
    const auto id = job_id_of(ctx.msg.header);
    auto it = jobs.find(id);
    if (it == jobs.end() || it->second.worker_identity != ctx.identity) {
      counters.wire_unexpected++;
      return;
    }
    double fraction = 0;
    if (auto* f = ctx.msg.header.if_contains("fraction"); f && f->is_number()) fraction = f->to_number<double>();
    fraction = std::clamp(fraction, 0.0, 1.0);
    std::string message;
    if (auto* m = ctx.msg.header.if_contains("message"); m && m->is_string())
      message = std::string(m->as_string().subview(0, std::min<std::size_t>(m->as_string().size(), 1024)));
    if (it->second.cancel_requested) return;
    live_job snapshot;
    {
      std::lock_guard lock(live_mutex);
      auto found = live_jobs.find(id);
      if (found == live_jobs.end()) return;
      auto& l = found->second;
      l.progress = fraction;
      l.message = std::move(message);
      snapshot = l;
    }
    if (events.has_subscribers()) events.publish({"progress", id, job_event_json(id, snapshot)});
  }

  void on_job_done(context& ctx) {
    using protocol::command;
    auto& w = *ctx.w;
    const auto id = job_id_of(ctx.msg.header);
    auto it = jobs.find(id);
    if (it == jobs.end() || it->second.worker_identity != ctx.identity) {
      counters.wire_unexpected++;
      spdlog::warn("broker: worker {} answered for job {}, which it does not hold; dropped", w.info.id, id);
      return;
    }
    auto entry = std::move(it->second);
    jobs.erase(it);
    release_slot(w, entry);
    if (entry.cancel_requested) {
      // Already journaled as cancelled; the worker's answer only frees the slot.
      spdlog::info("job {} worker {}: stopped after cancel", id, w.info.name);
    } else if (ctx.msg.cmd == command::result) {
      note_run_time(w, entry, ctx.msg.header);
      finish_with_result(w, entry, ctx.msg);
    } else if (ctx.msg.cmd == command::failed) {
      auto code = string_field(ctx.msg.header, "code", "plugin_error");
      auto message = string_field(ctx.msg.header, "message", "the worker gave no message");
      spdlog::info("job {} worker {}: failed: {}: {}", id, w.info.name, code, message);
      w.info.jobs_failed++;
      if (entry.check) {
        end_check_inconclusive(entry, "the trusted worker failed: " + code + ": " + message);
        pull_jobs_for(w);
        return;
      }
      // A worker that could not fetch the model (the hub unreachable from there, its disk
      // full): another worker may do better, while attempts remain.
      if (code == "model_unavailable" && entry.job.attempt < entry.job.max_attempts) {
        requeue(std::move(entry), /*count_attempt=*/true);
        pull_jobs_for(w);
        return;
      }
      // A failed job costs nothing: a donor is paid for results only. (Paying for failures
      // the plugin puts on the input would pay a worker that answers every job that way.)
      record_of(w).failed++;
      refresh_flags(w);
      finish(id, job_state::failed, {}, std::move(code), std::move(message));
    } else {
      // CANCELLED without a cancel request: the worker stopped it on its own (losing us).
      spdlog::info("job {} worker {}: stopped by the worker; queued again", id, w.info.name);
      requeue(std::move(entry), /*count_attempt=*/false);
    }
    pull_jobs_for(w);
  }

  void on_returned(context& ctx) {
    auto& w = *ctx.w;
    const auto id = job_id_of(ctx.msg.header);
    auto it = jobs.find(id);
    if (it == jobs.end() || it->second.worker_identity != ctx.identity) {
      counters.wire_unexpected++;
      return;
    }
    auto entry = std::move(it->second);
    jobs.erase(it);
    release_slot(w, entry);
    spdlog::info("job {} worker {}: returned ({}); queued again; the worker gets no new jobs", id, w.info.name,
                 string_field(ctx.msg.header, "reason", "no reason"));
    // A worker returns jobs when it shuts down: send it nothing more, or the job bounces
    // between it and the queue until its DISCONNECT arrives.
    w.draining = true;
    if (!entry.cancel_requested) requeue(std::move(entry), /*count_attempt=*/false);
    for (auto& [_, other] : workers_by_identity) pull_jobs_for(*other);
  }

  void on_goodbye(context& ctx) {
    spdlog::info("broker: worker {} ({}) disconnected: {}", ctx.w->info.id, ctx.w->info.name,
                 string_field(ctx.msg.header, "reason", "no reason"));
    forget_worker(*ctx.w, "disconnected");
  }

  void on_unexpected(context& ctx) {
    counters.wire_unexpected++;
    spdlog::warn("broker: worker {} sent {}, which only the daemon sends; disconnecting it", ctx.w->info.id,
                 protocol::command_name(ctx.msg.cmd));
    forget_worker(*ctx.w, "protocol violation");
    send_disconnect(ctx.identity, std::string("unexpected command ") + protocol::command_name(ctx.msg.cmd));
  }

  void on_garbage(context& ctx) {
    counters.wire_bad_messages++;
    spdlog::warn("broker: worker {} sent a message that does not decode ({}); disconnecting it", ctx.w->info.id,
                 ctx.error);
    forget_worker(*ctx.w, "sent garbage");
    send_disconnect(ctx.identity, "bad message: " + ctx.error);
  }

  void on_expired(context& ctx) {
    counters.workers_lost++;
    spdlog::warn("broker: worker {} ({}) missed {} heartbeats; declared dead", ctx.w->info.id, ctx.w->info.name,
                 options.heartbeat_liveness);
    forget_worker(*ctx.w, "lost");
  }

  // ---------------------------------------------------------------- registration
  static std::string string_field(const json::object& o, const char* key, std::string fallback) {
    auto* v = o.if_contains(key);
    if (!v || !v->is_string()) return fallback;
    return std::string(v->as_string());
  }
  static std::int64_t job_id_of(const json::object& o) {
    auto* v = o.if_contains("job_id");
    if (v && v->is_int64()) return v->as_int64();
    if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    return -1;
  }

  std::string validate_hello(const json::object& h, context& ctx) {
    if (options.authenticate_worker) {
      const auto* t = h.if_contains("token");
      std::string token;
      if (t && t->is_string()) token = std::string(t->as_string());
      else if (t) return "\"token\" must be a string";
      auto credentials = options.authenticate_worker(t ? &token : nullptr);
      if (!credentials.ok) return credentials.refusal;
      ctx.owner = std::move(credentials.owner);
      ctx.owner_id = credentials.owner_id;
      ctx.token_id = credentials.token_id;
    }
    if (auto* prices = h.if_contains("prices"); prices && !prices->is_null()) {
      if (!prices->is_object()) return "\"prices\" must be an object like {\"cpu\": 500000}";
      for (const auto& [backend, price] : prices->as_object()) {
        if (!protocol::is_known_backend(backend))
          return "\"prices\" names an unknown backend '" + std::string(backend) + "' (cpu or cuda)";
        if (!price.is_int64() || price.as_int64() < 0 || price.as_int64() > protocol::max_price)
          return "the price for " + std::string(backend) +
                 " must be an integer of micro-credits per million work units from 0 to " +
                 std::to_string(protocol::max_price);
        if (price.as_int64() > 0 && ctx.owner_id == 0)
          return "a worker that asks a price needs a donor token: an anonymous worker earns nothing, so "
                 "its price must be 0";
      }
    }
    if (auto* free = h.if_contains("accept_free"); free && !free->is_null() && !free->is_bool())
      return "\"accept_free\" must be true or false";
    if (auto problem = models_problem(h); !problem.empty()) return problem;
    if (auto* offset = h.if_contains("utc_offset_minutes");
        offset && !offset->is_null() && (!offset->is_int64() || std::abs(offset->as_int64()) > 24 * 60))
      return "\"utc_offset_minutes\" must be an integer from -1440 to 1440";
    auto* name = h.if_contains("name");
    if (!name || !name->is_string() || name->as_string().empty() || name->as_string().size() > max_worker_name_bytes)
      return "\"name\" must be a string of 1 to 64 bytes";
    auto* slots = h.if_contains("slots");
    if (!slots || !slots->is_array() || slots->as_array().empty() || slots->as_array().size() > max_slots_per_worker)
      return "\"slots\" must be an array of 1 to 256 slots";
    for (const auto& s : slots->as_array()) {
      if (!s.is_object()) return "a slot is not an object";
      auto* b = s.as_object().if_contains("backend");
      if (!b || !b->is_string() || !protocol::is_known_backend(b->as_string()))
        return "a slot has no known \"backend\" (cpu or cuda)";
    }
    if (auto* plugins = h.if_contains("plugins"); plugins && !plugins->is_array()) return "\"plugins\" is not an array";
    if (auto* plugins = h.if_contains("plugins")) {
      for (const auto& p : plugins->as_array()) {
        if (!p.is_object()) return "a plugin is not an object";
        auto* tasks = p.as_object().if_contains("tasks");
        if (!tasks) continue;
        if (!tasks->is_array()) return "a plugin's \"tasks\" is not an array";
        for (const auto& t : tasks->as_array()) {
          try {
            protocol::task_decl_from_json(t);
          } catch (const std::exception& e) {
            return std::string("bad task declaration: ") + e.what();
          }
        }
      }
    }
    return {};
  }

  // Why a plugin's declaration of a model task ("torchscript.text-classification") cannot be
  // offered: its inputs, outputs, parameters or cost differ from the task's interface
  // (protocol/model_tasks.hpp), which jobs for models are checked against. "" when it fits or
  // is no model task.
  static std::string model_task_problem(const protocol::task_decl& decl) {
    auto standard = protocol::model_task_decl(decl.name, decl.backend);
    if (!standard) return {};
    auto specs = [](const std::vector<protocol::tensor_spec>& ts) {
      std::string out;
      for (const auto& t : ts) out += (out.empty() ? "" : ", ") + t.name + " " + t.text;
      return out;
    };
    boost::system::error_code ec1, ec2;
    const auto schema = decl.params_schema.empty() ? json::value() : json::parse(decl.params_schema, ec1);
    const auto expected = standard->params_schema.empty() ? json::value() : json::parse(standard->params_schema, ec2);
    if (specs(decl.inputs) == specs(standard->inputs) && specs(decl.outputs) == specs(standard->outputs) && !ec1 &&
        schema == expected && (decl.cost.empty() ? "1" : decl.cost) == (standard->cost.empty() ? "1" : standard->cost))
      return {};
    return "task " + decl.name + " is not offered: a model task must declare inputs (" + specs(standard->inputs) +
           "), outputs (" + specs(standard->outputs) + "), the parameters and the cost of protocol/model_tasks.hpp; it "
           "declares inputs (" + specs(decl.inputs) + "), outputs (" + specs(decl.outputs) + ")";
  }

  void register_worker(context& ctx) {
    const auto& h = ctx.msg.header;
    auto w = std::make_unique<worker>();
    w->identity = ctx.identity;
    w->info.id = "w-" + std::to_string(next_worker_number++);
    w->info.name = string_field(h, "name", "worker");
    w->info.hostname = string_field(h, "hostname", "");
    w->info.software = string_field(h, "software", "");
    w->info.owner = ctx.owner;
    w->owner_id = ctx.owner_id;
    w->token_id = ctx.token_id;
    if (auto* prices = h.if_contains("prices"); prices && prices->is_object())
      for (const auto& [backend, price] : prices->as_object()) w->info.prices[std::string(backend)] = price.as_int64();
    if (auto* free = h.if_contains("accept_free"); free && free->is_bool()) w->hello_accepts_free = free->as_bool();
    if (auto* offset = h.if_contains("utc_offset_minutes"); offset && offset->is_int64())
      w->info.utc_offset_minutes = static_cast<int>(offset->as_int64());
    read_models(*w, h);
    if (options.settings_of && w->owner_id != 0) {
      if (auto s = options.settings_of(w->owner_id, w->info.name)) w->info.settings = *s;
    }
    apply_settings(*w);
    if (options.trust_of && w->owner_id != 0 && !trust.count(w->owner_id))
      trust[w->owner_id] = options.trust_of(w->owner_id).value_or(donor_trust{w->owner_id, 0, 0, 0, 0, 0});
    refresh_flags(*w);
    if (auto* d = h.if_contains("devices"); d && d->is_object()) w->info.devices_json = json::serialize(*d);
    else w->info.devices_json = "{}";
    std::set<std::string> slot_backends;
    for (const auto& s : h.at("slots").as_array()) slot_backends.insert(string_field(s.as_object(), "backend", "cpu"));
    json::array plugins_out;
    if (auto* plugins = h.if_contains("plugins")) {
      for (const auto& p : plugins->as_array()) {
        const auto& po = p.as_object();
        const auto plugin_name = string_field(po, "name", "");
        const auto plugin_version = string_field(po, "version", "");
        json::array task_names;
        if (auto* tasks = po.if_contains("tasks")) {
          for (const auto& t : tasks->as_array()) {
            auto decl = protocol::task_decl_from_json(t);
            // A task on a backend the worker has no slot for (cuda without a GPU) is not offered.
            if (!slot_backends.count(decl.backend)) continue;
            // A model task must keep Potluck's interface: jobs were checked against it.
            if (auto problem = model_task_problem(decl); !problem.empty()) {
              spdlog::warn("broker: worker {} ({}): {}", w->info.id, w->info.name, problem);
              w->info.load_errors.push_back(plugin_name + ": " + problem);
              continue;
            }
            if (decl.plugin.empty()) decl.plugin = plugin_name;
            if (decl.plugin_version.empty()) decl.plugin_version = plugin_version;
            task_names.push_back(json::string(decl.name + "@" + decl.backend));
            w->offers.emplace(decl.name, decl.backend);
            known_tasks[{decl.name, decl.backend}] = std::move(decl);
          }
        }
        plugins_out.push_back(json::object{{"name", plugin_name}, {"version", plugin_version}, {"tasks", std::move(task_names)}});
      }
    }
    w->info.plugins_json = json::serialize(plugins_out);
    if (auto* errs = h.if_contains("load_errors"); errs && errs->is_array())
      for (const auto& e : errs->as_array())
        if (e.is_string()) w->info.load_errors.emplace_back(e.as_string());
    for (const auto& s : h.at("slots").as_array()) {
      const auto backend = string_field(s.as_object(), "backend", "cpu");
      w->info.slots[backend]++;
      w->info.prices.emplace(backend, 0);
      w->info.busy.emplace(backend, 0);
      w->in_flight.emplace(backend, 0);
    }
    if (auto* p = h.if_contains("prefetch"); p && p->is_int64())
      w->prefetch = static_cast<int>(std::clamp<std::int64_t>(p->as_int64(), 0, max_prefetch_per_worker));
    w->info.connected_ms = w->info.last_seen_ms = now_ms();
    w->last_recv = w->last_send = steady_clock::now();

    json::object welcome{{"worker_id", w->info.id},
                         {"heartbeat_interval_ms", options.heartbeat_interval.count()},
                         {"daemon", software_version}};
    {
      std::lock_guard url_lock(hub_url_mutex);
      if (!hub_url.empty()) welcome["hub_url"] = hub_url;
    }
    auto frames = protocol::encode(protocol::command::welcome, welcome);
    send_to(*w, frames);
    int total_slots = 0;
    for (auto& [_, n] : w->info.slots) total_slots += n;
    counters.workers_connected++;
    counters.slots_total += total_slots;
    spdlog::info("broker: worker {} ({}) registered: {} slots, {} tasks", w->info.id, w->info.name, total_slots,
                 w->offers.size());
    auto& ref = *w;
    workers_by_identity[ctx.identity] = std::move(w);
    rebuild_catalog();
    publish_worker_event(ref, "connected");
    pull_jobs_for(ref);
  }

  // ---------------------------------------------------------------- donors' settings
  // Whether the worker takes new jobs now: not paused, and within its hours (its local time).
  static bool open_now(const worker& w) {
    const auto& s = w.info.settings;
    if (s.paused) return false;
    if (s.hours_from == s.hours_to) return true;
    const auto local_minutes = now_ms() / 60'000 + w.info.utc_offset_minutes;
    const auto hour = static_cast<int>(((local_minutes / 60) % 24 + 24) % 24);
    return s.hours_from < s.hours_to ? (hour >= s.hours_from && hour < s.hours_to)
                                     : (hour >= s.hours_from || hour < s.hours_to);
  }

  void apply_settings(worker& w) {
    w.info.accepts_free = w.info.settings.accept_free.value_or(w.hello_accepts_free);
    w.info.taking_jobs = open_now(w);
  }

  void change_settings(std::int64_t owner_id, const std::string& name, const worker_settings& s) {
    for (auto& [_, w] : workers_by_identity) {
      if (w->owner_id != owner_id || w->info.name != name) continue;
      w->info.settings = s;
      apply_settings(*w);
      spdlog::info("broker: worker {} ({}): its donor changed its settings: {}, {} slots at most, hours {}-{}",
                   w->info.id, w->info.name, s.paused ? "paused" : "running", s.max_slots, s.hours_from, s.hours_to);
      publish_worker_event(*w, "settings");
      pull_jobs_for(*w);
    }
    release_stranded_checks();
  }

  // Workers whose hours just began take jobs again; those whose hours ended get no new ones.
  void check_hours() {
    bool closed = false;
    for (auto& [_, w] : workers_by_identity) {
      const bool open = open_now(*w);
      if (open == w->info.taking_jobs) continue;
      w->info.taking_jobs = open;
      spdlog::info("broker: worker {} ({}): {}", w->info.id, w->info.name,
                   open ? "its hours began; it takes jobs again" : "its hours ended; it gets no new jobs");
      publish_worker_event(*w, "settings");
      if (open) pull_jobs_for(*w);
      else closed = true;
    }
    if (closed) release_stranded_checks();
  }

  void disconnect_workers_of(std::int64_t token_id) {
    std::vector<std::string> gone;
    for (const auto& [identity, w] : workers_by_identity)
      if (w->token_id == token_id) gone.push_back(identity);
    for (const auto& identity : gone) {
      auto& w = *workers_by_identity.at(identity);
      spdlog::info("broker: worker {} ({}): its donor token was revoked; disconnecting it", w.info.id, w.info.name);
      forget_worker(w, "disconnected (its token was revoked)");
      send_disconnect(identity, "the worker's donor token was revoked");
    }
  }

  void forget_worker(worker& w, const char* why) {
    // Nothing it held may be dispatched back to it while it is being forgotten.
    w.draining = true;
    // Requeue everything it held, in id order so the oldest goes first again.
    std::vector<std::int64_t> held(w.running.begin(), w.running.end());
    std::sort(held.begin(), held.end());
    for (auto id : held) {
      auto it = jobs.find(id);
      if (it == jobs.end()) continue;
      auto entry = std::move(it->second);
      jobs.erase(it);
      release_slot(w, entry);
      if (entry.cancel_requested) continue;  // already journaled as cancelled
      record_of(w).lost++;
      if (entry.check) {
        end_check_inconclusive(entry, std::string("trusted worker '") + w.info.name + "' was " + why);
        continue;
      }
      if (entry.job.attempt >= entry.job.max_attempts) {
        finish(id, job_state::failed, {}, "worker_lost",
               "worker '" + w.info.name + "' was " + why + " while running this job (attempt " +
                   std::to_string(entry.job.attempt) + " of " + std::to_string(entry.job.max_attempts) + ")");
      } else {
        requeue(std::move(entry), /*count_attempt=*/true);
      }
    }
    int total_slots = 0;
    for (auto& [_, n] : w.info.slots) total_slots += n;
    counters.workers_connected--;
    counters.slots_total -= total_slots;
    publish_worker_event(w, "disconnected");
    const auto identity = w.identity;
    workers_by_identity.erase(identity);
    rebuild_catalog();
    release_stranded_checks();
    // The requeued jobs may fit other workers.
    for (auto& [_, other] : workers_by_identity) pull_jobs_for(*other);
  }

  void rebuild_catalog() {
    auto next = std::make_shared<task_catalog>();
    for (const auto& [key, decl] : known_tasks) {
      task_entry e;
      e.decl = decl;
      for (const auto& [_, w] : workers_by_identity) {
        if (w->offers.count(key)) {
          e.worker_ids.push_back(w->info.id);
          auto s = w->info.slots.find(key.second);
          if (s != w->info.slots.end()) e.slots += s->second;
        }
      }
      (*next)[key.first].push_back(std::move(e));
    }
    std::lock_guard lock(live_mutex);
    catalog_snapshot = std::move(next);
  }

  void publish_worker_event(const worker& w, const char* what) {
    if (!events.has_subscribers()) return;
    json::object o{{"id", w.info.id}, {"name", w.info.name}, {"event", what}};
    events.publish({"worker", 0, json::serialize(o)});
  }

  // ---------------------------------------------------------------- queues and dispatch
  void set_live(std::int64_t id, live_job l) {
    std::string json_text;
    const bool publish = events.has_subscribers();
    if (publish) json_text = job_event_json(id, l);
    {
      std::lock_guard lock(live_mutex);
      live_jobs[id] = std::move(l);
    }
    if (publish) events.publish({"job", id, std::move(json_text)});
  }

  void queue_new(pending_job job) {
    const auto id = job.id;
    live_job l;
    l.state = job_state::queued;
    l.attempt = job.attempt;
    set_live(id, std::move(l));
    job_entry entry;
    entry.job = std::move(job);
    entry.queued_us = now_us_steady();
    push_queue(std::move(entry));
  }

  static std::string queue_key_of(const job_entry& entry) {
    if (entry.check) return check_queue_key(entry.job.task, entry.job.backend);
    if (!entry.replica_results.empty()) return replica_queue_key(entry.job.task, entry.job.backend);
    return queue_key(entry.job.task, entry.job.backend);
  }
  // Who a worker's results belong to, for replicas: its donor's account, or itself when anonymous.
  static std::string donor_key(const worker& w) {
    return w.owner_id != 0 ? "account " + std::to_string(w.owner_id) : "worker " + w.identity;
  }

  void push_queue(job_entry entry) {
    const auto id = entry.job.id;
    queues[queue_key_of(entry)].insert(queue_entry_of(entry.job));
    jobs.emplace(id, std::move(entry));
    counters.queue_depth++;
    dispatch_to_any(id);
  }

  void requeue(job_entry entry, bool count_attempt) {
    if (!count_attempt) entry.job.attempt = std::max(0, entry.job.attempt - 1);
    entry.worker_identity.clear();
    entry.queued_us = now_us_steady();
    counters.jobs_requeued++;
    store.mark_queued(entry.job.id);
    live_job l;
    l.state = job_state::queued;
    l.attempt = entry.job.attempt;
    set_live(entry.job.id, std::move(l));
    push_queue(std::move(entry));
  }

  static int slots_of(const worker& w, const std::string& backend) {
    auto s = w.info.slots.find(backend);
    return s == w.info.slots.end() ? 0 : s->second;
  }
  static int in_flight_of(const worker& w, const std::string& backend) {
    auto b = w.in_flight.find(backend);
    return b == w.in_flight.end() ? 0 : b->second;
  }
  // The slots new jobs may use: none while the worker is paused or out of its hours, at most
  // its donor's cap.
  static int capacity_of(const worker& w, const std::string& backend) {
    if (w.draining || !w.info.taking_jobs) return 0;
    const int slots = slots_of(w, backend);
    return w.info.settings.max_slots > 0 ? std::min(slots, w.info.settings.max_slots) : slots;
  }
  static int free_slots(const worker& w, const std::string& backend) {
    return capacity_of(w, backend) - in_flight_of(w, backend);
  }

  // How many jobs of a task a worker may hold beyond its slots, waiting there for a free one.
  // Holding jobs ahead saves a round trip per job, but a job waiting behind others on one
  // worker cannot move to another that frees up: so only tasks known to be short are sent
  // ahead, as many as fit in the prefetch budget of waiting time, and none of a task whose
  // run time is not measured yet.
  // Slots busy with long jobs do not drain the jobs sent ahead: they count out, and a worker
  // whose every slot runs a long job gets none ahead.
  bool is_short(const std::string& task, const std::string& backend) const {
    auto avg = run_us_average.find(queue_key(task, backend));
    return avg != run_us_average.end() &&
           avg->second * 1e-3 <= static_cast<double>(options.prefetch_budget.count());
  }
  int prefetch_for(const worker& w, const std::string& task, const std::string& backend) const {
    if (w.prefetch <= 0 || options.prefetch_budget.count() <= 0 || !is_short(task, backend)) return 0;
    // A job sent ahead starts on whichever runner frees first: with its slots capped below
    // what it has, the worker could run more jobs at once than its donor allows.
    if (capacity_of(w, backend) < slots_of(w, backend)) return 0;
    auto long_jobs = w.long_in_flight.find(backend);
    const int cycling = capacity_of(w, backend) - (long_jobs == w.long_in_flight.end() ? 0 : long_jobs->second);
    if (cycling <= 0) return 0;
    const double budget_us = static_cast<double>(options.prefetch_budget.count()) * 1000.0;
    const double per_job_us = std::max(run_us_average.at(queue_key(task, backend)), 1.0) / cycling;
    return static_cast<int>(std::min<double>(w.prefetch, budget_us / per_job_us));
  }
  // Room for one more job of this task: a free slot, or a place in the worker's prefetch.
  int room_for(const worker& w, const std::string& task, const std::string& backend) const {
    const int capacity = capacity_of(w, backend);
    if (capacity <= 0) return 0;
    return capacity + prefetch_for(w, task, backend) - in_flight_of(w, backend);
  }

  void change_in_flight(worker& w, const std::string& backend, int delta) {
    auto& n = w.in_flight[backend];
    const int slots = slots_of(w, backend);
    const int busy_before = std::min(n, slots);
    n = std::max(0, n + delta);
    const int busy_after = std::min(n, slots);
    w.info.busy[backend] = busy_after;
    counters.slots_busy += busy_after - busy_before;
    counters.jobs_running += delta;
  }

  static std::int64_t ask_of(const worker& w, const std::string& backend) {
    auto p = w.info.prices.find(backend);
    return p == w.info.prices.end() ? 0 : p->second;
  }
  // Whether the worker would run this job on this backend at its price: a paid job when its
  // bid covers the ask, a free job when the worker accepts free jobs.
  static bool covers(const worker& w, const std::string& backend, const pending_job& job) {
    return job.bid == 0 ? w.info.accepts_free : job.bid >= ask_of(w, backend);
  }
  bool trusted(const worker& w) const { return options.trusted_owner_id != 0 && w.owner_id == options.trusted_owner_id; }
  // Whether this worker may take this job: a check run goes to a trusted worker (which runs
  // it for the operator, whatever the bid), anything else to a worker whose price it covers.
  bool may_run(const worker& w, const std::string& backend, const job_entry& entry) const {
    if (entry.check) return trusted(w);
    // Replicas check one another only if their donors are distinct people: an anonymous
    // worker, which anyone can start many of, takes none.
    if (entry.job.replicas > 1 && w.owner_id == 0) return false;
    if (!entry.replica_donors.empty() && entry.replica_donors.count(donor_key(w))) return false;
    return covers(w, backend, entry.job);
  }

  // A new or requeued job: find the cheapest worker that can run it, among those one that holds
  // its model already (no download), then the one with the most free slots, or, when every
  // slot is busy, the most room in its prefetch.
  void dispatch_to_any(std::int64_t id) {
    auto& entry = jobs.at(id);
    worker* best = nullptr;
    std::string best_backend;
    std::tuple<std::int64_t, bool, int, int> best_score{0, false, 0, 0};  // (-ask, has model, free slots, room)
    for (auto& [_, w] : workers_by_identity) {
      for (const char* backend : {"cpu", "cuda"}) {
        if (!entry.job.backend.empty() && entry.job.backend != backend) continue;
        if (!w->offers.count({entry.job.task, backend})) continue;
        if (!may_run(*w, backend, entry)) continue;
        const int room = room_for(*w, entry.job.task, backend);
        if (room <= 0) continue;
        const std::tuple<std::int64_t, bool, int, int> score{-ask_of(*w, backend),
                                                             !entry.job.model.empty() && w->models.count(entry.job.model) > 0,
                                                             std::max(free_slots(*w, backend), 0), room};
        if (!best || score > best_score) {
          best = w.get();
          best_backend = backend;
          best_score = score;
        }
      }
    }
    if (best) {
      queues[queue_key_of(entry)].erase(queue_entry_of(entry.job));
      counters.queue_depth--;
      send_job(*best, best_backend, id);
    }
  }

  // The job of a queue this worker should run next on `backend`: the highest bid that covers
  // its ask, else (when it accepts them) the oldest free job; end() when none.
  static job_queue::const_iterator next_for(const worker& w, const std::string& backend, const job_queue& q) {
    if (q.empty()) return q.end();
    auto first = q.begin();
    if (first->first < 0 && -first->first >= ask_of(w, backend)) return first;  // the best paid job covers it
    if (!w.info.accepts_free) return q.end();
    return first_free(q);
  }

  // A worker has room: give it the jobs it can run, highest bid first, then oldest.
  void pull_jobs_for(worker& w) {
    if (w.draining) return;
    for (const char* backend : {"cpu", "cuda"}) {
      while (true) {
        job_queue* best_queue = nullptr;
        job_queue::const_iterator best;
        bool best_is_check = false;
        for (const auto& [task, b] : w.offers) {
          if (best_is_check) break;
          if (b != backend) continue;
          if (room_for(w, task, b) <= 0) continue;
          const bool checks = trusted(w);
          for (const auto& key : {checks ? check_queue_key(task, b) : std::string(), checks ? check_queue_key(task, "") : std::string(),
                                  queue_key(task, b), queue_key(task, ""), replica_queue_key(task, b),
                                  replica_queue_key(task, "")}) {
            if (key.empty()) continue;
            auto it = queues.find(key);
            if (it == queues.end() || it->second.empty()) continue;
            // Check runs come first, whatever their bid: a job and its donor wait on them.
            const bool check_queue = key.ends_with("|check");
            auto next = check_queue ? it->second.begin() : next_for(w, backend, it->second);
            if (next != it->second.end() && check_queue) {
              best_queue = &it->second;
              best = next;
              best_is_check = true;
              break;
            }
            if (key.ends_with("|replica")) {
              // Few, and each may exclude this worker: the first it may run, by bid then age.
              next = std::find_if(it->second.begin(), it->second.end(), [&](const queue_entry& e) {
                auto j = jobs.find(e.second);
                return j != jobs.end() && may_run(w, backend, j->second);
              });
            }
            if (next == it->second.end()) continue;
            if (!best_queue || *next < *best) {
              best_queue = &it->second;
              best = next;
            }
          }
        }
        if (!best_queue) break;
        const auto id = best->second;
        best_queue->erase(best);
        counters.queue_depth--;
        if (!send_job(w, backend, id)) return;
      }
    }
  }

  bool send_job(worker& w, const std::string& backend, std::int64_t id) {
    auto& entry = jobs.at(id);
    auto& job = entry.job;
    job.attempt++;
    json::object header;
    header["job_id"] = id;
    header["task"] = job.task;
    header["backend"] = backend;
    boost::system::error_code ec;
    auto params = json::parse(job.params_json, ec);
    header["params"] = ec ? json::value(json::object()) : std::move(params);
    header["attempt"] = job.attempt;
    if (!job.model.empty()) {
      auto files = json::parse(job.model_files_json, ec);
      header["model"] = json::object{{"id", job.model}, {"files", ec ? json::value(json::array()) : std::move(files)}};
    }
    std::vector<protocol::tensor_meta> metas;
    std::vector<zmq::message_t> payload;
    metas.reserve(job.inputs.size());
    payload.reserve(job.inputs.size());
    for (const auto& t : job.inputs) {
      metas.push_back(t.meta());
      payload.emplace_back(t.data.data(), t.data.size());
    }
    header["inputs"] = protocol::tensor_list(metas);
    auto frames = protocol::encode(protocol::command::job, header, std::move(payload));
    if (!send_to(w, frames)) {
      // The peer is gone: put the job back (the heartbeat check will forget the worker).
      job.attempt--;
      queues[queue_key_of(entry)].insert(queue_entry_of(job));
      counters.queue_depth++;
      return false;
    }
    entry.worker_identity = w.identity;
    entry.slot_backend = backend;
    w.running.insert(id);
    change_in_flight(w, backend, +1);
    entry.long_task = !is_short(job.task, backend);
    if (entry.long_task) w.long_in_flight[backend]++;
    counters.dispatch_latency.observe_us(now_us_steady() - entry.queued_us);
    const auto started = now_ms();
    store.mark_running(id, w.info.name, job.attempt, started);
    live_job l;
    l.state = job_state::running;
    l.worker = w.info.name;
    l.attempt = job.attempt;
    l.started_ms = started;
    if (entry.check) l.message = "checking the result of worker '" + entry.check->worker_name + "' on a trusted worker";
    set_live(id, std::move(l));
    return true;
  }

  void release_slot(worker& w, const job_entry& entry) {
    if (!w.running.erase(entry.job.id)) return;
    change_in_flight(w, entry.slot_backend, -1);
    if (entry.long_task) w.long_in_flight[entry.slot_backend]--;
  }

  void note_run_time(worker& w, const job_entry& entry, const json::object& header) {
    auto* us = header.if_contains("elapsed_us");
    if (!us || !us->is_int64() || us->as_int64() < 0) return;
    const auto sample = static_cast<double>(us->as_int64());
    const auto key = queue_key(entry.job.task, entry.slot_backend);
    // Implausibly fast: a tenth of a well-measured run time of at least a millisecond.
    if (auto avg = run_us_average.find(key);
        avg != run_us_average.end() && run_samples[key] >= 20 && avg->second >= 1000 && sample * 10 < avg->second) {
      record_of(w).too_fast++;
      refresh_flags(w);
    }
    run_samples[key]++;
    auto [it, fresh] = run_us_average.try_emplace(key, sample);
    if (!fresh) it->second += run_average_weight * (sample - it->second);
    // A task just measured short may now go ahead to every worker, not only this one.
    if (fresh && is_short(entry.job.task, entry.slot_backend))
      for (auto& [_, other] : workers_by_identity) pull_jobs_for(*other);
  }

  // ---------------------------------------------------------------- checking donors' results
  track_record& record_of(const worker& w) { return records[{w.owner_id, w.info.name}]; }

  // What the operator should look at, in words: results that disagreed with a trusted
  // worker's, jobs dropped, runs implausibly fast.
  void refresh_flags(worker& w) {
    std::vector<std::string> flags;
    const auto& r = record_of(w);
    if (w.info.checks_failed > 0)
      flags.push_back("its results disagreed with a trusted worker's " + std::to_string(w.info.checks_failed) +
                      (w.info.checks_failed == 1 ? " time" : " times"));
    if (auto t = trust.find(w.owner_id); t != trust.end() && t->second.disagreed > 0 && w.info.checks_failed == 0)
      flags.push_back("its donor's results disagreed with a trusted worker's " + std::to_string(t->second.disagreed) +
                      " times before");
    if (r.lost >= 3 && r.lost * 5 >= r.done + r.lost)
      flags.push_back("dropped " + std::to_string(r.lost) + " of " + std::to_string(r.done + r.lost) + " jobs");
    if (r.failed >= 5 && r.failed * 2 >= r.done + r.failed)
      flags.push_back("failed " + std::to_string(r.failed) + " of " + std::to_string(r.done + r.failed) + " jobs");
    if (r.too_fast >= 5)
      flags.push_back("ran " + std::to_string(r.too_fast) + " jobs in under a tenth of the usual time");
    w.info.flags = std::move(flags);
  }

  const protocol::task_decl* decl_of(const pending_job& job, const std::string& backend) const {
    auto it = known_tasks.find({job.task, backend.empty() ? std::string("cpu") : backend});
    if (it == known_tasks.end() && !job.backend.empty()) it = known_tasks.find({job.task, job.backend});
    return it == known_tasks.end() ? nullptr : &it->second;
  }

  // Whether to run this donor's result again on a trusted worker before the job ends: new
  // donors at the operator's rate, donors with a long streak of agreements at a tenth of it,
  // and only when a trusted worker that offers the task is connected.
  bool should_check(const worker& w, const job_entry& entry) {
    if (options.check_rate <= 0 || options.trusted_owner_id == 0 || w.owner_id == 0 || trusted(w)) return false;
    if (entry.job.replicas > 1) return false;  // its replicas check one another
    if (!can_check(entry.job)) return false;
    const auto t = trust.find(w.owner_id);
    const auto streak = t == trust.end() ? 0 : t->second.streak;
    const double rate = streak >= options.trusted_after ? options.check_rate / 10 : options.check_rate;
    return std::uniform_real_distribution<double>(0, 1)(check_dice) < rate;
  }

  // Whether a trusted worker that may take jobs now offers this job's task.
  bool can_check(const pending_job& job) const {
    for (const auto& [_, other] : workers_by_identity) {
      if (!trusted(*other)) continue;
      for (const char* b : {"cpu", "cuda"})
        if ((job.backend.empty() || job.backend == b) && other->offers.count({job.task, b}) && capacity_of(*other, b) > 0)
          return true;
    }
    return false;
  }

  // Checks that can no longer run (the last trusted worker for the task left, or paused): the
  // donors' results stand unchecked rather than waiting without end.
  void release_stranded_checks() {
    if (options.trusted_owner_id == 0) return;
    std::vector<std::int64_t> stranded;
    for (const auto& [key, q] : queues) {
      if (!key.ends_with("|check")) continue;
      for (const auto& [_, id] : q) {
        auto it = jobs.find(id);
        if (it != jobs.end() && !can_check(it->second.job)) stranded.push_back(id);
      }
    }
    for (auto id : stranded) {
      auto it = jobs.find(id);
      auto entry = std::move(it->second);
      jobs.erase(it);
      queues[queue_key_of(entry)].erase(queue_entry_of(entry.job));
      counters.queue_depth--;
      end_check_inconclusive(entry, "no trusted worker can run the check now");
    }
  }

  // Keeps the donor's result and queues the job again for a trusted worker.
  void start_check(worker& w, job_entry entry, std::vector<protocol::tensor> outputs) {
    pending_check c;
    c.outputs = std::move(outputs);
    c.worker_name = w.info.name;
    c.owner_id = w.owner_id;
    c.pay = pay_for(w, entry);
    spdlog::info("job {} worker {}: checking its result on a trusted worker", entry.job.id, w.info.name);
    entry.check = std::move(c);
    entry.worker_identity.clear();
    entry.queued_us = now_us_steady();
    live_job l;
    l.state = job_state::running;
    l.message = "checking the result of worker '" + w.info.name + "' on a trusted worker";
    l.attempt = entry.job.attempt;
    set_live(entry.job.id, std::move(l));
    push_queue(std::move(entry));
  }

  void note_check(std::int64_t owner_id, const std::string& worker_name, bool agreed) {
    auto& t = trust[owner_id];
    t.account_id = owner_id;
    t.checked++;
    if (agreed) {
      t.agreed++;
      t.streak++;
    } else {
      t.disagreed++;
      t.streak = 0;
      t.last_disagreement_ms = now_ms();
    }
    if (options.record_check) options.record_check(owner_id, agreed);
    for (auto& [_, w] : workers_by_identity) {
      if (w->owner_id != owner_id) continue;
      if (w->info.name == worker_name) (agreed ? w->info.checks_passed : w->info.checks_failed)++;
      refresh_flags(*w);
    }
  }

  // A trusted worker's run of a checked job: the donor's result stands and is paid when the
  // two agree; otherwise the trusted result is the job's, the donor is not paid and its
  // streak starts over.
  void settle_check(worker& trusted_worker, job_entry& entry, std::vector<protocol::tensor> outputs) {
    auto c = std::move(*entry.check);
    const auto* decl = decl_of(entry.job, entry.slot_backend);
    const auto difference = protocol::compare_outputs(decl ? *decl : protocol::task_decl{}, c.outputs, outputs);
    note_check(c.owner_id, c.worker_name, difference.empty());
    if (difference.empty()) {
      spdlog::info("job {}: worker {}'s result agrees with trusted worker {}'s", entry.job.id, c.worker_name,
                   trusted_worker.info.name);
      finish(entry.job.id, job_state::succeeded, protocol::encode_tensors(c.outputs), {}, {}, c.pay);
      return;
    }
    spdlog::warn("job {}: worker {}'s result disagrees with trusted worker {}'s ({}): the trusted result stands and "
                 "worker {} is not paid",
                 entry.job.id, c.worker_name, trusted_worker.info.name, difference, c.worker_name);
    // The user pays what the job would have cost on the donor's worker, or less, and the
    // operator, whose worker gave the result that stands, is paid.
    auto pay = pay_for(trusted_worker, entry);
    if (pay.payee_id != 0 && pay.price > c.pay.price) {
      pay.price = c.pay.price;
      pay.charge = c.pay.charge;
      pay.fee = c.pay.fee;
    }
    finish(entry.job.id, job_state::succeeded, protocol::encode_tensors(outputs), {}, {}, pay);
  }

  // One replica ran. Until all did, the job queues again for a worker of another donor; then
  // the largest group of agreeing results wins if it is a majority: its workers are paid, the
  // others are not and count a disagreement. Without a majority the job fails, refunded.
  void collect_replica(worker& w, job_entry entry, std::vector<protocol::tensor> outputs) {
    const auto id = entry.job.id;
    const auto wanted = static_cast<std::size_t>(entry.job.replicas);
    entry.replica_results.push_back({std::move(outputs), w.info.name, w.owner_id, pay_for(w, entry)});
    entry.replica_donors.insert(donor_key(w));
    if (entry.replica_results.size() < wanted) {
      spdlog::info("job {} worker {}: replica {} of {} done", id, w.info.name, entry.replica_results.size(), wanted);
      entry.worker_identity.clear();
      entry.job.attempt = 0;  // attempts count per replica
      entry.queued_us = now_us_steady();
      live_job l;
      l.state = job_state::running;
      l.progress = static_cast<double>(entry.replica_results.size()) / static_cast<double>(wanted);
      l.message = std::to_string(entry.replica_results.size()) + " of " + std::to_string(wanted) +
                  " replicas done; waiting for a worker of another donor";
      l.attempt = entry.job.attempt;
      set_live(id, std::move(l));
      push_queue(std::move(entry));
      return;
    }
    const auto* found = decl_of(entry.job, entry.slot_backend);
    const auto decl = found ? *found : protocol::task_decl{};
    const auto& results = entry.replica_results;
    std::vector<std::size_t> best_group;
    for (std::size_t i = 0; i < results.size(); ++i) {
      std::vector<std::size_t> group;
      for (std::size_t j = 0; j < results.size(); ++j)
        if (i == j || protocol::compare_outputs(decl, results[i].outputs, results[j].outputs).empty()) group.push_back(j);
      if (group.size() > best_group.size()) best_group = std::move(group);
    }
    std::string names;
    for (const auto& r : results) names += (names.empty() ? "" : ", ") + r.worker_name;
    if (best_group.size() * 2 <= results.size()) {
      spdlog::warn("job {}: its {} replicas disagree ({}); it fails, refunded", id, results.size(), names);
      finish(id, job_state::failed, {}, "replicas_disagree",
             "the results of its " + std::to_string(results.size()) + " replicas (workers " + names +
                 ") do not agree, and no majority does: nobody is paid and the reservation is refunded");
      return;
    }
    settlement pay;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const bool agreed = std::find(best_group.begin(), best_group.end(), i) != best_group.end();
      const auto& r = results[i];
      if (r.owner_id != 0 && r.owner_id != options.trusted_owner_id) note_check(r.owner_id, r.worker_name, agreed);
      if (!agreed) {
        spdlog::warn("job {}: worker {}'s replica disagrees with the majority; it is not paid", id, r.worker_name);
        continue;
      }
      if (pay.payee_id == 0 && r.pay.payee_id != 0) pay = r.pay;
      else if (r.pay.payee_id != 0) pay.others.push_back({r.pay.payee_id, r.pay.charge, r.pay.fee});
    }
    finish(id, job_state::succeeded, protocol::encode_tensors(results[best_group.front()].outputs), {}, {}, pay);
  }

  // The trusted run failed or vanished: the donor's result stands unchecked.
  void end_check_inconclusive(job_entry& entry, const std::string& why) {
    auto c = std::move(*entry.check);
    spdlog::warn("job {}: the check of worker {}'s result could not finish ({}); its result stands unchecked",
                 entry.job.id, c.worker_name, why);
    finish(entry.job.id, job_state::succeeded, protocol::encode_tensors(c.outputs), {}, {}, c.pay);
  }

  void finish_with_result(worker& w, job_entry& entry, protocol::message& msg) {
    const auto id = entry.job.id;
    std::vector<protocol::tensor> outputs;
    std::string problem;
    try {
      outputs = protocol::take_tensors(msg.header, "outputs", msg.payload);
      problem = check_result(entry.job, outputs);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!problem.empty()) {
      counters.wire_bad_messages++;
      w.info.jobs_failed++;
      record_of(w).failed++;
      refresh_flags(w);
      spdlog::warn("job {} worker {}: returned a bad result: {}", id, w.info.name, problem);
      if (entry.check) {
        end_check_inconclusive(entry, "the trusted worker returned a bad result: " + problem);
        return;
      }
      finish(id, job_state::failed, {}, "bad_output", "worker '" + w.info.name + "' returned a bad result: " + problem);
      return;
    }
    w.info.jobs_done++;
    record_of(w).done++;
    if (entry.check) {
      settle_check(w, entry, std::move(outputs));
      return;
    }
    if (entry.job.replicas > 1) {
      collect_replica(w, std::move(entry), std::move(outputs));
      return;
    }
    if (should_check(w, entry)) {
      start_check(w, std::move(entry), std::move(outputs));
      return;
    }
    finish(id, job_state::succeeded, protocol::encode_tensors(outputs), {}, {}, pay_for(w, entry));
  }

  std::string check_result(const pending_job& job, const std::vector<protocol::tensor>& outputs) {
    std::vector<protocol::tensor_meta> in_metas, out_metas;
    for (const auto& t : job.inputs) in_metas.push_back(t.meta());
    for (const auto& t : outputs) out_metas.push_back(t.meta());
    for (const auto& [key, decl] : known_tasks) {
      if (key.first != job.task || (!job.backend.empty() && key.second != job.backend)) continue;
      auto inputs = protocol::check_inputs(decl, in_metas);
      if (!inputs.ok()) continue;
      return protocol::check_outputs(decl, inputs.dims, out_metas);
    }
    return {};  // no declaration to check against: accept
  }

  // What a job run by `w` pays: its units at the worker's ask, to the worker's owner, less the
  // operator's fee. A free job pays nothing but still records who ran it.
  settlement pay_for(const worker& w, const job_entry& entry) const {
    settlement s;
    s.payee_id = w.owner_id;
    if (w.owner_id == 0 || entry.job.bid == 0) return s;
    s.price = ask_of(w, entry.slot_backend);
    s.charge = std::min(protocol::cost_at(entry.job.units, s.price).value_or(entry.job.reserved), entry.job.reserved);
    s.fee = static_cast<std::int64_t>(static_cast<__int128>(s.charge) * options.fee_ppm / 1'000'000);
    return s;
  }

  // Journals a terminal state and settles the job's reservation (everything refunded unless
  // `settle` says otherwise); announces it after the commit.
  void finish(std::int64_t id, job_state state, std::string outputs_blob, std::string code, std::string message,
              settlement settle = {}) {
    store.finish(id, state, now_ms(), std::move(outputs_blob), code, message, settle,
                 [this, id, state](const write_result& r) { on_finished(id, state, r); });
  }

  void on_finished(std::int64_t id, job_state state, const write_result& r) {
    // Runs on the store's writer thread.
    if (!r.ok) spdlog::error("job {}: journaling its end failed: {}", id, r.error);
    live_job last;
    {
      std::lock_guard lock(live_mutex);
      auto it = live_jobs.find(id);
      if (it != live_jobs.end()) {
        last = std::move(it->second);
        live_jobs.erase(it);
      }
    }
    if (!r.applied) return;
    switch (state) {
      case job_state::succeeded: counters.jobs_succeeded++; break;
      case job_state::failed: counters.jobs_failed++; break;
      case job_state::cancelled: counters.jobs_cancelled++; break;
      default: break;
    }
    if (events.has_subscribers()) {
      last.state = state;
      if (state == job_state::succeeded) last.progress = 1;
      events.publish({"job", id, job_event_json(id, last), true});
    }
  }

  void cancel_job(std::int64_t id, std::function<void(bool)> done) {
    auto it = jobs.find(id);
    if (it == jobs.end()) {
      done(false);
      return;
    }
    auto& entry = it->second;
    if (entry.cancel_requested) {
      done(true);
      return;
    }
    if (entry.worker_identity.empty()) {
      if (queues[queue_key_of(entry)].erase(queue_entry_of(entry.job)))
        counters.queue_depth--;
      jobs.erase(it);
    } else {
      entry.cancel_requested = true;
      auto w = workers_by_identity.find(entry.worker_identity);
      if (w != workers_by_identity.end()) {
        auto frames = protocol::encode(protocol::command::cancel, json::object{{"job_id", id}});
        send_to(*w->second, frames);
      }
    }
    store.finish(id, job_state::cancelled, now_ms(), {}, "cancelled", "cancelled by the user", settlement{},
                 [this, id, done = std::move(done)](const write_result& r) {
                   on_finished(id, job_state::cancelled, r);
                   done(r.ok);
                 });
  }

  // ---------------------------------------------------------------- sending and timers
  bool send_to(worker& w, std::vector<zmq::message_t>& frames) {
    std::vector<zmq::message_t> all;
    all.reserve(frames.size() + 1);
    all.emplace_back(w.identity.data(), w.identity.size());
    for (auto& f : frames) all.push_back(std::move(f));
    const bool ok = protocol::send_all(router, all);
    if (ok) w.last_send = steady_clock::now();
    return ok;
  }

  void send_disconnect(const std::string& identity, const std::string& reason) {
    auto frames = protocol::encode(protocol::command::disconnect, json::object{{"reason", reason}});
    std::vector<zmq::message_t> all;
    all.emplace_back(identity.data(), identity.size());
    for (auto& f : frames) all.push_back(std::move(f));
    protocol::send_all(router, all);
  }

  void heartbeat_and_expire() {
    check_hours();
    const auto now = steady_clock::now();
    const auto dead_after = options.heartbeat_interval * options.heartbeat_liveness;
    std::vector<std::string> expired;
    for (auto& [identity, w] : workers_by_identity) {
      if (now - w->last_recv > dead_after) {
        expired.push_back(identity);
        continue;
      }
      if (now - w->last_send >= options.heartbeat_interval) {
        auto frames = protocol::encode_heartbeat();
        send_to(*w, frames);
      }
    }
    for (const auto& identity : expired) {
      auto it = workers_by_identity.find(identity);
      if (it == workers_by_identity.end()) continue;
      context ctx;
      ctx.identity = identity;
      ctx.w = it->second.get();
      apply(ctx, worker_event::expired);
    }
  }
};

const broker::impl::transition broker::impl::table[] = {
    {broker::impl::worker_state::unknown, broker::impl::worker_event::hello_valid, &broker::impl::on_register, broker::impl::worker_state::ready},
    {broker::impl::worker_state::unknown, broker::impl::worker_event::hello_invalid, &broker::impl::on_refuse, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::unknown, broker::impl::worker_event::other, &broker::impl::on_stranger, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::unknown, broker::impl::worker_event::garbage, &broker::impl::on_count_garbage, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::ready, broker::impl::worker_event::hello_valid, &broker::impl::on_reregister, broker::impl::worker_state::ready},
    {broker::impl::worker_state::ready, broker::impl::worker_event::hello_invalid, &broker::impl::on_refuse_known, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::ready, broker::impl::worker_event::heartbeat, &broker::impl::on_touch, broker::impl::worker_state::ready},
    {broker::impl::worker_state::ready, broker::impl::worker_event::progress, &broker::impl::on_progress, broker::impl::worker_state::ready},
    {broker::impl::worker_state::ready, broker::impl::worker_event::job_done, &broker::impl::on_job_done, broker::impl::worker_state::ready},
    {broker::impl::worker_state::ready, broker::impl::worker_event::returned, &broker::impl::on_returned, broker::impl::worker_state::ready},
    {broker::impl::worker_state::ready, broker::impl::worker_event::goodbye, &broker::impl::on_goodbye, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::ready, broker::impl::worker_event::unexpected, &broker::impl::on_unexpected, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::ready, broker::impl::worker_event::garbage, &broker::impl::on_garbage, broker::impl::worker_state::unknown},
    {broker::impl::worker_state::ready, broker::impl::worker_event::expired, &broker::impl::on_expired, broker::impl::worker_state::unknown},
};
broker::broker(broker_options options, job_store& store, event_hub& events, metrics& counters)
    : impl_(std::make_unique<impl>(std::move(options), store, events, counters)) {}

broker::~broker() { stop(); }

void broker::start() { impl_->start(); }
void broker::stop() { impl_->stop(); }
std::string broker::endpoint() const { return impl_->bound_endpoint; }

void broker::enqueue(std::vector<pending_job> jobs) {
  bool was_empty;
  {
    std::lock_guard lock(impl_->inbox_mutex);
    was_empty = impl_->inbox_jobs.empty() && impl_->inbox_cancels.empty();
    if (impl_->inbox_jobs.empty()) {
      impl_->inbox_jobs = std::move(jobs);
    } else {
      for (auto& j : jobs) impl_->inbox_jobs.push_back(std::move(j));
    }
  }
  if (was_empty) impl_->wake();
}

void broker::token_revoked(std::int64_t token_id) {
  {
    std::lock_guard lock(impl_->inbox_mutex);
    impl_->inbox_revoked_tokens.push_back(token_id);
  }
  impl_->wake();
}

void broker::settings_changed(std::int64_t owner_id, std::string name, worker_settings settings) {
  {
    std::lock_guard lock(impl_->inbox_mutex);
    impl_->inbox_settings.emplace_back(owner_id, std::move(name), settings);
  }
  impl_->wake();
}

void broker::cancel(std::int64_t id, std::function<void(bool)> done) {
  {
    std::lock_guard lock(impl_->inbox_mutex);
    impl_->inbox_cancels.emplace_back(id, std::move(done));
  }
  impl_->wake();
}

std::optional<live_job> broker::live(std::int64_t id) const {
  std::lock_guard lock(impl_->live_mutex);
  auto it = impl_->live_jobs.find(id);
  if (it == impl_->live_jobs.end()) return std::nullopt;
  return it->second;
}

std::vector<worker_snapshot> broker::workers() const {
  std::lock_guard lock(impl_->state_mutex);
  std::vector<worker_snapshot> out;
  for (const auto& [_, w] : impl_->workers_by_identity) out.push_back(w->info);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.connected_ms < b.connected_ms; });
  return out;
}

std::shared_ptr<const task_catalog> broker::catalog() const {
  std::lock_guard lock(impl_->live_mutex);
  return impl_->catalog_snapshot;
}

market_view broker::market(const std::string& task, const std::string& backend, std::int64_t bid) const {
  std::lock_guard lock(impl_->state_mutex);
  market_view view;
  for (const auto& [_, w] : impl_->workers_by_identity) {
    if (w->draining) continue;
    for (const char* b : {"cpu", "cuda"}) {
      if (!backend.empty() && backend != b) continue;
      if (!w->offers.count({task, b})) continue;
      market_view::offer o;
      o.worker = w->info.name;
      o.owner = w->info.owner;
      o.backend = b;
      o.ask = impl::ask_of(*w, b);
      o.accepts_free = w->info.accepts_free;
      o.slots = impl::slots_of(*w, b);
      o.free_slots = std::max(0, impl::free_slots(*w, b));
      view.offers.push_back(std::move(o));
    }
  }
  std::sort(view.offers.begin(), view.offers.end(), [](const auto& a, const auto& b) {
    return std::tie(a.ask, b.free_slots) < std::tie(b.ask, a.free_slots);
  });
  double run_us = 0;
  for (const char* b : {"cpu", "cuda"}) {
    if (!backend.empty() && backend != b) continue;
    if (auto avg = impl_->run_us_average.find(queue_key(task, b)); avg != impl_->run_us_average.end())
      run_us = run_us == 0 ? avg->second : std::min(run_us, avg->second);
  }
  view.run_ms = run_us / 1000.0;
  // Jobs that would go first: every queued job of this task whose bid is at least this one
  // (a new job is the youngest among equal bids). A walk of the queue: only for quotes.
  for (const auto& [key, q] : impl_->queues) {
    if (bid < 0) break;
    const auto bar = key.find('|');
    if (key.compare(0, bar, task) != 0 || bar != task.size()) continue;
    const auto queued_backend = key.substr(bar + 1);
    if (!backend.empty() && !queued_backend.empty() && queued_backend != backend) continue;
    view.queued_ahead += static_cast<std::int64_t>(
        std::distance(q.begin(), q.upper_bound({-bid, std::numeric_limits<std::int64_t>::max()})));
  }
  return view;
}

void broker::set_hub_url(std::string url) {
  std::lock_guard lock(impl_->hub_url_mutex);
  impl_->hub_url = std::move(url);
}

std::size_t broker::queue_depth() const {
  return static_cast<std::size_t>(std::max<std::int64_t>(0, impl_->counters.queue_depth.load()));
}

}  // namespace potluck::daemon
