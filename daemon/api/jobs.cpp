// Job routes: submit (one or a batch), read, list, cancel, and per-job server-sent events.
//
// A submission is validated completely (JSON, known task, backend, tensors against the task's
// declared shapes, parameters against its schema) before anything is written; it is answered
// 202 only after the journal commit that holds it, and only then handed to the broker.
#include "daemon/api/routes.hpp"
#include "daemon/api/tensor_json.hpp"
#include "daemon/app/app.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>

namespace json = boost::json;

namespace potluck::daemon::api {
namespace {

constexpr int max_attempts_limit = 10;
constexpr int default_list_limit = 50;
constexpr std::int64_t default_wait_ms = 30'000;
constexpr std::int64_t max_wait_ms = 600'000;

struct submission {
  job_record record;
  pending_job job;
};

struct rejection {
  unsigned status = 400;
  std::string code, message;
};

// Turns one job object of a request into a journal record and a pending job.
bool parse_job(const json::value& v, daemon_app& app, const task_catalog& catalog, submission& out,
               rejection& why) {
  auto reject = [&](unsigned status, const char* code, std::string message) {
    why = {status, code, std::move(message)};
    return false;
  };
  if (!v.is_object())
    return reject(400, "invalid_request", "a job must be a JSON object like {\"task\": \"linalg.matmul\", \"inputs\": {...}}");
  const auto& o = v.as_object();
  static const std::array<std::string_view, 6> known_fields = {"task", "inputs", "params", "backend", "max_attempts", "model"};
  for (const auto& [key, _] : o)
    if (std::find(known_fields.begin(), known_fields.end(), std::string_view(key)) == known_fields.end())
      return reject(400, "invalid_request", "unknown field \"" + std::string(key) +
                                                "\" (fields: task, inputs, params, backend, max_attempts, model)");
  auto* task = o.if_contains("task");
  if (!task || !task->is_string() || task->as_string().empty())
    return reject(400, "invalid_request", "\"task\" is required and must be a task name such as \"linalg.matmul\"");
  const std::string task_name(task->as_string());

  std::string backend;
  if (auto* b = o.if_contains("backend"); b && !b->is_null()) {
    if (!b->is_string() || !protocol::is_known_backend(b->as_string()))
      return reject(400, "invalid_request", "\"backend\" must be \"cpu\" or \"cuda\"");
    backend = std::string(b->as_string());
  }
  int max_attempts = app.options().max_attempts;
  if (auto* m = o.if_contains("max_attempts"); m && !m->is_null()) {
    if (!m->is_int64() || m->as_int64() < 1 || m->as_int64() > max_attempts_limit)
      return reject(400, "invalid_request", "\"max_attempts\" must be an integer from 1 to " + std::to_string(max_attempts_limit));
    max_attempts = static_cast<int>(m->as_int64());
  }
  std::string model;
  if (auto* m = o.if_contains("model"); m && !m->is_null()) {
    if (!m->is_string()) return reject(400, "invalid_request", "\"model\" must be a string");
    model = std::string(m->as_string());
  }

  auto found = catalog.find(task_name);
  if (found == catalog.end()) {
    std::string names;
    for (const auto& [name, _] : catalog) names += (names.empty() ? "" : ", ") + name;
    return reject(422, "unknown_task", "unknown task '" + task_name + "': no worker has offered it" +
                                           (names.empty() ? " (no worker has connected yet)" : " (known tasks: " + names + ")"));
  }
  std::vector<const task_entry*> candidates;
  std::string offered;
  for (const auto& e : found->second) {
    offered += (offered.empty() ? "" : ", ") + e.decl.backend;
    if (backend.empty() || e.decl.backend == backend) candidates.push_back(&e);
  }
  if (candidates.empty())
    return reject(422, "unknown_backend", "task '" + task_name + "' is not offered on backend " + backend +
                                              " (offered on: " + offered + ")");

  // Inputs.
  std::vector<protocol::tensor> inputs;
  if (auto* in = o.if_contains("inputs"); in && !in->is_null()) {
    if (!in->is_object())
      return reject(400, "invalid_input", "\"inputs\" must be an object of named tensors, like {\"a\": {\"dtype\": \"f32\", ...}}");
    for (const auto& [name, value] : in->as_object()) {
      protocol::tensor t;
      std::string error;
      if (!tensor_from_json(value, std::string(name), t, error)) return reject(400, "invalid_input", error);
      inputs.push_back(std::move(t));
    }
  }
  std::vector<protocol::tensor_meta> metas;
  metas.reserve(inputs.size());
  for (const auto& t : inputs) metas.push_back(t.meta());
  std::string first_error;
  const task_entry* chosen = nullptr;
  for (const auto* c : candidates) {
    auto check = protocol::check_inputs(c->decl, metas);
    if (check.ok()) {
      chosen = c;
      break;
    }
    if (first_error.empty()) first_error = check.error;
  }
  if (!chosen) return reject(422, "invalid_input", "task '" + task_name + "': " + first_error);

  // Parameters.
  std::string params_json = "{}";
  if (auto* p = o.if_contains("params"); p && !p->is_null()) {
    auto error = protocol::check_params(chosen->decl.params_schema, *p);
    if (!error.empty()) return reject(422, "invalid_params", "task '" + task_name + "': " + error);
    params_json = json::serialize(*p);
  } else if (!chosen->decl.params_schema.empty()) {
    auto error = protocol::check_params(chosen->decl.params_schema, json::object());
    if (!error.empty()) return reject(422, "invalid_params", "task '" + task_name + "': " + error);
  }

  auto& rec = out.record;
  rec.task = task_name;
  rec.backend = backend;
  rec.model = std::move(model);
  rec.state = job_state::queued;
  rec.max_attempts = max_attempts;
  rec.created_ms = now_ms();
  rec.params_json = params_json;
  rec.inputs_blob = protocol::encode_tensors(inputs);
  auto& job = out.job;
  job.task = task_name;
  job.backend = backend;
  job.params_json = std::move(params_json);
  job.inputs = std::move(inputs);
  job.max_attempts = max_attempts;
  return true;
}

bool parse_id(const std::string& text, std::int64_t& id) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), id);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && id > 0;
}

