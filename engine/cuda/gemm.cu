// CUDA implementation of the GEMM entry points of tide/engine/cuda/cuda_kernels.h through
// cuBLASLt: CudaGemm (f32), CudaGemmBf16 (bf16 operands, f32 out) and CudaGroupedGemmBf16
// (one product per expert on one stream).
//
// Row-major to cuBLASLt's column-major: a row-major X with row stride ld, read as
// column-major, is Xᵀ with the same ld. So C = op(A)·op(B) (row-major [m,n]) is computed as
// the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ [n,m]: the first cuBLASLt operand is B with B's
// transpose flag, the second is A with A's. Device copies of the operands are packed with
// row strides rounded up to 16 bytes, so cuBLASLt's vectorised (tensor-core) kernels apply
// at any size. The compute type is CUBLAS_COMPUTE_32F: plain f32 products for f32 inputs
// (never TF32), exact bf16 products summed in f32 for bf16 inputs.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "tide/engine/cuda/cuda_kernels.h"

namespace tide::engine {
namespace {

using cuda_internal::BadArgument;
using cuda_internal::DeviceBuffer;
using cuda_internal::Stream;

// "what: CUBLAS_STATUS_X: text" as Internal.
Status LtError(cublasStatus_t status, const std::string& what) {
  return Internal(what + ": " + cublasLtGetStatusName(status) + ": " +
                  cublasLtGetStatusString(status));
}

#define TIDE_LT_RETURN_IF_ERROR(call, what)                                   \
  do {                                                                        \
    const cublasStatus_t tide_lt_status_ = (call);                            \
    if (tide_lt_status_ != CUBLAS_STATUS_SUCCESS) {                           \
      return LtError(tide_lt_status_, (what));                                \
    }                                                                         \
  } while (0)

// RAII owners of the cuBLASLt objects (destroy errors are ignored, as for cudaFree).
class LtHandle {
 public:
  LtHandle() = default;
  LtHandle(const LtHandle&) = delete;
  LtHandle& operator=(const LtHandle&) = delete;
  ~LtHandle() {
    if (handle_ != nullptr) cublasLtDestroy(handle_);
  }
  Status Create() {
    TIDE_LT_RETURN_IF_ERROR(cublasLtCreate(&handle_), "cublasLtCreate");
    return Status::Ok();
  }
  cublasLtHandle_t get() const { return handle_; }

 private:
  cublasLtHandle_t handle_ = nullptr;
};

class LtMatmulDesc {
 public:
  LtMatmulDesc() = default;
  LtMatmulDesc(const LtMatmulDesc&) = delete;
  LtMatmulDesc& operator=(const LtMatmulDesc&) = delete;
  ~LtMatmulDesc() {
    if (desc_ != nullptr) cublasLtMatmulDescDestroy(desc_);
  }
  Status Create(cublasOperation_t op_first, cublasOperation_t op_second) {
    TIDE_LT_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                            "cublasLtMatmulDescCreate");
    TIDE_LT_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA,
                                                           &op_first, sizeof(op_first)),
                            "cublasLtMatmulDescSetAttribute(TRANSA)");
    TIDE_LT_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB,
                                                           &op_second, sizeof(op_second)),
                            "cublasLtMatmulDescSetAttribute(TRANSB)");
    return Status::Ok();
  }
  cublasLtMatmulDesc_t get() const { return desc_; }

 private:
  cublasLtMatmulDesc_t desc_ = nullptr;
};

class LtLayout {
 public:
  LtLayout() = default;
  LtLayout(const LtLayout&) = delete;
  LtLayout& operator=(const LtLayout&) = delete;
  ~LtLayout() {
    if (layout_ != nullptr) cublasLtMatrixLayoutDestroy(layout_);
  }
  // A column-major rows x cols matrix with column stride ld.
  Status Create(cudaDataType_t type, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                const char* name) {
    TIDE_LT_RETURN_IF_ERROR(
        cublasLtMatrixLayoutCreate(&layout_, type, static_cast<std::uint64_t>(rows),
                                   static_cast<std::uint64_t>(cols), ld),
        std::string("cublasLtMatrixLayoutCreate(") + name + ")");
    return Status::Ok();
  }
  cublasLtMatrixLayout_t get() const { return layout_; }

 private:
  cublasLtMatrixLayout_t layout_ = nullptr;
};

