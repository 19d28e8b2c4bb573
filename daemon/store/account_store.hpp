// account_store: accounts (users, organisations, system accounts), API tokens and the credit
// ledger, behind an interface like job_store's so that a shared PostgreSQL store can later
// join the embedded SQLite one. Nothing SQLite-specific leaks out.
//
// Threads: every method may be called from any thread, except from a job_store write
// callback (that is the writer thread: a write would wait for itself, so it throws
// std::logic_error). Writes are synchronous: they return after the commit that holds them,
// and the journal groups them with job writes into shared commits. touch_token() alone
// queues and returns at once. Reads run on the caller's thread and see committed data.
//
// Invariants (every write checks them first and writes nothing when one would break):
// - credits are integers (micro-credits); every movement is one ledger row (debit account,
//   credit account, amount > 0) written in the same transaction as the two cached balances
//   it changes; ledger rows are never changed or deleted;
// - `mint` is the source of every grant and of nothing else, and nothing is paid into it, so
//   its balance is minus what was minted and the sum of all balances is 0;
// - no account but mint goes below 0 (users, organisations, escrow, fees).
//
// Errors: a refusal that is the caller's fault throws store_refused with a stable code (the
// HTTP layer maps it to a 4xx); anything else (disk, corrupt file) throws std::runtime_error.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace potluck::daemon {

class job_store;

enum class account_kind : std::uint8_t { user, org, system };
const char* to_string(account_kind kind) noexcept;
std::optional<account_kind> parse_account_kind(std::string_view text) noexcept;

enum class org_role : std::uint8_t { owner, member };
const char* to_string(org_role role) noexcept;
std::optional<org_role> parse_org_role(std::string_view text) noexcept;

// The system accounts, created by the journal's schema with these ids and names.
inline constexpr std::int64_t mint_account_id = 1;    // "mint": source of every grant
inline constexpr std::int64_t escrow_account_id = 2;  // "escrow": reserved for queued/running jobs
inline constexpr std::int64_t fees_account_id = 3;    // "fees": operator fees

// API token scopes, a bitmask.
namespace token_scope {
inline constexpr std::uint32_t read = 1, submit = 2, publish = 4, donate = 8, admin = 16;
inline constexpr std::uint32_t all = read | submit | publish | donate | admin;
}  // namespace token_scope

// The kinds of ledger row.
namespace ledger_kind {
inline constexpr const char* grant = "grant";        // mint -> account, and only that
inline constexpr const char* reserve = "reserve";    // user -> escrow when a job is queued
inline constexpr const char* charge = "charge";      // escrow -> the donor whose worker ran a job
inline constexpr const char* payout = "payout";      // earnings held back -> their donor
inline constexpr const char* refund = "refund";      // escrow -> the job's account
inline constexpr const char* fee = "fee";            // -> fees
inline constexpr const char* transfer = "transfer";  // between users and organisations
}  // namespace ledger_kind
bool is_ledger_kind(std::string_view kind) noexcept;

inline constexpr std::size_t max_account_name_chars = 39;
inline constexpr std::size_t max_token_name_bytes = 100;
inline constexpr std::size_t max_token_prefix_bytes = 16;
inline constexpr std::size_t max_token_hash_bytes = 256;
inline constexpr std::size_t max_memo_bytes = 1024;
// touch_token() records a token's use at most once per this interval.
inline constexpr std::int64_t token_touch_interval_ms = 1000;

// Why `name` cannot name an account, or "" when it can. GitHub's rule: 1 to 39 characters,
// lowercase letters, digits and single hyphens, neither first nor last.
std::string account_name_problem(std::string_view name);

struct account_record {
  std::int64_t id = 0;
  std::string name;
  account_kind kind = account_kind::user;
  std::int64_t created_ms = 0;  // unix epoch ms
  std::int64_t balance = 0;     // micro-credits; below 0 only for mint
};

