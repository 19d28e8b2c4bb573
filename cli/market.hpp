// What the potluck CLI shows of the compute market: a job's billing (potluck job, the end of
// submit --wait), workers' prices (potluck workers), a quote (potluck quote), and the donor's
// side: their workers' settings and state (potluck donate workers, set, pause, resume), their
// earnings (potluck donate earnings) and the donor leaderboard (potluck donors).
//
// Amounts arrive as integer micro-credits and prices as micro-credits per million work units
// (protocol/credits.hpp); both are shown as credits (format_credits). Pure functions of the
// daemon's JSON, so that unit tests pin what a user sees from canned answers.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace potluck::cli {

// One line about what a job may cost or cost, from the "billing" object of a job's JSON:
//   reserved 0.000072 credits (bid 3 per million units, 24 units)                    not settled
//   charged 0.000048 credits (24 units at 2 per million, paid to dora, fee 0.000004); refunded 0.000024
//   nothing charged; refunded 0.000072                                  cancelled or failed
//   free job (24 units)
// A job with replicas says so; each ran at its own worker's ask, so no one price is named:
//   reserved 0.000144 credits (bid 3 per million units, 24 units, 2 replicas)
//   charged 0.000096 credits for 2 replicas (24 units each, fee 0.000008); refunded 0.000048
//   charged 0.000096 credits for 3 replicas, 2 paid (24 units each); refunded 0.000048
// Empty when the job holds no billing (a daemon before the market).
std::string billing_text(const boost::json::object& job);

// Who got what of a settled job, from billing.payments (every movement out of its escrow):
//   0.000044 to quinn, 0.000044 to rita, fee 0.000008 to fees, refund 0.000048 to alice
// Empty when it lists none, or only a refund (billing_text says that much).
std::string payments_text(const boost::json::object& job);

// A price as tables show it: "free" for 0, else credits per million units: "2", "0.5".
std::string ask_text(std::int64_t ask_micro_credits);

// A worker's asks on the backends it has slots for, from GET /api/v1/workers: "free" when it
// asks nothing anywhere, else "cpu 2" or "cpu free, cuda 4"; "-" when it lists no prices.
std::string worker_prices_text(const boost::json::object& worker);
// Whether a worker asks anything for some backend.
bool worker_has_price(const boost::json::object& worker);

// How the job of a quote got its bid: it named none (the daemon bid the lowest ask), --bid, or
// --max-price (the highest price that total pays for the job's units).
enum class bid_source { lowest_ask, bid, max_price };

// The answer of POST /api/v1/jobs/quote as `potluck quote` prints it: aligned fields (work
// units, replicas when more than 1, bid, reserve, the cheapest worker covered and the cost
// there, expected wait, jobs queued ahead, the daemon's note), then the offers as a table.
std::string render_quote(const boost::json::object& quote, bid_source source, bool color);
// What to do when no worker takes the quoted job ("A bid of at least 2 ... : --bid 2"); empty
// when one does.
std::string quote_hint(const boost::json::object& quote);
// Whether some connected worker takes the quoted job at its bid now.
bool quote_covered(const boost::json::object& quote);

// A worker's settings, from the "settings" object of GET /api/v1/account/workers or the answer
// of PUT /api/v1/account/workers/settings, as one line:
//   paused, at most 2 slots, hours 22-7 (its local time), no free jobs
//   not paused, every slot, all day, free jobs as its --free-jobs says
std::string worker_settings_text(const boost::json::object& settings);

// Whether a connected worker takes new jobs now, or why not: "taking jobs", "paused", "outside
// its hours"; "not connected" when `connected` is null.
std::string worker_state_text(const boost::json::object& settings, const boost::json::object* connected);

// GET /api/v1/account/workers as `potluck donate workers` prints it: one row per connected
// worker (one for a name with settings but none connected), with its state, settings, prices,
// busy slots and jobs done.
std::string render_my_workers(const boost::json::object& reply, bool color);

// GET /api/v1/account/earnings as `potluck donate earnings` prints it: the totals, the days
// that had jobs with a bar each (`unicode`: "█", else "#") and how many had none, and the jobs
// the donor's workers ran last. `now` (Unix ms) dates the jobs.
std::string render_earnings(const boost::json::object& earnings, std::int64_t now, bool unicode, bool color);

// GET /api/v1/donors as `potluck donors` prints it: a title naming the period, then the table.
std::string render_donors(const boost::json::object& board, bool color);

}  // namespace potluck::cli
