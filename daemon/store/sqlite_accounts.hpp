// sqlite_accounts: the SQL of account_store, as two sets of prepared statements. Private to
// daemon/store; sqlite_job_store owns them and decides on which thread and in which
// transaction they run.
//
// Threads and ownership: account_writes lives on the journal's write connection and is used
// only by the writer thread, always inside a SAVEPOINT that the writer rolls back when a
// method throws, so a refused write leaves nothing behind and never disturbs the other
// writes of the same commit. account_reads lives on one read connection of the pool and is
// used by whichever thread leased that connection.
//
// Invariants: every balance change goes through apply_movement(), which writes the ledger
// row in the same statement group as the two balance updates and checks, before writing,
// everything the schema would otherwise refuse halfway (unknown accounts, overdraft,
// overflow), so refusals carry a clear message and a store_refused code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/store/account_store.hpp"
#include "daemon/store/job_store.hpp"
#include "daemon/store/sqlite_support.hpp"

namespace potluck::daemon::store_detail {

// Checks that need no storage, run on the caller's thread before a write is queued. Each
// throws store_refused.
void check_new_account(std::string_view name, account_kind kind, std::int64_t grant);
void check_new_token(std::string_view name, std::uint32_t scopes, std::string_view prefix,
                     std::string_view token_hash);
void check_movements(const std::vector<movement>& movements);
void check_worker_settings(std::string_view name, const worker_settings& settings);

class account_writes {
 public:
  account_writes(sqlite3* db, const std::filesystem::path& file);

  account_record create_account(std::string_view name, account_kind kind, std::int64_t grant,
                                std::int64_t now_ms);
  void add_member(std::int64_t org_id, std::int64_t user_id, org_role role);
  token_record create_token(std::int64_t account_id, std::string_view name, std::uint32_t scopes,
                            std::string_view prefix, std::string_view token_hash,
                            std::int64_t now_ms);
  bool revoke_token(std::int64_t account_id, std::int64_t token_id, std::int64_t now_ms);
  std::vector<std::int64_t> move(const std::vector<movement>& movements, std::int64_t now_ms);
  // The job path's two movements, written with fewer statements than move() because their
  // amounts come from the journal itself: a reservation of `amount` from `account` to escrow
  // (store_refused insufficient_funds, naming the balance, when it does not fit), and a
  // job's settlement out of escrow (charged - fee to payee, fee to fees, reserved - charged
  // back to account). The schema's CHECKs stay the guard against an overdraft of escrow.
  void reserve(std::int64_t account, std::int64_t amount, std::int64_t job_id, const std::string& memo,
               std::int64_t now_ms);
  void settle(std::int64_t job_id, std::int64_t account, const std::vector<payment>& payments,
              std::int64_t reserved, std::int64_t charged, std::int64_t fee, std::int64_t now_ms);
  void set_worker_settings(std::int64_t owner_id, std::string_view name, const worker_settings& settings);
  void record_check(std::int64_t account_id, bool agreed, std::int64_t now_ms);
  // token id -> newest use; a use older than the one recorded changes nothing.
  void record_token_uses(const std::unordered_map<std::int64_t, std::int64_t>& uses);

 private:
  std::optional<account_record> load(std::int64_t id);
  account_record load_for(std::int64_t id, std::string_view role, std::string_view context);
  std::int64_t apply_movement(const movement& m, std::int64_t now_ms, std::string_view context);
  void step(sqlite3_stmt* stmt, std::string_view what);

  sqlite3* db_;
  const std::filesystem::path file_;
  void add_to(std::int64_t account, std::int64_t amount);
  void entry(std::int64_t debit, std::int64_t credit, std::int64_t amount, const char* kind, std::int64_t job_id,
             const std::string& memo, std::int64_t now_ms);

  statement get_, id_by_name_, insert_account_, add_balance_, take_balance_, insert_entry_;
  statement upsert_member_, hash_used_, insert_token_, revoke_token_, touch_token_, upsert_settings_;
  statement record_check_;
};

class account_reads {
 public:
  account_reads(sqlite3* db, const std::filesystem::path& file);

  std::optional<account_record> find_account(std::string_view name);
  std::optional<account_record> get_account(std::int64_t id);
  std::vector<membership> members(std::int64_t org_id);
  std::vector<membership> orgs_of(std::int64_t user_id);
  std::optional<token_match> find_token(std::string_view token_hash);
  std::vector<token_record> list_tokens(std::int64_t account_id);
  std::vector<ledger_entry> history(std::int64_t account_id, int limit, std::int64_t before_id);
  std::vector<ledger_entry> job_entries(std::int64_t job_id);
  audit_report audit();
  std::optional<worker_settings> find_worker_settings(std::int64_t owner_id, std::string_view name);
  std::vector<worker_settings_record> list_worker_settings(std::int64_t owner_id);
  std::optional<donor_trust> find_trust(std::int64_t account_id);
  std::vector<donor_trust> distrusted();

 private:
  std::vector<membership> memberships(sqlite3_stmt* stmt, std::int64_t id, std::string_view what);
  [[noreturn]] void failed(std::string_view what) const;

  sqlite3* db_;
  const std::filesystem::path file_;
  statement by_name_, by_id_, members_, orgs_of_, find_token_, list_tokens_, history_;
  statement find_settings_, list_settings_, find_trust_, distrusted_, job_entries_;
  statement begin_, end_, audit_accounts_, audit_entries_, audit_jobs_, audit_settlements_;
};

}  // namespace potluck::daemon::store_detail
