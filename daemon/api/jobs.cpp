// Job routes: submit (one or a batch), read, list, cancel, and per-job server-sent events.
//
// A submission is validated completely (JSON, known task, backend, tensors against the task's
// declared shapes, parameters against its schema) before anything is written; it is answered
// 202 only after the journal commit that holds it, and only then handed to the broker.
#include "daemon/api/routes.hpp"
#include "daemon/api/tensor_json.hpp"
#include "daemon/app/app.hpp"
#include "daemon/app/models.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "potluck/protocol/credits.hpp"
#include "potluck/protocol/model_tasks.hpp"

#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

namespace json = boost::json;

namespace potluck::daemon::api {
namespace {

constexpr int max_attempts_limit = 10;
constexpr int default_list_limit = 50;
constexpr std::int64_t default_wait_ms = 30'000;
constexpr std::int64_t max_wait_ms = 600'000;
constexpr std::uint64_t max_image_pixels = 4096ULL * 4096;  // an image the Inference API decodes

struct submission {
  job_record record;
  pending_job job;
  bool market_bid = false;  // no bid given: it bids the lowest ask (set in price_jobs)
};

struct rejection {
  unsigned status = 400;
  std::string code, message;
};

// Turns one job object of a request into a journal record and a pending job.
// The models a request's jobs name, each looked up once per request (a batch of a thousand jobs
// for one model reads the journal once).
using model_memo = std::unordered_map<std::string, resolved_model>;

bool parse_job(const json::value& v, daemon_app& app, const task_catalog& catalog, submission& out,
               rejection& why, model_memo& models) {
  auto reject = [&](unsigned status, const char* code, std::string message) {
    why = {status, code, std::move(message)};
    return false;
  };
  if (!v.is_object())
    return reject(400, "invalid_request", "a job must be a JSON object like {\"task\": \"linalg.matmul\", \"inputs\": {...}}");
  const auto& o = v.as_object();
  static const std::array<std::string_view, 9> known_fields = {
      "task", "inputs", "params", "backend", "max_attempts", "model", "bid", "max_price", "replicas"};
  for (const auto& [key, _] : o)
    if (std::find(known_fields.begin(), known_fields.end(), std::string_view(key)) == known_fields.end())
      return reject(400, "invalid_request", "unknown field \"" + std::string(key) +
                                                "\" (fields: task, inputs, params, backend, max_attempts, model, bid, max_price, "
                                                "replicas)");
  // Prices: integers of micro-credits (1 credit = 1,000,000); a bid is per million work units.
  std::optional<std::int64_t> bid, max_price;
  auto read_amount = [&](const char* key, std::int64_t limit, const char* what, std::optional<std::int64_t>& out) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) return true;
    std::int64_t n = 0;
    if (v->is_int64()) n = v->as_int64();
    else if (v->is_uint64()) n = std::numeric_limits<std::int64_t>::max();
    else {
      why = {400, "invalid_price", std::string("\"") + key + "\" must be an integer number of micro-credits " + what +
                                       " (1 credit = 1,000,000: 0.5 credits is 500000), not " + json::serialize(*v)};
      return false;
    }
    if (n < 0 || n > limit) {
      why = {400, "invalid_price", std::string("\"") + key + "\" must be from 0 to " + std::to_string(limit) +
                                       " micro-credits " + what + ", got " + json::serialize(*v)};
      return false;
    }
    out = n;
    return true;
  };
  if (!read_amount("bid", protocol::max_price, "per million work units", bid)) return false;
  if (!read_amount("max_price", protocol::max_job_cost, "for the whole job", max_price)) return false;
  if (bid && max_price)
    return reject(400, "invalid_price", "give \"bid\" (a price per million work units) or \"max_price\" (a total), not both");
  int replicas = 1;
  if (auto* r = o.if_contains("replicas"); r && !r->is_null()) {
    if (!r->is_int64() || r->as_int64() < 1 || r->as_int64() > max_replicas)
      return reject(400, "invalid_request", "\"replicas\" must be an integer from 1 to " + std::to_string(max_replicas) +
                                                ": the job runs on that many donors' workers, their results must agree, "
                                                "and each is paid");
    replicas = static_cast<int>(r->as_int64());
  }
  // A job for a model runs its card's model task on the revision named, or the head's (pinned
  // now, so a later push does not change what an accepted job runs).
  std::optional<resolved_model> model;
  if (auto* m = o.if_contains("model"); m && !m->is_null()) {
    if (!m->is_string()) return reject(400, "invalid_model", "\"model\" must be a string such as \"alice/word-lang\"");
    const std::string ref(m->as_string());
    if (auto seen = models.find(ref); seen != models.end()) {
      model = seen->second;
    } else {
      model_lookup_error lookup;
      model = resolve_model(app.hub(), app.blobs(), ref, lookup);
      if (!model) return reject(lookup.status, lookup.code.c_str(), lookup.message);
      if (models.size() < 64) models.emplace(ref, *model);
    }
  }
  auto* task = o.if_contains("task");
  if (task && !task->is_null() && (!task->is_string() || task->as_string().empty()))
    return reject(400, "invalid_request", "\"task\" must be a task name such as \"linalg.matmul\"");
  const bool has_task = task && !task->is_null();
  if (!has_task && !model)
    return reject(400, "invalid_request", "\"task\" is required and must be a task name such as \"linalg.matmul\" "
                                          "(or name a \"model\" of the hub)");
  const std::string task_name = model ? model->task : std::string(task->as_string());
  if (model && has_task && task->as_string() != task_name)
    return reject(422, "task_mismatch", "model " + model->model.owner + "/" + model->model.name + " runs as task '" +
                                            task_name + "' (its card says task " + model->card.task + ", format " +
                                            model->card.format + "), not '" + std::string(task->as_string()) + "'");
  if (!model && protocol::split_model_task(task_name))
    return reject(422, "model_required", "task '" + task_name + "' runs a model: name it in \"model\" "
                                         "(\"owner/name\" of the hub; GET /api/models lists them)");

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
  auto found = catalog.find(task_name);
  std::vector<const protocol::task_decl*> candidates;
  std::optional<protocol::task_decl> standard;  // a model task nobody offers yet: its interface
  if (found == catalog.end() && model) {
    standard = protocol::model_task_decl(task_name, backend.empty() ? "cpu" : backend);
    if (!standard)
      return reject(422, "unknown_task", "model " + model->model.owner + "/" + model->model.name + " names task " +
                                             model->card.task + " and format " + model->card.format +
                                             ", which this daemon cannot run");
    candidates.push_back(&*standard);
  } else if (found == catalog.end()) {
    std::string names;
    for (const auto& [name, _] : catalog) names += (names.empty() ? "" : ", ") + name;
    return reject(422, "unknown_task", "unknown task '" + task_name + "': no worker has offered it" +
                                           (names.empty() ? " (no worker has connected yet)" : " (known tasks: " + names + ")"));
  } else {
    std::string offered;
    for (const auto& e : found->second) {
      offered += (offered.empty() ? "" : ", ") + e.decl.backend;
      if (backend.empty() || e.decl.backend == backend) candidates.push_back(&e.decl);
    }
    if (candidates.empty() && model) {
      // Offered, but not on the backend asked for: it waits for a worker that has it there.
      standard = protocol::model_task_decl(task_name, backend);
      candidates.push_back(&*standard);
    }
    if (candidates.empty())
      return reject(422, "unknown_backend", "task '" + task_name + "' is not offered on backend " + backend +
                                                " (offered on: " + offered + ")");
  }

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
  const protocol::task_decl* chosen = nullptr;
  for (const auto* c : candidates) {
    auto check = protocol::check_inputs(*c, metas);
    if (check.ok()) {
      chosen = c;
      break;
    }
    if (first_error.empty()) first_error = check.error;
  }
  if (!chosen) return reject(422, "invalid_input", "task '" + task_name + "': " + first_error);
  protocol::input_check check = protocol::check_inputs(*chosen, metas);

