// The CUDA implementation of the accelerator interface (include/fromscratch/weights/accelerator.hpp).
//
// decode     kernels.cu, one thread per element, decoders equal to core/dtype.cpp's.
// moments    kernels.cu, one block per chunk of the moment grid, the CPU twin's lane/tree order in double
//            without FMA contraction; the host merges the chunks in order with the CPU twin's code, so the
//            result is the CPU twin's, bit for bit.
// sketches   W decoded to float on the device (non-finite -> 0), then cuBLAS SGEMM (default math mode, no TF32).
//
// Input moves in slabs through two pinned host buffers and two streams: while the device works on slab i,
// the host copies slab i+1 into the other pinned buffer and queues its upload, so reading, copying and
// computing overlap. Row digests (XXH3-64) stay on the CPU (docs/gpu.md says why).
//
// cuBLAS is loaded with dlopen when a device is first used, so the tool and the tests start without the CUDA
// libraries and a machine without them (or without a driver) falls back to the CPU twin with a message. The
// CUDA runtime is linked statically. This file registers accelerator "cuda" from a static initializer (the
// target is an object library, so the initializer is always linked).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/weights/accelerator.hpp"
#include "kernels.hpp"

#ifndef FROMSCRATCH_CUBLAS_SONAME
#define FROMSCRATCH_CUBLAS_SONAME "libcublas.so"
#endif
#ifndef FROMSCRATCH_CUDA_LIBDIR
#define FROMSCRATCH_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

namespace fromscratch::gpu {
namespace {

static_assert(kChunk == weights::kMomentChunk && kLanes == weights::kMomentLanes,
              "the CUDA moment grid must be the CPU twin's");

using weights::ChunkSums;
using weights::Matrix;
using weights::Moments;

[[noreturn]] void cuda_fail(const char* call, cudaError_t err, int line) {
  throw Error(std::string("CUDA error at cuda_accelerator.cpp:") + std::to_string(line) + ": " + call + ": " +
              cudaGetErrorString(err));
}
#define FS_CUDA_CHECK(call)                                  \
  do {                                                       \
    cudaError_t err_ = (call);                               \
    if (err_ != cudaSuccess) cuda_fail(#call, err_, __LINE__); \
  } while (0)

// The few cuBLAS entry points used, resolved from the shared library at run time.
struct Blas {
  void* lib = nullptr;
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;

  // Returns "" on success, else why not.
  std::string load() {
    const std::string names[] = {FROMSCRATCH_CUBLAS_SONAME, std::string(FROMSCRATCH_CUDA_LIBDIR) + "/" +
                                                                 FROMSCRATCH_CUBLAS_SONAME};
    std::string errors;
    for (const auto& n : names) {
      lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
      const char* e = dlerror();
      errors += (errors.empty() ? "" : "; ") + std::string(e ? e : n);
    }
    if (!lib) return "cuBLAS not found (" + errors + ")";
    create = reinterpret_cast<decltype(create)>(dlsym(lib, "cublasCreate_v2"));
    destroy = reinterpret_cast<decltype(destroy)>(dlsym(lib, "cublasDestroy_v2"));
    set_stream = reinterpret_cast<decltype(set_stream)>(dlsym(lib, "cublasSetStream_v2"));
    set_math_mode = reinterpret_cast<decltype(set_math_mode)>(dlsym(lib, "cublasSetMathMode"));
    sgemm = reinterpret_cast<decltype(sgemm)>(dlsym(lib, "cublasSgemm_v2"));
    if (!create || !destroy || !set_stream || !set_math_mode || !sgemm)
      return "cuBLAS at " + names[0] + " lacks an entry point (cublasCreate_v2 / cublasSgemm_v2 / ...)";
    return "";
  }
};

void blas_check(cublasStatus_t st, const char* call, int line) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLAS error at cuda_accelerator.cpp:") + std::to_string(line) + ": " + call +
                ": status " + std::to_string(static_cast<int>(st)));
}
#define FS_CUBLAS_CHECK(call) blas_check((call), #call, __LINE__)

int code_of(DType t) {
  switch (t) {
    case DType::BF16: return kBF16;
    case DType::F16: return kF16;
    case DType::F32: return kF32;
    case DType::F8_E4M3: return kE4M3;
    case DType::F8_E5M2: return kE5M2;
    default:
      throw UsageError("CUDA accelerator: dtype " + std::string(dtype_name(t)) +
                       " is not decoded on the device (supported: BF16, F16, F32, F8_E4M3, F8_E5M2)");
  }
}
size_t width_of(int code) { return code == kF32 ? 4 : (code == kBF16 || code == kF16) ? 2 : 1; }

template <typename T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void reserve(size_t count) {
    if (count <= n) return;
    if (p) cudaFree(p);
    p = nullptr;
    n = 0;
    FS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(1, count) * sizeof(T)));
    n = count;
  }
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
};