tensor_encoding encoding_of(const http::request& req) {
  if (auto* e = req.query_param("encoding")) {
    if (*e == "b64") return tensor_encoding::base64;
    if (*e == "numbers") return tensor_encoding::numbers;
  }
  return tensor_encoding::automatic;
}

void append_string(std::string& out, std::string_view s) { out += json::serialize(json::string(s)); }

// The job's JSON. `live` overlays what the broker knows of a job that is not terminal yet.
std::string job_json(const job_record& rec, const std::optional<live_job>& live, bool with_io,
                     tensor_encoding encoding) {
  auto state = rec.state;
  double progress = state == job_state::succeeded ? 1.0 : 0.0;
  std::string message, worker = rec.worker;
  int attempt = rec.attempt;
  std::int64_t started = rec.started_ms;
  if (live && !is_terminal(state)) {
    state = live->state;
    progress = live->progress;
    message = live->message;
    if (!live->worker.empty()) worker = live->worker;
    attempt = live->attempt;
    if (live->started_ms) started = live->started_ms;
  }
  std::string out;
  out.reserve(256 + (with_io ? rec.outputs_blob.size() * 2 : 0));
  out += "{\"id\":" + std::to_string(rec.id) + ",\"task\":";
  append_string(out, rec.task);
  out += ",\"backend\":";
  if (rec.backend.empty()) out += "null"; else append_string(out, rec.backend);
  if (!rec.model.empty()) out += ",\"model\":", append_string(out, rec.model);
  out += ",\"state\":\"";
  out += to_string(state);
  out += "\",\"progress\":";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, progress);
  out.append(buf, r.ptr);
  out += ",\"message\":";
  append_string(out, message);
  out += ",\"attempt\":" + std::to_string(attempt) + ",\"max_attempts\":" + std::to_string(rec.max_attempts);
  out += ",\"worker\":";
  if (worker.empty()) out += "null"; else append_string(out, worker);
  out += ",\"account_id\":";
  out += rec.account_id ? std::to_string(rec.account_id) : "null";
  auto stamp = [&](const char* key, std::int64_t ms) {
    out += ",\"";
    out += key;
    out += "\":";
    if (ms) out += "\"" + iso8601(ms) + "\""; else out += "null";
  };
  stamp("created_at", rec.created_ms);
  stamp("started_at", started);
  stamp("finished_at", is_terminal(state) ? rec.finished_ms : 0);
  out += ",\"timings_ms\":{\"queued\":";
  out += started ? std::to_string(started - rec.created_ms) : "null";
  out += ",\"run\":";
  out += started && is_terminal(state) && rec.finished_ms ? std::to_string(rec.finished_ms - started) : "null";
  out += "}";
  if (with_io) {
    out += ",\"params\":" + rec.params_json;
    out += ",\"inputs\":[";
    try {
      auto inputs = protocol::decode_tensors(rec.inputs_blob);
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (i) out += ',';
        out += "{\"name\":";
        append_string(out, inputs[i].name);
        out += ",\"dtype\":\"";
        out += protocol::dtype_name(inputs[i].type);
        out += "\",\"shape\":" + protocol::shape_string(inputs[i].shape) + "}";
      }
    } catch (const std::exception&) {
    }
    out += "]";
  }
  out += ",\"result\":";
  if (state == job_state::succeeded && with_io) {
    out += "{\"outputs\":{";
    try {
      auto outputs = protocol::decode_tensors(rec.outputs_blob);
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        if (i) out += ',';
        append_string(out, outputs[i].name);
        out += ':';
        append_tensor_json(out, outputs[i], encoding);
      }
    } catch (const std::exception& e) {
      spdlog::error("job {}: journaled outputs do not decode: {}", rec.id, e.what());
    }
    out += "}}";
  } else {
    out += "null";
  }
  out += ",\"error\":";
  if ((state == job_state::failed || state == job_state::cancelled) && !rec.error_code.empty()) {
    out += "{\"code\":";
    append_string(out, rec.error_code);
    out += ",\"message\":";
    append_string(out, rec.error_message);
    out += "}";
  } else {
    out += "null";
  }
  out += "}";
  return out;
}

