// sqlite_accounts: the SQL of accounts, tokens and the ledger (see the header for threads
// and invariants). Refusals are checked before anything is written, so that their message
// can name the accounts and amounts involved; the schema's own CHECKs stay as a second line.
#include "daemon/store/sqlite_accounts.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace potluck::daemon::store_detail {
namespace {

constexpr const char* account_columns = "id, name, kind, created_ms, balance";
constexpr const char* token_columns =
    "id, account_id, name, scopes, prefix, created_ms, last_used_ms, revoked_ms";
constexpr const char* entry_columns =
    "id, debit_account, credit_account, amount, kind, job_id, time_ms, memo";

// Reads the five account columns starting at `first`.
account_record read_account(sqlite3_stmt* stmt, int first) {
  account_record account;
  account.id = sqlite3_column_int64(stmt, first);
  account.name = column_text(stmt, first + 1);
  std::string kind = column_text(stmt, first + 2);
  auto parsed = parse_account_kind(kind);
  if (!parsed) {
    throw std::runtime_error("job journal: account " + std::to_string(account.id) +
                             " has unknown kind '" + kind + "'");
  }
  account.kind = *parsed;
  account.created_ms = sqlite3_column_int64(stmt, first + 3);
  account.balance = sqlite3_column_int64(stmt, first + 4);
  return account;
}

token_record read_token(sqlite3_stmt* stmt, int first) {
  token_record token;
  token.id = sqlite3_column_int64(stmt, first);
  token.account_id = sqlite3_column_int64(stmt, first + 1);
  token.name = column_text(stmt, first + 2);
  token.scopes = static_cast<std::uint32_t>(sqlite3_column_int64(stmt, first + 3));
  token.prefix = column_text(stmt, first + 4);
  token.created_ms = sqlite3_column_int64(stmt, first + 5);
  token.last_used_ms = sqlite3_column_int64(stmt, first + 6);
  token.revoked_ms = sqlite3_column_int64(stmt, first + 7);
  return token;
}

ledger_entry read_entry(sqlite3_stmt* stmt) {
  ledger_entry entry;
  entry.id = sqlite3_column_int64(stmt, 0);
  entry.debit_account = sqlite3_column_int64(stmt, 1);
  entry.credit_account = sqlite3_column_int64(stmt, 2);
  entry.amount = sqlite3_column_int64(stmt, 3);
  entry.kind = column_text(stmt, 4);
  entry.job_id = sqlite3_column_int64(stmt, 5);
  entry.time_ms = sqlite3_column_int64(stmt, 6);
  entry.memo = column_text(stmt, 7);
  return entry;
}

std::string describe(const account_record& account) {
  return "account '" + account.name + "' (id " + std::to_string(account.id) + ")";
}

// "a user", "an organisation", "a system account".
std::string a_kind(account_kind kind) {
  switch (kind) {
    case account_kind::user: return "a user";
    case account_kind::org: return "an organisation";
    case account_kind::system: return "a system account";
  }
  return "an account of unknown kind";
}

std::string context_of(std::size_t index, std::size_t count) {
  if (count <= 1) return {};
  return "movement " + std::to_string(index + 1) + " of " + std::to_string(count) + ": ";
}

}  // namespace

void check_new_account(std::string_view name, account_kind kind, std::int64_t grant) {
  if (std::string problem = account_name_problem(name); !problem.empty()) {
    throw store_refused("bad_name", problem);
  }
  if (kind == account_kind::system) {
    throw store_refused("bad_kind", "system accounts are created by the journal's schema, not "
                                    "by create_account; make a user or an organisation");
  }
  if (kind != account_kind::user && kind != account_kind::org) {
    throw store_refused("bad_kind", "an account is a user or an organisation");
  }
  if (grant < 0) {
    throw store_refused("bad_amount", "a starting grant cannot be negative (got " +
                                          std::to_string(grant) + " micro-credits)");
  }
}

void check_new_token(std::string_view name, std::uint32_t scopes, std::string_view prefix,
                     std::string_view token_hash) {
  if (name.empty() || name.size() > max_token_name_bytes) {
    throw store_refused("bad_token", "a token name takes 1 to " +
                                         std::to_string(max_token_name_bytes) + " bytes (got " +
                                         std::to_string(name.size()) + ")");
  }
  if ((scopes & ~token_scope::all) != 0) {
    throw store_refused("bad_token", "unknown token scope bits " +
                                         std::to_string(scopes & ~token_scope::all) +
                                         " (known: read=1 submit=2 publish=4 donate=8 admin=16)");
  }
  if (prefix.size() > max_token_prefix_bytes) {
    throw store_refused("bad_token", "a token's display prefix takes at most " +
                                         std::to_string(max_token_prefix_bytes) + " bytes (got " +
                                         std::to_string(prefix.size()) + ")");
  }
  if (token_hash.empty() || token_hash.size() > max_token_hash_bytes) {
    throw store_refused("bad_token", "a token hash takes 1 to " +
                                         std::to_string(max_token_hash_bytes) + " bytes (got " +
                                         std::to_string(token_hash.size()) + ")");
  }
}

