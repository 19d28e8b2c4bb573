// model_card: a model's README.md, whose front matter names what the hub searches by and what
// the scheduler needs: the task, the format of the weights, the license, labels and tags.
//
// The front matter is the block between a first line "---" and the next "---", in the subset of
// YAML that model cards use: `key: value`, `key: [a, b]`, and `key:` followed by `- item` lines;
// quotes around values are removed; `#` starts a comment line. Keys this parser does not use are
// accepted and ignored (cards carry many). Any other shape is refused with the line named.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::daemon::hub {

class card_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct model_card {
  std::string task;    // one of model_tasks(); "pipeline_tag" is read as its alias
  std::string format;  // one of model_formats()
  std::string license;  // "" when the card names none
  std::vector<std::string> labels, tags, languages;
  std::string body;     // the markdown after the front matter
};

// What a card may name: tasks the hub knows how to run, and formats that are data only (no
// format that runs code when loaded, such as pickle, is accepted).
const std::vector<std::string>& model_tasks();
const std::vector<std::string>& model_formats();

// Throws card_error with a message for the model's author, naming the line.
model_card parse_model_card(std::string_view text);

}  // namespace potluck::daemon::hub