// Answers a submit that asked to wait: with the finished job (200) as soon as it is terminal,
// or with its current state (202) at the deadline. Runs on the writer thread after the
// commit, before the job reaches the broker, so the terminal event cannot be missed.
void answer_when_done(daemon_app& app, std::shared_ptr<http::responder> res, std::int64_t id,
                      std::chrono::milliseconds wait, tensor_encoding encoding) {
  struct waiter {
    std::atomic<bool> answered{false};
    event_hub::token token = 0;
  };
  auto w = std::make_shared<waiter>();
  w->token = app.events().subscribe(id, [&app, res, w, id, encoding](const event& e) {
    if (!e.terminal) return true;
    if (!w->answered.exchange(true)) {
      auto rec = app.store().get(id);
      if (rec) res->send(http::json(200, job_json(*rec, std::nullopt, true, encoding)));
      else res->send(http::json_error(500, "internal", "job " + std::to_string(id) + " vanished"));
    }
    return false;
  });
  app.timers().at(std::chrono::steady_clock::now() + wait, [&app, res, w, id] {
    if (w->answered.exchange(true)) return;
    app.events().unsubscribe(w->token);
    auto rec = app.store().get(id);
    auto reply = http::json(202, rec ? job_json(*rec, app.jobs().live(id), false, tensor_encoding::automatic)
                                     : "{\"id\":" + std::to_string(id) + ",\"state\":\"queued\"}");
    reply.headers.emplace_back("Location", "/api/v1/jobs/" + std::to_string(id));
    res->send(std::move(reply));
  });
}

