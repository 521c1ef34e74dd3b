// The one C++ interface between the Node-API binding and the backends (CPU, CUDA).
// The binding only turns JS values into these views; backends never see napi types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attnflow {

enum class DType : int32_t { F32 = 0, F16 = 1, BF16 = 2 };

inline size_t dtypeSize(DType t) { return t == DType::F32 ? 4 : 2; }

// A strided view of a 4-D operand in logical [batch, heads, seq, headDim] order, whatever the
// storage layout: element (b,h,s,d) is at data + (b*strides[0] + h*strides[1] + s*strides[2] +
// d*strides[3]) elements. `capacity` is how many elements the buffer at `data` holds; native
// code checks every reachable offset against it before reading or writing.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t shape[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};
  size_t capacity = 0;
};

// The BlockMask of lib/mask/blockmask.ts, borrowed (not owned).
struct BlockMaskView {
  int32_t seqQ = 0, seqK = 0, blockQ = 0, blockK = 0;
  int32_t numQBlocks = 0, numKBlocks = 0, heads = 1, wordsPerRow = 0;
  const int32_t* rowPtr = nullptr;
  size_t rowPtrLen = 0;
  const int32_t* colIdx = nullptr;
  const int32_t* partial = nullptr;
  size_t nnz = 0;  // length of colIdx and partial
  const uint32_t* bits = nullptr;
  size_t bitsLen = 0;
};

struct RopeParams {
  bool enabled = false;
  float base = 10000.f;
  bool interleaved = false;  // false: 'half' (pairs d, d + dims/2); true: pairs (2i, 2i+1)
  int32_t offset = 0;
  int32_t dims = 0;  // leading dims rotated, even, <= headDim
};

// One attention forward call. q: [B, Hq, Sq, D]; k, v: [B, Hkv, Sk, D]; out like q, in q's
// dtype; lse: contiguous float32 [B, Hq, Sq] or null. Query i sits at position i + Sk - Sq.
struct AttentionParams {
  TensorView q, k, v, out;
  float* lse = nullptr;
  size_t lseLen = 0;
  BlockMaskView mask;
  float scale = 1.f;
  float softcap = 0.f;               // 0: none
  const float* alibiSlopes = nullptr;  // one per query head, or null
  size_t alibiLen = 0;
  RopeParams rope;
};

struct Status {
  bool ok = true;
  std::string message;
  static Status Ok() { return {}; }
  static Status Error(std::string m) { return {false, std::move(m)}; }
};

// Checks everything a backend relies on: shapes agree, strides stay inside each buffer, the
// mask's CSR is well formed and matches the shapes. Never trusts the caller.
Status validateAttention(const AttentionParams& p);

// --- backends -------------------------------------------------------------------------------

struct CpuInfo {
  bool avx2 = false, fma = false, f16c = false, avx512f = false, neon = false;
  unsigned threads = 1;
};
CpuInfo cpuInfo();

struct CudaDevice {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;
  size_t totalMemory = 0;
  int multiprocessors = 0;
};
struct CudaInfo {
  bool compiled = false;   // built with CUDA sources
  bool available = false;  // compiled and at least one device usable
  std::string reason;      // why not available
  int runtimeVersion = 0, driverVersion = 0;
  std::vector<CudaDevice> devices;
};
CudaInfo cudaInfo();

// CPU forward (native/cpu). The mask's tile shape must be cpuTileShape().
struct TileShape { int32_t blockQ, blockK; };
TileShape cpuTileShape();
Status cpuAttentionForward(const AttentionParams& p);

}  // namespace attnflow
