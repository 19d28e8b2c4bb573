// account_store names and rules that need no storage: the spelling of kinds and roles (as
// the journal, the HTTP API and the logs write them) and the account name rule.
// Pure functions, no state.
#include "daemon/store/account_store.hpp"
#include "daemon/store/hub_store.hpp"

#include <array>
#include <typeinfo>

#include "daemon/store/job_store.hpp"

namespace potluck::daemon {

const char* to_string(account_kind kind) noexcept {
  switch (kind) {
    case account_kind::user: return "user";
    case account_kind::org: return "org";
    case account_kind::system: return "system";
  }
  return "unknown";
}

std::optional<account_kind> parse_account_kind(std::string_view text) noexcept {
  if (text == "user") return account_kind::user;
  if (text == "org") return account_kind::org;
  if (text == "system") return account_kind::system;
  return std::nullopt;
}

const char* to_string(org_role role) noexcept {
  switch (role) {
    case org_role::owner: return "owner";
    case org_role::member: return "member";
  }
  return "unknown";
}

std::optional<org_role> parse_org_role(std::string_view text) noexcept {
  if (text == "owner") return org_role::owner;
  if (text == "member") return org_role::member;
  return std::nullopt;
}

bool is_ledger_kind(std::string_view kind) noexcept {
  static constexpr std::array<std::string_view, 7> kinds{
      ledger_kind::grant,  ledger_kind::reserve, ledger_kind::charge,  ledger_kind::payout,
      ledger_kind::refund, ledger_kind::fee,     ledger_kind::transfer};
  for (auto known : kinds) {
    if (kind == known) return true;
  }
  return false;
}

std::string account_name_problem(std::string_view name) {
  constexpr const char* rule =
      "use 1 to 39 lowercase letters, digits or single hyphens, not starting or ending with a "
      "hyphen";
  auto quoted = [&] {
    // Long or binary input is not echoed back whole.
    std::string shown;
    for (char c : name.substr(0, 60)) {
      shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (name.size() > 60) shown += "...";
    return "account name '" + shown + "' is not allowed: ";
  };
  if (name.empty()) return std::string("an account name is needed: ") + rule;
  if (name.size() > max_account_name_chars) {
    return quoted() + std::to_string(name.size()) + " characters, at most 39";
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter_or_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (letter_or_digit) continue;
    if (c != '-') {
      return quoted() + "character " + std::to_string(i + 1) + " is not a lowercase letter, a " +
             "digit or a hyphen; " + rule;
    }
    if (i == 0 || i + 1 == name.size()) {
      return quoted() + "it starts or ends with a hyphen; " + rule;
    }
    if (name[i - 1] == '-') return quoted() + "two hyphens in a row; " + rule;
  }
  return {};
}

account_store& accounts_of(job_store& journal) {
  auto* accounts = dynamic_cast<account_store*>(&journal);
  if (accounts == nullptr) {
    throw std::invalid_argument(std::string("this job journal (") + typeid(journal).name() +
                                ") keeps no accounts");
  }
  return *accounts;
}

hub_store& hub_of(job_store& journal) {
  auto* hub = dynamic_cast<hub_store*>(&journal);
  if (hub == nullptr) {
    throw std::invalid_argument(std::string("this job journal (") + typeid(journal).name() + ") keeps no model hub");
  }
  return *hub;
}

}  // namespace potluck::daemon