void check_movements(const std::vector<movement>& movements) {
  for (std::size_t i = 0; i < movements.size(); ++i) {
    const movement& m = movements[i];
    std::string context = context_of(i, movements.size());
    if (!is_ledger_kind(m.kind)) {
      throw store_refused("unknown_kind",
                          context + "unknown movement kind '" + m.kind.substr(0, 40) +
                              "' (known: grant, reserve, charge, payout, refund, fee, transfer)");
    }
    if (m.amount <= 0) {
      throw store_refused("bad_amount", context + "a " + m.kind + " must move more than 0 " +
                                            "micro-credits (got " + std::to_string(m.amount) + ")");
    }
    if (m.debit == m.credit) {
      throw store_refused("bad_movement", context + "a " + m.kind + " from account " +
                                              std::to_string(m.debit) + " to itself");
    }
    bool grant = m.kind == ledger_kind::grant;
    if (grant && m.debit != mint_account_id) {
      throw store_refused("bad_movement", context + "a grant comes out of mint (account " +
                                              std::to_string(mint_account_id) + "), not account " +
                                              std::to_string(m.debit));
    }
    if (!grant && m.debit == mint_account_id) {
      throw store_refused("bad_movement",
                          context + "only grants come out of mint, not a " + m.kind);
    }
    if (m.credit == mint_account_id) {
      throw store_refused("bad_movement", context + "nothing is paid into mint");
    }
    if (m.job_id < 0) {
      throw store_refused("bad_movement",
                          context + "job id " + std::to_string(m.job_id) + " is negative");
    }
    if (m.memo.size() > max_memo_bytes) {
      throw store_refused("bad_movement", context + "a memo takes at most " +
                                              std::to_string(max_memo_bytes) + " bytes (got " +
                                              std::to_string(m.memo.size()) + ")");
    }
  }
}

void check_worker_settings(std::string_view name, const worker_settings& s) {
  if (name.empty() || name.size() > max_worker_name_bytes) {
    throw store_refused("bad_settings", "a worker's name is 1 to " + std::to_string(max_worker_name_bytes) + " bytes");
  }
  if (s.max_slots < 0 || s.max_slots > max_worker_slots) {
    throw store_refused("bad_settings", "max_slots is from 0 (every slot) to " + std::to_string(max_worker_slots));
  }
  if (s.hours_from < 0 || s.hours_from > 23 || s.hours_to < 0 || s.hours_to > 23) {
    throw store_refused("bad_settings", "hours are from 0 to 23");
  }
}

// ---- writes ---------------------------------------------------------------------------

account_writes::account_writes(sqlite3* db, const std::filesystem::path& file)
    : db_(db), file_(file) {
  const std::string accounts = account_columns;
  get_ = prepare(db, file, "SELECT " + accounts + " FROM accounts WHERE id = ?1");
  id_by_name_ = prepare(db, file, "SELECT id FROM accounts WHERE name = ?1");
  insert_account_ =
      prepare(db, file, "INSERT INTO accounts (name, kind, created_ms) VALUES (?1, ?2, ?3)");
  add_balance_ = prepare(db, file, "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1");
  take_balance_ = prepare(db, file,
                          "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1 AND balance >= ?2 "
                          "AND kind <> 'system'");
  insert_entry_ = prepare(db, file,
                          "INSERT INTO ledger (debit_account, credit_account, amount, kind, "
                          "job_id, time_ms, memo) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  upsert_member_ = prepare(db, file,
                           "INSERT INTO org_members (org_id, user_id, role) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role");
  hash_used_ = prepare(db, file, "SELECT 1 FROM api_tokens WHERE token_hash = ?1");
  insert_token_ = prepare(db, file,
                          "INSERT INTO api_tokens (account_id, name, scopes, prefix, token_hash, "
                          "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  revoke_token_ = prepare(db, file,
                          "UPDATE api_tokens SET revoked_ms = ?3 "
                          "WHERE id = ?2 AND account_id = ?1 AND revoked_ms = 0");
  touch_token_ = prepare(db, file,
                         "UPDATE api_tokens SET last_used_ms = ?2 "
                         "WHERE id = ?1 AND last_used_ms < ?2");
  upsert_settings_ = prepare(db, file,
                             "INSERT INTO worker_settings (owner_id, name, paused, max_slots, hours_from, "
                             "hours_to, accept_free, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                             "ON CONFLICT (owner_id, name) DO UPDATE SET paused = excluded.paused, "
                             "max_slots = excluded.max_slots, hours_from = excluded.hours_from, "
                             "hours_to = excluded.hours_to, accept_free = excluded.accept_free, "
                             "updated_ms = excluded.updated_ms");
  record_check_ = prepare(db, file,
                          "INSERT INTO donor_trust (account_id, checked, agreed, disagreed, streak, "
                          "last_disagreement_ms) VALUES (?1, 1, ?2, 1 - ?2, ?2, CASE WHEN ?2 THEN 0 ELSE ?3 END) "
                          "ON CONFLICT (account_id) DO UPDATE SET checked = checked + 1, agreed = agreed + ?2, "
                          "disagreed = disagreed + 1 - ?2, streak = CASE WHEN ?2 THEN streak + 1 ELSE 0 END, "
                          "last_disagreement_ms = CASE WHEN ?2 THEN last_disagreement_ms ELSE ?3 END");
}