  // Parameters.
  std::string params_json = "{}";
  if (auto* p = o.if_contains("params"); p && !p->is_null()) {
    auto error = protocol::check_params(chosen->params_schema, *p);
    if (!error.empty()) return reject(422, "invalid_params", "task '" + task_name + "': " + error);
    params_json = json::serialize(*p);
  } else if (!chosen->params_schema.empty()) {
    auto error = protocol::check_params(chosen->params_schema, json::object());
    if (!error.empty()) return reject(422, "invalid_params", "task '" + task_name + "': " + error);
  }

  // Work units, from the task's cost expression over the input dimensions, and what the job
  // may cost: its bid, or the highest price its maximum total pays for.
  std::int64_t units = 0;
  try {
    thread_local std::unordered_map<std::string, protocol::cost_expr> parsed;
    if (parsed.size() > 1024) parsed.clear();
    auto it = parsed.find(chosen->cost);
    if (it == parsed.end()) it = parsed.emplace(chosen->cost, protocol::cost_expr::parse(chosen->cost)).first;
    // At least one unit: a job of empty tensors still takes a slot, and a priced job must cost
    // something (else it would outbid everyone for nothing).
    units = std::max<std::int64_t>(1, it->second.evaluate(check.dims));
  } catch (const std::exception& e) {
    return reject(422, "invalid_input", "task '" + task_name + "': its cost cannot be worked out for these inputs: " + e.what());
  }
  auto& rec = out.record;
  rec.units = units;
  rec.replicas = replicas;
  // Every replica is paid its own cost, rounded up: a bid reserves that many of them, and a
  // maximum total is split evenly between them.
  if (max_price) {
    rec.reserved = *max_price;
    rec.bid = protocol::price_within(units, *max_price / replicas);
    if (*max_price > 0 && rec.bid == 0)
      return reject(422, "invalid_price", "\"max_price\" " + std::to_string(*max_price) + " micro-credits does not cover " +
                                              std::to_string(units) + " work units at the smallest price (1 micro-credit per million)");
  } else if (bid) {
    rec.bid = *bid;
    auto cost = protocol::cost_at(units, *bid);
    if (cost && __builtin_mul_overflow(*cost, static_cast<std::int64_t>(replicas), &*cost)) cost.reset();
    if (!cost || *cost > protocol::max_job_cost)
      return reject(422, "invalid_price", "at a bid of " + std::to_string(*bid) + " micro-credits per million work units, " +
                                              std::to_string(units) + " units would cost more than the most a job may (" +
                                              protocol::credits_string(protocol::max_job_cost) + " credits)");
    rec.reserved = *cost;
  } else {
    out.market_bid = true;
  }
  rec.task = task_name;
  rec.backend = backend;
  if (model) rec.model = model->pinned();
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
  if (model) {
    job.model = rec.model;
    job.model_files_json = model->files_json();
  }
  return true;
}

