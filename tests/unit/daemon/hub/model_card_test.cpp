// Model cards: the front matter the hub searches by, and clear refusals of broken ones.
#define BOOST_TEST_MODULE daemon_hub_model_card
#include <boost/test/unit_test.hpp>

#include "daemon/hub/model_card.hpp"

#include <string>

using namespace potluck::daemon::hub;

namespace {

std::string refusal(const std::string& text) {
  try {
    parse_model_card(text);
  } catch (const card_error& e) {
    return e.what();
  }
  return "accepted";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(a_card_gives_task_format_license_labels_tags_and_body) {
  const auto card = parse_model_card(
      "---\n"
      "# which language a word comes from\n"
      "task: text-classification\n"
      "format: \"torchscript\"\n"
      "license: mit\n"
      "labels: [en, fr, 'de', es, it]\n"
      "tags:\n"
      "  - words\n"
      "  - languages\n"
      "datasets: [wamerican]   # unknown keys are fine\n"
      "---\n"
      "# word-lang\n"
      "\n"
      "Trained on Debian's word lists.");
  BOOST_TEST(card.task == "text-classification");
  BOOST_TEST(card.format == "torchscript");
  BOOST_TEST(card.license == "mit");
  BOOST_TEST(card.labels == (std::vector<std::string>{"en", "fr", "de", "es", "it"}), boost::test_tools::per_element());
  BOOST_TEST(card.tags == (std::vector<std::string>{"words", "languages"}), boost::test_tools::per_element());
  BOOST_TEST(card.body == "# word-lang\n\nTrained on Debian's word lists.");
  // Hugging Face's pipeline_tag is read as the task.
  BOOST_TEST(parse_model_card("---\npipeline_tag: text-generation\nformat: safetensors\n---\n").task == "text-generation");
}

BOOST_AUTO_TEST_CASE(broken_front_matter_is_refused_naming_the_line) {
  BOOST_TEST(has(refusal("# just markdown\n"), "no front matter"));
  BOOST_TEST(has(refusal("---\ntask: tensor\nformat: onnx\n"), "not closed"));
  BOOST_TEST(has(refusal("---\ntask: tensor\nformat: onnx\njust words\n---\n"), "line 4"));
  BOOST_TEST(has(refusal("---\ntask: tensor\ntask: tensor\nformat: onnx\n---\n"), "given twice"));
  BOOST_TEST(has(refusal("---\ntask: tensor\nformat: onnx\nlabels: [a, b\n---\n"), "not closed with ]"));
  BOOST_TEST(has(refusal("---\ntask: tensor\nformat: onnx\nlabels: [a, , b]\n---\n"), "empty item"));
  BOOST_TEST(has(refusal("---\n- orphan\n---\n"), "belongs under"));
  BOOST_TEST(has(refusal("---\ntask: \"tensor\n---\n"), "not closed"));
  BOOST_TEST(has(refusal("---\ntask: tensor\nformat: onnx\nmeta: {a: 1}\n---\n"), "only plain values"));
  BOOST_TEST(has(refusal("---\ntask: tensor\n\tformat: onnx\n---\n"), "tabs"));
  BOOST_TEST(has(refusal("---\nformat: onnx\n---\n"), "names no task"));
  BOOST_TEST(has(refusal("---\ntask: translation\nformat: onnx\n---\n"), "unknown task \"translation\""));
  BOOST_TEST(has(refusal("---\ntask: tensor\n---\n"), "names no format"));
  BOOST_TEST(has(refusal("---\ntask: tensor\nformat: gguf\n---\n"), "unknown format"));
  BOOST_TEST(has(refusal("---\ntask: [tensor, other]\nformat: onnx\n---\n"), "one value"));
}

BOOST_AUTO_TEST_CASE(formats_that_run_code_when_loaded_are_refused) {
  for (const char* format : {"pickle", "pytorch", "pt"}) {
    const auto why = refusal(std::string("---\ntask: tensor\nformat: ") + format + "\n---\n");
    BOOST_TEST(has(why, "runs code when it is loaded"), why);
  }
}
