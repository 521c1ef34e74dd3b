// The emulated GPU of the kernel tests (see emu.h and the shim headers): blocks run one at a time,
// one OS thread per CUDA thread; warp-collective operations meet at a per-warp barrier.
#include "emu.h"

#include <pthread.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <thread>

#include <mma.h>

#include "half.h"

// --- the emulated runtime -----------------------------------------------------------------------

thread_local dim3 threadIdx;
thread_local dim3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace emu {
namespace {

[[noreturn]] void fault(const char* what) {
  std::fprintf(stderr, "EMULATED DEVICE FAULT: %s (block %u, thread %u)\n", what, blockIdx.x, threadIdx.x);
  std::abort();
}

struct Block {
  pthread_barrier_t all;
  pthread_barrier_t warps[32];
  uint32_t slots[32][32][8];      // [warp][lane][word]
  const void* ptrs[32][32];       // [warp][lane]
  float wmma[32][3][256];         // [warp]: the A, B and C tiles of one WMMA mma_sync
  unsigned char* smem = nullptr;  // dynamic shared memory
  size_t smemBytes = 0;
};

Block* gBlock = nullptr;
thread_local int tLane = 0, tWarp = 0;

struct Copy {
  void* dst;
  const void* src;
  bool valid;
};
thread_local std::vector<Copy> tOpen;
thread_local std::deque<std::vector<Copy>> tGroups;


void warpSync() { pthread_barrier_wait(&gBlock->warps[tWarp]); }

void checkSmem(const void* p, size_t bytes, size_t align) {
  const auto* c = static_cast<const unsigned char*>(p);
  if (c < gBlock->smem || c + bytes > gBlock->smem + gBlock->smemBytes) fault("shared memory access out of bounds");
  if (reinterpret_cast<uintptr_t>(p) % align != 0) fault("misaligned shared memory access");
}

void checkGlobal(const void* p, size_t bytes) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (const Range& r : gGlobals) {
    if (c >= r.base && c + bytes <= r.base + r.bytes) {
      if (reinterpret_cast<uintptr_t>(p) % 16 != 0) fault("misaligned cp.async source");
      return;
    }
  }
  fault("cp.async reads outside every global buffer");
}

void doCopy(const Copy& c) {
  if (c.valid) {
    std::memcpy(c.dst, c.src, 16);
  } else {
    std::memset(c.dst, 0, 16);
  }
}

float decode16(uint16_t bits, bool bf16) {
  return bf16 ? attnflow::cpu::bf16ToFloat(bits) : attnflow::cpu::halfToFloat(bits);
}

}  // namespace

void* dynamicSmem() { return gBlock->smem; }
void syncthreads() { pthread_barrier_wait(&gBlock->all); }
int lane() { return tLane; }

uint32_t shfl32(uint32_t v, int src) {
  gBlock->slots[tWarp][tLane][0] = v;
  warpSync();
  const uint32_t r = gBlock->slots[tWarp][src][0];
  warpSync();
  return r;
}

uint32_t ballot(bool pred) {
  gBlock->slots[tWarp][tLane][0] = pred ? 1u : 0u;
  warpSync();
  uint32_t r = 0;
  for (int l = 0; l < 32; ++l) r |= (gBlock->slots[tWarp][l][0] & 1u) << l;
  warpSync();
  return r;
}

void cpAsync16(void* dst, const void* src, bool valid) {
  checkSmem(dst, 16, 16);
  if (valid) checkGlobal(src, 16);
  const Copy c{dst, src, valid};
  if (gDeferred) {
    tOpen.push_back(c);
  } else {
    doCopy(c);
  }
}

void cpAsyncCommit() {
  tGroups.push_back(std::move(tOpen));
  tOpen.clear();
}

void cpAsyncWait(int pendingAllowed) {
  while (static_cast<int>(tGroups.size()) > pendingAllowed) {
    for (const Copy& c : tGroups.front()) doCopy(c);
    tGroups.pop_front();
  }
}

void ldmatrixX4(uint32_t (&r)[4], const void* row, bool trans) {
  checkSmem(row, 16, 16);
  gBlock->ptrs[tWarp][tLane] = row;
  warpSync();
  const int g = tLane >> 2, t = tLane & 3;
  for (int i = 0; i < 4; ++i) {
    auto elem = [&](int rr, int cc) {
      return static_cast<const uint16_t*>(gBlock->ptrs[tWarp][8 * i + rr])[cc];
    };
    const uint16_t lo = trans ? elem(2 * t, g) : elem(g, 2 * t);
    const uint16_t hi = trans ? elem(2 * t + 1, g) : elem(g, 2 * t + 1);
    r[i] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  }
  warpSync();
}