// The bid of a job that names no price: the lowest that some connected worker offering it
// takes. A worker that asks 0 takes a free job (bid 0) when it accepts free jobs and the free
// tier is on, else the smallest paid bid. With no such worker, a free job where the free tier
// allows it (it waits for one), else the smallest paid bid.
std::int64_t market_bid(const daemon_app& app, const market_view& view) {
  const bool free_ok = app.options().free_tier;
  std::optional<std::int64_t> lowest;
  for (const auto& offer : view.offers) {
    const std::int64_t takes = offer.ask > 0 ? offer.ask : (offer.accepts_free && free_ok ? 0 : 1);
    if (!lowest || takes < *lowest) lowest = takes;
  }
  return lowest.value_or(free_ok ? 0 : 1);
}

// Settles what each job bids and reserves once every job of a request parsed: a job that
// named no price bids the lowest ask that could serve it now (0 where nobody asks anything,
// which is a free job); a free job needs the free tier. Fills the pending jobs' copies.
bool price_jobs(daemon_app& app, std::vector<submission>& subs, std::int64_t account_id, rejection& why, bool batch) {
  std::unordered_map<std::string, std::int64_t> going_rate;  // by task|backend
  for (std::size_t i = 0; i < subs.size(); ++i) {
    auto& rec = subs[i].record;
    if (subs[i].market_bid) {
      const auto key = rec.task + '|' + rec.backend;
      auto rate = going_rate.find(key);
      if (rate == going_rate.end()) {
        rate = going_rate.emplace(key, market_bid(app, app.jobs().market(rec.task, rec.backend, -1))).first;
      }
      rec.bid = rate->second;
      rec.reserved = protocol::cost_at(rec.units, rec.bid).value_or(protocol::max_job_cost / rec.replicas) * rec.replicas;
    }
    if (rec.bid == 0 && !app.options().free_tier) {
      why = {402, "free_tier_off", std::string(batch ? "job " + std::to_string(i) + ": " : "") +
                                       "this daemon runs no free jobs: give a \"bid\" above 0 or a \"max_price\" "
                                       "(POST /api/v1/jobs/quote shows what workers ask)"};
      return false;
    }
    rec.account_id = account_id;
    auto& job = subs[i].job;
    job.account_id = account_id;
    job.units = rec.units;
    job.bid = rec.bid;
    job.reserved = rec.reserved;
    job.replicas = rec.replicas;
  }
  return true;
}

