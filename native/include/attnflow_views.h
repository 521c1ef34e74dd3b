// The plain-data views of one call (operands, mask, options) that the binding fills and the
// kernels read. Only <atomic>, <cstddef> and <cstdint>: the kernel bodies include this header, and
// they also compile for targets without a C++ standard library (the WebAssembly build, native/wasm,
// supplies those three).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace attnflow {

enum class DType : int32_t { F32 = 0, F16 = 1, BF16 = 2 };

// Set from any thread to ask a running call to stop early. Backends read it between work items
// (CPU: a row of tiles, a chunk of a scan) and between kernel launches (CUDA), never per element;
// a call that saw it returns Status::Cancelled() and leaves its outputs partly written.
using CancelFlag = std::atomic<bool>;
inline bool cancelRequested(const CancelFlag* f) { return f != nullptr && f->load(std::memory_order_relaxed); }

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

// queryStart value meaning "bottom-right": query i sits at position i + Sk - Sq.
constexpr int64_t kBottomRight = INT64_MIN;

// One attention forward call. q: [B, Hq, Sq, D]; k, v: [B, Hkv, Sk, D]; out like q, in q's
// dtype; lse: contiguous float32 [B, Hq, Sq] or null.
//
// Positions: query i sits at queryPositions[i] when given, else at queryStart + i (kBottomRight:
// i + Sk - Sq); key j of kv head hk at keyPositions[hk * Sk + j] when given with Hkv * Sk entries,
// at keyPositions[j] when given with Sk entries (one list for every kv head), else at j (negative:
// an empty slot, which the mask must never allow). Positions only enter RoPE and ALiBi; which
// pairs attend is the mask's business (built for the same positions).
//
// keyMass: contiguous float32 [B, Hkv, Sk] or null. When given, it receives, for each key, the sum
// over the query rows of its kv head's query heads of the key's softmax probability, computed in
// the same pass over the keys as the output (a NaN row makes the mass of the keys it attends NaN).
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
  const int32_t* queryPositions = nullptr;
  size_t queryPositionsLen = 0;
  int64_t queryStart = kBottomRight;
  const int32_t* keyPositions = nullptr;
  size_t keyPositionsLen = 0;
  float* keyMass = nullptr;
  size_t keyMassLen = 0;
  const CancelFlag* cancel = nullptr;  // null: the call cannot be cancelled
};

// --- linear attention -----------------------------------------------------------------------

enum class LinearFeatureMap : int32_t { Identity = 0, Elu1 = 1, Relu = 2, Favor = 3 };
enum class LinearDecay : int32_t { None = 0, PerHead = 1, PerStep = 2, PerStepFeature = 3 };

// One causal linear-attention scan (chunked): S_t = γ_t·S_{t−1} + φ(k_t)v_tᵀ, z_t = γ_t·z_{t−1} +
// φ(k_t), y_t = φ(q_t)ᵀS_t / (φ(q_t)ᵀz_t + eps) (no division when !normalize).
//   q [B, Hq, N, Dk], k [B, Hkv, N, Dk], v [B, Hkv, N, Dv] (Hq a multiple of Hkv; query head h
//   reads kv head h / (Hq/Hkv)); out [B, Hq, N, Dv] in q's dtype. The state is per query head,
//   float32, contiguous: S [B, Hq, Df, Dv], z [B, Hq, Df], Df = Dk (or `features` for Favor).
// Favor: φ(x) = exp(W x' − |x'|²/2)/√m, x' = x·Dk^(−1/4), W = favorW [features][Dk] row-major.
// Decay: PerHead: decayHead[Hq]; PerStep: gate (b,h,n) at gates[b*s0 + h*s1 + n*s2];
// PerStepFeature: gate (b,h,n,f) at gates[b*s0 + h*s1 + n*s2 + f*s3]; every γ in (0, 1].
// initS/initZ (both or neither) are read only; stateS/stateZ (both or neither) receive the final
// state. For the CUDA entry see cudaLinearAttention.
struct LinearAttentionParams {
  TensorView q, k, v, out;
  LinearFeatureMap featureMap = LinearFeatureMap::Elu1;
  const float* favorW = nullptr;
  size_t favorWLen = 0;
  int32_t features = 0;
  LinearDecay decay = LinearDecay::None;
  const float* decayHead = nullptr;
  size_t decayHeadLen = 0;
  const float* gates = nullptr;
  size_t gatesLen = 0;
  int64_t gateStrides[4] = {0, 0, 0, 0};
  bool normalize = true;
  float eps = 1e-6f;
  const float* initS = nullptr;
  const float* initZ = nullptr;
  size_t initSLen = 0, initZLen = 0;
  float* stateS = nullptr;
  float* stateZ = nullptr;
  size_t stateSLen = 0, stateZLen = 0;
  int32_t chunk = 64;  // chunk length (1 .. 256)
  const CancelFlag* cancel = nullptr;  // null: the call cannot be cancelled
};

}  // namespace attnflow
