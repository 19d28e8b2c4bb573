// Account routes: sign-up, the caller's account, its ledger and API tokens, and the operator's
// audit and grants. Amounts are integers in micro-credits (1 credit = 1,000,000).
//
// Every route here but sign-up needs an API token (market::authenticator). Writes wait for
// their commit, so they run on the app's work queue, never on an HTTP I/O thread.
#include "daemon/api/routes.hpp"
#include "daemon/app/app.hpp"
#include "daemon/http/http.hpp"
#include "daemon/market/operator.hpp"
#include "daemon/market/tokens.hpp"

#include "potluck/protocol/credits.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>
#include <map>

namespace json = boost::json;

namespace potluck::daemon::api {
namespace {

constexpr int default_ledger_page = 50;
constexpr int max_ledger_page = 500;
constexpr std::int64_t max_grant = 1'000'000'000'000'000;  // a billion credits at once
constexpr std::size_t max_tokens_per_account = 100;

json::value time_or_null(std::int64_t ms) { return ms ? json::value(iso8601(ms)) : json::value(nullptr); }

json::object account_json(const account_record& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"kind", to_string(a.kind)},
          {"balance", a.balance},
          {"created_at", iso8601(a.created_ms)}};
}

json::object token_json(const token_record& t) {
  json::array scopes;
  for (const auto& s : market::scope_names(t.scopes)) scopes.emplace_back(s);
  return {{"id", t.id},
          {"name", t.name},
          {"scopes", std::move(scopes)},
          {"prefix", t.prefix},
          {"created_at", iso8601(t.created_ms)},
          {"last_used_at", time_or_null(t.last_used_ms)},
          {"revoked_at", time_or_null(t.revoked_ms)}};
}

// A ledger row as the account `me` sees it: + into it, − out of it, and who is on the other side.
json::object entry_json(const ledger_entry& e, std::int64_t me, account_store& accounts,
                        std::map<std::int64_t, std::string>& names) {
  const bool incoming = e.credit_account == me;
  const auto other = incoming ? e.debit_account : e.credit_account;
  auto name = names.find(other);
  if (name == names.end()) {
    auto a = accounts.get_account(other);
    name = names.emplace(other, a ? a->name : "#" + std::to_string(other)).first;
  }
  return {{"id", e.id},
          {"kind", e.kind},
          {"amount", incoming ? e.amount : -e.amount},
          {"counterparty", name->second},
          {"job_id", e.job_id ? json::value(e.job_id) : json::value(nullptr)},
          {"time", iso8601(e.time_ms)},
          {"memo", e.memo}};
}

http::response refusal_response(const market::refusal& r) {
  auto res = http::json_error(r.status, r.code, r.message);
  if (r.retry_after_s > 0) res.headers.emplace_back("Retry-After", std::to_string(r.retry_after_s));
  return res;
}

// The JSON object body, or nothing after answering 400.
std::optional<json::object> object_body(const http::request& req, http::responder& res) {
  boost::system::error_code ec;
  auto body = json::parse(req.body, ec);
  if (ec) {
    res.send(http::json_error(400, "invalid_json", "the request body is not valid JSON: " + ec.message()));
    return std::nullopt;
  }
  if (!body.is_object()) {
    res.send(http::json_error(400, "invalid_request", "the request body must be a JSON object"));
    return std::nullopt;
  }
  return std::move(body.as_object());
}

