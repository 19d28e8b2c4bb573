// sqlite_hub: the SQL of hub_store. Private to daemon/store; sqlite_job_store runs the writes
// on its writer thread (inside a savepoint of a grouped transaction) and the reads on a leased
// read connection. Statements are prepared per call: hub traffic is a few requests a second
// at most, far from the job path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "daemon/store/hub_store.hpp"

struct sqlite3;

namespace potluck::daemon::store_detail {

model_record hub_commit(sqlite3* db, const std::filesystem::path& file, std::int64_t owner_id, std::string_view name,
                        const model_card_fields& card, const model_revision& revision,
                        std::string_view expected_parent);
void hub_count_download(sqlite3* db, const std::filesystem::path& file, std::int64_t model_id);
std::vector<std::string> hub_remove_model(sqlite3* db, const std::filesystem::path& file, std::int64_t model_id);

std::optional<model_record> hub_find_model(sqlite3* db, const std::filesystem::path& file, std::string_view owner,
                                           std::string_view name);
std::optional<model_revision> hub_find_revision(sqlite3* db, const std::filesystem::path& file,
                                                std::int64_t model_id, std::string_view rev);
std::vector<model_revision> hub_revisions(sqlite3* db, const std::filesystem::path& file, std::int64_t model_id);
std::vector<model_record> hub_list_models(sqlite3* db, const std::filesystem::path& file, const model_query& query);

}  // namespace potluck::daemon::store_detail
