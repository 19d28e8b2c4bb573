// The organisations' commands of the potluck CLI (their specs are in app.cpp's table): org
// create, org show, org add, and account transfer, which is how members fund an organisation's
// wallet; and the hints under the daemon's refusals about organisations.
//
// An organisation is an account its members share: `potluck submit --bill-to ORG` (app.cpp)
// has it pay for a job. Amounts travel as micro-credits and are shown as credits (format.hpp).
#include "cli/command.hpp"

#include "cli/errors.hpp"
#include "cli/format.hpp"

#include <boost/json.hpp>

#include <ostream>

namespace json = boost::json;

namespace potluck::cli {
namespace {

// An article for a role: "a member", "an owner".
std::string a_role(const std::string& role) {
  return (role == "owner" ? "an " : "a ") + (role.empty() ? std::string("member") : role);
}

// The "org" object of an answer; a reply without one is not what this version expects.
const json::object& org_of(const json::value& reply) {
  const auto& org = object_field(reply, "org");
  if (string_field(org, "name").empty()) throw api_error(200, "bad_reply", "the daemon's answer holds no organisation");
  return org;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hints

std::string org_hint(const api_error& e, const context& ctx) {
  const std::string org = ctx.org.empty() ? "ORG" : ctx.org;
  if (e.code == "unknown_org") return "See the organisations you belong to: potluck account";
  if (e.code == "not_a_member")
    return "Only members of " + org + " see it and bill jobs to it; an owner of it can add you: potluck org add " + org +
           " YOUR-NAME\nSee the organisations you belong to: potluck account";
  if (e.code == "not_an_owner")
    return "Only an owner of " + org + " adds members. See who its owners are: potluck org show " + org;
  // A job billed to an organisation: its balance, not the caller's, fell short.
  if (e.code == "insufficient_funds" && !ctx.org.empty())
    return "See what " + org + " holds: potluck org show " + org + "\nFund it: potluck account transfer " + org +
           " CREDITS" + (ctx.quote_hint.empty() ? "" : "\n" + ctx.quote_hint);
  return {};
}

// ---------------------------------------------------------------------------------------------
// org create, org show, org add

int cmd_org_create(context& ctx, const parsed_command& p) {
  const auto& name = p.args.at(0);
  ctx.org = name;
  json::object body;
  body["name"] = name;
  auto v = call(ctx, "POST", "/api/v1/orgs", json::serialize(body), {200, 201});
  const auto& org = org_of(v);
  const auto created = string_field(org, "name");
  if (ctx.json) {
    print_json(ctx, v);
  } else if (ctx.quiet) {
    ctx.out << created << '\n';
  } else {
    ctx.out << "Created organisation " << created << "; you are its owner.\n";
    ctx.err << paint("Fund it: potluck account transfer " + created + " CREDITS\nAdd members: potluck org add " +
                         created + " ACCOUNT",
                     tone::dim, ctx.color_err)
            << '\n';
  }
  return exit_ok;
}

int cmd_org_show(context& ctx, const parsed_command& p) {
  const auto& name = p.args.at(0);
  ctx.org = name;
  auto v = call(ctx, "GET", "/api/v1/orgs/" + encode_path_segment(name), {}, {200});
  const auto& org = org_of(v);
  const auto balance = int_field(org, "balance");
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  if (ctx.quiet) {
    // Plain credits, no separators, for scripts.
    ctx.out << protocol::credits_string(balance) << '\n';
    return exit_ok;
  }
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Organisation", string_field(org, "name"));
  rows.emplace_back("Balance", credits_text(balance));
  if (auto created = time_field(org, "created_at")) rows.emplace_back("Created", format_utc(*created));
  print_fields(ctx, rows);
  text_table table({"MEMBER", "ROLE"});
  if (auto* members = org.if_contains("members"); members && members->is_array())
    for (const auto& m : members->as_array()) {
      if (!m.is_object()) continue;
      const auto role = string_field(m.as_object(), "role");
      table.add_row({{string_field(m.as_object(), "account")}, {role, role == "owner" ? tone::bold : tone::none}});
    }
  if (!table.empty()) ctx.out << '\n' << table.render(ctx.color_out);
  if (balance == 0)
    ctx.err << paint("It holds no credits. Fund it: potluck account transfer " + string_field(org, "name") + " CREDITS",
                     tone::dim, ctx.color_err)
            << '\n';
  return exit_ok;
}

int cmd_org_add(context& ctx, const parsed_command& p) {
  const auto& name = p.args.at(0);
  const auto& account = p.args.at(1);
  ctx.org = name;
  ctx.not_found_hint = "Is the account name right? Names are lowercase, like bob; " + account + " must sign up first.";
  const std::string role = p.has("owner") ? "owner" : "member";
  json::object body;
  body["account"] = account;
  body["role"] = role;
  auto v = call(ctx, "POST", "/api/v1/orgs/" + encode_path_segment(name) + "/members", json::serialize(body),
                {200, 201});
  const auto& org = org_of(v);
  // The role the daemon lists, which is the one asked for.
  std::string listed = role;
  if (auto* members = org.if_contains("members"); members && members->is_array())
    for (const auto& m : members->as_array())
      if (m.is_object() && string_field(m.as_object(), "account") == account)
        listed = string_field(m.as_object(), "role", role);
  if (ctx.json) print_json(ctx, v);
  else if (ctx.quiet) ctx.out << account << '\n';
  else ctx.out << account << " is now " << a_role(listed) << " of " << string_field(org, "name") << ".\n";
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// account transfer

int cmd_account_transfer(context& ctx, const parsed_command& p) {
  const auto& to = p.args.at(0);
  std::string problem;
  const auto amount = parse_credits(p.args.at(1), problem);
  if (!amount) throw usage_error("CREDITS '" + p.args.at(1) + "': " + problem + "; write credits like 2.5 or 1000");
  if (*amount == 0) throw usage_error("CREDITS must be more than 0");
  json::object body;
  body["to"] = to;
  body["amount"] = *amount;
  if (p.has("memo")) body["memo"] = p.value("memo");
  ctx.not_found_hint = "Is the name right? Names are lowercase; a user or an organisation must exist to take credits.";
  auto v = call(ctx, "POST", "/api/v1/account/transfers", json::serialize(body), {200, 201});
  if (!v.is_object()) throw api_error(200, "bad_reply", "the daemon's answer about the transfer is not an object");
  // The ledger entry: its ID, or the entry itself.
  const auto& reply = v.as_object();
  const auto entry = reply.contains("entry") && reply.at("entry").is_object() ? int_field(object_field(v, "entry"), "id")
                                                                                : int_field(reply, "entry");
  if (ctx.json) print_json(ctx, v);
  else if (ctx.quiet) ctx.out << entry << '\n';
  else
    ctx.out << "Transferred " << credits_text(int_field(reply, "amount", *amount)) << " to "
            << string_field(reply, "to", to) << " (ledger entry " << entry << ").\n";
  return exit_ok;
}

}  // namespace potluck::cli
