// migrations: the schema of the SQLite job journal, as an ordered list of changes.
// Large columns (params, tensors) come last in `jobs` so that reading the small ones
// (list) never walks the overflow pages of the blobs.
#include "daemon/store/migrations.hpp"

#include <array>

namespace potluck::daemon::store_detail {
namespace {

constexpr std::array<migration, 1> migrations{{
    {1, R"sql(
CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY,
  task          TEXT    NOT NULL,
  backend       TEXT    NOT NULL DEFAULT '',
  model         TEXT    NOT NULL DEFAULT '',
  state         TEXT    NOT NULL
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempt       INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL DEFAULT 3,
  worker        TEXT    NOT NULL DEFAULT '',
  created_ms    INTEGER NOT NULL DEFAULT 0,
  started_ms    INTEGER NOT NULL DEFAULT 0,
  finished_ms   INTEGER NOT NULL DEFAULT 0,
  error_code    TEXT    NOT NULL DEFAULT '',
  error_message TEXT    NOT NULL DEFAULT '',
  params_json   TEXT    NOT NULL DEFAULT '{}',
  inputs        BLOB    NOT NULL DEFAULT x'',
  outputs       BLOB    NOT NULL DEFAULT x''
);
CREATE INDEX jobs_by_state ON jobs (state, id);
)sql"},
}};

}  // namespace

std::span<const migration> journal_migrations() noexcept { return migrations; }

int latest_journal_schema_version() noexcept { return migrations.back().version; }

}  // namespace potluck::daemon::store_detail
