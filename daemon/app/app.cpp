#include "daemon/app/app.hpp"
#include "daemon/app/models.hpp"

#include "daemon/api/routes.hpp"
#include "daemon/http/http.hpp"
#include "daemon/market/operator.hpp"
#include "potluck/protocol/tensor.hpp"

#include <spdlog/spdlog.h>

namespace potluck::daemon {

daemon_app::daemon_app(daemon_options options) : options_(std::move(options)) {}

daemon_app::~daemon_app() { stop(); }

void daemon_app::start() {
  started_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  sqlite_store_options store_options;
  store_options.file = options_.data_dir / "potluck.db";
  store_options.synchronous_full = options_.synchronous_full;
  store_ = open_sqlite_job_store(store_options);
  next_job_id_ = store_->max_job_id() + 1;
  auth_ = std::make_unique<market::authenticator>(accounts(), options_.token_rate_limit);
  work_ = std::make_unique<work_queue>();
  blobs_ = std::make_unique<hub::blob_store>(options_.data_dir / "blobs", options_.max_model_file_bytes);
  if (blobs_->swept() > 0)
    spdlog::info("hub: removed {} unfinished upload(s) left by the previous run", blobs_->swept());
  auto operator_setup = market::ensure_operator(accounts(), options_.data_dir, options_.starter_grant, started_ms_);
  new_admin_token_ = std::move(operator_setup.new_secret);
  admin_token_file_ = operator_setup.token_file;
  if (options_.local_session)
    local_session_token_ = market::make_local_session_token(accounts(), operator_setup.account, started_ms_);

  broker_options broker_opts;
  if (options_.encrypt_worker_link) {
    auto keys = market::ensure_worker_link_keys(options_.data_dir);
    worker_link_key_ = keys.public_key;
    worker_link_key_created_ = keys.created;
    broker_opts.curve_secret_key = std::move(keys.secret_key);
  }
  broker_opts.endpoint = options_.workers_endpoint;
  broker_opts.heartbeat_interval = options_.heartbeat_interval;
  broker_opts.prefetch_budget = options_.prefetch_budget;
  broker_opts.fee_ppm = options_.fee_ppm;
  broker_opts.check_rate = options_.check_rate;
  broker_opts.trusted_after = options_.trusted_after;
  broker_opts.trusted_owner_id = operator_setup.account.id;
  broker_opts.trust_of = [this](std::int64_t account_id) { return accounts().find_trust(account_id); };
  broker_opts.record_check = [this](std::int64_t account_id, bool agreed) {
    accounts().record_check(account_id, agreed,
                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count());
  };
  broker_opts.settings_of = [this](std::int64_t owner_id, const std::string& name) {
    return accounts().find_worker_settings(owner_id, name);
  };
  broker_opts.authenticate_worker = [this](const std::string* token) {
    return market::check_donor_token(accounts(), token, options_.anonymous_workers);
  };
  broker_ = std::make_unique<broker>(broker_opts, *store_, events_, metrics_);

  // Jobs a previous daemon accepted but did not finish: queue them again.
  auto unfinished = store_->load_unfinished();
  std::vector<pending_job> requeue;
  requeue.reserve(unfinished.size());
  for (auto& rec : unfinished) {
    pending_job job;
    job.id = rec.id;
    job.task = std::move(rec.task);
    job.backend = std::move(rec.backend);
    job.params_json = std::move(rec.params_json);
    job.attempt = rec.attempt;
    job.max_attempts = rec.max_attempts;
    job.account_id = rec.account_id;
    job.units = rec.units;
    job.bid = rec.bid;
    job.reserved = rec.reserved;
    job.replicas = rec.replicas;
    if (!rec.model.empty()) {
      model_lookup_error why;
      auto model = resolve_model(hub(), *blobs_, rec.model, why);
      if (!model) {
        spdlog::error("job {}: its model {} is gone ({}); failing it", rec.id, rec.model, why.message);
        store_->finish(rec.id, job_state::failed, started_ms_, {}, "model_not_found", why.message, settlement{}, nullptr);
        continue;
      }
      job.model = std::move(rec.model);
      job.model_files_json = model->files_json();
    }
    try {
      job.inputs = protocol::decode_tensors(rec.inputs_blob);
    } catch (const std::exception& e) {
      spdlog::error("job {}: its journaled inputs do not decode ({}); failing it", rec.id, e.what());
      store_->finish(rec.id, job_state::failed, started_ms_, {}, "internal", "journaled inputs are corrupt", settlement{},
                     nullptr);
      continue;
    }
    if (rec.state == job_state::running) {
      // The daemon's death is not the job's fault: that dispatch does not count.
      job.attempt = std::max(0, job.attempt - 1);
      store_->mark_queued(rec.id);
    }
    requeue.push_back(std::move(job));
  }
  if (!requeue.empty()) spdlog::info("journal: {} unfinished jobs queued again", requeue.size());

  broker_->start();
  broker_->enqueue(std::move(requeue));

  router_ = std::make_unique<http::router>();
  api::add_routes(*router_, *this);
  if (options_.web_dir) router_->set_static_dir(*options_.web_dir);
  http::server_options http_opts;
  http_opts.address = options_.http_address;
  http_opts.port = options_.http_port;
  http_opts.threads = options_.http_threads;
  http_opts.max_body_bytes = options_.max_body_bytes;
  server_ = std::make_unique<http::server>(*router_, http_opts);
  server_->start();
  // Workers fetch model files over HTTP: from the public address when the operator gave one.
  auto host = options_.http_address;
  if (host.find(':') != std::string::npos && !host.starts_with("[")) host = "[" + host + "]";
  broker_->set_hub_url(!options_.public_url.empty() ? options_.public_url
                                                     : "http://" + host + ":" + std::to_string(server_->port()));
}

void daemon_app::stop() {
  if (server_) server_->stop();
  timers_.reset();  // pending deadlines are dropped; their requests were answered by stop()
  if (broker_) broker_->stop();
  work_.reset();  // runs what was queued (its requests were cut off with the server)
  if (store_) store_->flush();
  server_.reset();
  router_.reset();
  broker_.reset();
  auth_.reset();
  store_.reset();
}

std::uint16_t daemon_app::http_port() const { return server_ ? server_->port() : 0; }
std::string daemon_app::workers_endpoint() const { return broker_ ? broker_->endpoint() : std::string(); }

}  // namespace potluck::daemon
