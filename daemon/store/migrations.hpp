// migrations: the ordered schema changes of the SQLite job journal. Private to daemon/store.
//
// Each migration has a number one above the previous and runs once, inside the transaction
// that records it in schema_migrations. Released migrations are never edited: a change to
// the schema is a new entry at the end.
#pragma once

#include <span>

namespace potluck::daemon::store_detail {

struct migration {
  int version;
  const char* sql;  // one or more statements
};

std::span<const migration> journal_migrations() noexcept;

// The newest schema version this build knows.
int latest_journal_schema_version() noexcept;

}  // namespace potluck::daemon::store_detail