void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, bool bf16) {
  uint32_t* s = gBlock->slots[tWarp][tLane];
  for (int i = 0; i < 4; ++i) s[i] = a[i];
  s[4] = b0;
  s[5] = b1;
  warpSync();
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; ++l) {
    const uint32_t* o = gBlock->slots[tWarp][l];
    const int g = l >> 2, t = l & 3;
    auto lo = [&](uint32_t x) { return decode16(static_cast<uint16_t>(x & 0xffffu), bf16); };
    auto hi = [&](uint32_t x) { return decode16(static_cast<uint16_t>(x >> 16), bf16); };
    A[g][2 * t] = lo(o[0]);
    A[g][2 * t + 1] = hi(o[0]);
    A[g + 8][2 * t] = lo(o[1]);
    A[g + 8][2 * t + 1] = hi(o[1]);
    A[g][2 * t + 8] = lo(o[2]);
    A[g][2 * t + 9] = hi(o[2]);
    A[g + 8][2 * t + 8] = lo(o[3]);
    A[g + 8][2 * t + 9] = hi(o[3]);
    B[2 * t][g] = lo(o[4]);
    B[2 * t + 1][g] = hi(o[4]);
    B[2 * t + 8][g] = lo(o[5]);
    B[2 * t + 9][g] = hi(o[5]);
  }
  const int g = tLane >> 2, t = tLane & 3;
  for (int e = 0; e < 4; ++e) {
    const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
    float acc = c[e];
    for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
    c[e] = acc;
  }
  warpSync();
}

// WMMA m16n16k8 (tf32): element i of a lane's fragment is element lane + 32 i of the row-major
// tile (a legal distribution: CUDA leaves it unspecified). Loads and stores touch only this lane's
// elements; mma_sync publishes the operands in the block's per-warp tiles and computes this
// lane's elements of D = A B + C, with A and B truncated to tf32 as the tensor cores read them.
void wmmaLoad(float* elems, int count, int cols, const float* base, unsigned ld, bool rowMajor) {
  for (int i = 0; i < count; ++i) {
    const int flat = tLane + 32 * i, r = flat / cols, c = flat % cols;
    const float* p = rowMajor ? base + static_cast<size_t>(r) * ld + c : base + static_cast<size_t>(c) * ld + r;
    checkSmem(p, 4, 4);
    elems[i] = *p;
  }
}

void wmmaStore(float* base, const float* elems, int count, int cols, unsigned ld) {
  for (int i = 0; i < count; ++i) {
    const int flat = tLane + 32 * i, r = flat / cols, c = flat % cols;
    float* p = base + static_cast<size_t>(r) * ld + c;
    checkSmem(p, 4, 4);
    *p = elems[i];
  }
}

void wmmaMma(float* d, const float* a, const float* b, const float* c) {
  float (&A)[256] = gBlock->wmma[tWarp][0];  // 16 x 8
  float (&B)[256] = gBlock->wmma[tWarp][1];  // 8 x 16
  float (&C)[256] = gBlock->wmma[tWarp][2];  // 16 x 16
  auto tf32 = [](float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u &= 0xffffe000u;
    std::memcpy(&x, &u, 4);
    return x;
  };
  for (int i = 0; i < 4; ++i) {
    A[tLane + 32 * i] = tf32(a[i]);
    B[tLane + 32 * i] = tf32(b[i]);
  }
  for (int i = 0; i < 8; ++i) C[tLane + 32 * i] = c[i];
  warpSync();
  float out[8];
  for (int i = 0; i < 8; ++i) {
    const int flat = tLane + 32 * i, r = flat / 16, col = flat % 16;
    float acc = C[flat];
    for (int k = 0; k < 8; ++k) acc = std::fma(A[r * 8 + k], B[k * 16 + col], acc);
    out[i] = acc;
  }
  warpSync();
  for (int i = 0; i < 8; ++i) d[i] = out[i];
}

float roundTf32(float x) {
  if (!std::isfinite(x)) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x1000u) & 0xffffe000u;  // to nearest, ties away from zero (cvt.rna.tf32.f32)
  std::memcpy(&x, &u, 4);
  return x;
}

unsigned long long atomicMin64(unsigned long long* p, unsigned long long v) {
  unsigned long long old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

bool gDeferred = false;
std::vector<Range> gGlobals;

void launch(dim3 grid, unsigned block, size_t smemBytes, const std::function<void()>& kernel) {
  if (block % 32 != 0 || block > 1024) fault("bad block size");
  Block* b = new Block();
  b->smemBytes = smemBytes;
  b->smem = static_cast<unsigned char*>(std::malloc(smemBytes == 0 ? 1 : smemBytes));
  pthread_barrier_init(&b->all, nullptr, block);
  for (unsigned w = 0; w < block / 32; ++w) pthread_barrier_init(&b->warps[w], nullptr, 32);
  gridDim = grid;
  blockDim = dim3{};
  blockDim.x = block;
  gBlock = b;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::memset(b->smem, 0xff, smemBytes);
      std::vector<std::thread> threads;
      threads.reserve(block);
      for (unsigned t = 0; t < block; ++t) {
        threads.emplace_back([&, t, bx, by] {
          threadIdx = dim3{};
          threadIdx.x = t;
          blockIdx = dim3{};
          blockIdx.x = bx;
          blockIdx.y = by;
          tLane = static_cast<int>(t & 31);
          tWarp = static_cast<int>(t >> 5);
          tOpen.clear();
          tGroups.clear();
          kernel();
        });
      }
      for (auto& th : threads) th.join();
    }
  for (unsigned w = 0; w < block / 32; ++w) pthread_barrier_destroy(&b->warps[w]);
  pthread_barrier_destroy(&b->all);
  std::free(b->smem);
  delete b;
  gBlock = nullptr;
}

}  // namespace emu