void account_writes::record_check(std::int64_t account_id, bool agreed, std::int64_t now_ms) {
  sqlite3_stmt* stmt = record_check_.get();
  sqlite3_bind_int64(stmt, 1, account_id);
  sqlite3_bind_int(stmt, 2, agreed ? 1 : 0);
  sqlite3_bind_int64(stmt, 3, now_ms);
  step(stmt, "cannot record a check");
}

void account_writes::set_worker_settings(std::int64_t owner_id, std::string_view name, const worker_settings& s) {
  const account_record owner = load_for(owner_id, "worker owner", {});
  if (owner.kind == account_kind::system) {
    throw store_refused("bad_settings", describe(owner) + " is a system account: it has no workers");
  }
  sqlite3_stmt* stmt = upsert_settings_.get();
  sqlite3_bind_int64(stmt, 1, owner_id);
  bind_text(stmt, 2, name);
  sqlite3_bind_int(stmt, 3, s.paused ? 1 : 0);
  sqlite3_bind_int(stmt, 4, s.max_slots);
  sqlite3_bind_int(stmt, 5, s.hours_from);
  sqlite3_bind_int(stmt, 6, s.hours_to);
  if (s.accept_free) sqlite3_bind_int(stmt, 7, *s.accept_free ? 1 : 0);
  else sqlite3_bind_null(stmt, 7);
  sqlite3_bind_int64(stmt, 8, s.updated_ms);
  step(stmt, "cannot write a worker's settings");
}

void account_writes::step(sqlite3_stmt* stmt, std::string_view what) { step_once(db_, file_, stmt, what); }

std::optional<account_record> account_writes::load(std::int64_t id) {
  sqlite3_stmt* stmt = get_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, id);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    throw std::runtime_error(journal_error(file_, "cannot read an account", db_));
  }
  return read_account(stmt, 0);
}

account_record account_writes::load_for(std::int64_t id, std::string_view role,
                                        std::string_view context) {
  auto account = load(id);
  if (!account) {
    throw store_refused("unknown_account", std::string(context) + std::string(role) +
                                               " account " + std::to_string(id) +
                                               " does not exist");
  }
  return *account;
}

account_record account_writes::create_account(std::string_view name, account_kind kind,
                                              std::int64_t grant, std::int64_t now_ms) {
  {
    sqlite3_stmt* stmt = id_by_name_.get();
    reset_on_exit reset(stmt);
    bind_text(stmt, 1, name);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      throw store_refused("name_taken", "account name '" + std::string(name) + "' is taken");
    }
    if (rc != SQLITE_DONE) {
      throw std::runtime_error(journal_error(file_, "cannot look up an account name", db_));
    }
  }
  sqlite3_stmt* insert = insert_account_.get();
  bind_text(insert, 1, name);
  sqlite3_bind_text(insert, 2, to_string(kind), -1, SQLITE_STATIC);
  sqlite3_bind_int64(insert, 3, now_ms);
  step(insert, "cannot insert an account");
  std::int64_t id = sqlite3_last_insert_rowid(db_);
  if (grant > 0) {
    movement welcome{mint_account_id, id, grant, ledger_kind::grant, 0, "grant at creation"};
    apply_movement(welcome, now_ms, {});
  }
  return load_for(id, "new", {});
}

std::int64_t account_writes::apply_movement(const movement& m, std::int64_t now_ms,
                                            std::string_view context) {
  account_record debit = load_for(m.debit, "debit", context);
  account_record credit = load_for(m.credit, "credit", context);
  // Only mint may go below 0: escrow and fees below 0 would mean paying out more than held.
  if (debit.id != mint_account_id && debit.balance < m.amount) {
    throw store_refused("insufficient_funds",
                        std::string(context) + describe(debit) + " holds " +
                            std::to_string(debit.balance) + " micro-credits, too few for a " +
                            m.kind + " of " + std::to_string(m.amount));
  }
  std::int64_t debit_after = 0, credit_after = 0;
  if (__builtin_sub_overflow(debit.balance, m.amount, &debit_after) ||
      __builtin_add_overflow(credit.balance, m.amount, &credit_after)) {
    throw store_refused("bad_amount", std::string(context) + "a " + m.kind + " of " +
                                          std::to_string(m.amount) + " from " + describe(debit) +
                                          " to " + describe(credit) +
                                          " would overflow a balance");
  }
  sqlite3_stmt* add = add_balance_.get();
  sqlite3_bind_int64(add, 1, debit.id);
  sqlite3_bind_int64(add, 2, -m.amount);
  step(add, "cannot update a balance");
  sqlite3_bind_int64(add, 1, credit.id);
  sqlite3_bind_int64(add, 2, m.amount);
  step(add, "cannot update a balance");

  sqlite3_stmt* insert = insert_entry_.get();
  sqlite3_bind_int64(insert, 1, debit.id);
  sqlite3_bind_int64(insert, 2, credit.id);
  sqlite3_bind_int64(insert, 3, m.amount);
  bind_text(insert, 4, m.kind);
  sqlite3_bind_int64(insert, 5, m.job_id);
  sqlite3_bind_int64(insert, 6, now_ms);
  bind_text(insert, 7, m.memo);
  step(insert, "cannot write a ledger row");
  return sqlite3_last_insert_rowid(db_);
}

