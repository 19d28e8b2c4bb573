// What the potluck CLI's command handlers share (internal to cli/): the command table's entry,
// a parsed command line, the running context, the daemon's refusals (api_error) and the JSON
// field helpers. app.cpp holds the table, the parser and the job commands; accounts.cpp the
// account, token, ledger and admin commands; orgs.cpp the organisations' commands (org ...) and
// transfers (account transfer); donate.cpp the donor's commands (donate ..., donors); models.cpp
// the model hub's (models ...); run.cpp potluck run, which runs a model of the hub.
#pragma once

#include "cli/app.hpp"
#include "cli/config.hpp"
#include "cli/http_client.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::cli {

struct context;
struct parsed_command;

struct option_spec {
  std::string name;        // long name without "--"
  char short_name = 0;     // 'q' for -q; 0 for none
  std::string value_name;  // "NAME=VALUE"; empty for a flag without value
  std::string help;
  bool repeated = false;
};

// Where `potluck help` lists a command.
enum class command_group { jobs, accounts, models, donate, admin, alias };
// Whether "-5" after the command is an argument (a negative amount, refused with a clear
// message) or a flag.
enum class dash_numbers { are_flags, are_args };
// What the command takes from the config file: everything, or only the URL (login replaces the
// saved token and logout removes it, so neither uses it, nor refuses a file others may read).
enum class saved_token { use, ignore };

struct command_spec {
  std::string name;         // one word, or two for a command of a group: "tokens create"
  std::string summary;      // one line, for `potluck help`
  std::string usage;        // "potluck job ID [flags]"
  std::string description;  // a few lines for `potluck COMMAND --help`
  std::vector<option_spec> options;
  std::size_t min_args = 0, max_args = 0;
  std::string args_hint;    // said when the arguments are wrong: "takes a job ID, like: potluck job 12"
  std::vector<std::string> examples;
  int (*handler)(context&, const parsed_command&) = nullptr;
  command_group group = command_group::jobs;
  dash_numbers numbers = dash_numbers::are_flags;
  saved_token token_use = saved_token::use;
};

struct parsed_command {
  const command_spec* command = nullptr;
  std::map<std::string, std::vector<std::string>, std::less<>> values;  // flags hold one ""
  std::vector<std::string> args;