// One organisation membership, seen from one side: `account` is the user in members(), the
// organisation in orgs_of().
struct membership {
  account_record account;
  org_role role = org_role::member;
};

struct token_record {
  std::int64_t id = 0;
  std::int64_t account_id = 0;
  std::string name;
  std::uint32_t scopes = 0;  // token_scope bits
  std::string prefix;        // the first characters of the secret, to recognise it by
  std::int64_t created_ms = 0, last_used_ms = 0;  // 0 = never used
  std::int64_t revoked_ms = 0;                    // 0 = live
  bool live() const noexcept { return revoked_ms == 0; }
};

struct token_match {
  token_record token;
  account_record account;  // its owner
};

struct ledger_entry {
  std::int64_t id = 0;  // increasing in commit order
  std::int64_t debit_account = 0, credit_account = 0;
  std::int64_t amount = 0;  // micro-credits, > 0
  std::string kind;         // a ledger_kind
  std::int64_t job_id = 0;  // 0 = no job
  std::int64_t time_ms = 0;
  std::string memo;
};

// A movement to write: `amount` micro-credits from `debit` to `credit`.
struct movement {
  std::int64_t debit = 0, credit = 0;
  std::int64_t amount = 0;
  std::string kind;  // a ledger_kind
  std::int64_t job_id = 0;
  std::string memo;  // at most max_memo_bytes
};

// What a donor decided for one of their workers (by its name), from the dashboard or the API:
// the daemon applies it to the worker whenever it is connected. Checked by the store:
// max_slots 0..256, hours 0..23.
struct worker_settings {
  bool paused = false;              // no new jobs (running ones finish)
  int max_slots = 0;                // at most this many jobs at once per backend; 0: every slot
  int hours_from = 0, hours_to = 0; // new jobs only from hours_from to hours_to (worker's local
                                    // time, end excluded, may wrap past midnight); equal: always
  std::optional<bool> accept_free;  // run free jobs; nullopt: as the worker's --free-jobs says
  std::int64_t updated_ms = 0;
};

struct worker_settings_record {
  std::string name;  // the worker's name
  worker_settings settings;
};

// How a donor's results fared when the daemon checked them against a trusted worker's.
struct donor_trust {
  std::int64_t account_id = 0;
  std::int64_t checked = 0, agreed = 0, disagreed = 0;
  std::int64_t streak = 0;  // agreements since the last disagreement
  std::int64_t last_disagreement_ms = 0;  // 0: never
};

inline constexpr std::size_t max_worker_name_bytes = 64;
inline constexpr int max_worker_slots = 256;

struct audit_report {
  bool ok = true;                    // problems is empty
  std::int64_t minted = 0;           // sum of every grant in the ledger
  std::int64_t sum_of_balances = 0;  // cached balances, mint included; 0 when healthy
  std::int64_t accounts_checked = 0, entries_checked = 0;
  std::vector<std::int64_t> bad_accounts;  // ids whose cached balance is wrong or negative
  // Escrow holds exactly what the unfinished jobs reserved, and every finished job's
  // reservation left escrow once (charge + fee + refund = reserved).
  std::int64_t escrow = 0, reserved_by_unfinished_jobs = 0;
  std::int64_t jobs_checked = 0;
  std::vector<std::int64_t> bad_jobs;  // the first few jobs settled wrongly
  std::vector<std::string> problems;       // one line each, naming accounts and amounts
};

