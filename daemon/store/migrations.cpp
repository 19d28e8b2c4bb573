// migrations: the schema of the SQLite job journal, as an ordered list of changes.
// Large columns (params, tensors) come last in `jobs` so that reading the small ones
// (list) never walks the overflow pages of the blobs.
// The credit tables (2) are STRICT: a balance that overflowed into a REAL, or a text where
// an amount belongs, is refused by SQLite itself rather than stored. The ledger is
// append-only, enforced by triggers, and the cached balances obey the same rule as the
// code (none below 0 but mint's).
#include "daemon/store/migrations.hpp"

#include <array>

namespace potluck::daemon::store_detail {
namespace {

constexpr std::array<migration, 8> migrations{{
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
    {2, R"sql(
CREATE TABLE accounts (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL UNIQUE,
  kind       TEXT    NOT NULL CHECK (kind IN ('user', 'org', 'system')),
  created_ms INTEGER NOT NULL DEFAULT 0,
  balance    INTEGER NOT NULL DEFAULT 0,
  CHECK (id = 1 OR balance >= 0)  -- only mint goes below 0
) STRICT;
INSERT INTO accounts (id, name, kind, created_ms) VALUES
  (1, 'mint',   'system', CAST(strftime('%s', 'now') AS INTEGER) * 1000),
  (2, 'escrow', 'system', CAST(strftime('%s', 'now') AS INTEGER) * 1000),
  (3, 'fees',   'system', CAST(strftime('%s', 'now') AS INTEGER) * 1000);

CREATE TABLE org_members (
  org_id  INTEGER NOT NULL REFERENCES accounts (id),
  user_id INTEGER NOT NULL REFERENCES accounts (id),
  role    TEXT    NOT NULL CHECK (role IN ('owner', 'member')),
  PRIMARY KEY (org_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX org_members_by_user ON org_members (user_id, org_id);

CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY,
  account_id   INTEGER NOT NULL REFERENCES accounts (id),
  name         TEXT    NOT NULL,
  scopes       INTEGER NOT NULL,
  prefix       TEXT    NOT NULL,
  token_hash   TEXT    NOT NULL UNIQUE,
  created_ms   INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL DEFAULT 0,
  revoked_ms   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX api_tokens_by_account ON api_tokens (account_id, id);

CREATE TABLE ledger (
  id             INTEGER PRIMARY KEY,
  debit_account  INTEGER NOT NULL REFERENCES accounts (id),
  credit_account INTEGER NOT NULL REFERENCES accounts (id),
  amount         INTEGER NOT NULL CHECK (amount > 0),
  kind           TEXT    NOT NULL
                 CHECK (kind IN ('grant', 'reserve', 'charge', 'payout', 'refund', 'fee',
                                 'transfer')),
  job_id         INTEGER NOT NULL DEFAULT 0,
  time_ms        INTEGER NOT NULL,
  memo           TEXT    NOT NULL DEFAULT '',
  CHECK (debit_account <> credit_account)
) STRICT;
CREATE INDEX ledger_by_debit ON ledger (debit_account, id);
CREATE INDEX ledger_by_credit ON ledger (credit_account, id);
CREATE INDEX ledger_by_job ON ledger (job_id);
CREATE TRIGGER ledger_rows_are_never_changed BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger rows are never changed: write a new movement instead'); END;
CREATE TRIGGER ledger_rows_are_never_deleted BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger rows are never deleted: write a new movement instead'); END;
)sql"},
    // 3: the account a job belongs to (0: submitted before accounts existed).
    {3, R"sql(
ALTER TABLE jobs ADD COLUMN account_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_account ON jobs (account_id, id);
)sql"},
    // 4: what a job may cost and what it cost (job_record's billing fields).
    {4, R"sql(
ALTER TABLE jobs ADD COLUMN units    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN bid      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN price    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN charged  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN fee      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN payee_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_payee ON jobs (payee_id, id) WHERE payee_id <> 0;
)sql"},
    // 5: donors' settings for their workers (account_store::worker_settings).
    {5, R"sql(
CREATE TABLE worker_settings (
  owner_id    INTEGER NOT NULL REFERENCES accounts (id),
  name        TEXT    NOT NULL,
  paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
  max_slots   INTEGER NOT NULL DEFAULT 0 CHECK (max_slots BETWEEN 0 AND 256),
  hours_from  INTEGER NOT NULL DEFAULT 0 CHECK (hours_from BETWEEN 0 AND 23),
  hours_to    INTEGER NOT NULL DEFAULT 0 CHECK (hours_to BETWEEN 0 AND 23),
  accept_free INTEGER CHECK (accept_free IN (0, 1)),  -- NULL: as the worker says
  updated_ms  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (owner_id, name)
) STRICT, WITHOUT ROWID;
)sql"},
    // 6: how donors' checked results fared (account_store::donor_trust).
    {6, R"sql(
CREATE TABLE donor_trust (
  account_id           INTEGER PRIMARY KEY REFERENCES accounts (id),
  checked              INTEGER NOT NULL DEFAULT 0,
  agreed               INTEGER NOT NULL DEFAULT 0,
  disagreed            INTEGER NOT NULL DEFAULT 0,
  streak               INTEGER NOT NULL DEFAULT 0,
  last_disagreement_ms INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX donor_trust_by_disagreement ON donor_trust (last_disagreement_ms) WHERE disagreed > 0;
)sql"},
    // 7: jobs run on several donors' workers at once, whose results must agree.
    {7, R"sql(
ALTER TABLE jobs ADD COLUMN replicas INTEGER NOT NULL DEFAULT 1 CHECK (replicas BETWEEN 1 AND 5);
)sql"},
    // 8: the model hub (hub_store): repositories, immutable revisions, and the files of each
    // by content hash (the bytes are in the data folder's blob store).
    {8, R"sql(
CREATE TABLE models (
  id         INTEGER PRIMARY KEY,
  owner_id   INTEGER NOT NULL REFERENCES accounts (id),
  name       TEXT    NOT NULL,
  task       TEXT    NOT NULL,
  format     TEXT    NOT NULL,
  license    TEXT    NOT NULL DEFAULT '',
  tags       TEXT    NOT NULL DEFAULT '[]',
  labels     TEXT    NOT NULL DEFAULT '[]',
  card       TEXT    NOT NULL DEFAULT '',
  head       TEXT    NOT NULL,
  downloads  INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  UNIQUE (owner_id, name)
) STRICT;
CREATE INDEX models_by_update ON models (updated_ms);
CREATE INDEX models_by_downloads ON models (downloads);
CREATE TABLE model_revisions (
  id         TEXT    PRIMARY KEY,
  model_id   INTEGER NOT NULL REFERENCES models (id),
  parent     TEXT    NOT NULL,
  author_id  INTEGER NOT NULL,
  message    TEXT    NOT NULL,
  created_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX revisions_by_model ON model_revisions (model_id, created_ms);
CREATE TABLE revision_files (
  revision_id TEXT    NOT NULL REFERENCES model_revisions (id),
  path        TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  size        INTEGER NOT NULL CHECK (size >= 0),
  PRIMARY KEY (revision_id, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX revision_files_by_blob ON revision_files (sha256);
CREATE TRIGGER revisions_are_never_changed BEFORE UPDATE ON model_revisions
BEGIN SELECT RAISE(ABORT, 'revisions are never changed: commit a new one'); END;
CREATE TRIGGER revision_files_are_never_changed BEFORE UPDATE ON revision_files
BEGIN SELECT RAISE(ABORT, 'revisions are never changed: commit a new one'); END;
)sql"},
}};

}  // namespace

std::span<const migration> journal_migrations() noexcept { return migrations; }

int latest_journal_schema_version() noexcept { return migrations.back().version; }

}  // namespace potluck::daemon::store_detail
