// API tokens: minting and hashing (libsodium). A token is "plk_" and 64 hex digits (32 random
// bytes); the journal keeps only its BLAKE2b-256 hash and a short display prefix, so a copy of
// the database gives no one a usable token. A fast hash is enough: the secret is random, not
// a password that could be guessed.
#pragma once

#include <string>
#include <string_view>

namespace potluck::daemon::market {

struct minted_token {
  std::string secret;  // shown once to its owner, never stored
  std::string prefix;  // "plk_" and the first 8 hex digits: how lists show it
  std::string hash;    // what the journal stores
};

minted_token mint_token();
std::string hash_token(std::string_view secret);
// The right shape ("plk_" and 64 lower-case hex digits); says nothing about whether it exists.
bool looks_like_token(std::string_view text) noexcept;

}  // namespace potluck::daemon::market
