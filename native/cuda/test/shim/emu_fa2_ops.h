// Host emulation of the tensor-core kernel's PTX (cp.async, ldmatrix, mma.sync m16n8k16), as the
// PTX ISA defines them; included by fa2_ptx.cuh inside namespace attnflow::cudaimpl::fa2 when
// ATTNFLOW_CUDA_EMULATOR is defined. The runtime behind ::emu:: is in emulator_test.cpp.
#pragma once

// (The ::emu functions are declared in the shim cuda_runtime.h.)

__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
  ::emu::cpAsync16(smem, gmem, valid);
}
__device__ __forceinline__ void cpAsyncCommit() { ::emu::cpAsyncCommit(); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  ::emu::cpAsyncWait(N);
}
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* p) { ::emu::ldmatrixX4(r, p, false); }
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* p) { ::emu::ldmatrixX4(r, p, true); }

template <typename T>
struct Ops;

template <>
struct Ops<__half> {
  static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    ::emu::mma16816(c, a, b0, b1, false);
  }
  static uint32_t pack(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return static_cast<uint32_t>(h.x.x) | (static_cast<uint32_t>(h.y.x) << 16);
  }
};

template <>
struct Ops<__nv_bfloat16> {
  static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    ::emu::mma16816(c, a, b0, b1, true);
  }
  static uint32_t pack(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return static_cast<uint32_t>(h.x.x) | (static_cast<uint32_t>(h.y.x) << 16);
  }
};