// A refusal that is the caller's fault; nothing was written. code() is one of:
//   bad_name, name_taken, bad_kind (create_account of a system account),
//   unknown_account, bad_member (not an org / not a user / unknown role),
//   bad_token (hash, prefix, name or scopes out of bounds, hash already used, system owner),
//   bad_amount (<= 0, or a balance would overflow), unknown_kind (not a ledger_kind),
//   bad_movement (same account both sides, grant not out of mint, anything else out of or
//   into mint, job id < 0, memo too long), insufficient_funds.
class store_refused : public std::runtime_error {
 public:
  store_refused(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

class account_store {
 public:
  virtual ~account_store() = default;

  // A user or organisation, and when grant > 0 a grant of that much out of mint, in one
  // transaction. Refuses bad_name, name_taken, bad_kind, bad_amount (grant < 0).
  virtual account_record create_account(std::string_view name, account_kind kind,
                                        std::int64_t grant, std::int64_t now_ms) = 0;
  virtual std::optional<account_record> find_account(std::string_view name) = 0;
  virtual std::optional<account_record> get_account(std::int64_t id) = 0;

  // Adds `user_id` to organisation `org_id`, or changes its role there.
  virtual void add_member(std::int64_t org_id, std::int64_t user_id, org_role role) = 0;
  virtual std::vector<membership> members(std::int64_t org_id) = 0;  // by user name
  virtual std::vector<membership> orgs_of(std::int64_t user_id) = 0;  // by org name

  // Stores a token by the hash of its secret (the store never sees the secret).
  virtual token_record create_token(std::int64_t account_id, std::string_view name,
                                    std::uint32_t scopes, std::string_view prefix,
                                    std::string_view token_hash, std::int64_t now_ms) = 0;
  // The token with this hash and its owner, live or revoked: the caller decides.
  virtual std::optional<token_match> find_token(std::string_view token_hash) = 0;
  virtual std::vector<token_record> list_tokens(std::int64_t account_id) = 0;  // newest first
  // False when the token is not that account's, does not exist, or is already revoked.
  virtual bool revoke_token(std::int64_t account_id, std::int64_t token_id,
                            std::int64_t now_ms) = 0;
  // Records a use. Returns at once; uses are coalesced (at most one write per token per
  // token_touch_interval_ms) and ride along with the next commit.
  virtual void touch_token(std::int64_t token_id, std::int64_t now_ms) = 0;

  // Writes every movement in one transaction, in order (a later one sees the balances the
  // earlier ones left), all or nothing. Returns the ledger ids, in the same order.
  virtual std::vector<std::int64_t> move(std::vector<movement> movements,
                                         std::int64_t now_ms) = 0;
  // The account's ledger rows, newest first; before_id is a cursor (0 = from the newest);
  // limit is clamped to 1..1000.
  virtual std::vector<ledger_entry> history(std::int64_t account_id, int limit,
                                            std::int64_t before_id) = 0;
  // The ledger rows that name this job (its reservation when it was journaled alone, its
  // charges, fee and refund), oldest first.
  virtual std::vector<ledger_entry> job_entries(std::int64_t job_id) = 0;
  // Recomputes every balance from the ledger, in one consistent read, and compares.
  virtual audit_report audit() = 0;

  // A donor's settings for their worker named `name` (replacing what was there). Refuses
  // bad_settings (name empty or over max_worker_name_bytes, values out of range) and
  // unknown_account.
  virtual void set_worker_settings(std::int64_t owner_id, std::string_view name,
                                   const worker_settings& settings) = 0;
  virtual std::optional<worker_settings> find_worker_settings(std::int64_t owner_id,
                                                              std::string_view name) = 0;
  virtual std::vector<worker_settings_record> list_worker_settings(std::int64_t owner_id) = 0;  // by name

  // Counts one check of a donor's result. Returns at once (like touch_token): the write rides
  // with the next commit, so the broker thread never waits for it.
  virtual void record_check(std::int64_t account_id, bool agreed, std::int64_t now_ms) = 0;
  virtual std::optional<donor_trust> find_trust(std::int64_t account_id) = 0;
  // Donors that ever disagreed, most recent disagreement first.
  virtual std::vector<donor_trust> distrusted() = 0;
};

// The accounts kept in the same journal (same file, same writer, same transactions) as
// `journal`'s jobs, so that a later charge can commit with the finish() that causes it.
// Lives as long as `journal`. Throws std::invalid_argument when that journal keeps no
// accounts (a test fake).
account_store& accounts_of(job_store& journal);

}  // namespace potluck::daemon
