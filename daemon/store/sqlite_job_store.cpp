// sqlite_job_store: the embedded job journal, SQLite in WAL mode behind job_store, and the
// accounts, tokens and credit ledger behind account_store, in the same file and through the
// same writer, so that a job's write and the credits it moves can share one transaction.
//
// Threads and ownership: one writer thread owns the write connection and its prepared
// statements for the store's whole life. Every write is queued to it; it takes everything
// queued, runs up to max_writes_per_commit rows per BEGIN IMMEDIATE ... COMMIT, and only
// after COMMIT has returned runs the `done` callbacks of that transaction (on its own
// thread). Callers therefore never wait on fsync unless they call flush(). Reads run on the
// caller's thread through a small pool of read connections; in WAL mode a reader sees the
// last commit and never blocks the writer, nor the writer it.
//
// Account writes are closures queued like job writes: the writer runs each inside its own
// SAVEPOINT of the grouped transaction (a refused one rolls back only itself) and wakes the
// waiting caller after the COMMIT. Token uses (touch_token) are merged in memory and written
// by one queued closure, so that a busy token costs no commit of its own.
//
// Invariants: a terminal job is never changed (every UPDATE is guarded by
// `state IN ('queued','running')`); a callback never runs before the commit that holds its
// write; a failed statement or commit is reported to the callbacks it concerns and the
// writer carries on.
#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "daemon/store/account_store.hpp"
#include "daemon/store/hub_store.hpp"
#include "daemon/store/job_store.hpp"
#include "daemon/store/migrations.hpp"
#include "daemon/store/sqlite_accounts.hpp"
#include "daemon/store/sqlite_hub.hpp"
#include "daemon/store/sqlite_support.hpp"

namespace potluck::daemon {
namespace {

using store_detail::account_reads;
using store_detail::account_writes;
using store_detail::bind_blob;
using store_detail::bind_text;
using store_detail::column_blob;
using store_detail::column_text;
using store_detail::connection;
using store_detail::exec;
using store_detail::journal_error;
using store_detail::journal_migrations;
using store_detail::latest_journal_schema_version;
using store_detail::open_connection;
using store_detail::open_mode;
using store_detail::prepare;
using store_detail::query_text;
using store_detail::reset_on_exit;
using store_detail::statement;
using store_detail::wall_clock_ms;

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::int64_t>::max() : sum;
}

void bind_state(sqlite3_stmt* stmt, int index, job_state state) {
  sqlite3_bind_text(stmt, index, to_string(state), -1, SQLITE_STATIC);
}

// Column order of every SELECT below; list and count leave the blobs out.
constexpr const char* job_columns =
    "id, task, backend, model, state, attempt, max_attempts, worker, created_ms, started_ms, "
    "finished_ms, error_code, error_message, params_json, account_id, units, bid, reserved, "
    "price, charged, fee, payee_id, replicas";
enum job_column : int {
  col_id, col_task, col_backend, col_model, col_state, col_attempt, col_max_attempts, col_worker,
  col_created_ms, col_started_ms, col_finished_ms, col_error_code, col_error_message,
  col_params_json, col_account_id, col_units, col_bid, col_reserved, col_price, col_charged,
  col_fee, col_payee_id, col_replicas, col_inputs, col_outputs
};

enum class with_blobs { none, inputs, inputs_and_outputs };

job_record read_job(sqlite3_stmt* stmt, with_blobs blobs) {
  job_record job;
  job.id = sqlite3_column_int64(stmt, col_id);
  job.task = column_text(stmt, col_task);
  job.backend = column_text(stmt, col_backend);
  job.model = column_text(stmt, col_model);
  const auto* state_text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col_state));
  auto state = parse_job_state(state_text != nullptr ? state_text : "");
  if (!state) {
    throw std::runtime_error("job journal: job " + std::to_string(job.id) + " has unknown state '" +
                             (state_text != nullptr ? state_text : "") + "'");
  }
  job.state = *state;
  job.attempt = sqlite3_column_int(stmt, col_attempt);
  job.max_attempts = sqlite3_column_int(stmt, col_max_attempts);
  job.worker = column_text(stmt, col_worker);
  job.created_ms = sqlite3_column_int64(stmt, col_created_ms);
  job.started_ms = sqlite3_column_int64(stmt, col_started_ms);
  job.finished_ms = sqlite3_column_int64(stmt, col_finished_ms);
  job.error_code = column_text(stmt, col_error_code);
  job.error_message = column_text(stmt, col_error_message);
  job.params_json = column_text(stmt, col_params_json);
  job.account_id = sqlite3_column_int64(stmt, col_account_id);
  job.units = sqlite3_column_int64(stmt, col_units);
  job.bid = sqlite3_column_int64(stmt, col_bid);
  job.reserved = sqlite3_column_int64(stmt, col_reserved);
  job.price = sqlite3_column_int64(stmt, col_price);
  job.charged = sqlite3_column_int64(stmt, col_charged);
  job.fee = sqlite3_column_int64(stmt, col_fee);
  job.payee_id = sqlite3_column_int64(stmt, col_payee_id);
  job.replicas = sqlite3_column_int(stmt, col_replicas);
  if (blobs != with_blobs::none) job.inputs_blob = column_blob(stmt, col_inputs);
  if (blobs == with_blobs::inputs_and_outputs) job.outputs_blob = column_blob(stmt, col_outputs);
  return job;
}

