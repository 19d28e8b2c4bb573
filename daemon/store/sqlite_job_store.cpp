// sqlite_job_store: the embedded job journal, SQLite in WAL mode behind job_store.
//
// Threads and ownership: one writer thread owns the write connection and its prepared
// statements for the store's whole life. Every write is queued to it; it takes everything
// queued, runs up to max_writes_per_commit rows per BEGIN IMMEDIATE ... COMMIT, and only
// after COMMIT has returned runs the `done` callbacks of that transaction (on its own
// thread). Callers therefore never wait on fsync unless they call flush(). Reads run on the
// caller's thread through a small pool of read connections; in WAL mode a reader sees the
// last commit and never blocks the writer, nor the writer it.
//
// Invariants: a terminal job is never changed (every UPDATE is guarded by
// `state IN ('queued','running')`); a callback never runs before the commit that holds its
// write; a failed statement or commit is reported to the callbacks it concerns and the
// writer carries on.
#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <limits>
#include <mutex>
#include <span>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "daemon/store/job_store.hpp"
#include "daemon/store/migrations.hpp"

namespace potluck::daemon {
namespace {

using store_detail::journal_migrations;
using store_detail::latest_journal_schema_version;

struct connection_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using connection = std::unique_ptr<sqlite3, connection_closer>;

struct statement_finalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using statement = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

// Resets a statement when a read is over, so that it does not keep its WAL snapshot (which
// would hold back checkpoints) while it waits in the pool.
class reset_on_exit {
 public:
  explicit reset_on_exit(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  ~reset_on_exit() { sqlite3_reset(stmt_); }
  reset_on_exit(const reset_on_exit&) = delete;
  reset_on_exit& operator=(const reset_on_exit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string journal_error(const std::filesystem::path& file, std::string_view what, sqlite3* db) {
  std::string message = "job journal ";
  message += file.string();
  message += ": ";
  message += what;
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  return message;
}

void exec(sqlite3* db, const std::filesystem::path& file, const char* sql, std::string_view what) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = "job journal " + file.string() + ": " + std::string(what) + ": " +
                          (error != nullptr ? error : sqlite3_errmsg(db));
    sqlite3_free(error);
    throw std::runtime_error(message);
  }
}

statement prepare(sqlite3* db, const std::filesystem::path& file, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error(journal_error(file, "cannot prepare \"" + std::string(sql) + "\"", db));
  }
  return statement(raw);
}

// One row of a single-value query (a PRAGMA or an aggregate), as text.
std::string query_text(sqlite3* db, const std::filesystem::path& file, const char* sql) {
  statement stmt = prepare(db, file, sql);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    return text != nullptr ? std::string(text) : std::string();
  }
  if (rc == SQLITE_DONE) return {};
  throw std::runtime_error(journal_error(file, sql, db));
}

enum class open_mode { create, existing };

connection open_connection(const std::filesystem::path& file, open_mode mode, int busy_timeout_ms) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (mode == open_mode::create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  connection db(raw);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("cannot open job journal " + file.string() + ": " +
                             (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  exec(db.get(), file, "PRAGMA foreign_keys=ON", "cannot enable foreign keys");
  return db;
}

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}
void bind_blob(sqlite3_stmt* stmt, int index, const std::string& blob) {
  // data() is never null, so an empty string binds a zero-length blob, not NULL.
  sqlite3_bind_blob64(stmt, index, blob.data(), blob.size(), SQLITE_STATIC);
}
void bind_state(sqlite3_stmt* stmt, int index, job_state state) {
  sqlite3_bind_text(stmt, index, to_string(state), -1, SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* stmt, int index) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, index));
  if (text == nullptr) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, index)));
}
std::string column_blob(sqlite3_stmt* stmt, int index) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, index));
  if (data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, index)));
}

// Column order of every SELECT below; list and count leave the blobs out.
constexpr const char* job_columns =
    "id, task, backend, model, state, attempt, max_attempts, worker, created_ms, started_ms, "
    "finished_ms, error_code, error_message, params_json";
