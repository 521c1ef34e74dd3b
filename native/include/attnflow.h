// The one C++ interface between the Node-API binding and the backends (CPU, CUDA).
// The binding only turns JS values into these views; backends never see napi types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attnflow_views.h"

namespace attnflow {

struct Status {
  bool ok = true;
  std::string message;
  bool cancelled = false;  // stopped early because the call's CancelFlag was set
  static Status Ok() { return {}; }
  static Status Error(std::string m) { return {false, std::move(m)}; }
  static Status Cancelled() { return {false, "the call was cancelled", true}; }
};

// Query-aware block selection (option `select`, lib/select/quest.ts) for one (batch, kv head, query
// block): the Quest bound of block kb is the largest, over the `rows` query rows q [rows][headDim],
// of sum_d max(q_d * min_d, q_d * max_d) with min/max the block's per-channel key bounds at
// min/max + boundsOffset + kb * headDim. Blocks with flags[kb] == 1 are ranked by it (NaN counts
// as +inf; ties: the lower block first) and the best `blocks` kept; blocks with flags[kb] == 2 are
// always kept; 0: never. out receives the kept blocks ascending, *count how many.
struct QuestSelectParams {
  const float* q = nullptr;
  size_t qLen = 0;
  int32_t rows = 0, headDim = 0;
  const float* min = nullptr;
  const float* max = nullptr;
  size_t boundsLen = 0;
  int64_t boundsOffset = 0;
  int32_t numBlocks = 0;
  const uint8_t* flags = nullptr;
  size_t flagsLen = 0;
  int32_t blocks = 0;
  int32_t* out = nullptr;
  size_t outLen = 0;
};
Status cpuQuestSelect(const QuestSelectParams& p, int32_t* count);

// Checks everything a backend relies on: shapes agree, strides stay inside each buffer, the
// mask's CSR is well formed and matches the shapes. Never trusts the caller.
Status validateAttention(const AttentionParams& p);

// --- backends -------------------------------------------------------------------------------

struct CpuInfo {
  bool avx2 = false, fma = false, f16c = false, avx512f = false, neon = false;
  bool avx512bw = false, avx512dq = false, avx512vl = false, avx512bf16 = false;
  unsigned threads = 1;
};
CpuInfo cpuInfo();

// The CPU kernels (one per instruction set, native/cpu/isa.h): the one calls use, or why none can
// be used (ATTNFLOW_CPU_ISA names one this CPU cannot run, or none at all), and all of this build.
struct CpuKernelInfo {
  struct Kernel {
    std::string name, needs;
    int lanes = 0;
    bool supported = false;
    bool preferred = false;  // supported, and chosen by default where it comes first
  };
  std::string active;  // empty when `error` says why calls fail
  int activeLanes = 0;
  std::string error;
  std::vector<Kernel> kernels;
};
CpuKernelInfo cpuKernelInfo();

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

// === linear attention (lib/linear; native/cpu/linear*.cpp, native/cuda/linear_scan.cu) ========
namespace attnflow {

// The call itself (LinearAttentionParams) is in attnflow_views.h.

// Shapes, strides, lengths and options (not the values of device memory). Never trusts the caller.
Status validateLinearAttention(const LinearAttentionParams& p);
// Host memory; threads over (batch, query head).
Status cpuLinearAttention(const LinearAttentionParams& p);
// Device memory of `device`: q, k, v, out, gates, initS/initZ and stateS/stateZ are device
// pointers (cudaDeviceAlloc); favorW and decayHead are host memory (small: uploaded per call).
// Runs on the device's stream and memory pool (as cudaAttentionForward), checks the per-step gate
// values on the device, and returns when the result is complete. Without CUDA
// (native/cuda/absent.cpp) it returns an error.
Status cudaLinearAttention(const LinearAttentionParams& p, int device);

}  // namespace attnflow
// === end linear attention =======================================================================

// === CUDA backend (appended; native/cuda, native/binding/cuda.cpp) ===========================
namespace attnflow {

// --- CUDA backend (native/cuda) ------------------------------------------------------------
// Everything below is implemented in native/cuda/*.cu when the addon is built with nvcc, and in
// native/cuda/absent.cpp (each call returning a "not compiled" error) otherwise. Device indices
// are CUDA ordinals; every function sets the calling thread's current device itself. All work for
// one device is ordered on one stream of that device (created on first use), so allocations,
// copies, kernels and frees issued from any thread are stream-ordered with each other.

// The tile shape masks for the CUDA kernels must be compiled with (every CUDA kernel runs it).
TileShape cudaTileShape();

// Stream-ordered caching allocator: a CUDA memory pool per device (cudaMallocFromPoolAsync on the
// device's stream; freed blocks stay cached in the pool until cudaReleaseCachedMemory). bytes == 0
// gives nullptr. Errors name the device and the bytes asked for ("cuda:0: out of memory ...",
// "cuda:1: no device ..."). cudaDeviceFree is stream-ordered: work already issued on the stream
// that uses the block finishes first.
Status cudaDeviceAlloc(int device, size_t bytes, void** out);
Status cudaDeviceFree(int device, void* ptr);

struct CudaMemoryStats {
  uint64_t allocatedBytes = 0;  // bytes in live allocations made through cudaDeviceAlloc
  uint64_t peakAllocatedBytes = 0;
  uint64_t allocations = 0;     // live allocations
  uint64_t reservedBytes = 0;   // bytes the pool holds from the driver (live + cached)
  uint64_t freeBytes = 0, totalBytes = 0;  // cudaMemGetInfo
};
Status cudaMemoryStatsOf(int device, CudaMemoryStats* out);
// Waits for the device's stream, then returns the pool's cached (unused) memory to the driver.
Status cudaReleaseCachedMemory(int device);
// Waits until everything issued on the device's stream has finished.
Status cudaSynchronizeDevice(int device);
// The device's stream (a cudaStream_t), for other CUDA code that reads or writes memory from
// cudaDeviceAlloc: work enqueued on it is ordered with the allocator's frees and the kernels.
Status cudaDeviceStream(int device, void** stream);

// Copies, ordered on the device's stream. The host<->device ones block the calling thread until
// the copy has finished (call them from a worker thread to keep the event loop free); the
// device-to-device one only enqueues (srcDevice != dstDevice goes through host memory and blocks).
Status cudaCopyHostToDevice(int device, void* dst, const void* src, size_t bytes);
Status cudaCopyDeviceToHost(int device, void* dst, const void* src, size_t bytes);
Status cudaCopyDeviceToDevice(int dstDevice, void* dst, int srcDevice, const void* src, size_t bytes);

// Device copies of a BlockMask's four arrays (the host copy in AttentionParams::mask is what
// validateAttention checks; these must hold the same contents).
struct CudaMaskArrays {
  const int32_t* rowPtr = nullptr;
  const int32_t* colIdx = nullptr;
  const int32_t* partial = nullptr;
  const uint32_t* bits = nullptr;
};

// Attention forward on `device`: q, k, v, out and lse are device pointers (capacities in
// elements, as for the CPU); p.mask is the host copy of the mask (validated), `mask` its device
// copy; p.alibiSlopes is host memory. The mask's tile shape must be cudaTileShape(). Runs on the
// device's stream and returns when the result is complete (call it from a worker thread for an
// asynchronous API). Float32 inputs run a float32-arithmetic kernel; float16/bfloat16 run the
// tensor-core kernel (head dims 64 and 128) or the general kernel.
Status cudaAttentionForward(const AttentionParams& p, const CudaMaskArrays& mask, int device);

}  // namespace attnflow
// === end CUDA backend ============================================================================
