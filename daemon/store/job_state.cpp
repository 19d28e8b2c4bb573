// job_state names: the spelling used in the journal, the HTTP API and the logs.
// Pure functions, no state.
#include "daemon/store/job_store.hpp"

namespace potluck::daemon {

const char* to_string(job_state state) noexcept {
  switch (state) {
    case job_state::queued: return "queued";
    case job_state::running: return "running";
    case job_state::succeeded: return "succeeded";
    case job_state::failed: return "failed";
    case job_state::cancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<job_state> parse_job_state(std::string_view text) noexcept {
  if (text == "queued") return job_state::queued;
  if (text == "running") return job_state::running;
  if (text == "succeeded") return job_state::succeeded;
  if (text == "failed") return job_state::failed;
  if (text == "cancelled") return job_state::cancelled;
  return std::nullopt;
}

}  // namespace potluck::daemon
