// sqlite_support: small RAII wrappers and helpers over the SQLite C API, shared by the
// journal's parts (jobs, accounts). Private to daemon/store: nothing here leaves it.
//
// Threads: none of its own. A connection and its statements belong to one thread at a time
// (connections are opened with SQLITE_OPEN_NOMUTEX).
//
// Errors: every helper that can fail throws std::runtime_error whose message names the
// journal file, what was being done, and SQLite's reason.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace potluck::daemon::store_detail {

struct connection_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using connection = std::unique_ptr<sqlite3, connection_closer>;

struct statement_finalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using statement = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

// Resets a statement when a read is over, so that it does not keep its WAL snapshot (which
// would hold back checkpoints) while it waits in the pool, and so that a statement left
// half-stepped by an exception is ready for its next use.
class reset_on_exit {
 public:
  explicit reset_on_exit(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  ~reset_on_exit() { sqlite3_reset(stmt_); }
  reset_on_exit(const reset_on_exit&) = delete;
  reset_on_exit& operator=(const reset_on_exit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

std::int64_t wall_clock_ms();

// "job journal <file>: <what>: <SQLite's message>".
std::string journal_error(const std::filesystem::path& file, std::string_view what, sqlite3* db);

void exec(sqlite3* db, const std::filesystem::path& file, const char* sql, std::string_view what);

// A statement prepared to be kept (SQLITE_PREPARE_PERSISTENT).
statement prepare(sqlite3* db, const std::filesystem::path& file, std::string_view sql);

// Runs a write statement (or the first step of a query) and resets it; throws
// std::runtime_error naming `what` unless it ran.
void step_once(sqlite3* db, const std::filesystem::path& file, sqlite3_stmt* stmt, std::string_view what);

// One row of a single-value query (a PRAGMA or an aggregate), as text.
std::string query_text(sqlite3* db, const std::filesystem::path& file, const char* sql);

enum class open_mode { create, existing };

// Opens a connection with extended result codes, the busy timeout and foreign keys on.
connection open_connection(const std::filesystem::path& file, open_mode mode, int busy_timeout_ms);

// Text and blobs are bound SQLITE_STATIC: the caller keeps them alive until the statement is
// reset.
inline void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  // data() of an empty view may be null, which would bind NULL; "" binds an empty text.
  sqlite3_bind_text64(stmt, index, text.empty() ? "" : text.data(), text.size(), SQLITE_STATIC,
                      SQLITE_UTF8);
}
inline void bind_blob(sqlite3_stmt* stmt, int index, const std::string& blob) {
  // data() is never null, so an empty string binds a zero-length blob, not NULL.
  sqlite3_bind_blob64(stmt, index, blob.data(), blob.size(), SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* stmt, int index);
std::string column_blob(sqlite3_stmt* stmt, int index);

}  // namespace potluck::daemon::store_detail