class LtPreference {
 public:
  LtPreference() = default;
  LtPreference(const LtPreference&) = delete;
  LtPreference& operator=(const LtPreference&) = delete;
  ~LtPreference() {
    if (pref_ != nullptr) cublasLtMatmulPreferenceDestroy(pref_);
  }
  Status Create(std::size_t workspace_bytes) {
    TIDE_LT_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref_),
                            "cublasLtMatmulPreferenceCreate");
    TIDE_LT_RETURN_IF_ERROR(
        cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes, sizeof(workspace_bytes)),
        "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
    return Status::Ok();
  }
  cublasLtMatmulPreference_t get() const { return pref_; }

 private:
  cublasLtMatmulPreference_t pref_ = nullptr;
};

// One product on device memory, row-major as in gemm.h: C[m,n] = alpha op(A)·op(B) + beta C.
struct DeviceGemm {
  cudaDataType_t ab_type = CUDA_R_32F;
  Trans ta = Trans::kNo, tb = Trans::kNo;
  int m = 0, n = 0, k = 0;
  float alpha = 1.f;
  const void* a = nullptr;
  std::int64_t lda = 0;
  const void* b = nullptr;
  std::int64_t ldb = 0;
  float beta = 0.f;
  float* c = nullptr;
  std::int64_t ldc = 0;
};

// A cuBLASLt handle and its workspace, for the products of one call.
class LtRunner {
 public:
  static constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

  Status Init() {
    TIDE_RETURN_IF_ERROR(handle_.Create());
    return workspace_.Allocate(kWorkspaceBytes, "cuBLASLt workspace");
  }

  // Queues one product on `stream`; m, n, k > 0.
  Status Run(const DeviceGemm& g, cudaStream_t stream) {
    const cublasOperation_t op_first = g.tb == Trans::kNo ? CUBLAS_OP_N : CUBLAS_OP_T;
    const cublasOperation_t op_second = g.ta == Trans::kNo ? CUBLAS_OP_N : CUBLAS_OP_T;
    LtMatmulDesc desc;
    TIDE_RETURN_IF_ERROR(desc.Create(op_first, op_second));
    // Stored row-major shapes, then their column-major views (rows and cols swapped).
    const std::int64_t b_rows = g.tb == Trans::kNo ? g.k : g.n;
    const std::int64_t b_cols = g.tb == Trans::kNo ? g.n : g.k;
    const std::int64_t a_rows = g.ta == Trans::kNo ? g.m : g.k;
    const std::int64_t a_cols = g.ta == Trans::kNo ? g.k : g.m;
    LtLayout first, second, out;
    TIDE_RETURN_IF_ERROR(first.Create(g.ab_type, b_cols, b_rows, g.ldb, "B"));
    TIDE_RETURN_IF_ERROR(second.Create(g.ab_type, a_cols, a_rows, g.lda, "A"));
    TIDE_RETURN_IF_ERROR(out.Create(CUDA_R_32F, g.n, g.m, g.ldc, "C"));
    LtPreference pref;
    TIDE_RETURN_IF_ERROR(pref.Create(workspace_.bytes()));

    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    TIDE_LT_RETURN_IF_ERROR(
        cublasLtMatmulAlgoGetHeuristic(handle_.get(), desc.get(), first.get(), second.get(),
                                       out.get(), out.get(), pref.get(), 1, &heuristic, &found),
        "cublasLtMatmulAlgoGetHeuristic");
    if (found == 0) {
      return Internal("cublasLtMatmulAlgoGetHeuristic: no algorithm for m=" +
                      std::to_string(g.m) + " n=" + std::to_string(g.n) +
                      " k=" + std::to_string(g.k));
    }
    TIDE_LT_RETURN_IF_ERROR(
        cublasLtMatmul(handle_.get(), desc.get(), &g.alpha, g.b, first.get(), g.a, second.get(),
                       &g.beta, g.c, out.get(), g.c, out.get(), &heuristic.algo,
                       workspace_.get(), workspace_.bytes(), stream),
        "cublasLtMatmul(m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) +
            " k=" + std::to_string(g.k) + ")");
    return Status::Ok();
  }

 private:
  LtHandle handle_;
  DeviceBuffer<unsigned char> workspace_;
};

