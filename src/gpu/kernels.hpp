// Launchers of the CUDA kernels (kernels.cu). Kept free of project headers so nvcc only compiles CUDA code;
// cuda_accelerator.cpp (plain C++) calls them.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace fromscratch::gpu {

// Must equal weights::kMomentChunk / kMomentLanes (checked in cuda_accelerator.cpp).
inline constexpr size_t kChunk = 4096;
inline constexpr unsigned kLanes = 256;

// Stored-value codes.
enum DecodeCode : int { kBF16 = 0, kF16 = 1, kF32 = 2, kE4M3 = 3, kE5M2 = 4 };

struct DeviceChunk {
  unsigned long long count;
  double c, s1, s2, s3, s4;
};

// n stored values (little-endian bytes) -> float; non-finite values become 0 when zero_nonfinite.
cudaError_t launch_decode(int code, const uint8_t* src, size_t n, float* dst, bool zero_nonfinite, cudaStream_t s);
// One DeviceChunk per kChunk values (the last may be shorter): out must hold ceil(n / kChunk) entries.
cudaError_t launch_moments(int code, const uint8_t* src, size_t n, DeviceChunk* out, cudaStream_t s);

}  // namespace fromscratch::gpu
