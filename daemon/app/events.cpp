#include "daemon/app/events.hpp"

namespace potluck::daemon {

event_hub::token event_hub::subscribe(std::int64_t job_id, callback cb) {
  std::lock_guard lock(mutex_);
  const auto t = next_token_++;
  subscribers_.emplace(t, entry{job_id, std::make_shared<callback>(std::move(cb))});
  count_.store(subscribers_.size(), std::memory_order_relaxed);
  return t;
}

void event_hub::unsubscribe(token t) {
  std::lock_guard lock(mutex_);
  subscribers_.erase(t);
  count_.store(subscribers_.size(), std::memory_order_relaxed);
}

void event_hub::publish(const event& e) {
  if (!has_subscribers()) return;
  std::vector<std::pair<token, std::shared_ptr<callback>>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [t, sub] : subscribers_)
      if (sub.job_id == 0 || sub.job_id == e.job_id) targets.emplace_back(t, sub.cb);
  }
  for (auto& [t, cb] : targets)
    if (!(*cb)(e)) unsubscribe(t);
}

}  // namespace potluck::daemon
