// The model hub's tables (see sqlite_hub.hpp and migration 8).
#include "daemon/store/sqlite_hub.hpp"

#include <sqlite3.h>

#include <algorithm>

#include "daemon/store/account_store.hpp"
#include "daemon/store/sqlite_support.hpp"

namespace potluck::daemon::store_detail {
namespace {

// ["a","b"] <-> vector, for tags and labels (plain strings: quotes and backslashes escaped).
std::string to_json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    out += '"';
  }
  return out + "]";
}

std::vector<std::string> from_json_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  bool in = false, escaped = false;
  for (char c : text) {
    if (!in) {
      if (c == '"') in = true, item.clear();
      continue;
    }
    if (escaped) {
      item += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == '"') {
      out.push_back(item);
      in = false;
    } else {
      item += c;
    }
  }
  return out;
}

constexpr const char* model_columns =
    "m.id, m.owner_id, a.name, m.name, m.task, m.format, m.license, m.tags, m.labels, m.card, m.head, m.downloads, "
    "m.created_ms, m.updated_ms";

model_record read_model(sqlite3_stmt* stmt) {
  model_record m;
  m.id = sqlite3_column_int64(stmt, 0);
  m.owner_id = sqlite3_column_int64(stmt, 1);
  m.owner = column_text(stmt, 2);
  m.name = column_text(stmt, 3);
  m.card.task = column_text(stmt, 4);
  m.card.format = column_text(stmt, 5);
  m.card.license = column_text(stmt, 6);
  m.card.tags = from_json_list(column_text(stmt, 7));
  m.card.labels = from_json_list(column_text(stmt, 8));
  m.card.body = column_text(stmt, 9);
  m.head = column_text(stmt, 10);
  m.downloads = sqlite3_column_int64(stmt, 11);
  m.created_ms = sqlite3_column_int64(stmt, 12);
  m.updated_ms = sqlite3_column_int64(stmt, 13);
  return m;
}

}  // namespace

model_record hub_commit(sqlite3* db, const std::filesystem::path& file, std::int64_t owner_id, std::string_view name,
                        const model_card_fields& card, const model_revision& revision,
                        std::string_view expected_parent) {
  {
    auto stmt = prepare(db, file, "SELECT kind FROM accounts WHERE id = ?1");
    sqlite3_bind_int64(stmt.get(), 1, owner_id);
    if (sqlite3_step(stmt.get()) != SQLITE_ROW || column_text(stmt.get(), 0) == "system")
      throw store_refused("unknown_account", "account " + std::to_string(owner_id) + " cannot own models");
  }
  std::int64_t model_id = 0;
  std::string head;
  {
    auto stmt = prepare(db, file, "SELECT id, head FROM models WHERE owner_id = ?1 AND name = ?2");
    sqlite3_bind_int64(stmt.get(), 1, owner_id);
    bind_text(stmt.get(), 2, name);
    if (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      model_id = sqlite3_column_int64(stmt.get(), 0);
      head = column_text(stmt.get(), 1);
    }
  }
  if (head != expected_parent) {
    throw store_refused("conflict", head.empty() ? "the model does not exist yet: commit without a parent"
                                                 : "the model's head is " + head + ", not " +
                                                       (expected_parent.empty() ? std::string("empty") : std::string(expected_parent)) +
                                                       ": someone committed meanwhile; pull and commit again");
  }
  if (model_id == 0) {
    auto stmt = prepare(db, file,
                        "INSERT INTO models (owner_id, name, task, format, head, created_ms, updated_ms) "
                        "VALUES (?1, ?2, '', '', '', ?3, ?3)");
    sqlite3_bind_int64(stmt.get(), 1, owner_id);
    bind_text(stmt.get(), 2, name);
    sqlite3_bind_int64(stmt.get(), 3, revision.created_ms);
    step_once(db, file, stmt.get(), "cannot create a model");
    model_id = sqlite3_last_insert_rowid(db);
  }
  {
    auto stmt = prepare(db, file,
                        "INSERT INTO model_revisions (id, model_id, parent, author_id, message, created_ms) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    bind_text(stmt.get(), 1, revision.id);
    sqlite3_bind_int64(stmt.get(), 2, model_id);
    bind_text(stmt.get(), 3, revision.parent);
    sqlite3_bind_int64(stmt.get(), 4, revision.author_id);
    bind_text(stmt.get(), 5, revision.message);
    sqlite3_bind_int64(stmt.get(), 6, revision.created_ms);
    step_once(db, file, stmt.get(), "cannot write a revision");
  }
  {
    auto stmt = prepare(db, file, "INSERT INTO revision_files (revision_id, path, sha256, size) VALUES (?1, ?2, ?3, ?4)");
    for (const auto& f : revision.files) {
      bind_text(stmt.get(), 1, revision.id);
      bind_text(stmt.get(), 2, f.path);
      bind_text(stmt.get(), 3, f.sha256);
      sqlite3_bind_int64(stmt.get(), 4, f.size);
      step_once(db, file, stmt.get(), "cannot write a revision's file");
    }
  }
  {
    auto stmt = prepare(db, file,
                        "UPDATE models SET task = ?2, format = ?3, license = ?4, tags = ?5, labels = ?6, card = ?7, "
                        "head = ?8, updated_ms = ?9 WHERE id = ?1");
    sqlite3_bind_int64(stmt.get(), 1, model_id);
    bind_text(stmt.get(), 2, card.task);
    bind_text(stmt.get(), 3, card.format);
    bind_text(stmt.get(), 4, card.license);
    const auto tags = to_json_list(card.tags), labels = to_json_list(card.labels);  // bound SQLITE_STATIC
    bind_text(stmt.get(), 5, tags);
    bind_text(stmt.get(), 6, labels);
    bind_text(stmt.get(), 7, card.body);
    bind_text(stmt.get(), 8, revision.id);
    sqlite3_bind_int64(stmt.get(), 9, revision.created_ms);
    step_once(db, file, stmt.get(), "cannot update a model");
  }
  auto stmt = prepare(db, file, std::string("SELECT ") + model_columns +
                                    " FROM models m JOIN accounts a ON a.id = m.owner_id WHERE m.id = ?1");
  sqlite3_bind_int64(stmt.get(), 1, model_id);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) throw std::runtime_error(journal_error(file, "cannot read a model back", db));
  return read_model(stmt.get());
}