void account_writes::add_to(std::int64_t account, std::int64_t amount) {
  sqlite3_stmt* add = add_balance_.get();
  sqlite3_bind_int64(add, 1, account);
  sqlite3_bind_int64(add, 2, amount);
  step(add, "cannot update a balance");
  if (sqlite3_changes(db_) != 1) {
    throw store_refused("unknown_account", "account " + std::to_string(account) + " does not exist");
  }
}

void account_writes::entry(std::int64_t debit, std::int64_t credit, std::int64_t amount, const char* kind,
                           std::int64_t job_id, const std::string& memo, std::int64_t now_ms) {
  sqlite3_stmt* insert = insert_entry_.get();
  sqlite3_bind_int64(insert, 1, debit);
  sqlite3_bind_int64(insert, 2, credit);
  sqlite3_bind_int64(insert, 3, amount);
  sqlite3_bind_text(insert, 4, kind, -1, SQLITE_STATIC);
  sqlite3_bind_int64(insert, 5, job_id);
  sqlite3_bind_int64(insert, 6, now_ms);
  bind_text(insert, 7, memo);
  step(insert, "cannot write a ledger row");
}

void account_writes::reserve(std::int64_t account, std::int64_t amount, std::int64_t job_id,
                             const std::string& memo, std::int64_t now_ms) {
  if (amount <= 0) throw store_refused("bad_amount", "a reservation is above 0");
  sqlite3_stmt* take = take_balance_.get();
  sqlite3_bind_int64(take, 1, account);
  sqlite3_bind_int64(take, 2, amount);
  step(take, "cannot update a balance");
  if (sqlite3_changes(db_) != 1) {
    const account_record who = load_for(account, "paying", {});
    if (who.kind == account_kind::system) {
      throw store_refused("bad_movement", describe(who) + " is a system account: it submits no jobs");
    }
    throw store_refused("insufficient_funds", describe(who) + " holds " + std::to_string(who.balance) +
                                                  " micro-credits, too few for a reserve of " +
                                                  std::to_string(amount));
  }
  add_to(escrow_account_id, amount);
  entry(account, escrow_account_id, amount, ledger_kind::reserve, job_id, memo, now_ms);
}

void account_writes::settle(std::int64_t job_id, std::int64_t account, const std::vector<payment>& payments,
                            std::int64_t reserved, std::int64_t charged, std::int64_t fee,
                            std::int64_t now_ms) {
  if (reserved <= 0) return;
  std::int64_t paid = 0, fees = 0;
  for (const auto& p : payments) {
    if (p.payee_id == 0 || p.charge < 0 || p.fee < 0 || p.fee > p.charge) paid = -1;
    if (paid < 0) break;
    paid += p.charge;
    fees += p.fee;
  }
  if (charged < 0 || charged > reserved || fee < 0 || fee > charged || paid != charged || fees != fee) {
    throw store_refused("bad_amount", "job " + std::to_string(job_id) + ": charges of " +
                                          std::to_string(charged) + " with fees of " +
                                          std::to_string(fee) + " do not fit its reservation of " +
                                          std::to_string(reserved));
  }
  add_to(escrow_account_id, -reserved);  // the schema refuses escrow below 0
  const std::string no_memo;
  for (const auto& p : payments) {
    if (p.charge - p.fee > 0) {
      add_to(p.payee_id, p.charge - p.fee);
      entry(escrow_account_id, p.payee_id, p.charge - p.fee, ledger_kind::charge, job_id, no_memo, now_ms);
    }
  }
  if (fee > 0) {
    add_to(fees_account_id, fee);
    entry(escrow_account_id, fees_account_id, fee, ledger_kind::fee, job_id, no_memo, now_ms);
  }
  if (reserved - charged > 0) {
    add_to(account, reserved - charged);
    entry(escrow_account_id, account, reserved - charged, ledger_kind::refund, job_id, no_memo, now_ms);
  }
}

std::vector<std::int64_t> account_writes::move(const std::vector<movement>& movements,
                                               std::int64_t now_ms) {
  std::vector<std::int64_t> ids;
  ids.reserve(movements.size());
  for (std::size_t i = 0; i < movements.size(); ++i) {
    ids.push_back(apply_movement(movements[i], now_ms, context_of(i, movements.size())));
  }
  return ids;
}