// Validates and journals one or many jobs; answers after the commit.
void submit(daemon_app& app, http::request& req, http::responder res, bool batch) {
  const auto who = authenticate(app, req, res, token_scope::submit);
  if (!who) return;
  // ?wait=true (single jobs): answer with the result when the job ends, up to wait_ms.
  std::optional<std::chrono::milliseconds> wait;
  if (auto* w = req.query_param("wait"); w && !batch && (*w == "true" || *w == "1")) {
    std::int64_t ms = default_wait_ms;
    if (auto* t = req.query_param("wait_ms"); t && (!parse_id(*t, ms) || ms > max_wait_ms)) {
      res.send(http::json_error(400, "invalid_request", "wait_ms must be an integer from 1 to " + std::to_string(max_wait_ms)));
      return;
    }
    wait = std::chrono::milliseconds(ms);
  }
  const auto encoding = encoding_of(req);
  boost::system::error_code ec;
  auto body = json::parse(req.body, ec);
  if (ec) {
    app.counters().http_rejected++;
    res.send(http::json_error(400, "invalid_json", "the request body is not valid JSON: " + ec.message()));
    return;
  }
  const json::array* list = nullptr;
  json::array single;
  if (batch) {
    auto* jobs = body.is_object() ? body.as_object().if_contains("jobs") : nullptr;
    if (!jobs || !jobs->is_array() || jobs->as_array().empty()) {
      app.counters().http_rejected++;
      res.send(http::json_error(400, "invalid_request", "a batch is {\"jobs\": [job, ...]} with at least one job"));
      return;
    }
    if (jobs->as_array().size() > app.options().max_batch_jobs) {
      app.counters().http_rejected++;
      res.send(http::json_error(413, "batch_too_large", "a batch holds at most " +
                                                            std::to_string(app.options().max_batch_jobs) + " jobs"));
      return;
    }
    list = &jobs->as_array();
  } else {
    single.push_back(std::move(body));
    list = &single;
  }
  const auto catalog = app.jobs().catalog();
  std::vector<submission> subs(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    rejection why;
    if (!parse_job((*list)[i], app, *catalog, subs[i], why)) {
      app.counters().http_rejected++;
      res.send(http::json_error(why.status, why.code, batch ? "job " + std::to_string(i) + ": " + why.message : why.message));
      return;
    }
  }
  const auto first_id = app.allocate_job_ids(subs.size());
  std::vector<job_record> records;
  std::vector<pending_job> pending;
  records.reserve(subs.size());
  pending.reserve(subs.size());
  for (std::size_t i = 0; i < subs.size(); ++i) {
    subs[i].record.id = subs[i].job.id = first_id + static_cast<std::int64_t>(i);
    subs[i].record.account_id = who->account.id;
    records.push_back(std::move(subs[i].record));
    pending.push_back(std::move(subs[i].job));
  }
  auto shared_res = std::make_shared<http::responder>(std::move(res));
  auto shared_pending = std::make_shared<std::vector<pending_job>>(std::move(pending));
  app.store().insert(std::move(records), [&app, shared_res, shared_pending, first_id, batch, wait, encoding](const write_result& r) {
    if (!r.ok) {
      spdlog::error("journal: inserting jobs failed: {}", r.error);
      shared_res->send(http::json_error(503, "journal_unavailable", "the job could not be saved: " + r.error));
      return;
    }
    const auto count = shared_pending->size();
    app.counters().jobs_submitted += count;
    if (wait) {
      answer_when_done(app, shared_res, first_id, *wait, encoding);
      app.jobs().enqueue(std::move(*shared_pending));
      return;
    }
    app.jobs().enqueue(std::move(*shared_pending));
    std::string out;
    if (batch) {
      out.reserve(32 + count * 32);
      out += "{\"jobs\":[";
      for (std::size_t i = 0; i < count; ++i) {
        if (i) out += ',';
        out += "{\"id\":" + std::to_string(first_id + static_cast<std::int64_t>(i)) + ",\"state\":\"queued\"}";
      }
      out += "]}";
    } else {
      out = "{\"id\":" + std::to_string(first_id) + ",\"state\":\"queued\"}";
    }
    auto resp = http::json(202, std::move(out));
    if (!batch) resp.headers.emplace_back("Location", "/api/v1/jobs/" + std::to_string(first_id));
    shared_res->send(std::move(resp));
  });
}

bool lookup(daemon_app& app, http::request& req, http::responder& res, job_record& rec) {
  std::int64_t id = 0;
  if (!parse_id(req.path_params["id"], id)) {
    res.send(http::json_error(400, "invalid_id", "job ids are positive integers, got '" + req.path_params["id"] + "'"));
    return false;
  }
  auto found = app.store().get(id);
  if (!found) {
    res.send(http::json_error(404, "job_not_found", "no job with id " + std::to_string(id)));
    return false;
  }
  rec = std::move(*found);
  return true;
}

}  // namespace