enum job_column : int {
  col_id, col_task, col_backend, col_model, col_state, col_attempt, col_max_attempts, col_worker,
  col_created_ms, col_started_ms, col_finished_ms, col_error_code, col_error_message,
  col_params_json, col_inputs, col_outputs
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
      sqlite3_bind_int64(record.get(), 2, now_ms());
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

class sqlite_job_store final : public job_store {
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
    savepoint_ = prepare(db_.get(), file_, "SAVEPOINT insert_jobs");
    release_ = prepare(db_.get(), file_, "RELEASE insert_jobs");
    rollback_to_ = prepare(db_.get(), file_, "ROLLBACK TO insert_jobs");
    insert_ = prepare(db_.get(), file_,
                      "INSERT INTO jobs (id, task, backend, model, state, attempt, max_attempts, "
                      "worker, created_ms, started_ms, finished_ms, error_code, error_message, "
                      "params_json, inputs, outputs) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    mark_running_ = prepare(db_.get(), file_,
                            "UPDATE jobs SET state = 'running', worker = ?2, attempt = ?3, "
                            "started_ms = ?4 WHERE id = ?1 AND state IN ('queued', 'running')");
    mark_queued_ = prepare(db_.get(), file_,
                           "UPDATE jobs SET state = 'queued' "
                           "WHERE id = ?1 AND state IN ('queued', 'running')");
    finish_ = prepare(db_.get(), file_,
                      "UPDATE jobs SET state = ?2, finished_ms = ?3, outputs = ?4, "
                      "error_code = ?5, error_message = ?6 "
                      "WHERE id = ?1 AND state IN ('queued', 'running')");

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
              std::string error_code, std::string error_message, write_done done) override {
    write_op op;
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
    std::promise<void> committed;
    std::future<void> done = committed.get_future();
    write_op op;
    op.kind = op_kind::flush;
    op.flushed = &committed;
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
    reset_on_exit reset(stmt);
    int limit = std::clamp(query.limit, 1, 1000);
    std::int64_t before_id =
        query.before_id > 0 ? query.before_id : std::numeric_limits<std::int64_t>::max();
    sqlite3_bind_int64(stmt, 1, before_id);
    sqlite3_bind_int(stmt, 2, limit);
    if (query.state) bind_state(stmt, 3, *query.state);
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

 private:
  enum class op_kind : std::uint8_t { insert, mark_running, mark_queued, finish, flush };

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
    write_done done;
    std::promise<void>* flushed = nullptr;  // flush: the caller's, alive until set
    std::string error;                    // filled in by the writer when !ok
  };

  // Writes queue up in blocks that are recycled: once warm, queuing allocates nothing and a
  // burst of writes never moves the ones already queued.
  using op_block = std::vector<write_op>;
  static constexpr std::size_t ops_per_block = 256;
  static constexpr std::size_t max_spare_blocks = 64;

  struct read_connection {
    connection db;
    statement get, list_all, list_by_state, unfinished, max_id, counts;
  };

  class reader_lease {
   public:
    explicit reader_lease(sqlite_job_store& store) : store_(store), reader_(store.acquire_reader()) {}
    ~reader_lease() { store_.release_reader(std::move(reader_)); }
    reader_lease(const reader_lease&) = delete;
    reader_lease& operator=(const reader_lease&) = delete;
    read_connection* operator->() const noexcept { return reader_.get(); }

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
          rows += op.kind == op_kind::insert ? std::max<std::size_t>(1, op.jobs.size())
                                             : (op.kind == op_kind::flush ? 0 : 1);
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
      case op_kind::finish:
        if (!is_terminal(op.state)) {
          op.ok = false;
          op.error = std::string("finish() needs a terminal state, got ") + to_string(op.state);
          return;
        }
        stmt = finish_.get();
        sqlite3_bind_int64(stmt, 1, op.id);
        bind_state(stmt, 2, op.state);
        sqlite3_bind_int64(stmt, 3, op.time_ms);
        bind_blob(stmt, 4, op.text);
        bind_text(stmt, 5, op.error_code);
        bind_text(stmt, 6, op.error_message);
        break;
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
    if (step_done(stmt, error)) return true;
    *error = "job " + std::to_string(job.id) + ": " + *error;
    return false;
  }

  void apply_insert(write_op& op) {
    op.applied = !op.jobs.empty();
    if (op.jobs.size() == 1) {  // one statement is atomic by itself
      op.ok = insert_one(op.jobs.front(), &op.error);
      op.applied = op.ok;
      return;
    }
    if (op.jobs.empty()) return;
    // Several jobs go in together or not at all, without failing the rest of the batch.
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
    if (!op.ok && sqlite3_get_autocommit(db_.get()) == 0) step_done(rollback_to_.get(), nullptr);
    if (sqlite3_get_autocommit(db_.get()) == 0) step_done(release_.get(), nullptr);
    op.applied = op.ok;
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
          op->error = failure;
        }
      }
    }
    for (write_op* op_pointer : ops) {
      write_op& op = *op_pointer;
      if (op.flushed != nullptr) {
        op.flushed->set_value();
        continue;
      }
      if (!op.ok && failure.empty()) {
        spdlog::warn("job journal {}: job {} write failed: {}", file_.string(),
                     op.kind == op_kind::insert && !op.jobs.empty() ? op.jobs.front().id : op.id,
                     op.error);
      }
      if (!op.done) continue;
      try {
        write_result result;
        result.ok = op.ok;
        result.applied = op.ok && op.applied;
        if (!op.ok) result.error = std::move(op.error);
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
