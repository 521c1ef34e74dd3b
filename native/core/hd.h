// AF_HD: a small function callable from host code and CUDA device code alike (nvcc), or a plain
// inline function for host compilers (the CPU backend, the CUDA host emulator).
#pragma once

#if defined(__CUDACC__)
#define AF_HD __host__ __device__ __forceinline__
#else
#define AF_HD inline
#endif