// Row stride of a packed device copy of rows with `cols` elements: a multiple of 16 bytes.
std::int64_t PaddedLd(std::int64_t cols, std::size_t elem_bytes) {
  const std::int64_t per16 = static_cast<std::int64_t>(16 / elem_bytes);
  return (cols + per16 - 1) / per16 * per16;
}

template <typename T>
Status GemmOnDevice(const char* fn, cudaDataType_t type, Trans ta, Trans tb, int m, int n, int k,
                    float alpha, const T* a, int lda, const T* b, int ldb, float beta, float* c,
                    int ldc) {
  if (m < 0 || n < 0 || k < 0) {
    return BadArgument(fn, "m, n and k must be >= 0, got m=" + std::to_string(m) +
                               " n=" + std::to_string(n) + " k=" + std::to_string(k));
  }
  if (m == 0 || n == 0) return Status::Ok();
  if (c == nullptr) return BadArgument(fn, "c must not be null");
  if (ldc < n) {
    return BadArgument(fn, "ldc must be >= n (" + std::to_string(n) + "), got " +
                               std::to_string(ldc));
  }
  if (k == 0 || alpha == 0.f) {  // BLAS: C = beta * C, A and B not read
    for (int i = 0; i < m; ++i) {
      float* row = c + static_cast<std::ptrdiff_t>(i) * ldc;
      for (int j = 0; j < n; ++j) row[j] = beta == 0.f ? 0.f : beta * row[j];
    }
    return Status::Ok();
  }
  if (a == nullptr || b == nullptr) return BadArgument(fn, "a and b must not be null");
  const int a_rows = ta == Trans::kNo ? m : k, a_cols = ta == Trans::kNo ? k : m;
  const int b_rows = tb == Trans::kNo ? k : n, b_cols = tb == Trans::kNo ? n : k;
  if (lda < a_cols) {
    return BadArgument(fn, "lda must be >= " + std::to_string(a_cols) + ", got " +
                               std::to_string(lda));
  }
  if (ldb < b_cols) {
    return BadArgument(fn, "ldb must be >= " + std::to_string(b_cols) + ", got " +
                               std::to_string(ldb));
  }
  TIDE_RETURN_IF_ERROR(cuda_internal::RequireDevice());

  // Declared first so it is destroyed last; cudaFree synchronises.
  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  LtRunner runner;
  TIDE_RETURN_IF_ERROR(runner.Init());
  const std::int64_t lda_dev = PaddedLd(a_cols, sizeof(T));
  const std::int64_t ldb_dev = PaddedLd(b_cols, sizeof(T));
  const std::int64_t ldc_dev = PaddedLd(n, sizeof(float));
  DeviceBuffer<T> a_dev, b_dev;
  DeviceBuffer<float> c_dev;
  TIDE_RETURN_IF_ERROR(cuda_internal::UploadRows(a, a_rows, a_cols, lda, lda_dev, stream.get(),
                                                 "A", &a_dev));
  TIDE_RETURN_IF_ERROR(cuda_internal::UploadRows(b, b_rows, b_cols, ldb, ldb_dev, stream.get(),
                                                 "B", &b_dev));
  if (beta != 0.f) {
    TIDE_RETURN_IF_ERROR(
        cuda_internal::UploadRows(c, m, n, ldc, ldc_dev, stream.get(), "C", &c_dev));
  } else {
    // C is not read when beta == 0; zeroing it keeps stale NaN bit patterns out of reach.
    TIDE_RETURN_IF_ERROR(c_dev.Allocate(static_cast<std::size_t>(m) * ldc_dev, "C"));
    TIDE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(c_dev.get(), 0, c_dev.bytes(), stream.get()),
                              "cudaMemsetAsync(C)");
  }

  DeviceGemm g;
  g.ab_type = type;
  g.ta = ta;
  g.tb = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = alpha;
  g.a = a_dev.get();
  g.lda = lda_dev;
  g.b = b_dev.get();
  g.ldb = ldb_dev;
  g.beta = beta;
  g.c = c_dev.get();
  g.ldc = ldc_dev;
  TIDE_RETURN_IF_ERROR(runner.Run(g, stream.get()));
  TIDE_RETURN_IF_ERROR(cuda_internal::Synchronize(stream.get(), "cublasLtMatmul execution"));
  TIDE_RETURN_IF_ERROR(
      cuda_internal::DownloadRows(c_dev, m, n, ldc_dev, ldc, stream.get(), "C", c));
  return cuda_internal::Synchronize(stream.get(), "cudaStreamSynchronize(C, device to host)");
}

}  // namespace

