// Per-thread scratch memory of the CPU kernels: one 64-byte-aligned float buffer per thread,
// grown on demand and kept for the thread's life, so a call allocates nothing once warm.
#pragma once

#include <cstddef>
#include <new>

namespace attnflow::cpu {

// n floats of this thread's scratch (contents undefined; valid until the next call on this
// thread). Throws std::bad_alloc when the memory is not there.
inline float* threadScratchFloats(size_t n) {
  struct Buffer {
    float* data = nullptr;
    size_t floats = 0;
    ~Buffer() { release(); }
    void release() {
      if (data) ::operator delete(data, std::align_val_t(64));
      data = nullptr;
      floats = 0;
    }
  };
  thread_local Buffer b;
  if (n > b.floats) {
    b.release();
    b.data = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
    b.floats = n;
  }
  return b.data;
}

}  // namespace attnflow::cpu
