// The compute a sweep can move to a GPU, behind one interface: decoding stored values to float, moments of the
// finite values, and the sketch projections of fingerprints (fingerprint.hpp). The CPU implementation here is
// the twin every device implementation is tested against; src/gpu/ (built only when the CUDA toolkit is found)
// registers a CUDA one, chosen at run time when a device is present.
//
// Moments are computed on a fixed grid so that CPU and GPU give the same bits: values are split into chunks
// of kMomentChunk elements (in order); within a chunk, lane t (of kMomentLanes) sums the finite values at
// positions t, t + kMomentLanes, ... in order, then the lanes are added pairwise (lane i += lane i + s for
// s = kMomentLanes/2, ..., 1). A chunk's mean estimate c = sum / count, then the same lane/tree order gives the
// sums of (x - c)^k, k = 1..4, and finish_chunk() turns them into centred moments with Moments::of's formulas;
// chunks are merged in order with Moments::merge. Every operation is a correctly rounded IEEE double add,
// multiply or divide (the CUDA build disables FMA contraction), so a device gives the CPU twin's result
// exactly. Against compute_tensor_stats (another summation order) the moments agree to rounding: mean and M2
// within 1e-12 relative, M3 / M4 within 1e-9 of n sd^3 / n sd^4 (tested).
//
// Projections: S (k x n) times W (n x m), or W (r x n) times S^T (n x k), W given as stored bytes; non-finite
// entries of W count as 0 (as in fingerprints). The CPU twin accumulates in double; a device uses float
// GEMM (cuBLAS SGEMM, no TF32), so results agree within 1e-4 * |S row| * |W column| (tested), not bitwise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fromscratch/core/dtype.hpp"
#include "fromscratch/weights/model_view.hpp"
#include "fromscratch/weights/tensor_stats.hpp"

namespace fromscratch::weights {

inline constexpr size_t kMomentChunk = 4096;  // elements per chunk of the moment grid
inline constexpr size_t kMomentLanes = 256;   // lanes per chunk (a power of two dividing kMomentChunk)

// Per-chunk sums produced by the lane/tree order above: count of finite values, c = sum / count (0 when
// count is 0), and s_k = sum (x - c)^k.
struct ChunkSums {
  uint64_t count = 0;
  double c = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
};
Moments finish_chunk(const ChunkSums& s);
// The moments of a sequence of chunks (merged in order).
Moments merge_chunks(const std::vector<ChunkSums>& chunks);

// The dtypes an accelerator decodes: BF16, F16, F32, F8_E4M3, F8_E5M2.
bool accelerator_supports(DType t);

class Accelerator {
 public:
  virtual ~Accelerator() = default;
  // "cpu", or "cuda:0 (NVIDIA H200, 139.8 GiB)".
  virtual std::string name() const = 0;
  virtual bool is_device() const = 0;
  // n stored values of dtype t (little-endian bytes) to float; NaN and infinities kept.
  virtual void decode(DType t, const uint8_t* src, size_t n, float* dst) = 0;
  // Moments of the finite values among n stored values, on the fixed grid above.
  virtual Moments moments(DType t, const uint8_t* src, size_t n) = 0;
  // S (k x n, row-major floats) times W (n x m, stored bytes of dtype t, row-major): k x m.
  virtual Matrix sketch_rows(const Matrix& s, DType t, const uint8_t* w, size_t n, size_t m) = 0;
  // W (r x n, stored bytes) times S^T (S is k x n): r x k.
  virtual Matrix sketch_cols(DType t, const uint8_t* w, size_t r, size_t n, const Matrix& s) = 0;
};

// The CPU twin (always built).
std::unique_ptr<Accelerator> make_cpu_accelerator();

// A device implementation registers a factory (src/gpu/ does, from a static initializer). The factory
// returns nullptr and sets *why when it cannot run here (no device, driver missing).
using AcceleratorFactory = std::unique_ptr<Accelerator> (*)(std::string* why);
void register_accelerator(const std::string& kind, AcceleratorFactory factory);
std::vector<std::string> registered_accelerators();  // kinds, in registration order ("cuda")

struct AcceleratorChoice {
  std::unique_ptr<Accelerator> accelerator;
  std::string message;  // what was chosen and why: "accelerator: cpu (built without CUDA)"
};
// preference "auto": the first registered device that starts, else the CPU twin (the message says why);
// "cpu": the CPU twin; a registered kind ("cuda"): that one, or UsageError naming why it cannot run.
// FROMSCRATCH_ACCELERATOR in the environment overrides "auto".
AcceleratorChoice select_accelerator(const std::string& preference = "auto");

}  // namespace fromscratch::weights
