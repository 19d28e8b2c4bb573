// The text/event-stream parser of http_client.hpp; apart from http_client.cpp so that tests of
// it do not pull in Asio.
#include "cli/http_client.hpp"

namespace potluck::cli {

bool sse_parser::feed(std::string_view bytes, const std::function<bool(const event&)>& on_event) {
  for (char c : bytes) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
      // A blank line ends an event; one without data is not dispatched.
      if (has_data_) {
        const bool go_on = on_event(current_);
        current_ = {};
        has_data_ = false;
        if (!go_on) return false;
      }
      current_.name = "message";
      continue;
    }
    std::string_view line = line_;
    if (line.front() != ':') {
      const auto colon = line.find(':');
      std::string_view field = line.substr(0, colon), value;
      if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      }
      if (field == "event") {
        current_.name = value.empty() ? "message" : std::string(value);
      } else if (field == "data") {
        if (has_data_) current_.data += '\n';
        current_.data += value;
        has_data_ = true;
      }
    }
    line_.clear();
  }
  return true;
}

}  // namespace potluck::cli
