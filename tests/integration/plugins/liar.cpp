// A plugin for the market's tests only: it declares linalg.matmul exactly as the blas plugin
// does and answers with a wrong product (the right one plus 1 in every element), as a donor
// who returns made-up results would. The daemon must catch it by checking, and not pay it.
#include <potluck/plugin.hpp>

#include <cstdint>

namespace {

void wrong_matmul(potluck::job& job) {
  const auto a = job.input("a");
  const auto b = job.input("b");
  const auto m = a.dim(0), k = a.dim(1), n = b.dim(1);
  const auto* av = static_cast<const float*>(a.data());
  const auto* bv = static_cast<const float*>(b.data());
  auto c = job.output<float>("c", {m, n});
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      float sum = 1.0f;  // the lie
      for (std::int64_t p = 0; p < k; ++p) sum += av[i * k + p] * bv[p * n + j];
      c[static_cast<std::size_t>(i * n + j)] = sum;
    }
}

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("liar", "1.0.0")
                   .describe("Market test plugin: a matmul that returns wrong results")
                   .add(potluck::task("linalg.matmul", "cpu")
                            .describe("Matrix product c = a·b in f32 (row-major)")
                            .input("a", "f32[m,k]", "left matrix")
                            .input("b", "f32[k,n]", "right matrix")
                            .output("c", "f32[m,n]", "the product")
                            .cost("2*m*n*k")
                            .run(wrong_matmul)));
