// The cuda plugin: GPU maths on cuBLAS.
//
//   linalg.matmul  a: f32[m,k], b: f32[k,n] -> c: f32[m,n] = a·b, cost 2*m*n*k
//                  (the same declaration as the blas plugin's, on backend "cuda").
//
// Potluck tensors are row-major; cuBLAS is column-major. A row-major m×n matrix is the
// column-major n×m matrix of its transpose, so the plugin computes C^T = B^T·A^T, which needs no
// transposition at all: sgemm(N, N, n, m, k, B, ld=n, A, ld=k, C, ld=n).
//
// Sessions: one per (task, GPU). session create fails with "no CUDA device (...)" when the
// machine has no usable GPU, and with a clear message when the index is out of range. Each
// session owns a cuBLAS handle on its device; a run may come on any thread, so it selects the
// device first. The plugin starts no thread itself.
#include <potluck/plugin.hpp>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <climits>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace {

std::string describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

void check(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return;
  if (e == cudaErrorMemoryAllocation) throw std::bad_alloc();
  throw std::runtime_error(std::string(call) + " failed: " + describe(e));
}

void check(cublasStatus_t s, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  if (s == CUBLAS_STATUS_ALLOC_FAILED) throw std::bad_alloc();
  throw std::runtime_error(std::string(call) + " failed: " + cublasGetStatusName(s));
}

// Device memory for one run.
class device_buffer {
 public:
  explicit device_buffer(std::size_t bytes) { check(cudaMalloc(&ptr_, bytes), "cudaMalloc"); }
  ~device_buffer() { cudaFree(ptr_); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  float* get() const noexcept { return static_cast<float*>(ptr_); }

 private:
  void* ptr_ = nullptr;
};

struct matmul_dims {
  std::int64_t m = 0, k = 0, n = 0;
};

std::string spec_of(const potluck::tensor_in& t) {
  return std::string(potluck::dtype_name(t.dtype())) + potluck::shape_string(t.shape());
}

// Checks a: f32[m,k] and b: f32[k,n]; throws job_error naming the input and why. (The same
// checks as the blas plugin's: plugins share no code but the SDK.)
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
                                 ": the cuda plugin takes dimensions up to " + std::to_string(INT_MAX));
  }
  matmul_dims d{a.dim(0), a.dim(1), b.dim(1)};
  if (b.dim(0) != d.k)
    throw potluck::job_error("input 'b' must have shape [k,n] with k=" + std::to_string(d.k) +
                             " from 'a', got " + potluck::shape_string(b.shape()));
  return d;
}

class matmul_session final : public potluck::session {
 public:
  explicit matmul_session(const potluck::session_info& info) : device_(info.device_index) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) throw std::runtime_error("no CUDA device (cudaGetDeviceCount: " + describe(e) + ")");
    if (count == 0) throw std::runtime_error("no CUDA device (cudaGetDeviceCount found none)");
    if (device_ < 0 || device_ >= count)
      throw std::runtime_error("no CUDA device " + std::to_string(device_) + ": this machine has " +
                               std::to_string(count) + " (indices 0 to " + std::to_string(count - 1) + ")");
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cublasCreate(&handle_), "cublasCreate");
  }
  ~matmul_session() override {
    cudaSetDevice(device_);
    cublasDestroy(handle_);
  }

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

    check(cudaSetDevice(device_), "cudaSetDevice");
    device_buffer da(av.size_bytes()), db(bv.size_bytes()), dc(c.size_bytes());
    check(cudaMemcpy(da.get(), av.data(), av.size_bytes(), cudaMemcpyHostToDevice), "cudaMemcpy a");
    check(cudaMemcpy(db.get(), bv.data(), bv.size_bytes(), cudaMemcpyHostToDevice), "cudaMemcpy b");
    const int m = static_cast<int>(d.m), k = static_cast<int>(d.k), n = static_cast<int>(d.n);
    const float alpha = 1.0f, beta = 0.0f;
    check(cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, db.get(), n, da.get(), k, &beta,
                      dc.get(), n),
          "cublasSgemm");
    // The handle works on the legacy default stream, so this copy waits for the product.
    check(cudaMemcpy(c.data(), dc.get(), c.size_bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy c");
  }

 private:
  int device_;
  cublasHandle_t handle_ = nullptr;
};

}  // namespace

POTLUCK_PLUGIN(potluck::plugin_def("cuda", "1.0.0")
                   .describe("GPU linear algebra on cuBLAS")
                   .add(potluck::task("linalg.matmul", "cuda")
                            .describe("Matrix product c = a·b in f32 (row-major), on one GPU")
                            .input("a", "f32[m,k]", "left matrix")
                            .input("b", "f32[k,n]", "right matrix")
                            .output("c", "f32[m,n]", "the product")
                            .cost("2*m*n*k")
                            .with_session<matmul_session>()));
