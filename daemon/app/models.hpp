// Models as jobs name them: "owner/name" (its head revision, pinned when the job is accepted)
// or "owner/name@revision". What a job for a model runs (the model task "<format>.<task>" of
// its card) and the files a worker fetches for it.
#pragma once

#include "daemon/store/hub_store.hpp"
#include "potluck/protocol/tensor.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace potluck::daemon {

namespace hub {
class blob_store;
}

struct resolved_model {
  model_record model;
  model_revision revision;
  model_card_fields card;  // as of that revision
  std::string task;        // the model task it runs as, "<format>.<task>"
  // "owner/name@revision": what the job records, so it runs on the revision it was accepted for.
  std::string pinned() const { return model.owner + "/" + model.name + "@" + revision.id; }
  // [{"path","size","sha256"}] for the worker (the JOB's "model"."files").
  std::string files_json() const;
};

struct model_lookup_error {
  unsigned status = 404;
  std::string code, message;
};

// Finds the model and revision `ref` names. On failure fills `why` (400 for a malformed
// reference, 404 for an unknown model or revision) and returns nullopt.
std::optional<resolved_model> resolve_model(hub_store& hub, const hub::blob_store& blobs, std::string_view ref,
                                            model_lookup_error& why);

// The card of a revision other than the head, read again from its README.md; the head's
// fields for the head (or when it does not read again: logged).
model_card_fields card_of_revision(const model_record& model, const model_revision& rev, const hub::blob_store& blobs);

// The answer of a finished job for a model, in the Hugging Face Inference API's shape for its
// task, as JSON text; "" when the task has none (tensor) or the outputs do not fit it.
//   text-classification   [[{"label", "score"}, ...], ...]  one list per text, best first
//   image-classification  [{"label", "score"}, ...]          best first
//   text-generation       [{"generated_text": prompt + new text}]
// Labels come from the card (label i of the scores); a card without them gives "LABEL_i".
std::string model_answer_json(const model_card_fields& card, const std::vector<protocol::tensor>& inputs,
                              const std::vector<protocol::tensor>& outputs);

// A u8 tensor of text as UTF-8 (up to its first zero byte; bytes that are not UTF-8 replaced).
std::string text_of_tensor(const protocol::tensor& t);

// An image file's bytes (PNG, JPEG, BMP, GIF, PNM, ...) as the u8[h,w,3] tensor `image` the
// image-classification task takes, for the Inference API's clients, which send the file as it
// is. nullopt, with `error` saying why, for bytes that are not an image or one over
// `max_pixels`.
std::optional<protocol::tensor> decode_image(std::string_view bytes, std::uint64_t max_pixels, std::string& error);

}  // namespace potluck::daemon