std::vector<std::string> hub_remove_model(sqlite3* db, const std::filesystem::path& file, std::int64_t model_id) {
  std::vector<std::string> held;
  {
    auto stmt = prepare(db, file,
                        "SELECT DISTINCT f.sha256 FROM revision_files f JOIN model_revisions r ON r.id = f.revision_id "
                        "WHERE r.model_id = ?1");
    sqlite3_bind_int64(stmt.get(), 1, model_id);
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) held.push_back(column_text(stmt.get(), 0));
  }
  for (const char* sql : {"DELETE FROM revision_files WHERE revision_id IN (SELECT id FROM model_revisions WHERE model_id = ?1)",
                          "DELETE FROM model_revisions WHERE model_id = ?1", "DELETE FROM models WHERE id = ?1"}) {
    auto stmt = prepare(db, file, sql);
    sqlite3_bind_int64(stmt.get(), 1, model_id);
    step_once(db, file, stmt.get(), "cannot remove a model");
  }
  std::vector<std::string> orphans;
  auto still = prepare(db, file, "SELECT 1 FROM revision_files WHERE sha256 = ?1 LIMIT 1");
  for (const auto& sha : held) {
    sqlite3_reset(still.get());
    bind_text(still.get(), 1, sha);
    if (sqlite3_step(still.get()) != SQLITE_ROW) orphans.push_back(sha);
  }
  return orphans;
}

void hub_count_download(sqlite3* db, const std::filesystem::path& file, std::int64_t model_id) {
  auto stmt = prepare(db, file, "UPDATE models SET downloads = downloads + 1 WHERE id = ?1");
  sqlite3_bind_int64(stmt.get(), 1, model_id);
  step_once(db, file, stmt.get(), "cannot count a download");
}

std::optional<model_record> hub_find_model(sqlite3* db, const std::filesystem::path& file, std::string_view owner,
                                           std::string_view name) {
  auto stmt = prepare(db, file, std::string("SELECT ") + model_columns +
                                    " FROM models m JOIN accounts a ON a.id = m.owner_id WHERE a.name = ?1 AND m.name = ?2");
  bind_text(stmt.get(), 1, owner);
  bind_text(stmt.get(), 2, name);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw std::runtime_error(journal_error(file, "cannot read a model", db));
  return read_model(stmt.get());
}