// The message of a 402: what the account holds against what the jobs would reserve.
std::string funds_message(daemon_app& app, std::int64_t account_id, std::int64_t needed, std::size_t jobs) {
  const auto account = app.accounts().get_account(account_id);
  const auto balance = account ? account->balance : 0;
  return "your balance is " + protocol::credits_string(balance) + " credits, and " +
         (jobs == 1 ? "this job reserves up to " : "these " + std::to_string(jobs) + " jobs reserve up to ") +
         protocol::credits_string(needed) + " credits until " + (jobs == 1 ? "it ends" : "they end") +
         ": lower the bid or max_price, or wait for running jobs to settle";
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

// What a job's JSON says of its settlement beyond its row: who was paid, by name, and every
// movement out of escrow for it (charges to each donor, the fee, the refund).
struct billing_detail {
  std::string paid_to;   // the first donor paid; "" when none
  std::string payments;  // a JSON array; "" to leave it out
  std::string answer;    // a model job's answer in its task's shape (JSON); "" for none
  std::string waiting;   // why a queued job waits; "" when it is not known to wait
};

// The job's JSON. `live` overlays what the broker knows of a job that is not terminal yet.
std::string job_json(const job_record& rec, const std::optional<live_job>& live, bool with_io,
                     tensor_encoding encoding, const billing_detail& detail = {}) {
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
  append_string(out, message.empty() && state == job_state::queued ? detail.waiting : message);
  if (state == job_state::queued && !detail.waiting.empty()) out += ",\"waiting\":", append_string(out, detail.waiting);
  out += ",\"attempt\":" + std::to_string(attempt) + ",\"max_attempts\":" + std::to_string(rec.max_attempts);
  out += ",\"worker\":";
  if (worker.empty()) out += "null"; else append_string(out, worker);
  out += ",\"account_id\":";
  out += rec.account_id ? std::to_string(rec.account_id) : "null";
  // What it may cost and, once it ended, what it cost: micro-credits; prices per million units.
  const bool settled = is_terminal(state);
  out += ",\"billing\":{\"units\":" + std::to_string(rec.units) + ",\"replicas\":" + std::to_string(rec.replicas) +
         ",\"bid\":" + std::to_string(rec.bid) +
         ",\"reserved\":" + std::to_string(rec.reserved) + ",\"settled\":" + (settled ? "true" : "false");
  if (settled) {
    out += ",\"price\":" + std::to_string(rec.price) + ",\"charged\":" + std::to_string(rec.charged) +
           ",\"fee\":" + std::to_string(rec.fee) + ",\"refunded\":" + std::to_string(rec.reserved - rec.charged) +
           ",\"paid_to\":";
    if (rec.payee_id && rec.charged > 0 && !detail.paid_to.empty()) append_string(out, detail.paid_to);
    else out += "null";
    if (!detail.payments.empty()) out += ",\"payments\":" + detail.payments;
  }
  out += "}";
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
    out += "}";
    if (!detail.answer.empty()) out += ",\"answer\":" + detail.answer;
    out += "}";
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

// The settlement of a finished job, for its JSON (one indexed read of the ledger).
billing_detail paid_to_of(daemon_app& app, const job_record& rec) {
  billing_detail detail;
  if (!is_terminal(rec.state) || rec.reserved <= 0) return detail;
  std::map<std::int64_t, std::string> names;
  auto name_of = [&](std::int64_t id) -> const std::string& {
    auto it = names.find(id);
    if (it == names.end()) {
      auto a = app.accounts().get_account(id);
      it = names.emplace(id, a ? a->name : "#" + std::to_string(id)).first;
    }
    return it->second;
  };
  if (rec.payee_id != 0 && rec.charged > 0) detail.paid_to = name_of(rec.payee_id);
  json::array payments;
  for (const auto& e : app.accounts().job_entries(rec.id)) {
    if (e.debit_account != escrow_account_id) continue;
    payments.push_back(json::object{{"kind", e.kind}, {"to", name_of(e.credit_account)}, {"amount", e.amount}});
  }
  detail.payments = json::serialize(payments);
  return detail;
}

// How a submit is answered: the job's JSON (the v1 API), or the Hugging Face Inference API's
// shapes (POST /models/{owner}/{name}): the answer alone, errors as {"error": "..."}.
enum class answer_style { job, inference };

struct inference_request {
  std::chrono::milliseconds wait{60'000};
  bool single_text = false;  // "inputs" was one string, not a list: answer one list of labels
  std::optional<int> top_k;  // classification: keep the k best labels
  bool full_text = true;     // generation: the prompt and the new text (return_full_text)
};

http::response error_reply(answer_style style, unsigned status, std::string_view code, std::string_view message) {
  if (style == answer_style::job) return http::json_error(status, code, message);
  return http::json(status, json::serialize(json::object{{"error", message}, {"error_type", code}}));
}

// A finished job as the Inference API answers: its task's shape, or {"error"}.
http::response inference_answer(daemon_app& app, const job_record& rec, const inference_request& shape);

// Why a queued job waits, from what the connected workers offer: nobody offers its task (for
// a model: no plugin runs its format), none takes its bid, or every one is busy.
std::string waiting_reason(daemon_app& app, const job_record& rec) {
  const auto view = app.jobs().market(rec.task, rec.backend, -1);
  const auto on = rec.backend.empty() ? std::string() : " on " + rec.backend;
  if (view.offers.empty()) {
    if (auto model_task = protocol::split_model_task(rec.task))
      return "waiting: no worker has a plugin for format " + model_task->first + on + " (" + model_task->second + " models)";
    return "waiting: no connected worker offers task " + rec.task + on;
  }
  std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  bool covered = false, room = false;
  for (const auto& o : view.offers) {
    lowest = std::min(lowest, o.ask);
    const bool takes = rec.bid == 0 ? o.accepts_free : rec.bid >= o.ask;
    covered = covered || takes;
    room = room || (takes && o.free_slots > 0);
  }
  if (!covered)
    return rec.bid == 0 ? "waiting: no worker offering " + rec.task + on + " takes free jobs now"
                        : "waiting: no worker offering " + rec.task + on + " takes a bid of " + std::to_string(rec.bid) +
                              " (the lowest ask is " + std::to_string(lowest) + " micro-credits per million units)";
  if (!room) return "waiting: every worker offering " + rec.task + on + " that takes this bid is busy or paused";
  return {};
}

// The job's billing, answer and reason to wait, for its JSON.
billing_detail detail_of(daemon_app& app, const job_record& rec) {
  auto detail = paid_to_of(app, rec);
  if (rec.state == job_state::queued) {
    auto live = app.jobs().live(rec.id);
    if (!live || live->state == job_state::queued) detail.waiting = waiting_reason(app, rec);
  }
  if (rec.state == job_state::succeeded && !rec.model.empty()) {
    model_lookup_error why;
    if (auto model = resolve_model(app.hub(), app.blobs(), rec.model, why)) {
      try {
        detail.answer = model_answer_json(model->card, protocol::decode_tensors(rec.inputs_blob),
                                          protocol::decode_tensors(rec.outputs_blob));
      } catch (const std::exception& e) {
        spdlog::error("job {}: journaled tensors do not decode: {}", rec.id, e.what());
      }
    }
  }
  return detail;
}

http::response inference_answer(daemon_app& app, const job_record& rec, const inference_request& shape) {
  if (rec.state == job_state::failed || rec.state == job_state::cancelled)
    return error_reply(answer_style::inference, rec.error_code == "invalid_input" ? 400 : 500,
                       rec.error_code.empty() ? "failed" : rec.error_code,
                       rec.error_message.empty() ? "the job " + std::string(to_string(rec.state)) : rec.error_message);
  auto detail = detail_of(app, rec);
  if (detail.answer.empty()) {
    // The tensor task: its output tensor as the v1 API writes it.
    std::string out = "{";
    try {
      auto outputs = protocol::decode_tensors(rec.outputs_blob);
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        if (i) out += ',';
        append_string(out, outputs[i].name);
        out += ':';
        append_tensor_json(out, outputs[i], tensor_encoding::automatic);
      }
    } catch (const std::exception& e) {
      return error_reply(answer_style::inference, 500, "internal", std::string("the job's outputs do not decode: ") + e.what());
    }
    return http::json(200, out + "}");
  }
  boost::system::error_code ec;
  auto answer = json::parse(detail.answer, ec);
  if (ec) return http::json(200, detail.answer);
  auto trim = [&](json::array& labels) {
    if (shape.top_k && labels.size() > static_cast<std::size_t>(*shape.top_k)) labels.resize(static_cast<std::size_t>(*shape.top_k));
  };
  if (answer.is_array() && !answer.as_array().empty() && answer.as_array().front().is_array()) {
    for (auto& row : answer.as_array()) trim(row.as_array());  // text classification: one list per text
    if (shape.single_text) {
      json::value first = std::move(answer.as_array().front());
      answer = std::move(first);
    }
  } else if (answer.is_array() && !answer.as_array().empty() && answer.as_array().front().is_object() &&
             answer.as_array().front().as_object().contains("label")) {
    trim(answer.as_array());  // image classification
  } else if (!shape.full_text && answer.is_array()) {
    // Generation without the prompt: the new text alone.
    try {
      for (const auto& t : protocol::decode_tensors(rec.outputs_blob))
        if (t.name == "text") answer = json::array{json::object{{"generated_text", text_of_tensor(t)}}};
    } catch (const std::exception& e) {
      return error_reply(answer_style::inference, 500, "internal", std::string("the job's outputs do not decode: ") + e.what());
    }
  }
  return http::json(200, json::serialize(answer));
}

// Answers a submit that asked to wait: with the finished job (200) as soon as it is terminal,
// or with its current state (202) at the deadline. Runs on the writer thread after the
// commit, before the job reaches the broker, so the terminal event cannot be missed.
void answer_when_done(daemon_app& app, std::shared_ptr<http::responder> res, std::int64_t id,
                      std::chrono::milliseconds wait, tensor_encoding encoding, answer_style style,
                      const inference_request& shape) {
  struct waiter {
    std::atomic<bool> answered{false};
    event_hub::token token = 0;
  };
  auto w = std::make_shared<waiter>();
  w->token = app.events().subscribe(id, [&app, res, w, id, encoding, style, shape](const event& e) {
    if (!e.terminal) return true;
    if (!w->answered.exchange(true)) {
      auto rec = app.store().get(id);
      if (!rec) res->send(error_reply(style, 500, "internal", "job " + std::to_string(id) + " vanished"));
      else if (style == answer_style::inference) res->send(inference_answer(app, *rec, shape));
      else res->send(http::json(200, job_json(*rec, std::nullopt, true, encoding, detail_of(app, *rec))));
    }
    return false;
  });
  app.timers().at(std::chrono::steady_clock::now() + wait, [&app, res, w, id, style] {
    if (w->answered.exchange(true)) return;
    app.events().unsubscribe(w->token);
    if (style == answer_style::inference) {
      // Hugging Face clients retry a 503 after "estimated_time" seconds; the job goes on.
      auto reply = http::json(503, json::serialize(json::object{
                                       {"error", "the model is still running job " + std::to_string(id) + " (GET /api/v1/jobs/" +
                                                     std::to_string(id) + " shows it)"},
                                       {"estimated_time", 10.0}}));
      reply.headers.emplace_back("Location", "/api/v1/jobs/" + std::to_string(id));
      res->send(std::move(reply));
      return;
    }
    auto rec = app.store().get(id);
    auto reply = http::json(202, rec ? job_json(*rec, app.jobs().live(id), false, tensor_encoding::automatic)
                                     : "{\"id\":" + std::to_string(id) + ",\"state\":\"queued\"}");
    reply.headers.emplace_back("Location", "/api/v1/jobs/" + std::to_string(id));
    res->send(std::move(reply));
  });
}

// Whether `who` may act for the account `account_id`: its own, an organisation it belongs
// to, or any for the operator.
bool acts_for(daemon_app& app, const market::caller& who, std::int64_t account_id) {
  if (account_id == who.account.id || (who.token.scopes & token_scope::admin)) return true;
  for (const auto& m : app.accounts().orgs_of(who.account.id))
    if (m.account.id == account_id) return true;
  return false;
}

// Validates and journals one or many jobs; answers after the commit.
void submit(daemon_app& app, http::request& req, http::responder res, bool batch, answer_style style = answer_style::job,
            std::optional<json::value> given_body = std::nullopt, inference_request shape = {}) {
  auto who = authenticate(app, req, res, token_scope::submit);
  if (!who) return;
  // "X-Potluck-Bill-To: ORG": an organisation the caller belongs to pays (and owns the jobs).
  if (const auto* bill_to = req.header("x-potluck-bill-to"); bill_to && !bill_to->empty()) {
    auto payer = app.accounts().find_account(*bill_to);
    if (!payer || payer->kind != account_kind::org) {
      res.send(error_reply(style, 404, "unknown_org", "X-Potluck-Bill-To: no organisation named '" + *bill_to + "'"));
      return;
    }
    if (!acts_for(app, *who, payer->id)) {
      res.send(error_reply(style, 403, "not_a_member", "X-Potluck-Bill-To: you are not a member of '" + *bill_to + "'"));
      return;
    }
    who->account = *payer;
  }
  // ?wait=true (single jobs): answer with the result when the job ends, up to wait_ms.
  std::optional<std::chrono::milliseconds> wait;
  if (auto* w = req.query_param("wait"); w && !batch && (*w == "true" || *w == "1")) {
    std::int64_t ms = default_wait_ms;
    if (auto* t = req.query_param("wait_ms"); t && (!parse_id(*t, ms) || ms > max_wait_ms)) {
      res.send(error_reply(style, 400, "invalid_request", "wait_ms must be an integer from 1 to " + std::to_string(max_wait_ms)));
      return;
    }
    wait = std::chrono::milliseconds(ms);
  }
  if (style == answer_style::inference) wait = shape.wait;
  const auto encoding = encoding_of(req);
  boost::system::error_code ec;
  auto body = given_body ? std::move(*given_body) : json::parse(req.body, ec);
  if (ec) {
    app.counters().http_rejected++;
    res.send(error_reply(style, 400, "invalid_json", "the request body is not valid JSON: " + ec.message()));
    return;
  }
  const json::array* list = nullptr;
  json::array single;
  if (batch) {
    auto* jobs = body.is_object() ? body.as_object().if_contains("jobs") : nullptr;
    if (!jobs || !jobs->is_array() || jobs->as_array().empty()) {
      app.counters().http_rejected++;
      res.send(error_reply(style, 400, "invalid_request", "a batch is {\"jobs\": [job, ...]} with at least one job"));
      return;
    }
    if (jobs->as_array().size() > app.options().max_batch_jobs) {
      app.counters().http_rejected++;
      res.send(error_reply(style, 413, "batch_too_large", "a batch holds at most " +
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
  model_memo models;
  for (std::size_t i = 0; i < list->size(); ++i) {
    rejection why;
    if (!parse_job((*list)[i], app, *catalog, subs[i], why, models)) {
      app.counters().http_rejected++;
      res.send(error_reply(style, why.status, why.code, batch ? "job " + std::to_string(i) + ": " + why.message : why.message));
      return;
    }
  }
  {
    rejection why;
    if (!price_jobs(app, subs, who->account.id, why, batch)) {
      app.counters().http_rejected++;
      res.send(error_reply(style, why.status, why.code, why.message));
      return;
    }
  }
  std::int64_t reserving = 0;
  for (const auto& sub : subs) reserving += sub.record.reserved;  // each at most max_job_cost
  const auto first_id = app.allocate_job_ids(subs.size());
  std::vector<job_record> records;
  std::vector<pending_job> pending;
  records.reserve(subs.size());
  pending.reserve(subs.size());
  for (std::size_t i = 0; i < subs.size(); ++i) {
    subs[i].record.id = subs[i].job.id = first_id + static_cast<std::int64_t>(i);
    records.push_back(std::move(subs[i].record));
    pending.push_back(std::move(subs[i].job));
  }
  auto shared_res = std::make_shared<http::responder>(std::move(res));
  auto shared_pending = std::make_shared<std::vector<pending_job>>(std::move(pending));
  const auto account_id = who->account.id;
  app.store().insert(std::move(records), [&app, shared_res, shared_pending, first_id, batch, wait, encoding, account_id,
                                          reserving, style, shape](const write_result& r) {
    if (!r.ok && r.refusal == "insufficient_funds") {
      app.counters().http_rejected++;
      shared_res->send(error_reply(style, 402, "insufficient_funds", funds_message(app, account_id, reserving, shared_pending->size())));
      return;
    }
    if (!r.ok) {
      spdlog::error("journal: inserting jobs failed: {}", r.error);
      shared_res->send(error_reply(style, 503, "journal_unavailable", "the job could not be saved: " + r.error));
      return;
    }
    const auto count = shared_pending->size();
    app.counters().jobs_submitted += count;
    if (wait) {
      answer_when_done(app, shared_res, first_id, *wait, encoding, style, shape);
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

// POST /models/{owner}/{name}: the Hugging Face Inference API. {"inputs": ..., "parameters":
// {...}, "options": {"wait_for_model": bool}} becomes a job for the model's head revision,
// answered in the task's shape when it ends; 503 {"error", "estimated_time"} while no worker
// can run the model (unless wait_for_model) or when the job outlasts the wait.
void inference(daemon_app& app, http::request& req, http::responder res) {
  const auto style = answer_style::inference;
  const auto ref = req.path_params["owner"] + "/" + req.path_params["name"];
  model_lookup_error why;
  auto model = resolve_model(app.hub(), app.blobs(), ref, why);
  if (!model) {
    res.send(error_reply(style, why.status, why.code, why.message));
    return;
  }
  // Image clients send the image file itself as the body; others send JSON.
  const auto first = req.body.find_first_not_of(" \t\r\n");
  const bool raw_image = model->card.task == "image-classification" && (first == std::string::npos || req.body[first] != '{');
  boost::system::error_code ec;
  auto body = raw_image ? json::value(json::object{{"inputs", nullptr}}) : json::parse(req.body, ec);
  if (ec || !body.is_object() || !body.as_object().contains("inputs")) {
    res.send(error_reply(style, 400, "invalid_request", "the body must be JSON like {\"inputs\": ..., \"parameters\": {...}}" +
                                                            std::string(model->card.task == "image-classification"
                                                                            ? ", or the image file itself" : "")));
    return;
  }
  const auto& o = body.as_object();
  const auto& inputs = o.at("inputs");
  json::object parameters;
  if (auto* p = o.if_contains("parameters"); p && !p->is_null()) {
    if (!p->is_object()) {
      res.send(error_reply(style, 400, "invalid_request", "\"parameters\" must be an object"));
      return;
    }
    parameters = p->as_object();
  }
  bool wait_for_model = false;
  if (auto* opts = o.if_contains("options"); opts && opts->is_object())
    if (auto* w = opts->as_object().if_contains("wait_for_model"); w && w->is_bool()) wait_for_model = w->as_bool();
  inference_request shape;
  if (wait_for_model) shape.wait = std::chrono::milliseconds(180'000);
  auto bad = [&](std::string message) { res.send(error_reply(style, 400, "invalid_input", message)); };
  if (auto* k = parameters.if_contains("top_k"); k && !k->is_null() && model->card.task != "text-generation") {
    if (!k->is_int64() || k->as_int64() < 1) return bad("\"top_k\" must be an integer of at least 1");
    shape.top_k = static_cast<int>(std::min<std::int64_t>(k->as_int64(), 1 << 20));
  }
  json::object job{{"model", model->pinned()}};
  json::object job_inputs, params;
  const auto& task = model->card.task;
  if (task == "text-classification") {
    if (inputs.is_string()) {
      shape.single_text = true;
      job_inputs["text"] = json::object{{"text", json::array{inputs}}};
    } else if (inputs.is_array() && !inputs.as_array().empty()) {
      job_inputs["text"] = json::object{{"text", inputs}};
    } else {
      return bad("\"inputs\" must be a text or a list of texts");
    }
  } else if (task == "text-generation") {
    if (!inputs.is_string()) return bad("\"inputs\" must be the prompt, a text");
    job_inputs["prompt"] = json::object{{"text", inputs}};
    for (const char* key : {"max_new_tokens", "temperature", "top_k", "seed"})
      if (auto* v = parameters.if_contains(key); v && !v->is_null()) params[key] = *v;
    if (auto* sample = parameters.if_contains("do_sample"); sample && sample->is_bool() && !sample->as_bool())
      params["temperature"] = 0;
    if (auto* full = parameters.if_contains("return_full_text"); full && full->is_bool()) shape.full_text = full->as_bool();
  } else if (task == "image-classification") {
    // The image file (the body, or base64 in "inputs"), or a u8 tensor [height, width, channels].
    if (raw_image || inputs.is_string()) {
      std::string decoded;
      if (!raw_image && !base64_decode(inputs.as_string(), decoded)) return bad("\"inputs\" is not base64 of an image file");
      std::string why_not;
      auto image = decode_image(raw_image ? std::string_view(req.body) : std::string_view(decoded), max_image_pixels, why_not);
      if (!image) return bad(why_not);
      job_inputs["image"] = json::object{{"dtype", "u8"},
                                         {"shape", json::array{image->shape[0], image->shape[1], image->shape[2]}},
                                         {"b64", base64_encode(image->data)}};
    } else if (inputs.is_object()) {
      job_inputs["image"] = inputs;
    } else {
      return bad("\"inputs\" must be the image: the file as the body, its base64 in \"inputs\", or a u8 tensor like "
                 "{\"dtype\": \"u8\", \"shape\": [h, w, 3], \"b64\": \"...\"}");
    }
  } else {
    if (!inputs.is_object()) return bad("\"inputs\" must be a tensor, like {\"dtype\": \"f32\", \"data\": [1, 2]}");
    job_inputs["input"] = inputs;
  }
  job["inputs"] = std::move(job_inputs);
  if (!params.empty()) job["params"] = std::move(params);
  // Nobody can run it yet: the answer Hugging Face clients wait and retry on.
  if (!wait_for_model && app.jobs().market(model->task, "", -1).offers.empty()) {
    res.send(http::json(503, json::serialize(json::object{
                                 {"error", "model " + ref + " cannot run yet: no connected worker has a plugin for format " +
                                               model->card.format + " (" + task + " models); retry later, or send "
                                               "\"options\": {\"wait_for_model\": true} to wait for one"},
                                 {"estimated_time", 20.0}})));
    return;
  }
  submit(app, req, std::move(res), false, style, json::value(std::move(job)), shape);
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
  router.add("POST", "/models/{owner}/{name}", [&app](http::request& req, http::responder res) {
    inference(app, req, std::move(res));
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
    // ?account=NAME: the jobs NAME submitted; ?paid_to=NAME: the jobs NAME's workers ran.
    for (auto [param, field] : {std::pair{"account", &q.account_id}, std::pair{"paid_to", &q.payee_id}}) {
      auto* name = req.query_param(param);
      if (!name || name->empty()) continue;
      auto account = app.accounts().find_account(*name);
      if (!account) {
        res.send(http::json_error(404, "unknown_account", std::string(param) + ": no account named '" + *name + "'"));
        return;
      }
      *field = account->id;
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
    res.send(http::json(200, job_json(rec, app.jobs().live(rec.id), true, encoding_of(req), detail_of(app, rec))));
  });

  // What a job would cost and how long it would wait, without submitting it. Same body as a
  // submission; changes nothing, so it needs no token.
  router.add("POST", "/api/v1/jobs/quote", [&app](http::request& req, http::responder res) {
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    if (ec) {
      res.send(http::json_error(400, "invalid_json", "the request body is not valid JSON: " + ec.message()));
      return;
    }
    const auto catalog = app.jobs().catalog();
    std::vector<submission> subs(1);
    rejection why;
    model_memo models;
    if (!parse_job(body, app, *catalog, subs[0], why, models) || !price_jobs(app, subs, 0, why, false)) {
      res.send(http::json_error(why.status, why.code, why.message));
      return;
    }
    const auto& rec = subs[0].record;
    const auto view = app.jobs().market(rec.task, rec.backend, rec.bid);
    json::object out;
    out["task"] = rec.task;
    out["backend"] = rec.backend.empty() ? json::value(nullptr) : json::value(rec.backend);
    out["units"] = rec.units;
    out["replicas"] = rec.replicas;
    out["bid"] = rec.bid;
    out["reserved"] = rec.reserved;
    out["free"] = rec.bid == 0;
    json::value lowest = nullptr;
    int covering = 0, covering_slots = 0, covering_free = 0;
    json::array offers;
    for (const auto& o : view.offers) {
      const bool takes = rec.bid == 0 ? o.accepts_free : rec.bid >= o.ask;
      const auto cost = rec.bid == 0 ? std::optional<std::int64_t>(0) : protocol::cost_at(rec.units, o.ask);
      json::object offer{{"worker", o.worker}, {"backend", o.backend}, {"ask", o.ask}, {"accepts_free", o.accepts_free},
                         {"slots", o.slots}, {"free_slots", o.free_slots}, {"covered", takes}};
      offer["cost"] = cost ? json::value(*cost) : json::value(nullptr);
      if (takes) {
        covering++;
        covering_slots += o.slots;
        covering_free += o.free_slots;
        if (lowest.is_null()) lowest = offer;
      }
      offers.push_back(std::move(offer));
    }
    out["lowest_ask"] = view.offers.empty() ? json::value(nullptr) : json::value(view.offers.front().ask);
    out["cheapest"] = lowest;  // the cheapest worker this bid covers
    out["cost"] = lowest.is_null() ? json::value(nullptr) : lowest.as_object().at("cost");
    out["workers_covered"] = covering;
    out["offers"] = std::move(offers);
    out["queued_ahead"] = view.queued_ahead;
    out["run_ms"] = view.run_ms > 0 ? json::value(view.run_ms) : json::value(nullptr);
    // The wait: nothing when a covering slot is free and nobody is ahead; else the jobs ahead
    // and this one share the covering slots, one run each.
    json::value wait = nullptr;
    if (covering > 0 && covering_free > 0 && view.queued_ahead == 0) {
      wait = 0;
    } else if (covering_slots > 0 && view.run_ms > 0) {
      const auto rounds = (view.queued_ahead + 1 + covering_slots - 1) / covering_slots;
      wait = static_cast<double>(rounds) * view.run_ms;
    }
    out["expected_wait_ms"] = wait;
    std::string why_not;
    std::set<std::string> covering_owners;
    for (const auto& o : view.offers)
      if (rec.bid == 0 ? o.accepts_free : rec.bid >= o.ask) covering_owners.insert(o.owner.empty() ? "worker " + o.worker : o.owner);
    if (view.offers.empty()) why_not = "no connected worker offers this task on this backend now";
    else if (covering == 0)
      why_not = rec.bid == 0 ? "no connected worker that offers it accepts free jobs"
                             : "the bid is below every connected worker's ask (the lowest is " +
                                   protocol::credits_string(view.offers.front().ask) + " credits per million units)";
    if (why_not.empty() && static_cast<int>(covering_owners.size()) < rec.replicas)
      why_not = std::to_string(rec.replicas) + " replicas need workers of " + std::to_string(rec.replicas) +
                " donors, and " + std::to_string(covering_owners.size()) + " connected now take this bid: the rest wait";
    out["note"] = why_not.empty() ? json::value(nullptr) : json::value(why_not);
    res.send(http::json(200, json::serialize(out)));
  });

  router.add("POST", "/api/v1/jobs/{id}/cancel", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::submit);
    if (!who) return;
    job_record rec;
    if (!lookup(app, req, res, rec)) return;
    if (!acts_for(app, *who, rec.account_id)) {
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
      if (auto done = app.store().get(id))
        stream->send("job", job_json(*done, std::nullopt, true, tensor_encoding::automatic, detail_of(app, *done)));
      stream->close();
    };
    if (is_terminal(rec.state)) {
      stream->send("job", job_json(rec, std::nullopt, true, tensor_encoding::automatic, detail_of(app, rec)));
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
    if (now) stream->send("job", job_json(*now, app.jobs().live(id), false, tensor_encoding::automatic, detail_of(app, *now)));
  });
}

}  // namespace potluck::daemon::api
