#include "daemon/market/operator.hpp"

#include <zmq.h>

#include "daemon/market/tokens.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace potluck::daemon::market {
namespace {

std::optional<std::string> read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string secret;
  std::getline(in, secret);
  return secret;
}

// Writes `text` to `file` with mode 0600: a new file beside it, synced, then renamed over it.
void write_private_file(const std::filesystem::path& file, const std::string& text) {
  const auto tmp = file.string() + ".new";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  const int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    const int why = ok ? errno : saved;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + file.string() + ": " + std::strerror(why));
  }
}

// A Z85 CurveZMQ key: 40 characters that decode to 32 bytes.
bool is_z85_key(const std::string& text) {
  if (text.size() != 40) return false;
  std::uint8_t bytes[32];
  return zmq_z85_decode(bytes, text.c_str()) != nullptr;
}

}  // namespace

worker_link_keys ensure_worker_link_keys(const std::filesystem::path& data_dir) {
  worker_link_keys keys;
  const auto file = data_dir / worker_link_key_file_name;
  const auto public_file = data_dir / worker_link_public_file_name;
  if (std::ifstream in(file); in) {
    std::getline(in, keys.public_key);
    std::getline(in, keys.secret_key);
    if (!is_z85_key(keys.public_key) || !is_z85_key(keys.secret_key))
      throw std::runtime_error(file.string() + " holds no CurveZMQ key pair (two lines of 40 Z85 characters): "
                               "remove it to make a new one (workers then need the new public key)");
    char derived[41] = {};
    if (zmq_curve_public(derived, keys.secret_key.c_str()) != 0 || keys.public_key != derived)
      throw std::runtime_error(file.string() + ": its public key does not belong to its secret key");
  } else {
    char public_key[41] = {}, secret_key[41] = {};
    if (zmq_curve_keypair(public_key, secret_key) != 0)
      throw std::runtime_error(std::string("cannot make a CurveZMQ key pair: ") + zmq_strerror(zmq_errno()) +
                               " (is libzmq built with CURVE?)");
    keys = {public_key, secret_key, true};
    write_private_file(file, keys.public_key + "\n" + keys.secret_key + "\n");
  }
  // The public half for workers, readable by anyone: rewritten when missing or stale.
  std::string published;
  if (std::ifstream in(public_file); in) std::getline(in, published);
  if (published != keys.public_key) {
    std::ofstream out(public_file, std::ios::trunc);
    out << keys.public_key << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + public_file.string());
  }
  return keys;
}

operator_setup ensure_operator(account_store& accounts, const std::filesystem::path& data_dir,
                               std::int64_t starter_grant, std::int64_t now_ms) {
  operator_setup setup;
  setup.token_file = data_dir / admin_token_file_name;
  auto account = accounts.find_account(operator_account_name);
  if (!account) account = accounts.create_account(operator_account_name, account_kind::user, starter_grant, now_ms);
  setup.account = *account;

  if (auto secret = read_token_file(setup.token_file); secret && looks_like_token(*secret)) {
    auto match = accounts.find_token(hash_token(*secret));
    if (match && match->token.live() && match->account.id == account->id &&
        (match->token.scopes & token_scope::admin)) {
      // Keep it, but never readable by others.
      ::chmod(setup.token_file.c_str(), 0600);
      return setup;
    }
  }
  auto token = mint_token();
  accounts.create_token(account->id, "admin", token_scope::all, token.prefix, token.hash, now_ms);
  write_private_file(setup.token_file, token.secret + "\n");
  setup.new_secret = std::move(token.secret);
  return setup;
}

std::string make_local_session_token(account_store& accounts, const account_record& operator_account,
                                     std::int64_t now_ms) {
  for (const auto& t : accounts.list_tokens(operator_account.id))
    if (t.live() && t.name == local_session_token_name) accounts.revoke_token(operator_account.id, t.id, now_ms);
  auto token = mint_token();
  accounts.create_token(operator_account.id, local_session_token_name,
                        token_scope::read | token_scope::submit | token_scope::donate, token.prefix, token.hash, now_ms);
  return std::move(token.secret);
}

worker_credentials check_donor_token(account_store& accounts, const std::string* token, bool anonymous_ok) {
  worker_credentials c;
  if (!token) {
    c.ok = anonymous_ok;
    if (!c.ok)
      c.refusal = "this daemon takes only workers with a donor token: start the worker with --token-file FILE "
                  "(or POTLUCK_TOKEN) holding an API token with the donate scope";
    return c;
  }
  if (!looks_like_token(*token)) {
    c.refusal = "the worker's token is not a Potluck API token (plk_ and 64 hex digits)";
    return c;
  }
  auto match = accounts.find_token(hash_token(*token));
  if (!match) {
    c.refusal = "the worker's token is unknown to this daemon";
  } else if (!match->token.live()) {
    c.refusal = "the worker's token '" + match->token.name + "' (" + match->token.prefix + "…) was revoked";
  } else if (!(match->token.scopes & token_scope::donate)) {
    c.refusal = "the worker's token '" + match->token.name + "' lacks the donate scope";
  } else {
    c.ok = true;
    c.owner = match->account.name;
    c.owner_id = match->account.id;
    c.token_id = match->token.id;
  }
  return c;
}

}  // namespace potluck::daemon::market
