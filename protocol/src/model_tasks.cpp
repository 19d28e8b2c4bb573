#include "potluck/protocol/model_tasks.hpp"

#include <algorithm>

namespace potluck::protocol {

const std::vector<std::string>& hub_tasks() {
  static const std::vector<std::string> tasks = {"text-classification", "text-generation", "image-classification",
                                                 "tensor"};
  return tasks;
}

const std::vector<std::string>& model_formats() {
  static const std::vector<std::string> formats = {"torchscript", "safetensors", "onnx"};
  return formats;
}

std::string model_task_name(std::string_view format, std::string_view task) {
  return std::string(format) + "." + std::string(task);
}

std::optional<std::pair<std::string, std::string>> split_model_task(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string format(name.substr(0, dot)), task(name.substr(dot + 1));
  const auto& formats = model_formats();
  const auto& tasks = hub_tasks();
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) return std::nullopt;
  if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) return std::nullopt;
  return std::make_pair(std::move(format), std::move(task));
}

std::optional<task_decl> model_task_decl(std::string_view name, std::string_view backend) {
  auto split = split_model_task(name);
  if (!split) return std::nullopt;
  const auto& task = split->second;
  task_decl d;
  d.name = std::string(name);
  d.backend = std::string(backend);
  if (task == "text-classification") {
    d.description = "Classifies texts with a " + split->first + " model: one row of UTF-8 bytes per text";
    d.inputs = {parse_tensor_spec("text", "u8[b,n]")};
    d.outputs = {parse_tensor_spec("scores", "f32[b,l]")};
    d.cost = "b*n";
    d.rtol = 1e-4;
    d.atol = 1e-5;
  } else if (task == "text-generation") {
    d.description = "Generates text after a prompt with a " + split->first + " model";
    d.inputs = {parse_tensor_spec("prompt", "u8[n]")};
    d.outputs = {parse_tensor_spec("text", "u8[m]")};
    d.params_schema =
        R"({"type":"object","properties":{"max_new_tokens":{"type":"integer","minimum":1,"maximum":1024},)"
        R"("temperature":{"type":"number","minimum":0,"maximum":10},"top_k":{"type":"integer","minimum":0,"maximum":256},)"
        R"("seed":{"type":"integer","minimum":0}},"additionalProperties":false})";
    d.cost = "n+1";
    d.rtol = -1;  // exact
  } else if (task == "image-classification") {
    d.description = "Classifies an image with a " + split->first + " model";
    d.inputs = {parse_tensor_spec("image", "u8[h,w,c]")};
    d.outputs = {parse_tensor_spec("scores", "f32[l]")};
    d.cost = "h*w";
    d.rtol = 1e-4;
    d.atol = 1e-5;
  } else {
    d.description = "Runs a " + split->first + " model on one tensor";
    d.inputs = {parse_tensor_spec("input", "any[...]")};
    d.outputs = {parse_tensor_spec("output", "any[...]")};
  }
  return d;
}

}  // namespace potluck::protocol