void account_writes::add_member(std::int64_t org_id, std::int64_t user_id, org_role role) {
  account_record org = load_for(org_id, "organisation", {});
  if (org.kind != account_kind::org) {
    throw store_refused("bad_member", describe(org) + " is " + a_kind(org.kind) +
                                          ", not an organisation: only organisations have members");
  }
  account_record user = load_for(user_id, "member", {});
  if (user.kind != account_kind::user) {
    throw store_refused("bad_member", describe(user) + " is " + a_kind(user.kind) +
                                          ", not a user: only users join organisations");
  }
  sqlite3_stmt* stmt = upsert_member_.get();
  sqlite3_bind_int64(stmt, 1, org_id);
  sqlite3_bind_int64(stmt, 2, user_id);
  sqlite3_bind_text(stmt, 3, to_string(role), -1, SQLITE_STATIC);
  step(stmt, "cannot add a member");
}

token_record account_writes::create_token(std::int64_t account_id, std::string_view name,
                                          std::uint32_t scopes, std::string_view prefix,
                                          std::string_view token_hash, std::int64_t now_ms) {
  account_record owner = load_for(account_id, "token owner", {});
  if (owner.kind == account_kind::system) {
    throw store_refused("bad_token", describe(owner) + " is a system account: it holds no tokens");
  }
  {
    sqlite3_stmt* stmt = hash_used_.get();
    reset_on_exit reset(stmt);
    bind_text(stmt, 1, token_hash);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      throw store_refused("bad_token", "a token with this hash exists already: make a new secret");
    }
    if (rc != SQLITE_DONE) {
      throw std::runtime_error(journal_error(file_, "cannot look up a token hash", db_));
    }
  }
  sqlite3_stmt* stmt = insert_token_.get();
  sqlite3_bind_int64(stmt, 1, account_id);
  bind_text(stmt, 2, name);
  sqlite3_bind_int64(stmt, 3, scopes);
  bind_text(stmt, 4, prefix);
  bind_text(stmt, 5, token_hash);
  sqlite3_bind_int64(stmt, 6, now_ms);
  step(stmt, "cannot insert a token");
  token_record token;
  token.id = sqlite3_last_insert_rowid(db_);
  token.account_id = account_id;
  token.name = name;
  token.scopes = scopes;
  token.prefix = prefix;
  token.created_ms = now_ms;
  return token;
}

bool account_writes::revoke_token(std::int64_t account_id, std::int64_t token_id,
                                  std::int64_t now_ms) {
  sqlite3_stmt* stmt = revoke_token_.get();
  sqlite3_bind_int64(stmt, 1, account_id);
  sqlite3_bind_int64(stmt, 2, token_id);
  sqlite3_bind_int64(stmt, 3, std::max<std::int64_t>(1, now_ms));  // 0 would mean live
  step(stmt, "cannot revoke a token");
  return sqlite3_changes(db_) > 0;
}

void account_writes::record_token_uses(const std::unordered_map<std::int64_t, std::int64_t>& uses) {
  sqlite3_stmt* stmt = touch_token_.get();
  for (const auto& [token_id, used_ms] : uses) {
    sqlite3_bind_int64(stmt, 1, token_id);
    sqlite3_bind_int64(stmt, 2, used_ms);
    step(stmt, "cannot record a token's use");
  }
}

// ---- reads ----------------------------------------------------------------------------

