// potluck-torch-direct: the ceiling of potluck-model-bench's inference figure. Loads a
// text-classification TorchScript model the way the torch plugin does and classifies a word
// list in batches, in a loop, on one thread: bytes to an int64 [b, n] tensor (zero-padded,
// cut at the model's max_length), forward, softmax, scores copied out. No Potluck in the way.
//
//   potluck-torch-direct MODEL_DIR WORDS_FILE BATCH BATCHES
// prints "words_per_second N" (after one batch of warm-up).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: potluck-torch-direct MODEL_DIR WORDS_FILE BATCH BATCHES\n";
    return 2;
  }
  const std::string dir = argv[1];
  const auto batch = static_cast<std::size_t>(std::stoul(argv[3]));
  const auto batches = static_cast<std::size_t>(std::stoul(argv[4]));
  std::vector<std::string> words;
  {
    std::ifstream in(argv[2]);
    for (std::string w; std::getline(in, w);)
      if (!w.empty()) words.push_back(w);
  }
  if (words.size() < batch) {
    std::cerr << "potluck-torch-direct: fewer words than a batch\n";
    return 1;
  }
  std::int64_t max_length = 64;
  {
    std::ifstream in(dir + "/config.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch m;
    if (std::regex_search(text, m, std::regex("\"max_length\"\\s*:\\s*([0-9]+)"))) max_length = std::stoll(m[1]);
  }
  at::set_num_threads(1);
  c10::InferenceMode guard;
  auto module = torch::jit::load(dir + "/model.pt");
  module.eval();
  std::vector<float> sink;
  auto run_batch = [&](std::size_t first) {
    std::size_t longest = 1;
    for (std::size_t i = 0; i < batch; ++i) longest = std::max(longest, words[(first + i) % words.size()].size());
    const auto n = std::min<std::int64_t>(static_cast<std::int64_t>(longest), max_length);
    auto x = torch::zeros({static_cast<std::int64_t>(batch), n}, torch::kLong);
    auto* p = x.data_ptr<std::int64_t>();
    for (std::size_t i = 0; i < batch; ++i) {
      const auto& w = words[(first + i) % words.size()];
      for (std::int64_t j = 0; j < n && j < static_cast<std::int64_t>(w.size()); ++j)
        p[static_cast<std::int64_t>(i) * n + j] = static_cast<unsigned char>(w[static_cast<std::size_t>(j)]);
    }
    auto scores = torch::softmax(module.forward({x}).toTensor().to(torch::kFloat), -1).contiguous();
    sink.assign(scores.data_ptr<float>(), scores.data_ptr<float>() + scores.numel());
  };
  run_batch(0);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t b = 0; b < batches; ++b) run_batch(b * batch);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("words_per_second %.1f\n", static_cast<double>(batches * batch) / s);
  return sink.empty() ? 1 : 0;
}
