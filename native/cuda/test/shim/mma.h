// Host stand-in for <mma.h> (CUDA emulator test): the WMMA fragments and operations the linear
// scan uses (m16n16k8, tf32 inputs, float accumulators). Fragments hold this lane's elements;
// the operations are collective over the warp and run in the emulated runtime (emu_runtime.cpp).
#pragma once

#include <cuda_runtime.h>

namespace emu {
void wmmaLoad(float* elems, int count, int cols, const float* base, unsigned ld, bool rowMajor);
void wmmaStore(float* base, const float* elems, int count, int cols, unsigned ld);
void wmmaMma(float* d, const float* a, const float* b, const float* c);
float roundTf32(float x);
}  // namespace emu

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment;

template <typename Layout>
struct fragment<matrix_a, 16, 16, 8, precision::tf32, Layout> {
  static constexpr int num_elements = 4, cols = 8;  // 16 x 8
  static constexpr bool rowMajor = __is_same(Layout, row_major);
  float x[num_elements];
};
template <typename Layout>
struct fragment<matrix_b, 16, 16, 8, precision::tf32, Layout> {
  static constexpr int num_elements = 4, cols = 16;  // 8 x 16
  static constexpr bool rowMajor = __is_same(Layout, row_major);
  float x[num_elements];
};
template <>
struct fragment<accumulator, 16, 16, 8, float, void> {
  static constexpr int num_elements = 8, cols = 16;  // 16 x 16
  float x[num_elements];
};

inline float __float_to_tf32(float x) { return ::emu::roundTf32(x); }

template <typename F>
inline void load_matrix_sync(F& f, const float* p, unsigned ld) {
  ::emu::wmmaLoad(f.x, F::num_elements, F::cols, p, ld, F::rowMajor);
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 8, float, void>& f, const float* p, unsigned ld, layout_t l) {
  ::emu::wmmaLoad(f.x, 8, 16, p, ld, l == mem_row_major);
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 8, float, void>& f, unsigned ld, layout_t l) {
  if (l != mem_row_major) __builtin_trap();  // not used by the kernels
  ::emu::wmmaStore(p, f.x, 8, 16, ld);
}
inline void fill_fragment(fragment<accumulator, 16, 16, 8, float, void>& f, float v) {
  for (float& e : f.x) e = v;
}
template <typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 8, float, void>& d,
                     const fragment<matrix_a, 16, 16, 8, precision::tf32, LA>& a,
                     const fragment<matrix_b, 16, 16, 8, precision::tf32, LB>& b,
                     const fragment<accumulator, 16, 16, 8, float, void>& c) {
  ::emu::wmmaMma(d.x, a.x, b.x, c.x);
}

}  // namespace wmma
}  // namespace nvcuda