account_reads::account_reads(sqlite3* db, const std::filesystem::path& file)
    : db_(db), file_(file) {
  const std::string accounts = account_columns;
  const std::string tokens = token_columns;
  const std::string entries = entry_columns;
  by_name_ = prepare(db, file, "SELECT " + accounts + " FROM accounts WHERE name = ?1");
  by_id_ = prepare(db, file, "SELECT " + accounts + " FROM accounts WHERE id = ?1");
  members_ = prepare(db, file,
                     "SELECT a.id, a.name, a.kind, a.created_ms, a.balance, m.role "
                     "FROM org_members m JOIN accounts a ON a.id = m.user_id "
                     "WHERE m.org_id = ?1 ORDER BY a.name");
  orgs_of_ = prepare(db, file,
                     "SELECT a.id, a.name, a.kind, a.created_ms, a.balance, m.role "
                     "FROM org_members m JOIN accounts a ON a.id = m.org_id "
                     "WHERE m.user_id = ?1 ORDER BY a.name");
  find_token_ = prepare(db, file,
                        "SELECT t.id, t.account_id, t.name, t.scopes, t.prefix, t.created_ms, "
                        "t.last_used_ms, t.revoked_ms, a.id, a.name, a.kind, a.created_ms, "
                        "a.balance FROM api_tokens t JOIN accounts a ON a.id = t.account_id "
                        "WHERE t.token_hash = ?1");
  list_tokens_ = prepare(
      db, file, "SELECT " + tokens + " FROM api_tokens WHERE account_id = ?1 ORDER BY id DESC");
  const std::string settings = "name, paused, max_slots, hours_from, hours_to, accept_free, updated_ms";
  find_settings_ = prepare(db, file, "SELECT " + settings + " FROM worker_settings WHERE owner_id = ?1 AND name = ?2");
  list_settings_ = prepare(db, file, "SELECT " + settings + " FROM worker_settings WHERE owner_id = ?1 ORDER BY name");
  const std::string trust = "account_id, checked, agreed, disagreed, streak, last_disagreement_ms";
  find_trust_ = prepare(db, file, "SELECT " + trust + " FROM donor_trust WHERE account_id = ?1");
  distrusted_ = prepare(db, file,
                        "SELECT " + trust + " FROM donor_trust WHERE disagreed > 0 "
                        "ORDER BY last_disagreement_ms DESC LIMIT 200");
  job_entries_ = prepare(db, file, "SELECT " + entries + " FROM ledger WHERE job_id = ?1 ORDER BY id LIMIT 100");
  // Two index range scans, each stopping after `limit` rows, rather than an OR that would
  // walk the whole ledger backwards. An account is never on both sides of one row.
  history_ = prepare(db, file,
                     "SELECT * FROM (SELECT " + entries +
                         " FROM ledger WHERE debit_account = ?1 AND id < ?2 "
                         "ORDER BY id DESC LIMIT ?3) "
                         "UNION ALL SELECT * FROM (SELECT " +
                         entries +
                         " FROM ledger WHERE credit_account = ?1 AND id < ?2 "
                         "ORDER BY id DESC LIMIT ?3) "
                         "ORDER BY id DESC LIMIT ?3");
  begin_ = prepare(db, file, "BEGIN");
  end_ = prepare(db, file, "COMMIT");
  audit_accounts_ = prepare(
      db, file,
      "SELECT a.id, a.name, a.kind, a.created_ms, a.balance, "
      "coalesce((SELECT sum(amount) FROM ledger WHERE credit_account = a.id), 0), "
      "coalesce((SELECT sum(amount) FROM ledger WHERE debit_account = a.id), 0) "
      "FROM accounts a ORDER BY a.id");
  audit_entries_ = prepare(
      db, file,
      "SELECT count(*), "
      "coalesce(sum(CASE WHEN kind = 'grant' THEN amount END), 0), "
      "count(CASE WHEN kind = 'grant' AND debit_account <> 1 THEN 1 END), "
      "count(CASE WHEN kind <> 'grant' AND debit_account = 1 THEN 1 END), "
      "count(CASE WHEN credit_account = 1 THEN 1 END), "
      "count(CASE WHEN debit_account NOT IN (SELECT id FROM accounts) "
      "OR credit_account NOT IN (SELECT id FROM accounts) THEN 1 END) "
      "FROM ledger");
  audit_jobs_ = prepare(
      db, file,
      "SELECT count(*), coalesce(sum(reserved), 0), "
      "coalesce(sum(CASE WHEN state IN ('queued', 'running') THEN reserved END), 0), "
      "(SELECT coalesce(sum(amount), 0) FROM ledger WHERE kind = 'reserve') "
      "FROM jobs");
  // Jobs whose reservation did not leave escrow exactly once when they ended (or left it
  // before they ended): a settlement missing, partial or repeated.
  audit_settlements_ = prepare(
      db, file,
      "SELECT j.id, j.state, j.reserved, coalesce(o.paid, 0) FROM jobs j "
      "LEFT JOIN (SELECT job_id, sum(amount) AS paid FROM ledger "
      "           WHERE debit_account = 2 GROUP BY job_id) o ON o.job_id = j.id "
      "WHERE coalesce(o.paid, 0) <> "
      "      CASE WHEN j.state IN ('queued', 'running') THEN 0 ELSE j.reserved END "
      "ORDER BY j.id LIMIT 20");
}

void account_reads::failed(std::string_view what) const {
  throw std::runtime_error(journal_error(file_, std::string(what) + " failed", db_));
}

std::optional<account_record> account_reads::find_account(std::string_view name) {
  sqlite3_stmt* stmt = by_name_.get();
  reset_on_exit reset(stmt);
  bind_text(stmt, 1, name);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) failed("find_account");
  return read_account(stmt, 0);
}

std::optional<account_record> account_reads::get_account(std::int64_t id) {
  sqlite3_stmt* stmt = by_id_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, id);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) failed("get_account");
  return read_account(stmt, 0);
}

std::vector<membership> account_reads::memberships(sqlite3_stmt* stmt, std::int64_t id,
                                                   std::string_view what) {
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, id);
  std::vector<membership> result;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    membership one;
    one.account = read_account(stmt, 0);
    one.role = parse_org_role(column_text(stmt, 5)).value_or(org_role::member);
    result.push_back(std::move(one));
  }
  if (rc != SQLITE_DONE) failed(what);
  return result;
}

std::vector<membership> account_reads::members(std::int64_t org_id) {
  return memberships(members_.get(), org_id, "members");
}

std::vector<membership> account_reads::orgs_of(std::int64_t user_id) {
  return memberships(orgs_of_.get(), user_id, "orgs_of");
}

std::optional<token_match> account_reads::find_token(std::string_view token_hash) {
  sqlite3_stmt* stmt = find_token_.get();
  reset_on_exit reset(stmt);
  bind_text(stmt, 1, token_hash);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) failed("find_token");
  return token_match{read_token(stmt, 0), read_account(stmt, 8)};
}