// Brings the schema up to date, in one transaction. Throws when the file is newer than
// this build.
void migrate(sqlite3* db, const std::filesystem::path& file) {
  exec(db, file, "BEGIN IMMEDIATE", "cannot start the migration transaction");
  try {
    exec(db, file,
         "CREATE TABLE IF NOT EXISTS schema_migrations ("
         "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
         "cannot create schema_migrations");
    int current = std::stoi(
        query_text(db, file, "SELECT coalesce(max(version), 0) FROM schema_migrations"));
    int latest = latest_journal_schema_version();
    if (current > latest) {
      throw std::runtime_error("journal schema version " + std::to_string(current) +
                               " is newer than this potluckd knows (" + std::to_string(latest) +
                               "); upgrade potluckd (journal: " + file.string() + ")");
    }
    statement record = prepare(db, file,
                               "INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)");
    for (const auto& step : journal_migrations()) {
      if (step.version <= current) continue;
      exec(db, file, step.sql, "migration " + std::to_string(step.version) + " failed");
      sqlite3_bind_int(record.get(), 1, step.version);
      sqlite3_bind_int64(record.get(), 2, wall_clock_ms());
      if (sqlite3_step(record.get()) != SQLITE_DONE) {
        throw std::runtime_error(journal_error(file, "cannot record a migration", db));
      }
      sqlite3_reset(record.get());
      spdlog::info("job journal {}: applied schema migration {}", file.string(), step.version);
    }
    exec(db, file, "COMMIT", "cannot commit the migrations");
  } catch (...) {
    if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

class sqlite_job_store final : public job_store, public account_store, public hub_store {
 public:
  explicit sqlite_job_store(const sqlite_store_options& options)
      : file_(options.file),
        max_rows_per_commit_(std::max(1, options.max_writes_per_commit)),
        busy_timeout_ms_(std::max(0, options.busy_timeout_ms)),
        max_idle_readers_(std::max(0, options.max_idle_readers)) {
    if (file_.has_parent_path()) {
      std::error_code error;
      std::filesystem::create_directories(file_.parent_path(), error);
      if (error) {
        throw std::runtime_error("cannot create the folder of job journal " + file_.string() +
                                 ": " + error.message());
      }
    }
    db_ = open_connection(file_, open_mode::create, busy_timeout_ms_);
    std::string mode = query_text(db_.get(), file_, "PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      throw std::runtime_error("job journal " + file_.string() +
                               ": cannot switch to WAL mode (journal_mode is '" + mode + "')");
    }
    exec(db_.get(), file_,
         options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
         "cannot set synchronous");
    migrate(db_.get(), file_);

    begin_ = prepare(db_.get(), file_, "BEGIN IMMEDIATE");
    commit_ = prepare(db_.get(), file_, "COMMIT");
    rollback_ = prepare(db_.get(), file_, "ROLLBACK");
    savepoint_ = prepare(db_.get(), file_, "SAVEPOINT one_write");
    release_ = prepare(db_.get(), file_, "RELEASE one_write");
    rollback_to_ = prepare(db_.get(), file_, "ROLLBACK TO one_write");
    insert_ = prepare(db_.get(), file_,
                      "INSERT INTO jobs (id, task, backend, model, state, attempt, max_attempts, "
                      "worker, created_ms, started_ms, finished_ms, error_code, error_message, "
                      "params_json, inputs, outputs, account_id, units, bid, reserved, replicas) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
                      "?18, ?19, ?20, ?21)");
    mark_running_ = prepare(db_.get(), file_,
                            "UPDATE jobs SET state = 'running', worker = ?2, attempt = ?3, "
                            "started_ms = ?4 WHERE id = ?1 AND state IN ('queued', 'running')");
    mark_queued_ = prepare(db_.get(), file_,
                           "UPDATE jobs SET state = 'queued' "
                           "WHERE id = ?1 AND state IN ('queued', 'running')");
    // The charge is capped by the reservation, the fee by the charge, and nobody is charged
    // for a job that pays nobody: whatever the caller says, escrow never pays out more than
    // the job put in.
    finish_ = prepare(db_.get(), file_,
                      "UPDATE jobs SET state = ?2, finished_ms = ?3, outputs = ?4, "
                      "error_code = ?5, error_message = ?6, price = ?7, payee_id = ?10, "
                      "charged = CASE WHEN ?10 = 0 THEN 0 ELSE max(0, min(?8, reserved)) END, "
                      "fee = CASE WHEN ?10 = 0 THEN 0 ELSE max(0, min(?9, ?8, reserved)) END "
                      "WHERE id = ?1 AND state IN ('queued', 'running') "
                      "RETURNING account_id, reserved, charged, fee, payee_id");
    account_writes_.emplace(db_.get(), file_);

    // A first reader proves now, not at the first request, that the file can be read.
    release_reader(open_reader());

    writer_ = std::thread([this] { writer_loop(); });
  }

  ~sqlite_job_store() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_ready_.notify_one();
    writer_.join();
    idle_readers_.clear();
    // The write connection closes last: as the last connection it checkpoints the WAL into
    // the database file and removes it.
    account_writes_.reset();
    finish_.reset();
    mark_queued_.reset();
    mark_running_.reset();
    insert_.reset();
    rollback_to_.reset();
    release_.reset();
    savepoint_.reset();
    rollback_.reset();
    commit_.reset();
    begin_.reset();
    if (sqlite3_close(db_.get()) == SQLITE_OK) {
      db_.release();
    } else {
      spdlog::error("job journal {}: close failed: {}", file_.string(), sqlite3_errmsg(db_.get()));
    }
  }

  sqlite_job_store(const sqlite_job_store&) = delete;
  sqlite_job_store& operator=(const sqlite_job_store&) = delete;

  void insert(std::vector<job_record> jobs, write_done done) override {
    write_op op;
    op.kind = op_kind::insert;
    op.jobs = std::move(jobs);
    op.done = std::move(done);
    enqueue(std::move(op));
  }

  void mark_running(std::int64_t id, std::string worker, int attempt,
                    std::int64_t started_ms) override {
    write_op op;
    op.kind = op_kind::mark_running;
    op.id = id;
    op.text = std::move(worker);
    op.attempt = attempt;
    op.time_ms = started_ms;
    enqueue(std::move(op));
  }

  void mark_queued(std::int64_t id) override {
    write_op op;
    op.kind = op_kind::mark_queued;
    op.id = id;
    enqueue(std::move(op));
  }

  void finish(std::int64_t id, job_state state, std::int64_t finished_ms, std::string outputs_blob,
              std::string error_code, std::string error_message, settlement settle,
              write_done done) override {
    write_op op;
    op.settle = settle;
    op.kind = op_kind::finish;
    op.id = id;
    op.state = state;
    op.time_ms = finished_ms;
    op.text = std::move(outputs_blob);
    op.error_code = std::move(error_code);
    op.error_message = std::move(error_message);
    op.done = std::move(done);
    enqueue(std::move(op));
  }

  void flush() override {
    if (std::this_thread::get_id() == writer_.get_id()) {
      // A done callback waiting for the writer that runs it would wait forever.
      throw std::logic_error("job_store::flush() called from a write callback");
    }
    write_waiter waiter;
    std::future<void> done = waiter.committed.get_future();
    write_op op;
    op.kind = op_kind::flush;
    op.waiter = &waiter;
    enqueue(std::move(op));
    done.wait();
  }

  std::optional<job_record> get(std::int64_t id) override {
    reader_lease reader(*this);
    sqlite3_stmt* stmt = reader->get.get();
    reset_on_exit reset(stmt);
    sqlite3_bind_int64(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) read_failed(reader->db.get(), "get");
    return read_job(stmt, with_blobs::inputs_and_outputs);
  }

  std::vector<job_record> list(const job_list_query& query) override {
    reader_lease reader(*this);
    sqlite3_stmt* stmt = query.state ? reader->list_by_state.get() : reader->list_all.get();
    if (query.account_id != 0 || query.payee_id != 0) stmt = reader->filtered_list(query, file_);
    reset_on_exit reset(stmt);
    int limit = std::clamp(query.limit, 1, 1000);
    std::int64_t before_id =
        query.before_id > 0 ? query.before_id : std::numeric_limits<std::int64_t>::max();
    sqlite3_bind_int64(stmt, 1, before_id);
    sqlite3_bind_int(stmt, 2, limit);
    if (query.state) bind_state(stmt, 3, *query.state);
    if (query.account_id != 0) sqlite3_bind_int64(stmt, 4, query.account_id);
    if (query.payee_id != 0) sqlite3_bind_int64(stmt, 5, query.payee_id);
    std::vector<job_record> jobs;
    jobs.reserve(static_cast<std::size_t>(limit));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) jobs.push_back(read_job(stmt, with_blobs::none));
    if (rc != SQLITE_DONE) read_failed(reader->db.get(), "list");
    return jobs;
  }

  std::vector<job_record> load_unfinished() override {
    reader_lease reader(*this);
    sqlite3_stmt* stmt = reader->unfinished.get();
    reset_on_exit reset(stmt);
    std::vector<job_record> jobs;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      jobs.push_back(read_job(stmt, with_blobs::inputs));
    }
    if (rc != SQLITE_DONE) read_failed(reader->db.get(), "load_unfinished");
    return jobs;
  }

  std::int64_t max_job_id() override {
    reader_lease reader(*this);
    sqlite3_stmt* stmt = reader->max_id.get();
    reset_on_exit reset(stmt);
    if (sqlite3_step(stmt) != SQLITE_ROW) read_failed(reader->db.get(), "max_job_id");
    return sqlite3_column_int64(stmt, 0);
  }

  std::map<job_state, std::int64_t> count_by_state() override {
    std::map<job_state, std::int64_t> counts{{job_state::queued, 0},    {job_state::running, 0},
                                             {job_state::succeeded, 0}, {job_state::failed, 0},
                                             {job_state::cancelled, 0}};
    reader_lease reader(*this);
    sqlite3_stmt* stmt = reader->counts.get();
    reset_on_exit reset(stmt);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      if (auto state = parse_job_state(text != nullptr ? text : "")) {
        counts[*state] = sqlite3_column_int64(stmt, 1);
      }
    }
    if (rc != SQLITE_DONE) read_failed(reader->db.get(), "count_by_state");
    return counts;
  }

  std::vector<earnings_day> earnings(std::int64_t payee_id, std::int64_t since_ms) override {
    reader_lease reader(*this);
    sqlite3_stmt* stmt = reader->earnings.get();
    reset_on_exit reset(stmt);
    sqlite3_bind_int64(stmt, 1, payee_id);
    sqlite3_bind_int64(stmt, 2, since_ms);
    std::vector<earnings_day> days;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      days.push_back({sqlite3_column_int64(stmt, 0) * day_ms, sqlite3_column_int64(stmt, 1),
                      sqlite3_column_int64(stmt, 2), sqlite3_column_int64(stmt, 3)});
    }
    if (rc != SQLITE_DONE) read_failed(reader->db.get(), "earnings");
    return days;
  }

  std::vector<donor_totals> top_donors(std::int64_t since_ms, int limit) override {
    reader_lease reader(*this);
    sqlite3_stmt* stmt = reader->top_donors.get();
    reset_on_exit reset(stmt);
    sqlite3_bind_int64(stmt, 1, since_ms);
    sqlite3_bind_int(stmt, 2, std::clamp(limit, 1, 1000));
    std::vector<donor_totals> donors;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      donors.push_back({sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                        sqlite3_column_int64(stmt, 2), sqlite3_column_int64(stmt, 3)});
    }
    if (rc != SQLITE_DONE) read_failed(reader->db.get(), "top_donors");
    return donors;
  }

  // ---- account_store -------------------------------------------------------------------
  // Writes run on the writer thread, each in its own savepoint of a grouped transaction, and
  // the caller waits for the commit. Checks that need no storage run first, on the caller's
  // thread, so that bad input never takes a place in a commit.

  account_record create_account(std::string_view name, account_kind kind, std::int64_t grant,
                                std::int64_t now_ms) override {
    store_detail::check_new_account(name, kind, grant);
    account_record created;
    run_on_writer("create_account",
                  [&] { created = account_writes_->create_account(name, kind, grant, now_ms); });
    return created;
  }

  std::optional<account_record> find_account(std::string_view name) override {
    reader_lease reader(*this);
    return reader.accounts().find_account(name);
  }

  std::optional<account_record> get_account(std::int64_t id) override {
    reader_lease reader(*this);
    return reader.accounts().get_account(id);
  }

  void add_member(std::int64_t org_id, std::int64_t user_id, org_role role) override {
    if (role != org_role::owner && role != org_role::member) {
      throw store_refused("bad_member", "a member's role is owner or member");
    }
    run_on_writer("add_member", [&] { account_writes_->add_member(org_id, user_id, role); });
  }

  std::vector<membership> members(std::int64_t org_id) override {
    reader_lease reader(*this);
    return reader.accounts().members(org_id);
  }

  std::vector<membership> orgs_of(std::int64_t user_id) override {
    reader_lease reader(*this);
    return reader.accounts().orgs_of(user_id);
  }

  token_record create_token(std::int64_t account_id, std::string_view name, std::uint32_t scopes,
                            std::string_view prefix, std::string_view token_hash,
                            std::int64_t now_ms) override {
    store_detail::check_new_token(name, scopes, prefix, token_hash);
    token_record created;
    run_on_writer("create_token", [&] {
      created = account_writes_->create_token(account_id, name, scopes, prefix, token_hash, now_ms);
    });
    return created;
  }

  std::optional<token_match> find_token(std::string_view token_hash) override {
    reader_lease reader(*this);
    return reader.accounts().find_token(token_hash);
  }

  std::vector<token_record> list_tokens(std::int64_t account_id) override {
    reader_lease reader(*this);
    return reader.accounts().list_tokens(account_id);
  }

  bool revoke_token(std::int64_t account_id, std::int64_t token_id, std::int64_t now_ms) override {
    bool revoked = false;
    run_on_writer("revoke_token",
                  [&] { revoked = account_writes_->revoke_token(account_id, token_id, now_ms); });
    return revoked;
  }

  void touch_token(std::int64_t token_id, std::int64_t now_ms) override {
    bool queue_write = false;
    {
      std::lock_guard lock(touch_mutex_);
      if (touch_recorded_.size() >= max_remembered_touches) touch_recorded_.clear();
      auto [recorded, first_use] = touch_recorded_.try_emplace(token_id, now_ms);
      if (!first_use) {
        if (now_ms < recorded->second + token_touch_interval_ms) return;
        recorded->second = now_ms;
      }
      std::int64_t& pending = touch_pending_[token_id];
      pending = std::max(pending, now_ms);
      queue_write = !std::exchange(touch_queued_, true);
    }
    if (!queue_write) return;  // the write already queued will take this use too
    write_op op;
    op.kind = op_kind::run;
    op.what = "recording token uses";
    op.body = [this] { write_token_uses(); };
    enqueue(std::move(op));
  }

  std::vector<std::int64_t> move(std::vector<movement> movements, std::int64_t now_ms) override {
    store_detail::check_movements(movements);
    if (movements.empty()) return {};
    std::vector<std::int64_t> ids;
    // Three rows a movement: two balances and the ledger row.
    auto rows = std::min<std::size_t>(movements.size() * 3, max_rows_per_commit_);
    run_on_writer(
        "move", [&] { ids = account_writes_->move(movements, now_ms); },
        static_cast<std::uint32_t>(rows));
    return ids;
  }

  std::vector<ledger_entry> history(std::int64_t account_id, int limit,
                                    std::int64_t before_id) override {
    reader_lease reader(*this);
    return reader.accounts().history(account_id, limit, before_id);
  }

  // ---- hub_store ---------------------------------------------------------------------------

  model_record commit(std::int64_t owner_id, std::string_view name, const model_card_fields& card,
                      const model_revision& revision, std::string_view expected_parent) override {
    model_record made;
    run_on_writer(
        "commit", [&] { made = store_detail::hub_commit(db_.get(), file_, owner_id, name, card, revision, expected_parent); },
        static_cast<std::uint32_t>(3 + revision.files.size()));
    return made;
  }

  std::optional<model_record> find_model(std::string_view owner, std::string_view name) override {
    reader_lease reader(*this);
    return store_detail::hub_find_model(reader->db.get(), file_, owner, name);
  }

  std::optional<model_revision> find_revision(std::int64_t model_id, std::string_view rev) override {
    reader_lease reader(*this);
    return store_detail::hub_find_revision(reader->db.get(), file_, model_id, rev);
  }

  std::vector<model_revision> revisions(std::int64_t model_id) override {
    reader_lease reader(*this);
    return store_detail::hub_revisions(reader->db.get(), file_, model_id);
  }

  std::vector<model_record> list_models(const model_query& query) override {
    reader_lease reader(*this);
    return store_detail::hub_list_models(reader->db.get(), file_, query);
  }

  std::vector<std::string> remove_model(std::int64_t model_id) override {
    std::vector<std::string> orphans;
    run_on_writer("remove a model", [&] { orphans = store_detail::hub_remove_model(db_.get(), file_, model_id); }, 4);
    return orphans;
  }

  void count_download(std::int64_t model_id) override {
    write_op op;
    op.kind = op_kind::run;
    op.what = "counting a download";
    op.body = [this, model_id] { store_detail::hub_count_download(db_.get(), file_, model_id); };
    enqueue(std::move(op));
  }

  std::vector<ledger_entry> job_entries(std::int64_t job_id) override {
    reader_lease reader(*this);
    return reader.accounts().job_entries(job_id);
  }

  audit_report audit() override {
    reader_lease reader(*this);
    return reader.accounts().audit();
  }

  void set_worker_settings(std::int64_t owner_id, std::string_view name, const worker_settings& settings) override {
    store_detail::check_worker_settings(name, settings);
    run_on_writer("set_worker_settings", [&] { account_writes_->set_worker_settings(owner_id, name, settings); });
  }

  std::optional<worker_settings> find_worker_settings(std::int64_t owner_id, std::string_view name) override {
    reader_lease reader(*this);
    return reader.accounts().find_worker_settings(owner_id, name);
  }

  std::vector<worker_settings_record> list_worker_settings(std::int64_t owner_id) override {
    reader_lease reader(*this);
    return reader.accounts().list_worker_settings(owner_id);
  }

  void record_check(std::int64_t account_id, bool agreed, std::int64_t now_ms) override {
    write_op op;
    op.kind = op_kind::run;
    op.what = "recording a check";
    op.body = [this, account_id, agreed, now_ms] { account_writes_->record_check(account_id, agreed, now_ms); };
    enqueue(std::move(op));
  }

  std::optional<donor_trust> find_trust(std::int64_t account_id) override {
    reader_lease reader(*this);
    return reader.accounts().find_trust(account_id);
  }

  std::vector<donor_trust> distrusted() override {
    reader_lease reader(*this);
    return reader.accounts().distrusted();
  }

 private:
  enum class op_kind : std::uint8_t { insert, mark_running, mark_queued, finish, flush, run };

  // A caller waiting for its write (flush, run), on its own stack until `committed` is set.
  // The writer fills in the outcome first; the caller turns it into an exception on its own
  // thread, so no exception object is shared between threads.
  struct write_waiter {
    std::promise<void> committed;
    enum class outcome : std::uint8_t { ok, refused, failed } result = outcome::ok;
    std::string refusal_code;  // refused: store_refused::code()
    std::string message;       // refused, failed
  };

  // One queued write. A flat struct rather than a variant: moving it costs a few pointer
  // swaps.
  struct write_op {
    op_kind kind = op_kind::flush;
    job_state state = job_state::queued;  // finish: the terminal state
    bool ok = true;                       // filled in by the writer
    bool applied = false;
    int attempt = 0;                      // mark_running
    std::int64_t id = 0;
    std::int64_t time_ms = 0;             // mark_running: started; finish: finished
    std::string text;                     // mark_running: worker; finish: outputs blob
    std::string error_code, error_message;  // finish
    std::vector<job_record> jobs;         // insert
    settlement settle;                    // finish
    write_done done;
    write_waiter* waiter = nullptr;       // flush, run: the caller's, alive until set
    std::string error;                    // filled in by the writer when !ok
    // run: a closure the writer calls inside its own savepoint; what it throws is the
    // caller's answer (and rolls back only the savepoint).
    std::function<void()> body;
    const char* what = "";                // run: for the log
    std::uint32_t rows = 1;               // run: rows it writes, roughly, for the group size
    bool refused = false;                 // run, insert: store_refused was thrown (code below)
    std::string refusal_code;
  };

  // Writes queue up in blocks that are recycled: once warm, queuing allocates nothing and a
  // burst of writes never moves the ones already queued.
  using op_block = std::vector<write_op>;
  static constexpr std::size_t ops_per_block = 256;
  static constexpr std::size_t max_spare_blocks = 64;

  static constexpr std::int64_t day_ms = 86'400'000;

  struct read_connection {
    connection db;
    statement get, list_all, list_by_state, unfinished, max_id, counts, earnings, top_donors;
    std::optional<account_reads> accounts;  // prepared at the first account read
    // Lists filtered by account or payee, prepared at first use, by which filters they have.
    std::map<int, statement> filtered;

    // ?1 before_id, ?2 limit, ?3 state, ?4 account_id, ?5 payee_id.
    sqlite3_stmt* filtered_list(const job_list_query& q, const std::filesystem::path& file) {
      const int key = (q.state ? 1 : 0) | (q.account_id != 0 ? 2 : 0) | (q.payee_id != 0 ? 4 : 0);
      auto& stmt = filtered[key];
      if (!stmt) {
        std::string sql = std::string("SELECT ") + job_columns + " FROM jobs WHERE id < ?1";
        if (q.state) sql += " AND state = ?3";
        if (q.account_id != 0) sql += " AND account_id = ?4";
        if (q.payee_id != 0) sql += " AND payee_id = ?5";
        sql += " ORDER BY id DESC LIMIT ?2";
        stmt = prepare(db.get(), file, sql);
      }
      return stmt.get();
    }
  };

  // Most tokens remembered by touch_token() to drop uses that come too soon after the last
  // recorded one; past this, the memory starts over (costing at most one extra write each).
  static constexpr std::size_t max_remembered_touches = 100'000;

  class reader_lease {
   public:
    explicit reader_lease(sqlite_job_store& store) : store_(store), reader_(store.acquire_reader()) {}
    ~reader_lease() { store_.release_reader(std::move(reader_)); }
    reader_lease(const reader_lease&) = delete;
    reader_lease& operator=(const reader_lease&) = delete;
    read_connection* operator->() const noexcept { return reader_.get(); }
    account_reads& accounts() {
      if (!reader_->accounts) reader_->accounts.emplace(reader_->db.get(), store_.file_);
      return *reader_->accounts;
    }

   private:
    sqlite_job_store& store_;
    std::unique_ptr<read_connection> reader_;
  };

  std::unique_ptr<read_connection> open_reader() {
    auto reader = std::make_unique<read_connection>();
    reader->db = open_connection(file_, open_mode::existing, busy_timeout_ms_);
    sqlite3* db = reader->db.get();
    exec(db, file_, "PRAGMA query_only=ON", "cannot make a read connection");
    const std::string columns = job_columns;
    reader->get = prepare(db, file_, "SELECT " + columns + ", inputs, outputs FROM jobs WHERE id = ?1");
    reader->list_all =
        prepare(db, file_, "SELECT " + columns + " FROM jobs WHERE id < ?1 ORDER BY id DESC LIMIT ?2");
    reader->list_by_state = prepare(
        db, file_,
        "SELECT " + columns +
            " FROM jobs WHERE state = ?3 AND id < ?1 ORDER BY id DESC LIMIT ?2");
    reader->unfinished = prepare(
        db, file_,
        "SELECT " + columns + ", inputs FROM jobs WHERE state IN ('queued', 'running') ORDER BY id");
    reader->max_id = prepare(db, file_, "SELECT coalesce(max(id), 0) FROM jobs");
    reader->counts = prepare(db, file_, "SELECT state, count(*) FROM jobs GROUP BY state");
    reader->earnings = prepare(
        db, file_,
        "SELECT finished_ms / 86400000 AS day, count(*), sum(units), sum(charged - fee) FROM jobs "
        "WHERE payee_id = ?1 AND payee_id <> 0 AND finished_ms >= ?2 "
        "AND state IN ('succeeded', 'failed', 'cancelled') GROUP BY day ORDER BY day");
    reader->top_donors = prepare(
        db, file_,
        "SELECT payee_id, count(*), sum(units), sum(charged - fee) AS earned FROM jobs "
        "WHERE payee_id <> 0 AND finished_ms >= ?1 AND state IN ('succeeded', 'failed', 'cancelled') "
        "GROUP BY payee_id ORDER BY earned DESC, sum(units) DESC, payee_id LIMIT ?2");
    return reader;
  }

  std::unique_ptr<read_connection> acquire_reader() {
    {
      std::lock_guard lock(readers_mutex_);
      if (!idle_readers_.empty()) {
        auto reader = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        return reader;
      }
    }
    return open_reader();  // outside the lock: opening touches the file
  }

  void release_reader(std::unique_ptr<read_connection> reader) {
    std::lock_guard lock(readers_mutex_);
    if (idle_readers_.size() < static_cast<std::size_t>(max_idle_readers_)) {
      idle_readers_.push_back(std::move(reader));
    }
  }

  [[noreturn]] void read_failed(sqlite3* db, std::string_view what) const {
    throw std::runtime_error(journal_error(file_, std::string(what) + " failed", db));
  }

  // Runs `body` on the writer thread inside the next grouped transaction, in a savepoint of
  // its own, and returns after that commit, or throws what body threw or why the commit
  // failed.
  void run_on_writer(const char* what, std::function<void()> body, std::uint32_t rows = 1) {
    if (std::this_thread::get_id() == writer_.get_id()) {
      // A done callback waiting for the writer that runs it would wait forever.
      throw std::logic_error(std::string("account_store: ") + what +
                             "() called from a job_store write callback");
    }
    write_waiter waiter;
    std::future<void> done = waiter.committed.get_future();
    write_op op;
    op.kind = op_kind::run;
    op.what = what;
    op.body = std::move(body);
    op.rows = std::max<std::uint32_t>(1, rows);
    op.waiter = &waiter;
    enqueue(std::move(op));
    done.get();
    switch (waiter.result) {
      case write_waiter::outcome::ok: return;
      case write_waiter::outcome::refused: throw store_refused(waiter.refusal_code, waiter.message);
      case write_waiter::outcome::failed: throw std::runtime_error(waiter.message);
    }
  }

  // On the writer thread: every use noted since the last call, in one go.
  void write_token_uses() {
    std::unordered_map<std::int64_t, std::int64_t> uses;
    {
      std::lock_guard lock(touch_mutex_);
      uses.swap(touch_pending_);
      touch_queued_ = false;
    }
    account_writes_->record_token_uses(uses);
  }

  static std::size_t rows_of(const write_op& op) {
    switch (op.kind) {
      case op_kind::insert: return std::max<std::size_t>(1, op.jobs.size());
      case op_kind::flush: return 0;
      case op_kind::run: return op.rows;
      default: return 1;
    }
  }

  void enqueue(write_op&& op) {
    bool was_empty;
    {
      std::lock_guard lock(queue_mutex_);
      was_empty = queue_.empty();
      if (was_empty || queue_.back().size() == ops_per_block) queue_.push_back(take_block());
      queue_.back().push_back(std::move(op));
    }
    // The writer only sleeps on an empty queue, so only the first write needs to wake it.
    if (was_empty) queue_ready_.notify_one();
  }

  // Called with queue_mutex_ held.
  op_block take_block() {
    if (!spare_blocks_.empty()) {
      op_block block = std::move(spare_blocks_.back());
      spare_blocks_.pop_back();
      return block;
    }
    op_block block;
    block.reserve(ops_per_block);
    return block;
  }

  void writer_loop() {
    std::vector<op_block> blocks;   // taken from the queue, in order
    std::vector<op_block> emptied;  // done with, to give back as spares
    std::vector<write_op*> chunk;   // the writes of one transaction
    chunk.reserve(max_rows_per_commit_);
    for (;;) {
      {
        std::unique_lock lock(queue_mutex_);
        for (auto& block : emptied) {
          if (spare_blocks_.size() >= max_spare_blocks) break;
          spare_blocks_.push_back(std::move(block));
        }
        emptied.clear();
        queue_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything is committed
        blocks.swap(queue_);
      }
      std::size_t rows = 0;
      for (auto& block : blocks) {
        for (auto& op : block) {
          chunk.push_back(&op);
          rows += rows_of(op);
          if (rows >= max_rows_per_commit_) {
            commit(chunk, rows);
            chunk.clear();
            rows = 0;
          }
        }
      }
      if (!chunk.empty()) commit(chunk, rows);
      chunk.clear();
      for (auto& block : blocks) {
        block.clear();  // frees the writes' strings, keeps the block's capacity
        emptied.push_back(std::move(block));
      }
      blocks.clear();
    }
  }

  // Runs one step-to-completion statement and resets it; the error message when it failed.
  bool step_done(sqlite3_stmt* stmt, std::string* error) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
      sqlite3_reset(stmt);
      return true;
    }
    if (error != nullptr) *error = sqlite3_errmsg(db_.get());
    sqlite3_reset(stmt);
    return false;
  }

  void apply(write_op& op) {
    sqlite3_stmt* stmt = nullptr;
    switch (op.kind) {
      case op_kind::insert: apply_insert(op); return;
      case op_kind::run: apply_run(op); return;
      case op_kind::flush: return;
      case op_kind::mark_running:
        stmt = mark_running_.get();
        sqlite3_bind_int64(stmt, 1, op.id);
        bind_text(stmt, 2, op.text);
        sqlite3_bind_int(stmt, 3, op.attempt);
        sqlite3_bind_int64(stmt, 4, op.time_ms);
        break;
      case op_kind::mark_queued:
        stmt = mark_queued_.get();
        sqlite3_bind_int64(stmt, 1, op.id);
        break;
      case op_kind::finish: apply_finish(op); return;
    }
    if (step_done(stmt, &op.error)) {
      op.applied = sqlite3_changes(db_.get()) > 0;
    } else {
      op.ok = false;
    }
  }

  bool insert_one(const job_record& job, std::string* error) {
    sqlite3_stmt* stmt = insert_.get();
    sqlite3_bind_int64(stmt, 1, job.id);
    bind_text(stmt, 2, job.task);
    bind_text(stmt, 3, job.backend);
    bind_text(stmt, 4, job.model);
    bind_state(stmt, 5, job.state);
    sqlite3_bind_int(stmt, 6, job.attempt);
    sqlite3_bind_int(stmt, 7, job.max_attempts);
    bind_text(stmt, 8, job.worker);
    sqlite3_bind_int64(stmt, 9, job.created_ms);
    sqlite3_bind_int64(stmt, 10, job.started_ms);
    sqlite3_bind_int64(stmt, 11, job.finished_ms);
    bind_text(stmt, 12, job.error_code);
    bind_text(stmt, 13, job.error_message);
    bind_text(stmt, 14, job.params_json);
    bind_blob(stmt, 15, job.inputs_blob);
    bind_blob(stmt, 16, job.outputs_blob);
    sqlite3_bind_int64(stmt, 17, job.account_id);
    sqlite3_bind_int64(stmt, 18, job.units);
    sqlite3_bind_int64(stmt, 19, job.bid);
    sqlite3_bind_int64(stmt, 20, job.reserved);
    sqlite3_bind_int(stmt, 21, job.replicas);
    if (step_done(stmt, error)) return true;
    *error = "job " + std::to_string(job.id) + ": " + *error;
    return false;
  }

  // The movement that puts an insert's reservations in escrow, or nothing for free jobs. All
  // jobs of one insert belong to one account (one request); the insert is refused otherwise.
  std::optional<movement> reservation_of(const write_op& op) {
    std::int64_t total = 0;
    for (const auto& job : op.jobs) {
      if (job.reserved < 0 || job.account_id != op.jobs.front().account_id ||
          __builtin_add_overflow(total, job.reserved, &total)) {
        throw store_refused("bad_amount", "jobs of one insert must belong to one account and "
                                          "reserve between 0 and the most a balance holds");
      }
    }
    if (total == 0) return std::nullopt;
    const auto first = op.jobs.front().id;
    movement m{op.jobs.front().account_id, escrow_account_id, total, ledger_kind::reserve, first,
               op.jobs.size() == 1
                   ? std::string()
                   : "jobs " + std::to_string(first) + " to " + std::to_string(op.jobs.back().id) +
                         " (" + std::to_string(op.jobs.size()) + " jobs)"};
    return m;
  }

  void apply_insert(write_op& op) {
    op.applied = !op.jobs.empty();
    if (op.jobs.empty()) return;
    std::optional<movement> reserve;
    try {
      reserve = reservation_of(op);
    } catch (const store_refused& e) {
      op.ok = op.applied = false;
      op.refused = true;
      op.refusal_code = e.code();
      op.error = e.what();
      return;
    }
    if (op.jobs.size() == 1 && !reserve) {  // one statement is atomic by itself
      op.ok = insert_one(op.jobs.front(), &op.error);
      op.applied = op.ok;
      return;
    }
    // Several jobs, or jobs and their reservation, go in together or not at all, without
    // failing the rest of the grouped transaction.
    if (!step_done(savepoint_.get(), &op.error)) {
      op.ok = false;
      return;
    }
    for (const auto& job : op.jobs) {
      if (!insert_one(job, &op.error)) {
        op.ok = false;
        break;
      }
    }
    if (op.ok && reserve) {
      try {
        account_writes_->reserve(reserve->debit, reserve->amount, reserve->job_id, reserve->memo,
                                 op.jobs.front().created_ms);
      } catch (const store_refused& e) {
        op.ok = false;
        op.refused = true;
        op.refusal_code = e.code();
        op.error = e.what();
      } catch (const std::exception& e) {
        op.ok = false;
        op.error = e.what();
      }
    }
    if (!op.ok && sqlite3_get_autocommit(db_.get()) == 0) step_done(rollback_to_.get(), nullptr);
    if (sqlite3_get_autocommit(db_.get()) == 0) step_done(release_.get(), nullptr);
    op.applied = op.ok;
  }

  // A terminal state, and when the job had a reservation its settlement, in the same
  // transaction: the state guard makes the settlement happen once, however often the job is
  // finished. The settlement has a savepoint of its own, so that a settlement the books refuse
  // (it cannot happen while the invariants hold) rolls back alone: the job's end and result
  // are kept, its reservation stays in escrow, and the log and the audit name the job.
  void apply_finish(write_op& op) {
    if (!is_terminal(op.state)) {
      op.ok = false;
      op.error = std::string("finish() needs a terminal state, got ") + to_string(op.state);
      return;
    }
    sqlite3_stmt* stmt = finish_.get();
    sqlite3_bind_int64(stmt, 1, op.id);
    bind_state(stmt, 2, op.state);
    sqlite3_bind_int64(stmt, 3, op.time_ms);
    bind_blob(stmt, 4, op.text);
    bind_text(stmt, 5, op.error_code);
    bind_text(stmt, 6, op.error_message);
    // Every payment in order, capped by the reservation (known once the row is read) below;
    // here their sums, which the statement caps the same way.
    std::int64_t total_charge = op.settle.charge, total_fee = op.settle.fee;
    for (const auto& p : op.settle.others) {
      total_charge = sat_add(total_charge, p.charge);
      total_fee = sat_add(total_fee, p.fee);
    }
    sqlite3_bind_int64(stmt, 7, op.settle.price);
    sqlite3_bind_int64(stmt, 8, total_charge);
    sqlite3_bind_int64(stmt, 9, total_fee);
    sqlite3_bind_int64(stmt, 10, op.settle.payee_id);
    std::int64_t account = 0, reserved = 0, charged = 0, fee = 0, payee = 0;
    int rc = sqlite3_step(stmt);
    op.applied = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
      account = sqlite3_column_int64(stmt, 0);
      reserved = sqlite3_column_int64(stmt, 1);
      charged = sqlite3_column_int64(stmt, 2);
      fee = sqlite3_column_int64(stmt, 3);
      payee = sqlite3_column_int64(stmt, 4);
      rc = sqlite3_step(stmt);  // RETURNING: the statement ends at the next step
    }
    if (rc != SQLITE_DONE) {
      op.ok = false;
      op.error = sqlite3_errmsg(db_.get());
    }
    sqlite3_reset(stmt);
    if (!op.ok || !op.applied || reserved <= 0) return;
    std::string error;
    if (!step_done(savepoint_.get(), &error)) {
      spdlog::error("job journal {}: job {}: cannot settle its reservation: {}", file_.string(), op.id, error);
      return;
    }
    try {
      // Who gets what: the payments in order until the charge the row recorded runs out.
      std::vector<payment> payments;
      std::int64_t charge_left = charged, fee_left = fee;
      auto pay = [&](std::int64_t payee_id, std::int64_t c, std::int64_t f) {
        c = std::clamp<std::int64_t>(c, 0, charge_left);
        f = std::clamp<std::int64_t>(f, 0, std::min(c, fee_left));
        charge_left -= c;
        fee_left -= f;
        if (payee_id != 0 && c > 0) payments.push_back({payee_id, c, f});
      };
      pay(payee, op.settle.charge, op.settle.fee);
      for (const auto& p : op.settle.others) pay(p.payee_id, p.charge, p.fee);
      account_writes_->settle(op.id, account, payments, reserved, charged - charge_left, fee - fee_left, op.time_ms);
    } catch (const std::exception& e) {
      spdlog::error("job journal {}: job {}: settling its reservation of {} micro-credits failed, so it stays "
                    "in escrow and the audit names the job: {}",
                    file_.string(), op.id, reserved, e.what());
      if (sqlite3_get_autocommit(db_.get()) == 0) step_done(rollback_to_.get(), nullptr);
    }
    if (sqlite3_get_autocommit(db_.get()) == 0) step_done(release_.get(), nullptr);
  }

  void apply_run(write_op& op) {
    if (!step_done(savepoint_.get(), &op.error)) {
      op.ok = false;
      return;
    }
    try {
      op.body();
      op.applied = true;
    } catch (const store_refused& e) {
      op.ok = false;
      op.refused = true;
      op.refusal_code = e.code();
      op.error = e.what();
    } catch (const std::exception& e) {
      op.ok = false;
      op.error = e.what();
    } catch (...) {
      op.ok = false;
      op.error = "job journal " + file_.string() + ": " + op.what + ": unknown exception";
    }
    if (!op.ok && sqlite3_get_autocommit(db_.get()) == 0) step_done(rollback_to_.get(), nullptr);
    if (sqlite3_get_autocommit(db_.get()) == 0) step_done(release_.get(), nullptr);
  }

  void commit(std::span<write_op* const> ops, std::size_t rows) {
    std::string failure;  // set when the whole transaction failed
    if (rows > 0) {
      if (!step_done(begin_.get(), &failure)) {
        failure = "cannot begin a transaction: " + failure;
      } else {
        for (write_op* op : ops) {
          apply(*op);
          // Some errors (disk full, I/O) roll the whole transaction back: nothing of it is left.
          if (!op->ok && sqlite3_get_autocommit(db_.get()) != 0) {
            failure = op->error;
            break;
          }
        }
        if (failure.empty() && !step_done(commit_.get(), &failure)) {
          failure = "commit failed: " + failure;
        }
        if (!failure.empty() && sqlite3_get_autocommit(db_.get()) == 0) {
          step_done(rollback_.get(), nullptr);
        }
      }
      if (!failure.empty()) {
        spdlog::error("job journal {}: a transaction of {} writes failed: {}", file_.string(),
                      ops.size(), failure);
        for (write_op* op : ops) {
          op->ok = false;
          op->applied = false;
          if (!op->refused) op->error = failure;  // a refusal stays the answer
        }
      }
    }
    for (write_op* op_pointer : ops) {
      write_op& op = *op_pointer;
      if (op.waiter != nullptr) {
        write_waiter& waiter = *op.waiter;
        if (op.kind == op_kind::run && !op.ok) {
          if (op.refused) {
            waiter.result = write_waiter::outcome::refused;
            waiter.refusal_code = std::move(op.refusal_code);
            waiter.message = std::move(op.error);
          } else {
            waiter.result = write_waiter::outcome::failed;
            waiter.message = failure.empty() ? std::move(op.error)
                                             : "job journal " + file_.string() + ": " + op.what +
                                                   ": the transaction failed and kept nothing: " +
                                                   failure;
          }
        }
        waiter.committed.set_value();
        continue;
      }
      if (!op.ok && failure.empty() && !op.refused) {
        if (op.kind == op_kind::run) {
          spdlog::warn("job journal {}: {} failed: {}", file_.string(), op.what, op.error);
        } else {
          spdlog::warn("job journal {}: job {} write failed: {}", file_.string(),
                       op.kind == op_kind::insert && !op.jobs.empty() ? op.jobs.front().id : op.id,
                       op.error);
        }
      }
      if (!op.done) continue;
      try {
        write_result result;
        result.ok = op.ok;
        result.applied = op.ok && op.applied;
        if (!op.ok) result.error = std::move(op.error);
        if (op.refused) result.refusal = std::move(op.refusal_code);
        op.done(result);
      } catch (const std::exception& e) {
        spdlog::error("job journal {}: a write callback threw: {}", file_.string(), e.what());
      } catch (...) {
        spdlog::error("job journal {}: a write callback threw", file_.string());
      }
    }
  }

  const std::filesystem::path file_;
  const std::size_t max_rows_per_commit_;
  const int busy_timeout_ms_;
  const int max_idle_readers_;

  // Owned by the writer thread once it runs (the constructor prepares them before).
  connection db_;
  statement begin_, commit_, rollback_, savepoint_, release_, rollback_to_;
  statement insert_, mark_running_, mark_queued_, finish_;
  std::optional<account_writes> account_writes_;

  // touch_token(): uses waiting for the writer, and the last use recorded per token.
  std::mutex touch_mutex_;
  std::unordered_map<std::int64_t, std::int64_t> touch_pending_, touch_recorded_;
  bool touch_queued_ = false;  // a write of touch_pending_ is queued

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<read_connection>> idle_readers_;

  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::vector<op_block> queue_;         // writes in order, in blocks of ops_per_block
  std::vector<op_block> spare_blocks_;  // emptied blocks, capacity kept
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace

std::unique_ptr<job_store> open_sqlite_job_store(const sqlite_store_options& options) {
  return std::make_unique<sqlite_job_store>(options);
}

}  // namespace potluck::daemon