  bool has(std::string_view name) const { return values.find(name) != values.end(); }
  std::string value(std::string_view name, std::string fallback = {}) const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
  std::vector<std::string> all(std::string_view name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

// The daemon refused a request: exit status 4, with its message and a hint.
class api_error : public std::runtime_error {
 public:
  api_error(unsigned status, std::string code, std::string message, std::string retry_after = {})
      : std::runtime_error(message), status(status), code(std::move(code)), retry_after(std::move(retry_after)) {}
  unsigned status;
  std::string code;
  std::string retry_after;  // the Retry-After header of a 429, in seconds
};

struct context {
  context(const terminal& t, std::ostream& o, std::ostream& e, http_client c)
      : term(t), out(o), err(e), client(std::move(c)) {}
  const terminal& term;
  std::ostream& out;
  std::ostream& err;
  http_client client;
  bool json = false;
  bool quiet = false;
  bool color_out = false;
  bool color_err = false;
  credentials creds;                                // where the URL and the token came from
  std::optional<std::filesystem::path> config_path;  // nullopt: neither HOME nor XDG_CONFIG_HOME
  // Hints a command sets for the refusals it expects; empty ones fall back to the general hints.
  std::string task;                // the task a command is about
  std::string org;                 // the organisation a command is about (org ..., submit --bill-to)
  std::string model;               // the model a command is about, OWNER/NAME (models ...)
  std::string not_found_hint;      // for a 404 that is not a missing route
  std::string missing_scope_hint;  // for 403 missing_scope
  std::string not_yours_hint;      // for 403 not_yours about a model (models ...)
  std::string unauthorized_hint;   // for 401, instead of "log in"
  std::string quote_hint;          // under refusals about prices: where to see what a job costs
};

std::string string_field(const boost::json::object& o, std::string_view key, std::string fallback = {});
std::int64_t int_field(const boost::json::object& o, std::string_view key, std::int64_t fallback = 0);
std::optional<std::int64_t> time_field(const boost::json::object& o, std::string_view key);
// o[key] when it is an object; an empty object otherwise.
const boost::json::object& object_field(const boost::json::value& v, std::string_view key);

// The JSON of an answer to `method` `target` whose status is one of `ok_statuses`; any other
// status becomes an api_error with the daemon's message.
boost::json::value reply_json(const http_response& res, std::string_view method, std::string_view target,
                              std::initializer_list<unsigned> ok_statuses);
// Sends a request; a status other than `ok_statuses` becomes an api_error with the daemon's
// message. Returns the parsed JSON answer.
boost::json::value call(context& ctx, std::string_view method, const std::string& target, std::string_view body,
                        std::initializer_list<unsigned> ok_statuses, const header_list& headers = {});
// --json: indented on a terminal, one line otherwise.
void print_json(context& ctx, const boost::json::value& v);
// "Key:   value" lines, the values aligned.
void print_fields(context& ctx, const std::vector<std::pair<std::string, std::string>>& rows);
// A number of --flag from 1 to max, or usage_error.
int parse_positive(const std::string& flag, const std::string& text, int max);
std::int64_t now_ms();
// Where workers connect, from the daemon's /healthz (its default when that says nothing).
std::string workers_endpoint(context& ctx);
// `value` percent-encoded for a URL's query.
std::string encode_query_value(std::string_view value);
// `value` percent-encoded for one segment of a URL's path: /api/v1/orgs/{value}.
std::string encode_path_segment(std::string_view value);
// "1 credit", "2.5 credits".
std::string credits_text(std::int64_t micro_credits);

// Following a job (app.cpp): submit --wait, job --wait and run.
struct follow_options {
  // Draw the progress line on a terminal, or else print a line per state; false: neither.
  bool progress = true;
  // On Ctrl-C, say that the job goes on and how to follow or cancel it; false: say nothing.
  bool stop_message = true;
  // Stop following then (follow_end::timed_out); none: wait as long as the job takes.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Each event's JSON (the job, or its progress) as it arrives, before the job ends.
  std::function<void(const boost::json::object& event)> on_update;
};
enum class follow_end { finished, interrupted, timed_out };
struct follow_outcome {
  follow_end end = follow_end::finished;
  std::optional<boost::json::object> job;  // the finished job, with its result; set when finished
};
// Follows job `id` through its event stream until it ends, reconnecting when the stream breaks.
follow_outcome follow_job(context& ctx, std::int64_t id, const std::string& task, const follow_options& options = {});
bool is_terminal_state(std::string_view state);
// "job 12 failed: plugin_error: ...", "job 12 was cancelled".
std::string failure_line(const boost::json::object& job);
// A finished job's output tensors, each named and rendered, every line after `indent`.
void print_outputs(context& ctx, const boost::json::object& job, const std::string& indent);

// accounts.cpp
int cmd_account_show(context& ctx, const parsed_command& p);
int cmd_account_create(context& ctx, const parsed_command& p);
int cmd_login(context& ctx, const parsed_command& p);
int cmd_logout(context& ctx, const parsed_command& p);
int cmd_tokens(context& ctx, const parsed_command& p);
int cmd_tokens_create(context& ctx, const parsed_command& p);
int cmd_tokens_revoke(context& ctx, const parsed_command& p);
int cmd_ledger(context& ctx, const parsed_command& p);
int cmd_admin_audit(context& ctx, const parsed_command& p);
int cmd_admin_grant(context& ctx, const parsed_command& p);
int cmd_admin_settings(context& ctx, const parsed_command& p);

// orgs.cpp
int cmd_org_create(context& ctx, const parsed_command& p);
int cmd_org_show(context& ctx, const parsed_command& p);
int cmd_org_add(context& ctx, const parsed_command& p);
int cmd_account_transfer(context& ctx, const parsed_command& p);
// The hint under a refusal about organisations and transfers (unknown_org, not_a_member, ...);
// "" when others apply.
std::string org_hint(const api_error& e, const context& ctx);

// donate.cpp
int cmd_donate_workers(context& ctx, const parsed_command& p);
int cmd_donate_pause(context& ctx, const parsed_command& p);
int cmd_donate_resume(context& ctx, const parsed_command& p);
int cmd_donate_set(context& ctx, const parsed_command& p);
int cmd_donate_earnings(context& ctx, const parsed_command& p);
int cmd_donors(context& ctx, const parsed_command& p);

// models.cpp
int cmd_models_push(context& ctx, const parsed_command& p);
int cmd_models_ls(context& ctx, const parsed_command& p);
int cmd_models_show(context& ctx, const parsed_command& p);
int cmd_models_pull(context& ctx, const parsed_command& p);
int cmd_models_rm(context& ctx, const parsed_command& p);

// A model of the hub, OWNER/NAME.
struct model_id {
  std::string owner, name;
  std::string text() const { return owner + "/" + name; }
  std::string target() const { return "/api/models/" + encode_path_segment(owner) + "/" + encode_path_segment(name); }
};
// Throws usage_error for what is not OWNER/NAME as the hub names models.
model_id parse_model_id(const std::string& text);
// The model's latest revision (or `revision`, a whole ID) as the daemon describes it; nullopt
// when there is no such model.
std::optional<boost::json::object> find_model(context& ctx, const model_id& id, const std::string& revision = {});
// A revision as the daemon takes it: "" for the latest ("" or main), else a whole revision ID;
// a prefix of one, as potluck models show lists them, is looked up. `written` is where the user
// wrote it ("alice/word-lang@3f9c"), for messages; "" for --revision.
std::string full_revision(context& ctx, const model_id& id, const std::string& given, const std::string& written = {});

// run.cpp
int cmd_run(context& ctx, const parsed_command& p);
// The hint under a refusal about models (bad_card, conflict, model_not_found, ...); "" when
// others apply.
std::string model_hint(const api_error& e, const context& ctx);

// The hint under a refusal about accounts and tokens (401, 403, 409, 429, ...); "" when the
// job commands' hints apply.
std::string account_hint(const api_error& e, const context& ctx);

}  // namespace potluck::cli