namespace {

worker_settings read_settings(sqlite3_stmt* stmt, int first) {
  worker_settings s;
  s.paused = sqlite3_column_int(stmt, first) != 0;
  s.max_slots = sqlite3_column_int(stmt, first + 1);
  s.hours_from = sqlite3_column_int(stmt, first + 2);
  s.hours_to = sqlite3_column_int(stmt, first + 3);
  if (sqlite3_column_type(stmt, first + 4) != SQLITE_NULL) s.accept_free = sqlite3_column_int(stmt, first + 4) != 0;
  s.updated_ms = sqlite3_column_int64(stmt, first + 5);
  return s;
}

}  // namespace

std::optional<worker_settings> account_reads::find_worker_settings(std::int64_t owner_id, std::string_view name) {
  sqlite3_stmt* stmt = find_settings_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, owner_id);
  bind_text(stmt, 2, name);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) failed("find_worker_settings");
  return read_settings(stmt, 1);
}

namespace {

donor_trust read_trust(sqlite3_stmt* stmt) {
  donor_trust t;
  t.account_id = sqlite3_column_int64(stmt, 0);
  t.checked = sqlite3_column_int64(stmt, 1);
  t.agreed = sqlite3_column_int64(stmt, 2);
  t.disagreed = sqlite3_column_int64(stmt, 3);
  t.streak = sqlite3_column_int64(stmt, 4);
  t.last_disagreement_ms = sqlite3_column_int64(stmt, 5);
  return t;
}

}  // namespace

std::optional<donor_trust> account_reads::find_trust(std::int64_t account_id) {
  sqlite3_stmt* stmt = find_trust_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, account_id);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) failed("find_trust");
  return read_trust(stmt);
}

std::vector<donor_trust> account_reads::distrusted() {
  sqlite3_stmt* stmt = distrusted_.get();
  reset_on_exit reset(stmt);
  std::vector<donor_trust> out;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) out.push_back(read_trust(stmt));
  if (rc != SQLITE_DONE) failed("distrusted");
  return out;
}

std::vector<worker_settings_record> account_reads::list_worker_settings(std::int64_t owner_id) {
  sqlite3_stmt* stmt = list_settings_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, owner_id);
  std::vector<worker_settings_record> out;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) out.push_back({column_text(stmt, 0), read_settings(stmt, 1)});
  if (rc != SQLITE_DONE) failed("list_worker_settings");
  return out;
}

std::vector<token_record> account_reads::list_tokens(std::int64_t account_id) {
  sqlite3_stmt* stmt = list_tokens_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, account_id);
  std::vector<token_record> tokens;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) tokens.push_back(read_token(stmt, 0));
  if (rc != SQLITE_DONE) failed("list_tokens");
  return tokens;
}

std::vector<ledger_entry> account_reads::history(std::int64_t account_id, int limit,
                                                 std::int64_t before_id) {
  sqlite3_stmt* stmt = history_.get();
  reset_on_exit reset(stmt);
  limit = std::clamp(limit, 1, 1000);
  sqlite3_bind_int64(stmt, 1, account_id);
  sqlite3_bind_int64(stmt, 2, before_id > 0 ? before_id : std::numeric_limits<std::int64_t>::max());
  sqlite3_bind_int(stmt, 3, limit);
  std::vector<ledger_entry> entries;
  entries.reserve(static_cast<std::size_t>(limit));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) entries.push_back(read_entry(stmt));
  if (rc != SQLITE_DONE) failed("history");
  return entries;
}

std::vector<ledger_entry> account_reads::job_entries(std::int64_t job_id) {
  sqlite3_stmt* stmt = job_entries_.get();
  reset_on_exit reset(stmt);
  sqlite3_bind_int64(stmt, 1, job_id);
  std::vector<ledger_entry> entries;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) entries.push_back(read_entry(stmt));
  if (rc != SQLITE_DONE) failed("job_entries");
  return entries;
}

