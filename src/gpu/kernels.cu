// CUDA kernels of the GPU path: exact decoders (equal to core/dtype.cpp) and the fixed-order moment grid of
// include/fromscratch/weights/accelerator.hpp. Compiled with --fmad=false: every double operation is a
// correctly rounded add or multiply, as on the CPU twin.
#include "kernels.hpp"

namespace fromscratch::gpu {
namespace {

__device__ __forceinline__ float small_float(uint32_t sign, uint32_t e, uint32_t m, int mbits, int bias) {
  if (e == 0) {
    const float v = ldexpf(static_cast<float>(m), 1 - bias - mbits);  // subnormal: exact (m < 2^mbits)
    return sign ? -v : v;
  }
  return __uint_as_float((sign << 31) | (static_cast<uint32_t>(static_cast<int>(e) - bias + 127) << 23) |
                         (m << (23 - mbits)));
}

__device__ __forceinline__ float decode_at(int code, const uint8_t* p, size_t i) {
  switch (code) {
    case kBF16: {
      const uint32_t b = static_cast<uint32_t>(p[2 * i]) | (static_cast<uint32_t>(p[2 * i + 1]) << 8);
      return __uint_as_float(b << 16);
    }
    case kF16: {
      const uint32_t h = static_cast<uint32_t>(p[2 * i]) | (static_cast<uint32_t>(p[2 * i + 1]) << 8);
      const uint32_t sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
      if (e == 0x1f) return __uint_as_float((sign << 31) | 0x7f800000u | (m << 13));
      return small_float(sign, e, m, 10, 15);
    }
    case kF32: {
      const uint32_t u = static_cast<uint32_t>(p[4 * i]) | (static_cast<uint32_t>(p[4 * i + 1]) << 8) |
                         (static_cast<uint32_t>(p[4 * i + 2]) << 16) | (static_cast<uint32_t>(p[4 * i + 3]) << 24);
      return __uint_as_float(u);
    }
    case kE4M3: {
      const uint32_t b = p[i], sign = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
      if (e == 0xf && m == 7) return __uint_as_float((sign << 31) | 0x7fc00000u);
      return small_float(sign, e, m, 3, 7);
    }
    default: {  // kE5M2
      const uint32_t b = p[i], sign = b >> 7, e = (b >> 2) & 0x1f, m = b & 3;
      if (e == 0x1f) return __uint_as_float((sign << 31) | 0x7f800000u | (m << 21));
      return small_float(sign, e, m, 2, 15);
    }
  }
}

__global__ void decode_kernel(int code, const uint8_t* src, size_t n, float* dst, bool zero_nonfinite) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += stride) {
    float v = decode_at(code, src, i);
    if (zero_nonfinite && !isfinite(v)) v = 0.0f;
    dst[i] = v;
  }
}

// One block of kLanes threads per chunk: lane t sums positions t, t + kLanes, ... in order, then the lanes
// are added pairwise (lane i += lane i + s, s = kLanes/2 .. 1): the CPU twin's order exactly.
__global__ void moments_kernel(int code, const uint8_t* src, size_t n, DeviceChunk* out) {
  __shared__ double sh[4][kLanes];
  __shared__ unsigned long long cnt[kLanes];
  __shared__ double c_shared;
  const size_t chunk = blockIdx.x;
  const unsigned t = threadIdx.x;
  const size_t begin = chunk * kChunk;
  const size_t len = (n - begin < kChunk) ? n - begin : kChunk;
  double sum = 0;
  unsigned long long count = 0;
  for (size_t i = t; i < len; i += kLanes) {
    const float x = decode_at(code, src, begin + i);
    if (isfinite(x)) {
      sum += static_cast<double>(x);
      ++count;
    }
  }
  sh[0][t] = sum;
  cnt[t] = count;
  __syncthreads();
  for (unsigned s = kLanes / 2; s > 0; s >>= 1) {
    if (t < s) {
      sh[0][t] += sh[0][t + s];
      cnt[t] += cnt[t + s];
    }
    __syncthreads();
  }
  if (t == 0) c_shared = cnt[0] == 0 ? 0.0 : sh[0][0] / static_cast<double>(cnt[0]);
  __syncthreads();
  const double c = c_shared;
  const unsigned long long total = cnt[0];
  double l1 = 0, l2 = 0, l3 = 0, l4 = 0;
  if (total > 0)
    for (size_t i = t; i < len; i += kLanes) {
      const float x = decode_at(code, src, begin + i);
      if (isfinite(x)) {
        const double d = static_cast<double>(x) - c, d2 = d * d;
        l1 += d;
        l2 += d2;
        l3 += d2 * d;
        l4 += d2 * d2;
      }
    }
  __syncthreads();
  sh[0][t] = l1;
  sh[1][t] = l2;
  sh[2][t] = l3;
  sh[3][t] = l4;
  __syncthreads();
  for (unsigned s = kLanes / 2; s > 0; s >>= 1) {
    if (t < s)
      for (int k = 0; k < 4; ++k) sh[k][t] += sh[k][t + s];
    __syncthreads();
  }
  if (t == 0) out[chunk] = DeviceChunk{total, c, sh[0][0], sh[1][0], sh[2][0], sh[3][0]};
}

}  // namespace

cudaError_t launch_decode(int code, const uint8_t* src, size_t n, float* dst, bool zero_nonfinite, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  size_t blocks = (n + 255) / 256;
  if (blocks > 65535) blocks = 65535;
  decode_kernel<<<static_cast<unsigned>(blocks), 256, 0, s>>>(code, src, n, dst, zero_nonfinite);
  return cudaGetLastError();
}

cudaError_t launch_moments(int code, const uint8_t* src, size_t n, DeviceChunk* out, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  moments_kernel<<<static_cast<unsigned>(chunks), kLanes, 0, s>>>(code, src, n, out);
  return cudaGetLastError();
}

}  // namespace fromscratch::gpu