Status CudaGemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc) {
  return GemmOnDevice("CudaGemm", CUDA_R_32F, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                      ldc);
}

Status CudaGemmBf16(Trans ta, Trans tb, int m, int n, int k, float alpha, const uint16_t* a,
                    int lda, const uint16_t* b, int ldb, float beta, float* c, int ldc) {
  return GemmOnDevice("CudaGemmBf16", CUDA_R_16BF, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta,
                      c, ldc);
}

Status CudaGroupedGemmBf16(const uint16_t* x, int rows, int in, const uint16_t* w, int experts,
                           int out, const int32_t* expert_rows, float* y) {
  constexpr const char* kFn = "CudaGroupedGemmBf16";
  if (rows < 0) return BadArgument(kFn, "rows must be >= 0, got " + std::to_string(rows));
  if (in <= 0 || out <= 0 || experts <= 0) {
    return BadArgument(kFn, "in, out and experts must be > 0, got in=" + std::to_string(in) +
                                " out=" + std::to_string(out) +
                                " experts=" + std::to_string(experts));
  }
  if (expert_rows == nullptr) return BadArgument(kFn, "expert_rows must not be null");
  std::int64_t total = 0;
  for (int e = 0; e < experts; ++e) {
    if (expert_rows[e] < 0) {
      return BadArgument(kFn, "expert_rows[" + std::to_string(e) + "] must be >= 0, got " +
                                  std::to_string(expert_rows[e]));
    }
    total += expert_rows[e];
  }
  if (total != rows) {
    return BadArgument(kFn, "expert_rows must sum to rows (" + std::to_string(rows) + "), got " +
                                std::to_string(total));
  }
  if (rows == 0) return Status::Ok();
  if (x == nullptr || w == nullptr || y == nullptr) {
    return BadArgument(kFn, "x, w and y must not be null");
  }
  TIDE_RETURN_IF_ERROR(cuda_internal::RequireDevice());

  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  LtRunner runner;
  TIDE_RETURN_IF_ERROR(runner.Init());
  const std::int64_t ld_in = PaddedLd(in, sizeof(uint16_t));
  const std::int64_t ld_out = PaddedLd(out, sizeof(float));
  DeviceBuffer<uint16_t> x_dev, w_dev;
  DeviceBuffer<float> y_dev;
  TIDE_RETURN_IF_ERROR(
      cuda_internal::UploadRows(x, rows, in, in, ld_in, stream.get(), "x", &x_dev));
  TIDE_RETURN_IF_ERROR(cuda_internal::UploadRows(w, static_cast<std::size_t>(experts) * out, in,
                                                 in, ld_in, stream.get(), "w", &w_dev));
  TIDE_RETURN_IF_ERROR(y_dev.Allocate(static_cast<std::size_t>(rows) * ld_out, "y"));
  TIDE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y_dev.get(), 0, y_dev.bytes(), stream.get()),
                            "cudaMemsetAsync(y)");

  std::int64_t first_row = 0;
  for (int e = 0; e < experts; ++e) {
    const int count = expert_rows[e];
    if (count == 0) continue;
    DeviceGemm g;
    g.ab_type = CUDA_R_16BF;
    g.ta = Trans::kNo;
    g.tb = Trans::kYes;  // y = x · Wᵀ with W [out, in]
    g.m = count;
    g.n = out;
    g.k = in;
    g.a = x_dev.get() + first_row * ld_in;
    g.lda = ld_in;
    g.b = w_dev.get() + static_cast<std::int64_t>(e) * out * ld_in;
    g.ldb = ld_in;
    g.c = y_dev.get() + first_row * ld_out;
    g.ldc = ld_out;
    const Status st = runner.Run(g, stream.get());
    if (!st.ok()) return st.WithContext(std::string(kFn) + ": expert " + std::to_string(e));
    first_row += count;
  }
  TIDE_RETURN_IF_ERROR(cuda_internal::Synchronize(stream.get(), "cublasLtMatmul execution"));
  TIDE_RETURN_IF_ERROR(
      cuda_internal::DownloadRows(y_dev, rows, out, ld_out, out, stream.get(), "y", y));
  return cuda_internal::Synchronize(stream.get(), "cudaStreamSynchronize(y, device to host)");
}

}  // namespace tide::engine
