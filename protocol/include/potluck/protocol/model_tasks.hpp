// The tasks models run. A model on the hub names a task ("text-classification") and the format
// of its weights ("torchscript") in its card; it runs as the task "<format>.<task>"
// ("torchscript.text-classification"), which a plugin able to load that format declares with
// the interface below: the same inputs, outputs and parameters whatever the format, so a job
// for a model is checked (and can wait) before any worker offering it has connected.
#pragma once

#include "potluck/protocol/task_spec.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace potluck::protocol {

// The tasks a model may name, and the formats of weights the hub accepts: data only, never a
// format that runs code when it is loaded (pickle).
const std::vector<std::string>& hub_tasks();
const std::vector<std::string>& model_formats();

// "<format>.<task>".
std::string model_task_name(std::string_view format, std::string_view task);
// {format, task} when `name` is a model task ("torchscript.text-generation"), else nullopt.
std::optional<std::pair<std::string, std::string>> split_model_task(std::string_view name);

// The interface of a model task on a backend (plugin and version left empty); nullopt when
// the name is not a model task.
//   text-classification   text u8[b,n] (b texts, one per row, padded with zero bytes)
//                         -> scores f32[b,l] (probabilities over the card's l labels)
//   text-generation       prompt u8[n] -> text u8[m] (the new text, after the prompt);
//                         params max_new_tokens, temperature, top_k, seed
//   image-classification  image u8[h,w,c] -> scores f32[l]
//   tensor                input any[...] -> output any[...]
std::optional<task_decl> model_task_decl(std::string_view name, std::string_view backend);

}  // namespace potluck::protocol
