#include "daemon/market/tokens.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

namespace potluck::daemon::market {
namespace {

constexpr std::string_view token_tag = "plk_";
constexpr std::size_t secret_bytes = 32;
constexpr std::size_t prefix_hex_digits = 8;

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium cannot be initialised");
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  std::string hex(size * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), data, size);
  hex.pop_back();
  return hex;
}

}  // namespace

minted_token mint_token() {
  ensure_sodium();
  std::array<unsigned char, secret_bytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  minted_token t;
  t.secret = std::string(token_tag) + to_hex(bytes.data(), bytes.size());
  sodium_memzero(bytes.data(), bytes.size());
  t.prefix = t.secret.substr(0, token_tag.size() + prefix_hex_digits);
  t.hash = hash_token(t.secret);
  return t;
}

std::string hash_token(std::string_view secret) {
  ensure_sodium();
  std::array<unsigned char, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return to_hex(digest.data(), digest.size());
}

bool looks_like_token(std::string_view text) noexcept {
  if (text.size() != token_tag.size() + secret_bytes * 2 || !text.starts_with(token_tag)) return false;
  for (char c : text.substr(token_tag.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace potluck::daemon::market