std::optional<model_revision> hub_find_revision(sqlite3* db, const std::filesystem::path& file,
                                                std::int64_t model_id, std::string_view rev) {
  const bool head = rev.empty() || rev == "main";
  auto stmt = prepare(db, file,
                      head ? "SELECT r.id, r.parent, r.author_id, r.message, r.created_ms FROM model_revisions r "
                             "JOIN models m ON m.head = r.id WHERE m.id = ?1"
                           : "SELECT id, parent, author_id, message, created_ms FROM model_revisions "
                             "WHERE model_id = ?1 AND id = ?2");
  sqlite3_bind_int64(stmt.get(), 1, model_id);
  if (!head) bind_text(stmt.get(), 2, rev);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw std::runtime_error(journal_error(file, "cannot read a revision", db));
  model_revision r;
  r.id = column_text(stmt.get(), 0);
  r.parent = column_text(stmt.get(), 1);
  r.author_id = sqlite3_column_int64(stmt.get(), 2);
  r.message = column_text(stmt.get(), 3);
  r.created_ms = sqlite3_column_int64(stmt.get(), 4);
  auto files = prepare(db, file, "SELECT path, sha256, size FROM revision_files WHERE revision_id = ?1 ORDER BY path");
  bind_text(files.get(), 1, r.id);
  int frc;
  while ((frc = sqlite3_step(files.get())) == SQLITE_ROW)
    r.files.push_back({column_text(files.get(), 0), column_text(files.get(), 1), sqlite3_column_int64(files.get(), 2)});
  if (frc != SQLITE_DONE) throw std::runtime_error(journal_error(file, "cannot read a revision's files", db));
  return r;
}

std::vector<model_revision> hub_revisions(sqlite3* db, const std::filesystem::path& file, std::int64_t model_id) {
  auto stmt = prepare(db, file,
                      "SELECT id, parent, author_id, message, created_ms FROM model_revisions WHERE model_id = ?1 "
                      "ORDER BY created_ms DESC, rowid DESC LIMIT 100");
  sqlite3_bind_int64(stmt.get(), 1, model_id);
  std::vector<model_revision> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    model_revision r;
    r.id = column_text(stmt.get(), 0);
    r.parent = column_text(stmt.get(), 1);
    r.author_id = sqlite3_column_int64(stmt.get(), 2);
    r.message = column_text(stmt.get(), 3);
    r.created_ms = sqlite3_column_int64(stmt.get(), 4);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) throw std::runtime_error(journal_error(file, "cannot read revisions", db));
  return out;
}

std::vector<model_record> hub_list_models(sqlite3* db, const std::filesystem::path& file, const model_query& query) {
  std::string sql = std::string("SELECT ") + model_columns + " FROM models m JOIN accounts a ON a.id = m.owner_id WHERE 1";
  if (!query.task.empty()) sql += " AND m.task = ?1";
  if (!query.search.empty())
    sql += " AND (instr(lower(a.name || '/' || m.name), lower(?2)) > 0 OR instr(lower(m.tags), lower(?2)) > 0 "
           "OR instr(lower(m.labels), lower(?2)) > 0)";
  sql += query.sort == model_query::order::downloads ? " ORDER BY m.downloads DESC, m.id DESC" : " ORDER BY m.updated_ms DESC, m.id DESC";
  sql += " LIMIT ?3 OFFSET ?4";
  auto stmt = prepare(db, file, sql);
  if (!query.task.empty()) bind_text(stmt.get(), 1, query.task);
  if (!query.search.empty()) bind_text(stmt.get(), 2, query.search);
  sqlite3_bind_int(stmt.get(), 3, std::clamp(query.limit, 1, 100));
  sqlite3_bind_int(stmt.get(), 4, std::max(0, query.offset));
  std::vector<model_record> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) out.push_back(read_model(stmt.get()));
  if (rc != SQLITE_DONE) throw std::runtime_error(journal_error(file, "cannot list models", db));
  return out;
}

}  // namespace potluck::daemon::store_detail
