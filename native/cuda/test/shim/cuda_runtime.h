// Host stand-in for <cuda_runtime.h>, used only by the CUDA emulator test (emulator_test.cpp,
// built with -DATTNFLOW_CUDA_EMULATOR and this directory first on the include path). Kernels run
// as plain C++ functions, one OS thread per CUDA thread; see emu.h and emu_runtime.cpp for the
// runtime.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__
#define __align__(n) __attribute__((aligned(n)))

typedef struct CUstream_st* cudaStream_t;
typedef struct CUmemPoolHandle_st* cudaMemPool_t;
enum cudaError_t { cudaSuccess = 0 };

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct uint4 {
  unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
struct float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }

extern thread_local dim3 threadIdx;
extern thread_local dim3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

namespace emu {
void* dynamicSmem();
void syncthreads();
uint32_t shfl32(uint32_t v, int srcLane);  // every lane of the warp must call it
uint32_t ballot(bool pred);                 // every lane of the warp must call it
int lane();
// The tensor-core kernel's PTX (see emu_fa2_ops.h). cp.async is queued per thread and copied at
// cp.async.wait_group (deferred mode) or copied at once (immediate mode): both are legal.
void cpAsync16(void* smemDst, const void* gmemSrc, bool valid);
void cpAsyncCommit();
void cpAsyncWait(int pendingAllowed);
void ldmatrixX4(uint32_t (&r)[4], const void* smemRow, bool trans);  // collective over the warp
void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, bool bf16);  // collective
unsigned long long atomicMin64(unsigned long long* p, unsigned long long v);
}  // namespace emu

inline void __syncthreads() { emu::syncthreads(); }

inline float __shfl_xor_sync(unsigned, float v, int laneMask) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  b = emu::shfl32(b, emu::lane() ^ laneMask);
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}

inline float __shfl_sync(unsigned, float v, int srcLane) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  b = emu::shfl32(b, srcLane & 31);
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}

inline unsigned __ballot_sync(unsigned, int pred) { return emu::ballot(pred != 0); }

// A float atomic add (threads of the emulated block run concurrently).
inline float atomicAdd(float* p, float v) {
  uint32_t* u = reinterpret_cast<uint32_t*>(p);
  uint32_t old = __atomic_load_n(u, __ATOMIC_RELAXED);
  for (;;) {
    float f;
    std::memcpy(&f, &old, 4);
    const float sum = f + v;
    uint32_t nw;
    std::memcpy(&nw, &sum, 4);
    if (__atomic_compare_exchange_n(u, &old, nw, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return f;
  }
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) { return emu::atomicMin64(p, v); }