namespace {

// One read transaction, so that the audit's statements see one snapshot. Ends it when the
// audit is over, by success or exception, before the connection goes back to the pool.
class read_transaction {
 public:
  read_transaction(sqlite3* db, sqlite3_stmt* begin, sqlite3_stmt* end) : db_(db), end_(end) {
    reset_on_exit reset(begin);
    ok_ = sqlite3_step(begin) == SQLITE_DONE;
  }
  ~read_transaction() {
    if (sqlite3_get_autocommit(db_) == 0) {
      sqlite3_step(end_);
      sqlite3_reset(end_);
    }
  }
  read_transaction(const read_transaction&) = delete;
  read_transaction& operator=(const read_transaction&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* end_;
  bool ok_ = false;
};

}  // namespace

audit_report account_reads::audit() {
  audit_report report;
  auto problem = [&report](std::string line) { report.problems.push_back(std::move(line)); };
  read_transaction snapshot(db_, begin_.get(), end_.get());
  if (!snapshot.ok()) failed("audit (begin)");

  std::optional<std::int64_t> mint_balance;
  bool sum_overflowed = false;
  {
    sqlite3_stmt* stmt = audit_accounts_.get();
    reset_on_exit reset(stmt);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      account_record account = read_account(stmt, 0);
      std::int64_t credits = sqlite3_column_int64(stmt, 5);
      std::int64_t debits = sqlite3_column_int64(stmt, 6);
      ++report.accounts_checked;
      bool bad = false;
      std::int64_t recomputed = 0;
      if (__builtin_sub_overflow(credits, debits, &recomputed)) {
        problem(describe(account) + ": its ledger rows overflow when added up");
        bad = true;
      } else if (recomputed != account.balance) {
        problem(describe(account) + ": cached balance " + std::to_string(account.balance) +
                ", but its ledger rows add up to " + std::to_string(recomputed));
        bad = true;
      }
      if (account.id != mint_account_id && account.balance < 0) {
        problem(describe(account) + ": a negative balance (" + std::to_string(account.balance) +
                "); only mint goes below 0");
        bad = true;
      }
      if (bad) report.bad_accounts.push_back(account.id);
      std::int64_t& sum = report.sum_of_balances;
      if (__builtin_add_overflow(sum, account.balance, &sum)) sum_overflowed = true;
      bool system_id = account.id == mint_account_id || account.id == escrow_account_id ||
                       account.id == fees_account_id;
      if (system_id != (account.kind == account_kind::system)) {
        problem(describe(account) + ": ids 1 to 3 are the system accounts, and only they");
      }
      if (account.id == mint_account_id) mint_balance = account.balance;
      if (account.id == escrow_account_id) report.escrow = account.balance;
    }
    if (rc != SQLITE_DONE) failed("audit (accounts)");
  }
  {
    sqlite3_stmt* stmt = audit_entries_.get();
    reset_on_exit reset(stmt);
    if (sqlite3_step(stmt) != SQLITE_ROW) failed("audit (ledger)");
    report.entries_checked = sqlite3_column_int64(stmt, 0);
    report.minted = sqlite3_column_int64(stmt, 1);
    if (auto n = sqlite3_column_int64(stmt, 2); n > 0) {
      problem(std::to_string(n) + " grant rows do not come out of mint");
    }
    if (auto n = sqlite3_column_int64(stmt, 3); n > 0) {
      problem(std::to_string(n) + " rows other than grants come out of mint");
    }
    if (auto n = sqlite3_column_int64(stmt, 4); n > 0) {
      problem(std::to_string(n) + " rows pay into mint");
    }
    if (auto n = sqlite3_column_int64(stmt, 5); n > 0) {
      problem(std::to_string(n) + " rows name an account that does not exist");
    }
  }
  if (sum_overflowed) {
    problem("the balances overflow when added up");
  } else if (report.sum_of_balances != 0) {
    problem("the balances, mint included, add up to " + std::to_string(report.sum_of_balances) +
            " micro-credits, not 0");
  }
  if (!mint_balance) {
    problem("the mint account (id 1) is missing");
  } else {
    std::int64_t difference = 0;
    if (__builtin_add_overflow(report.minted, *mint_balance, &difference) || difference != 0) {
      problem("grants add up to " + std::to_string(report.minted) +
              " micro-credits minted, but mint's balance is " + std::to_string(*mint_balance) +
              " (it should be minus what was minted)");
    }
  }
  {
    sqlite3_stmt* stmt = audit_jobs_.get();
    reset_on_exit reset(stmt);
    if (sqlite3_step(stmt) != SQLITE_ROW) failed("audit (jobs)");
    report.jobs_checked = sqlite3_column_int64(stmt, 0);
    const auto reserved_ever = sqlite3_column_int64(stmt, 1);
    report.reserved_by_unfinished_jobs = sqlite3_column_int64(stmt, 2);
    const auto reserve_rows = sqlite3_column_int64(stmt, 3);
    if (reserved_ever != reserve_rows) {
      problem("jobs reserved " + std::to_string(reserved_ever) +
              " micro-credits in all, but the reserve rows add up to " +
              std::to_string(reserve_rows));
    }
    if (report.escrow != report.reserved_by_unfinished_jobs) {
      problem("escrow holds " + std::to_string(report.escrow) +
              " micro-credits, but the unfinished jobs reserved " +
              std::to_string(report.reserved_by_unfinished_jobs));
    }
  }
  {
    sqlite3_stmt* stmt = audit_settlements_.get();
    reset_on_exit reset(stmt);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto id = sqlite3_column_int64(stmt, 0);
      const auto state = column_text(stmt, 1);
      const auto reserved = sqlite3_column_int64(stmt, 2);
      const auto paid = sqlite3_column_int64(stmt, 3);
      report.bad_jobs.push_back(id);
      problem("job " + std::to_string(id) + " (" + state + ") reserved " +
              std::to_string(reserved) + " micro-credits, and escrow paid out " +
              std::to_string(paid) + " for it" +
              (state == "queued" || state == "running" ? " before it ended" : ""));
    }
    if (rc != SQLITE_DONE) failed("audit (settlements)");
  }
  report.ok = report.problems.empty();
  return report;
}

}  // namespace potluck::daemon::store_detail