void add_job_routes(http::router& router, daemon_app& app) {
  router.add("POST", "/api/v1/jobs", [&app](http::request& req, http::responder res) {
    submit(app, req, std::move(res), false);
  });
  router.add("POST", "/api/v1/jobs/batch", [&app](http::request& req, http::responder res) {
    submit(app, req, std::move(res), true);
  });

  router.add("GET", "/api/v1/jobs", [&app](http::request& req, http::responder res) {
    job_list_query q;
    q.limit = default_list_limit;
    if (auto* s = req.query_param("state"); s && !s->empty()) {
      q.state = parse_job_state(*s);
      if (!q.state) {
        res.send(http::json_error(400, "invalid_state", "state must be one of queued, running, succeeded, failed, cancelled"));
        return;
      }
    }
    if (auto* l = req.query_param("limit")) {
      std::int64_t limit = 0;
      if (!parse_id(*l, limit) || limit > 1000) {
        res.send(http::json_error(400, "invalid_limit", "limit must be an integer from 1 to 1000"));
        return;
      }
      q.limit = static_cast<int>(limit);
    }
    if (auto* c = req.query_param("cursor"); c && !c->empty()) {
      if (!parse_id(*c, q.before_id)) {
        res.send(http::json_error(400, "invalid_cursor", "cursor must be the next_cursor of a previous page"));
        return;
      }
    }
    auto records = app.store().list(q);
    std::string out = "{\"jobs\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i) out += ',';
      out += job_json(records[i], app.jobs().live(records[i].id), false, tensor_encoding::automatic);
    }
    out += "],\"next_cursor\":";
    out += static_cast<int>(records.size()) == q.limit && !records.empty() ? std::to_string(records.back().id) : "null";
    out += "}";
    res.send(http::json(200, std::move(out)));
  });

  router.add("GET", "/api/v1/jobs/{id}", [&app](http::request& req, http::responder res) {
    job_record rec;
    if (!lookup(app, req, res, rec)) return;
    res.send(http::json(200, job_json(rec, app.jobs().live(rec.id), true, encoding_of(req))));
  });

  router.add("POST", "/api/v1/jobs/{id}/cancel", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::submit);
    if (!who) return;
    job_record rec;
    if (!lookup(app, req, res, rec)) return;
    if (rec.account_id != who->account.id && !(who->token.scopes & token_scope::admin)) {
      res.send(http::json_error(403, "not_your_job", "job " + std::to_string(rec.id) +
                                                         " belongs to another account; only its owner or the operator can cancel it"));
      return;
    }
    if (is_terminal(rec.state)) {
      res.send(http::json_error(409, "job_finished", "job " + std::to_string(rec.id) + " already " + to_string(rec.state)));
      return;
    }
    auto shared_res = std::make_shared<http::responder>(std::move(res));
    const auto id = rec.id;
    app.jobs().cancel(id, [&app, shared_res, id](bool done) {
      auto now = app.store().get(id);
      if (done || (now && now->state == job_state::cancelled)) {
        shared_res->send(http::json(200, "{\"id\":" + std::to_string(id) + ",\"state\":\"cancelled\"}"));
      } else if (now && is_terminal(now->state)) {
        shared_res->send(http::json_error(409, "job_finished", "job " + std::to_string(id) + " already " + to_string(now->state)));
      } else {
        shared_res->send(http::json_error(409, "job_busy", "job " + std::to_string(id) + " cannot be cancelled right now; try again"));
      }
    });
  });

  router.add("GET", "/api/v1/jobs/{id}/events", [&app](http::request& req, http::responder res) {
    job_record rec;
    if (!lookup(app, req, res, rec)) return;
    const auto id = rec.id;
    auto stream = res.start_events();
    auto send_final = [&app, stream, id] {
      if (auto done = app.store().get(id)) stream->send("job", job_json(*done, std::nullopt, true, tensor_encoding::automatic));
      stream->close();
    };
    if (is_terminal(rec.state)) {
      stream->send("job", job_json(rec, std::nullopt, true, tensor_encoding::automatic));
      stream->close();
      return;
    }
    // Subscribe first, then send the current state, so that no change falls in between.
    auto token = app.events().subscribe(id, [stream, send_final](const event& e) {
      if (stream->closed()) return false;
      if (e.terminal) {
        send_final();
        return false;
      }
      return stream->send(e.kind, e.json);
    });
    stream->on_close([&app, token] { app.events().unsubscribe(token); });
    auto now = app.store().get(id);
    if (now && is_terminal(now->state)) {
      app.events().unsubscribe(token);
      send_final();
      return;
    }
    if (now) stream->send("job", job_json(*now, app.jobs().live(id), false, tensor_encoding::automatic));
  });
}

}  // namespace potluck::daemon::api