struct PinnedBuffer {
  uint8_t* p = nullptr;
  size_t n = 0;
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void reserve(size_t bytes) {
    if (bytes <= n) return;
    if (p) cudaFreeHost(p);
    p = nullptr;
    n = 0;
    FS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p), std::max<size_t>(1, bytes)));
    n = bytes;
  }
  ~PinnedBuffer() {
    if (p) cudaFreeHost(p);
  }
};

class CudaAccelerator final : public weights::Accelerator {
 public:
  CudaAccelerator(int device, Blas blas) : device_(device), blas_(blas) {
    FS_CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    FS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    std::ostringstream os;
    os.precision(1);
    os << "cuda:" << device_ << " (" << prop.name << ", " << std::fixed
       << static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024 * 1024) << " GiB, sm_" << prop.major
       << prop.minor << ")";
    name_ = os.str();
    for (int b = 0; b < 2; ++b) {
      FS_CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[b], cudaStreamNonBlocking));
      FS_CUDA_CHECK(cudaEventCreateWithFlags(&copied_[b], cudaEventDisableTiming));
      FS_CUDA_CHECK(cudaEventCreateWithFlags(&gemm_done_[b], cudaEventDisableTiming));
      FS_CUDA_CHECK(cudaEventRecord(copied_[b], streams_[b]));  // "done" from the start
      FS_CUDA_CHECK(cudaEventRecord(gemm_done_[b], streams_[b]));
    }
    FS_CUBLAS_CHECK(blas_.create(&handle_));
    FS_CUBLAS_CHECK(blas_.set_math_mode(handle_, CUBLAS_DEFAULT_MATH));  // FP32 throughout, no TF32
  }
  ~CudaAccelerator() override {
    if (handle_) blas_.destroy(handle_);
    for (int b = 0; b < 2; ++b) {
      if (copied_[b]) cudaEventDestroy(copied_[b]);
      if (gemm_done_[b]) cudaEventDestroy(gemm_done_[b]);
      if (streams_[b]) cudaStreamDestroy(streams_[b]);
    }
  }
  CudaAccelerator(const CudaAccelerator&) = delete;
  CudaAccelerator& operator=(const CudaAccelerator&) = delete;

  std::string name() const override { return name_; }
  bool is_device() const override { return true; }

  void decode(DType t, const uint8_t* src, size_t n, float* dst) override {
    const int code = code_of(t);
    const size_t w = width_of(code);
    FS_CUDA_CHECK(cudaSetDevice(device_));
    for_each_slab(src, n, w, std::max<size_t>(1, slab_bytes_ / w),
                  [&](int b, const uint8_t* dev_src, size_t at, size_t len) {
                    out_[b].reserve(len);
                    FS_CUDA_CHECK(launch_decode(code, dev_src, len, out_[b].p, false, streams_[b]));
                    FS_CUDA_CHECK(cudaMemcpyAsync(dst + at, out_[b].p, len * sizeof(float), cudaMemcpyDeviceToHost,
                                                  streams_[b]));
                  });
  }

  Moments moments(DType t, const uint8_t* src, size_t n) override {
    const int code = code_of(t);
    const size_t w = width_of(code);
    FS_CUDA_CHECK(cudaSetDevice(device_));
    std::vector<DeviceChunk> host((n + kChunk - 1) / kChunk);
    const size_t slab = std::max<size_t>(1, slab_bytes_ / w / kChunk) * kChunk;  // whole chunks per slab
    for_each_slab(src, n, w, slab, [&](int b, const uint8_t* dev_src, size_t at, size_t len) {
      const size_t chunks = (len + kChunk - 1) / kChunk;
      chunks_[b].reserve(chunks);
      FS_CUDA_CHECK(launch_moments(code, dev_src, len, chunks_[b].p, streams_[b]));
      FS_CUDA_CHECK(cudaMemcpyAsync(host.data() + at / kChunk, chunks_[b].p, chunks * sizeof(DeviceChunk),
                                    cudaMemcpyDeviceToHost, streams_[b]));
    });
    std::vector<ChunkSums> sums(host.size());
    for (size_t i = 0; i < host.size(); ++i)
      sums[i] = ChunkSums{host[i].count, host[i].c, host[i].s1, host[i].s2, host[i].s3, host[i].s4};
    return weights::merge_chunks(sums);
  }

  Matrix sketch_rows(const Matrix& s, DType t, const uint8_t* w, size_t n, size_t m) override {
    if (s.cols != n)
      throw UsageError("CUDA sketch_rows: S has " + std::to_string(s.cols) + " columns, W has " +
                       std::to_string(n) + " rows");
    check_gemm_dims(s.rows, n, m);
    const int code = code_of(t);
    const size_t bw = width_of(code), k = s.rows;
    FS_CUDA_CHECK(cudaSetDevice(device_));
    DeviceBuffer<float> dev_s, dev_c;
    dev_s.reserve(k * n);
    dev_c.reserve(k * m);
    FS_CUDA_CHECK(cudaMemcpy(dev_s.p, s.v.data(), k * n * sizeof(float), cudaMemcpyHostToDevice));
    FS_CUDA_CHECK(cudaMemset(dev_c.p, 0, k * m * sizeof(float)));
    // Row blocks of W: C += S[:, rows] W[rows, :]. Column-major view: C^T (m x k) += W^T (m x b) S^T (b x k),
    // S^T of the block = the row-major S from column r0 on, leading dimension n.
    const size_t rows_per_slab = std::max<size_t>(1, slab_bytes_ / std::max<size_t>(1, m * bw));
    for_each_slab(w, n * m, bw, rows_per_slab * m, [&](int b, const uint8_t* dev_w, size_t at, size_t len) {
      const size_t r0 = at / m, rows = len / m;
      out_[b].reserve(len);
      FS_CUDA_CHECK(launch_decode(code, dev_w, len, out_[b].p, true, streams_[b]));
      const float one = 1.0f;
      FS_CUBLAS_CHECK(blas_.set_stream(handle_, streams_[b]));
      // The GEMMs accumulate into one C: each waits for the previous one (on the other stream).
      FS_CUDA_CHECK(cudaStreamWaitEvent(streams_[b], gemm_done_[1 - b], 0));
      FS_CUBLAS_CHECK(blas_.sgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(k),
                                  static_cast<int>(rows), &one, out_[b].p, static_cast<int>(m), dev_s.p + r0,
                                  static_cast<int>(n), &one, dev_c.p, static_cast<int>(m)));
      FS_CUDA_CHECK(cudaEventRecord(gemm_done_[b], streams_[b]));
    });
    Matrix out;
    out.rows = k;
    out.cols = m;
    out.v.resize(k * m);
    FS_CUDA_CHECK(cudaMemcpy(out.v.data(), dev_c.p, k * m * sizeof(float), cudaMemcpyDeviceToHost));
    return out;
  }

  Matrix sketch_cols(DType t, const uint8_t* w, size_t r, size_t n, const Matrix& s) override {
    if (s.cols != n)
      throw UsageError("CUDA sketch_cols: S has " + std::to_string(s.cols) + " columns, W has " +
                       std::to_string(n) + " columns");
    check_gemm_dims(s.rows, n, r);
    const int code = code_of(t);
    const size_t bw = width_of(code), k = s.rows;
    FS_CUDA_CHECK(cudaSetDevice(device_));
    DeviceBuffer<float> dev_s, dev_c;
    dev_s.reserve(k * n);
    dev_c.reserve(r * k);
    FS_CUDA_CHECK(cudaMemcpy(dev_s.p, s.v.data(), k * n * sizeof(float), cudaMemcpyHostToDevice));
    // Row blocks of W give row blocks of C: C[rows] (b x k) = W[rows] (b x n) S^T. Column-major view:
    // C^T (k x b) = S (k x n) W^T (n x b); the row-major S is S^T in column-major (op T, leading dim n).
    const size_t rows_per_slab = std::max<size_t>(1, slab_bytes_ / std::max<size_t>(1, n * bw));
    for_each_slab(w, r * n, bw, rows_per_slab * n, [&](int b, const uint8_t* dev_w, size_t at, size_t len) {
      const size_t r0 = at / n, rows = len / n;
      out_[b].reserve(len);
      FS_CUDA_CHECK(launch_decode(code, dev_w, len, out_[b].p, true, streams_[b]));
      const float one = 1.0f, zero = 0.0f;
      FS_CUBLAS_CHECK(blas_.set_stream(handle_, streams_[b]));
      FS_CUBLAS_CHECK(blas_.sgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(k), static_cast<int>(rows),
                                  static_cast<int>(n), &one, dev_s.p, static_cast<int>(n), out_[b].p,
                                  static_cast<int>(n), &zero, dev_c.p + r0 * k, static_cast<int>(k)));
    });
    Matrix out;
    out.rows = r;
    out.cols = k;
    out.v.resize(r * k);
    FS_CUDA_CHECK(cudaMemcpy(out.v.data(), dev_c.p, r * k * sizeof(float), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  // Bytes of stored values per slab (64 MiB; FROMSCRATCH_GPU_SLAB_BYTES overrides, for tests and tuning).
  static size_t slab_bytes_from_env() {
    if (const char* v = std::getenv("FROMSCRATCH_GPU_SLAB_BYTES"); v != nullptr && *v != '\0') {
      const long long b = std::atoll(v);
      if (b >= 4096) return static_cast<size_t>(b);
    }
    return size_t(64) << 20;
  }

  static void check_gemm_dims(size_t a, size_t b, size_t c) {
    const size_t limit = 0x7fffffff;
    if (a > limit || b > limit || c > limit)
      throw UsageError("CUDA sketch: a dimension exceeds cuBLAS's int range (limit: 2147483647)");
  }

  // Streams n elements of w bytes through the two pinned buffers in slabs of `slab` elements: slab i goes
  // to buffer i % 2 once that buffer's previous upload finished; its upload and work(buffer, device pointer,
  // first element, length) are queued on stream i % 2, so the host copy of slab i+1 overlaps the upload and
  // compute of slab i. Waits for both streams at the end.
  template <typename Work>
  void for_each_slab(const uint8_t* src, size_t n, size_t w, size_t slab, Work&& work) {
    if (n == 0) return;
    slab = std::min(slab, n);
    for (int b = 0; b < 2; ++b) {
      pinned_[b].reserve(slab * w);
      in_[b].reserve(slab * w);
    }
    size_t i = 0;
    for (size_t at = 0; at < n; at += slab, ++i) {
      const int b = static_cast<int>(i % 2);
      const size_t len = std::min(slab, n - at);
      FS_CUDA_CHECK(cudaEventSynchronize(copied_[b]));
      std::memcpy(pinned_[b].p, src + at * w, len * w);
      FS_CUDA_CHECK(cudaMemcpyAsync(in_[b].p, pinned_[b].p, len * w, cudaMemcpyHostToDevice, streams_[b]));
      FS_CUDA_CHECK(cudaEventRecord(copied_[b], streams_[b]));
      work(b, in_[b].p, at, len);
    }
    for (auto& s : streams_) FS_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  int device_ = 0;
  size_t slab_bytes_ = slab_bytes_from_env();
  Blas blas_;
  std::string name_;
  cudaStream_t streams_[2] = {nullptr, nullptr};
  cudaEvent_t copied_[2] = {nullptr, nullptr}, gemm_done_[2] = {nullptr, nullptr};
  cublasHandle_t handle_ = nullptr;
  PinnedBuffer pinned_[2];
  DeviceBuffer<uint8_t> in_[2];
  DeviceBuffer<float> out_[2];
  DeviceBuffer<DeviceChunk> chunks_[2];
};

std::unique_ptr<weights::Accelerator> make_cuda(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(err) + ")";
    cudaGetLastError();  // clear the error state
    return nullptr;
  }
  if (count <= 0) {
    if (why) *why = "no CUDA device (cudaGetDeviceCount = 0)";
    return nullptr;
  }
  Blas blas;
  if (std::string e = blas.load(); !e.empty()) {
    if (why) *why = e;
    return nullptr;
  }
  // One rank per GPU: a rank takes device (local rank mod count) when its launcher says its local rank.
  int device = 0;
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"})
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
      device = std::atoi(v) % count;
      break;
    }
  try {
    return std::make_unique<CudaAccelerator>(device, blas);
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return nullptr;
  }
}

struct Registrar {
  Registrar() { weights::register_accelerator("cuda", &make_cuda); }
};
const Registrar registrar;

}  // namespace
}  // namespace fromscratch::gpu
