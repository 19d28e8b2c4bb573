#include "daemon/app/models.hpp"

#include "daemon/hub/blob_store.hpp"
#include "daemon/hub/model_card.hpp"
#include "potluck/protocol/model_tasks.hpp"
#include "potluck/protocol/wire.hpp"

#include <boost/json.hpp>
#include <stb/stb_image.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <limits>

namespace json = boost::json;

namespace potluck::daemon {

namespace {
constexpr std::size_t max_card_bytes = 1 << 20;
}

std::string resolved_model::files_json() const {
  json::array files;
  for (const auto& f : revision.files) files.push_back(json::object{{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
  return json::serialize(files);
}

model_card_fields card_of_revision(const model_record& model, const model_revision& rev, const hub::blob_store& blobs) {
  if (rev.id == model.head) return model.card;
  auto readme = std::find_if(rev.files.begin(), rev.files.end(), [](const model_file& f) { return f.path == "README.md"; });
  if (readme == rev.files.end()) return model.card;
  try {
    std::ifstream in(blobs.path_of(readme->sha256), std::ios::binary);
    std::string text(std::min<std::size_t>(static_cast<std::size_t>(readme->size), max_card_bytes), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    const auto card = hub::parse_model_card(text);
    return model_card_fields{card.task, card.format, card.license, card.tags, card.labels, card.body};
  } catch (const std::exception& e) {
    spdlog::warn("hub: the card of {}/{} revision {} does not read again: {}", model.owner, model.name, rev.id, e.what());
    return model.card;
  }
}

std::optional<resolved_model> resolve_model(hub_store& hub, const hub::blob_store& blobs, std::string_view ref,
                                            model_lookup_error& why) {
  std::string_view revision;
  if (auto at = ref.find('@'); at != std::string_view::npos) {
    revision = ref.substr(at + 1);
    ref = ref.substr(0, at);
  }
  const auto slash = ref.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == ref.size() || ref.find('/', slash + 1) != std::string_view::npos) {
    why = {400, "invalid_model", "\"model\" must name a model as owner/name or owner/name@revision, not \"" +
                                     std::string(ref) + "\""};
    return std::nullopt;
  }
  const auto owner = ref.substr(0, slash), name = ref.substr(slash + 1);
  auto model = hub.find_model(owner, name);
  if (!model) {
    why = {404, "model_not_found", "no model " + std::string(ref) + " on this hub (GET /api/models lists them)"};
    return std::nullopt;
  }
  auto rev = hub.find_revision(model->id, revision);
  if (!rev) {
    why = {404, "revision_not_found", "model " + std::string(ref) + " has no revision '" + std::string(revision) + "'"};
    return std::nullopt;
  }
  resolved_model out;
  out.card = card_of_revision(*model, *rev, blobs);
  out.task = protocol::model_task_name(out.card.format, out.card.task);
  out.model = std::move(*model);
  out.revision = std::move(*rev);
  return out;
}

namespace {

const protocol::tensor* find_tensor(const std::vector<protocol::tensor>& ts, std::string_view name) {
  for (const auto& t : ts)
    if (t.name == name) return &t;
  return nullptr;
}

// One row of scores as [{"label","score"}], best first.
json::array ranked(const float* scores, std::size_t n, const std::vector<std::string>& labels) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  json::array out;
  for (auto i : order)
    out.push_back(json::object{{"label", i < labels.size() ? labels[i] : "LABEL_" + std::to_string(i)},
                               {"score", static_cast<double>(scores[i])}});
  return out;
}

// UTF-8 text from bytes: a row of a u8 tensor up to its first zero byte, each byte that is not
// part of a well-formed UTF-8 sequence replaced by U+FFFD (a model may make any bytes).
std::string text_of(const char* bytes, std::size_t n) {
  std::string_view in(bytes, n);
  if (auto zero = in.find('\0'); zero != std::string_view::npos) in = in.substr(0, zero);
  return protocol::to_valid_utf8(in);
}

}  // namespace

std::string text_of_tensor(const protocol::tensor& t) { return text_of(t.data.data(), t.data.size()); }

std::optional<protocol::tensor> decode_image(std::string_view bytes, std::uint64_t max_pixels, std::string& error) {
  if (bytes.empty() || bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    error = "the body is not an image";
    return std::nullopt;
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int w = 0, h = 0, channels = 0;
  // The size first, from the header alone: nothing is decoded for an image too large.
  if (!stbi_info_from_memory(data, length, &w, &h, &channels)) {
    error = std::string("the body is not an image this daemon reads (PNG, JPEG, BMP, GIF, PNM): ") + stbi_failure_reason();
    return std::nullopt;
  }
  if (w <= 0 || h <= 0 || static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h) > max_pixels) {
    error = "the image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels; at most " + std::to_string(max_pixels) +
            " pixels are accepted";
    return std::nullopt;
  }
  stbi_uc* pixels = stbi_load_from_memory(data, length, &w, &h, &channels, 3);
  if (!pixels) {
    error = std::string("the image does not decode: ") + stbi_failure_reason();
    return std::nullopt;
  }
  protocol::tensor t;
  t.name = "image";
  t.type = protocol::dtype::u8;
  t.shape = {h, w, 3};
  t.data.assign(reinterpret_cast<const char*>(pixels), static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  stbi_image_free(pixels);
  return t;
}

std::string model_answer_json(const model_card_fields& card, const std::vector<protocol::tensor>& inputs,
                              const std::vector<protocol::tensor>& outputs) {
  if (card.task == "text-classification" || card.task == "image-classification") {
    const auto* scores = find_tensor(outputs, "scores");
    if (!scores || scores->type != protocol::dtype::f32 || scores->shape.empty() || scores->shape.size() > 2) return {};
    const auto* data = reinterpret_cast<const float*>(scores->data.data());
    const auto cols = static_cast<std::size_t>(scores->shape.back());
    if (scores->shape.size() == 1) return json::serialize(ranked(data, cols, card.labels));
    json::array rows;
    for (std::int64_t r = 0; r < scores->shape[0]; ++r) rows.push_back(ranked(data + static_cast<std::size_t>(r) * cols, cols, card.labels));
    return json::serialize(rows);
  }
  if (card.task == "text-generation") {
    const auto* text = find_tensor(outputs, "text");
    if (!text || text->type != protocol::dtype::u8) return {};
    const auto* prompt = find_tensor(inputs, "prompt");
    std::string full = prompt ? text_of(prompt->data.data(), prompt->data.size()) : std::string();
    full += text_of(text->data.data(), text->data.size());
    return json::serialize(json::array{json::object{{"generated_text", full}}});
  }
  return {};
}

}  // namespace potluck::daemon