std::string string_field(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A store refusal (the caller's fault) as 4xx; anything else as 500, logged.
http::response store_error(const std::exception& e) {
  if (auto* refused = dynamic_cast<const store_refused*>(&e)) {
    const auto& code = refused->code();
    unsigned status = 400;
    if (code == "name_taken") status = 409;
    else if (code == "unknown_account") status = 404;
    else if (code == "insufficient_funds") status = 402;
    return http::json_error(status, code, refused->what());
  }
  spdlog::error("accounts: {}", e.what());
  return http::json_error(500, "internal", "the journal could not be written; see the daemon's log");
}

}  // namespace

std::optional<market::caller> authenticate(daemon_app& app, const http::request& req, http::responder& res,
                                           std::uint32_t scope) {
  auto outcome = app.auth().check(req.header("authorization"), scope, now_ms());
  if (auto* refused = std::get_if<market::refusal>(&outcome)) {
    res.send(refusal_response(*refused));
    return std::nullopt;
  }
  return std::get<market::caller>(std::move(outcome));
}

void add_account_routes(http::router& router, daemon_app& app) {
  // Sign-up: a user account with the starter grant and a first token (its secret shown once).
  router.add("POST", "/api/v1/accounts", [&app](http::request& req, http::responder res) {
    if (!app.options().signup_open) {
      res.send(http::json_error(403, "signup_closed", "this daemon's operator has closed sign-up; ask them for an account"));
      return;
    }
    auto body = object_body(req, res);
    if (!body) return;
    auto name = string_field(*body, "name");
    if (auto problem = account_name_problem(name); !problem.empty()) {
      res.send(http::json_error(400, "bad_name", problem));
      return;
    }
    // Only what would write counts against the client's sign-up budget.
    const auto client = req.remote.substr(0, req.remote.rfind(':'));
    if (auto limited = app.auth().charge("signup:" + client, app.options().signup_rate_limit)) {
      res.send(refusal_response(*limited));
      return;
    }
    app.work().post([&app, name = std::move(name), res = std::make_shared<http::responder>(std::move(res))]() mutable {
      try {
        const auto now = now_ms();
        auto account = app.accounts().create_account(name, account_kind::user, app.options().starter_grant, now);
        auto token = market::mint_token();
        const auto scopes = token_scope::read | token_scope::submit | token_scope::publish | token_scope::donate;
        auto record = app.accounts().create_token(account.id, "default", scopes, token.prefix, token.hash, now);
        auto t = token_json(record);
        t["secret"] = std::move(token.secret);
        spdlog::info("accounts: '{}' signed up (starter grant {} micro-credits)", account.name, app.options().starter_grant);
        res->send(http::json(201, json::serialize(json::object{{"account", account_json(account)}, {"token", std::move(t)}})));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  // The local operator's dashboard signs in by itself (potluckd --local-session, as the README's
  // first command runs it): only for a browser on this machine, reaching the daemon by a
  // loopback name (a page of another site that resolves its name to 127.0.0.1 is refused).
  router.add("POST", "/api/v1/session/local", [&app](http::request& req, http::responder res) {
    const auto& token = app.local_session_token();
    const auto client = req.remote.substr(0, req.remote.rfind(':'));
    const bool loopback_client = client.starts_with("127.") || client == "[::1]" || client == "::1";
    std::string host = req.header("host") ? *req.header("host") : "";
    if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']', colon) == std::string::npos)
      host.resize(colon);
    const bool loopback_host = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    if (token.empty() || !loopback_client || !loopback_host) {
      res.send(http::json_error(404, "no_local_session",
                                "this daemon gives no local session; sign in with an API token"));
      return;
    }
    auto me = app.accounts().find_account(market::operator_account_name);
    json::object out{{"token", token}};
    if (me) out["account"] = account_json(*me);
    res.send(http::json(200, json::serialize(out)));
  });

  router.add("GET", "/api/v1/account", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, 0);
    if (!who) return;
    json::array orgs;
    for (const auto& m : app.accounts().orgs_of(who->account.id)) {
      auto o = account_json(m.account);
      o["role"] = to_string(m.role);
      orgs.push_back(std::move(o));
    }
    res.send(http::json(200, json::serialize(json::object{{"account", account_json(who->account)},
                                                          {"token", token_json(who->token)},
                                                          {"orgs", std::move(orgs)}})));
  });

  router.add("GET", "/api/v1/account/ledger", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::read);
    if (!who) return;
    int limit = default_ledger_page;
    std::int64_t before = 0;
    try {
      if (auto* l = req.query_param("limit")) limit = std::stoi(*l);
      if (auto* c = req.query_param("cursor")) before = std::stoll(*c);
    } catch (const std::exception&) {
      limit = -1;
    }
    if (limit < 1 || limit > max_ledger_page || before < 0) {
      res.send(http::json_error(400, "invalid_request", "limit must be 1 to " + std::to_string(max_ledger_page) +
                                                            " and cursor the next_cursor of a previous page"));
      return;
    }
    auto entries = app.accounts().history(who->account.id, limit, before);
    std::map<std::int64_t, std::string> names;
    json::array out;
    for (const auto& e : entries) out.push_back(entry_json(e, who->account.id, app.accounts(), names));
    const bool more = static_cast<int>(entries.size()) == limit;
    res.send(http::json(200, json::serialize(json::object{
                                 {"entries", std::move(out)},
                                 {"next_cursor", more ? json::value(entries.back().id) : json::value(nullptr)}})));
  });

  router.add("GET", "/api/v1/account/tokens", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::read);
    if (!who) return;
    json::array out;
    for (const auto& t : app.accounts().list_tokens(who->account.id)) out.push_back(token_json(t));
    res.send(http::json(200, json::serialize(json::object{{"tokens", std::move(out)}})));
  });

  router.add("POST", "/api/v1/account/tokens", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, 0);
    if (!who) return;
    auto body = object_body(req, res);
    if (!body) return;
    auto name = string_field(*body, "name");
    if (name.empty() || name.size() > max_token_name_bytes) {
      res.send(http::json_error(400, "bad_request", "a token needs a \"name\" of 1 to " +
                                                        std::to_string(max_token_name_bytes) + " bytes, like \"laptop\""));
      return;
    }
    std::uint32_t scopes = 0;
    const auto* list = body->if_contains("scopes");
    if (list && !list->is_array()) {
      res.send(http::json_error(400, "bad_request", "\"scopes\" is a list like [\"read\", \"submit\"]"));
      return;
    }
    if (list) {
      for (const auto& s : list->as_array()) {
        auto bit = s.is_string() ? market::parse_scope(s.as_string()) : std::nullopt;
        if (!bit) {
          res.send(http::json_error(400, "bad_request", "unknown scope " + json::serialize(s) +
                                                            "; scopes are read, submit, publish, donate, admin"));
          return;
        }
        scopes |= *bit;
      }
    } else {
      scopes = who->token.scopes & ~token_scope::admin;
    }
    if ((scopes & who->token.scopes) != scopes) {
      std::string missing;
      for (const auto& n : market::scope_names(scopes & ~who->token.scopes)) missing += (missing.empty() ? "" : ", ") + n;
      res.send(http::json_error(403, "missing_scope", "a token cannot give more than it has; this one lacks: " + missing));
      return;
    }
    app.work().post([&app, who = std::move(*who), name = std::move(name), scopes, res = std::make_shared<http::responder>(std::move(res))]() mutable {
      try {
        if (app.accounts().list_tokens(who.account.id).size() >= max_tokens_per_account) {
          res->send(http::json_error(409, "too_many_tokens", "an account holds at most " +
                                                                std::to_string(max_tokens_per_account) +
                                                                " tokens; revoke some first"));
          return;
        }
        auto token = market::mint_token();
        auto record = app.accounts().create_token(who.account.id, name, scopes, token.prefix, token.hash, now_ms());
        auto t = token_json(record);
        t["secret"] = std::move(token.secret);
        res->send(http::json(201, json::serialize(json::object{{"token", std::move(t)}})));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  router.add("DELETE", "/api/v1/account/tokens/{id}", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, 0);
    if (!who) return;
    std::int64_t id = 0;
    try {
      id = std::stoll(req.path_params["id"]);
    } catch (const std::exception&) {
    }
    if (id <= 0) {
      res.send(http::json_error(400, "invalid_id", "token ids are positive integers"));
      return;
    }
    app.work().post([&app, account = who->account.id, id, res = std::make_shared<http::responder>(std::move(res))]() mutable {
      try {
        if (!app.accounts().revoke_token(account, id, now_ms())) {
          res->send(http::json_error(404, "not_found", "no live token " + std::to_string(id) + " on this account"));
          return;
        }
        app.jobs().token_revoked(id);  // workers donating with it leave now
        res->send(http::json(200, R"({"revoked":true})"));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  router.add("GET", "/api/v1/admin/audit", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::admin);
    if (!who) return;
    app.work().post([&app, res = std::make_shared<http::responder>(std::move(res))]() mutable {
      try {
        const auto report = app.accounts().audit();
        json::array problems;
        for (const auto& p : report.problems) problems.emplace_back(p);
        res->send(http::json(200, json::serialize(json::object{{"ok", report.ok},
                                                              {"minted", report.minted},
                                                              {"sum_of_balances", report.sum_of_balances},
                                                              {"accounts_checked", report.accounts_checked},
                                                              {"entries_checked", report.entries_checked},
                                                              {"jobs_checked", report.jobs_checked},
                                                              {"escrow", report.escrow},
                                                              {"reserved_by_unfinished_jobs", report.reserved_by_unfinished_jobs},
                                                              {"problems", std::move(problems)}})));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  router.add("POST", "/api/v1/admin/grants", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::admin);
    if (!who) return;
    auto body = object_body(req, res);
    if (!body) return;
    const auto name = string_field(*body, "account");
    const auto* amount = body->if_contains("amount");
    if (name.empty() || !amount || !amount->is_int64() || amount->as_int64() <= 0 || amount->as_int64() > max_grant) {
      res.send(http::json_error(400, "bad_request", "a grant is {\"account\": NAME, \"amount\": MICRO_CREDITS, \"memo\": TEXT?} "
                                                    "with an amount from 1 to " + std::to_string(max_grant)));
      return;
    }
    app.work().post([&app, name, amount = amount->as_int64(), memo = string_field(*body, "memo"),
                     by = who->account.name, res = std::make_shared<http::responder>(std::move(res))]() mutable {
      try {
        auto account = app.accounts().find_account(name);
        if (!account) {
          res->send(http::json_error(404, "unknown_account", "no account named '" + name + "'"));
          return;
        }
        movement m{mint_account_id, account->id, amount, ledger_kind::grant, 0,
                   memo.empty() ? "granted by " + by : memo};
        const auto now = now_ms();
        const auto ids = app.accounts().move({m}, now);
        const ledger_entry entry{ids.front(), m.debit, m.credit, m.amount, m.kind, 0, now, m.memo};
        std::map<std::int64_t, std::string> names;
        spdlog::info("accounts: {} granted {} micro-credits to '{}'", by, amount, name);
        res->send(http::json(201, json::serialize(json::object{
                                     {"entry", entry_json(entry, account->id, app.accounts(), names)}})));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  // ---- organisations: members share the wallet (jobs billed with "bill_to") --------------

  // The organisation `name` if the caller may act for it (a member, or owner when
  // `owner_only`; the operator may always), else nothing after answering 403/404.
  auto org_for = [&app](const market::caller& who, const std::string& name, bool owner_only,
                        http::responder& res) -> std::optional<account_record> {
    auto org = app.accounts().find_account(name);
    if (!org || org->kind != account_kind::org) {
      res.send(http::json_error(404, "unknown_org", "no organisation named '" + name + "'"));
      return std::nullopt;
    }
    if (who.token.scopes & token_scope::admin) return org;
    for (const auto& m : app.accounts().members(org->id)) {
      if (m.account.id != who.account.id) continue;
      if (!owner_only || m.role == org_role::owner) return org;
      res.send(http::json_error(403, "not_an_owner", "only an owner of '" + name + "' can do that"));
      return std::nullopt;
    }
    res.send(http::json_error(403, "not_a_member", "you are not a member of '" + name + "'"));
    return std::nullopt;
  };

  auto org_json = [&app](const account_record& org) {
    json::array members;
    for (const auto& m : app.accounts().members(org.id))
      members.push_back(json::object{{"account", m.account.name}, {"role", to_string(m.role)}});
    auto o = account_json(org);
    o["members"] = std::move(members);
    return o;
  };

  // A new organisation, its creator its first owner. It starts with no credits: members
  // fund it with transfers.
  router.add("POST", "/api/v1/orgs", [&app, org_json](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::submit);
    if (!who) return;
    auto body = object_body(req, res);
    if (!body) return;
    auto name = string_field(*body, "name");
    if (auto problem = account_name_problem(name); !problem.empty()) {
      res.send(http::json_error(400, "bad_name", problem));
      return;
    }
    const auto creator = who->account;
    if (creator.kind != account_kind::user) {
      res.send(http::json_error(403, "not_a_user", "only users create organisations"));
      return;
    }
    app.work().post([&app, org_json, name = std::move(name), creator, res = std::make_shared<http::responder>(std::move(res))] {
      try {
        auto org = app.accounts().create_account(name, account_kind::org, 0, now_ms());
        app.accounts().add_member(org.id, creator.id, org_role::owner);
        spdlog::info("accounts: '{}' created organisation '{}'", creator.name, org.name);
        res->send(http::json(201, json::serialize(json::object{{"org", org_json(org)}})));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  router.add("GET", "/api/v1/orgs/{name}", [&app, org_for, org_json](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::read);
    if (!who) return;
    auto org = org_for(*who, req.path_params["name"], false, res);
    if (!org) return;
    res.send(http::json(200, json::serialize(json::object{{"org", org_json(*org)}})));
  });

  // Adds a user to the organisation, or changes their role (owners only).
  router.add("POST", "/api/v1/orgs/{name}/members", [&app, org_for, org_json](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::submit);
    if (!who) return;
    auto org = org_for(*who, req.path_params["name"], true, res);
    if (!org) return;
    auto body = object_body(req, res);
    if (!body) return;
    const auto member_name = string_field(*body, "account");
    const auto role_name = body->contains("role") ? string_field(*body, "role") : std::string("member");
    const auto role = parse_org_role(role_name);
    if (!role) {
      res.send(http::json_error(400, "bad_member", "\"role\" is \"member\" or \"owner\""));
      return;
    }
    auto member = app.accounts().find_account(member_name);
    if (!member) {
      res.send(http::json_error(404, "unknown_account", "no account named '" + member_name + "'"));
      return;
    }
    app.work().post([&app, org_json, org = *org, member = *member, role = *role,
                     res = std::make_shared<http::responder>(std::move(res))] {
      try {
        app.accounts().add_member(org.id, member.id, role);
        res->send(http::json(200, json::serialize(json::object{{"org", org_json(org)}})));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });

  // Credits from the caller to another user or an organisation: how members fund their
  // organisation's wallet.
  router.add("POST", "/api/v1/account/transfers", [&app](http::request& req, http::responder res) {
    auto who = authenticate(app, req, res, token_scope::submit);
    if (!who) return;
    auto body = object_body(req, res);
    if (!body) return;
    const auto to_name = string_field(*body, "to");
    const auto* amount = body->if_contains("amount");
    if (!amount || !amount->is_int64() || amount->as_int64() <= 0 || amount->as_int64() > max_grant) {
      res.send(http::json_error(400, "bad_amount", "\"amount\" is an integer of micro-credits from 1 to " +
                                                       std::to_string(max_grant) + " (1 credit = 1,000,000)"));
      return;
    }
    const auto memo = string_field(*body, "memo");
    if (memo.size() > max_memo_bytes) {
      res.send(http::json_error(400, "bad_movement", "a memo takes at most " + std::to_string(max_memo_bytes) + " bytes"));
      return;
    }
    auto to = app.accounts().find_account(to_name);
    if (!to || to->kind == account_kind::system) {
      res.send(http::json_error(404, "unknown_account", "no user or organisation named '" + to_name + "'"));
      return;
    }
    const movement m{who->account.id, to->id, amount->as_int64(), ledger_kind::transfer, 0, memo};
    app.work().post([&app, m, to = *to, res = std::make_shared<http::responder>(std::move(res))] {
      try {
        const auto ids = app.accounts().move({m}, now_ms());
        res->send(http::json(200, json::serialize(json::object{{"entry", ids.front()}, {"to", to.name}, {"amount", m.amount}})));
      } catch (const store_refused& e) {
        if (e.code() != "insufficient_funds") {
          res->send(store_error(e));
          return;
        }
        const auto me = app.accounts().get_account(m.debit);
        res->send(http::json_error(402, "insufficient_funds",
                                   "your balance is " + protocol::credits_string(me ? me->balance : 0) +
                                       " credits, too few to send " + protocol::credits_string(m.amount) +
                                       " credits to '" + to.name + "'"));
      } catch (const std::exception& e) {
        res->send(store_error(e));
      }
    });
  });
}

}  // namespace potluck::daemon::api
