// The operator's account and admin token, made on the daemon's first start.
//
// The account "operator" gets the starter grant like anyone. Its admin token (every scope) is
// written to DATA_DIR/admin-token, mode 0600, and its secret returned once so that potluckd can
// print it. On later starts the file's token is checked: while it is live nothing changes; when
// the file is missing, or holds a token that is unknown or revoked, a fresh token replaces it
// (deleting the file and restarting is how an operator who lost it gets a new one).
#pragma once

#include "daemon/broker/broker.hpp"
#include "daemon/store/account_store.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace potluck::daemon::market {

inline constexpr const char* operator_account_name = "operator";
inline constexpr const char* admin_token_file_name = "admin-token";

struct operator_setup {
  account_record account;
  std::filesystem::path token_file;
  std::optional<std::string> new_secret;  // set when a token was made now: print it once
};

// Throws std::runtime_error naming the file when it cannot be written.
operator_setup ensure_operator(account_store& accounts, const std::filesystem::path& data_dir,
                               std::int64_t starter_grant, std::int64_t now_ms);

// A fresh token for the operator's dashboard on this machine (read, submit, donate; not admin),
// replacing the one of the previous start. Its secret lives only in the daemon's memory.
inline constexpr const char* local_session_token_name = "dashboard on this machine";
std::string make_local_session_token(account_store& accounts, const account_record& operator_account,
                                     std::int64_t now_ms);

// The daemon's CurveZMQ key pair for the worker link (Z85 text, 40 characters each), made at
// the first start that encrypts the link: DATA_DIR/worker-link.key (both keys, mode 0600) and
// DATA_DIR/worker-link.pub (the public key, for workers: --server-key-file). Throws
// std::runtime_error naming the file when it cannot be read or written, or holds no valid pair.
inline constexpr const char* worker_link_key_file_name = "worker-link.key";
inline constexpr const char* worker_link_public_file_name = "worker-link.pub";
struct worker_link_keys {
  std::string public_key, secret_key;
  bool created = false;
};
worker_link_keys ensure_worker_link_keys(const std::filesystem::path& data_dir);

// Checks a worker's HELLO token (nullptr: none): a live token with the donate scope names the
// donor; no token is accepted only when `anonymous_ok`.
worker_credentials check_donor_token(account_store& accounts, const std::string* token, bool anonymous_ok);

}  // namespace potluck::daemon::market
