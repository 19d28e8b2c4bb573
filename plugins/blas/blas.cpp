// The blas plugin: CPU maths on OpenBLAS.
//
//   linalg.matmul  a: f32[m,k], b: f32[k,n] -> c: f32[m,n] = a·b, cost 2*m*n*k.
//
// The daemon checks shapes against the declaration, but a plugin may be driven by any host
// (a third-party daemon, a test), so run() checks them again and fails the job with a message
// naming the input.
//
// Threads: OpenBLAS is set to one thread at session create, because the worker runs one runner
// per slot and each runner already has a core of its own. The plugin starts no thread itself.
#include <potluck/plugin.hpp>

#include <cblas.h>

#include <climits>
#include <cstdint>
#include <string>

namespace {

struct matmul_dims {
  std::int64_t m = 0, k = 0, n = 0;
};

std::string spec_of(const potluck::tensor_in& t) {
  return std::string(potluck::dtype_name(t.dtype())) + potluck::shape_string(t.shape());
}

// Checks a: f32[m,k] and b: f32[k,n]; throws job_error naming the input and why.
matmul_dims check_matmul_inputs(const potluck::tensor_in& a, const potluck::tensor_in& b) {
  for (const auto* t : {&a, &b}) {
    const char* want = t == &a ? "[m,k]" : "[k,n]";
    if (t->dtype() != PLK_DTYPE_F32)
      throw potluck::job_error("input '" + t->name() + "' must be f32" + want + ", got " + spec_of(*t));
    if (t->rank() != 2)
      throw potluck::job_error("input '" + t->name() + "' must have shape " + want + " (rank 2), got " +
                               potluck::shape_string(t->shape()));
    for (std::size_t i = 0; i < 2; ++i)
      if (t->dim(i) > INT_MAX)
        throw potluck::job_error("input '" + t->name() + "' has shape " + potluck::shape_string(t->shape()) +
                                 ": the blas plugin takes dimensions up to " + std::to_string(INT_MAX));
  }
  matmul_dims d{a.dim(0), a.dim(1), b.dim(1)};
  if (b.dim(0) != d.k)
    throw potluck::job_error("input 'b' must have shape [k,n] with k=" + std::to_string(d.k) +
                             " from 'a', got " + potluck::shape_string(b.shape()));
  return d;
}

class matmul_session final : public potluck::session {
 public:
  explicit matmul_session(const potluck::session_info&) { openblas_set_num_threads(1); }

  void run(potluck::job& job) override {
    const auto a = job.input("a");
    const auto b = job.input("b");
    const auto d = check_matmul_inputs(a, b);
    const auto av = a.as<float>();
    const auto bv = b.as<float>();
    if (av.size() != static_cast<std::size_t>(d.m * d.k) || bv.size() != static_cast<std::size_t>(d.k * d.n))
      throw std::runtime_error("input sizes do not match their shapes");  // the host's bug, not the user's
    job.throw_if_cancelled();
    auto c = job.output<float>("c", {d.m, d.n});  // zero-filled: right as it is when k == 0
    if (d.m == 0 || d.n == 0 || d.k == 0) return;
    const auto m = static_cast<blasint>(d.m), k = static_cast<blasint>(d.k), n = static_cast<blasint>(d.n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, av.data(), k, bv.data(), n,
                0.0f, c.data(), n);
  }
};

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("blas", "1.0.0")
                   .describe("CPU linear algebra on OpenBLAS")
                   .add(potluck::task("linalg.matmul", "cpu")
                            .describe("Matrix product c = a·b in f32 (row-major)")
                            .input("a", "f32[m,k]", "left matrix")
                            .input("b", "f32[k,n]", "right matrix")
                            .output("c", "f32[m,n]", "the product")
                            .cost("2*m*n*k")
                            .with_session<matmul_session>()));
