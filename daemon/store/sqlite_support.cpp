// sqlite_support: helpers over the SQLite C API for the journal. No state, no threads.
#include "daemon/store/sqlite_support.hpp"

#include <chrono>
#include <stdexcept>

namespace potluck::daemon::store_detail {

std::int64_t wall_clock_ms() {
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

void step_once(sqlite3* db, const std::filesystem::path& file, sqlite3_stmt* stmt, std::string_view what) {
  reset_on_exit reset(stmt);
  const int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw std::runtime_error(journal_error(file, what, db));
}

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

// Once per process, before SQLite initialises: no memory statistics. They cost a global mutex
// on every allocation of every connection, and nothing here reads them.
void configure_sqlite_once() {
  static const int configured = [] {
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) return 0;  // already initialised: harmless
    return 1;
  }();
  (void)configured;
}

connection open_connection(const std::filesystem::path& file, open_mode mode, int busy_timeout_ms) {
  configure_sqlite_once();
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

}  // namespace potluck::daemon::store_detail
