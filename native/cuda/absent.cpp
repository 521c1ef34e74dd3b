// Linked instead of the CUDA sources when the addon was built without nvcc: every CUDA entry
// point exists and returns an error that says why (and, for allocations, names the device and
// the bytes asked for).
#include <string>

#include "attnflow.h"

namespace attnflow {

namespace {

const char* kReason = "not compiled (nvcc was not found when the addon was built)";

Status unavailable(int device, const std::string& what) {
  return Status::Error("cuda:" + std::to_string(device) + ": no device: the CUDA backend is " + kReason +
                       (what.empty() ? std::string() : "; " + what));
}

}  // namespace

CudaInfo cudaInfo() {
  CudaInfo info;
  info.compiled = false;
  info.available = false;
  info.reason = kReason;
  return info;
}

TileShape cudaTileShape() { return TileShape{64, 64}; }

Status cudaDeviceAlloc(int device, size_t bytes, void** out) {
  *out = nullptr;
  return unavailable(device, "cannot allocate " + std::to_string(bytes) + " bytes");
}

Status cudaDeviceFree(int device, void* ptr) {
  if (ptr == nullptr) return Status::Ok();
  return unavailable(device, "cannot free device memory");
}

Status cudaMemoryStatsOf(int device, CudaMemoryStats* out) {
  *out = CudaMemoryStats{};
  return unavailable(device, "cannot read memory statistics");
}

Status cudaReleaseCachedMemory(int device) { return unavailable(device, "cannot release cached memory"); }

Status cudaSynchronizeDevice(int device) { return unavailable(device, "cannot synchronize"); }

Status cudaDeviceStream(int device, void** stream) {
  *stream = nullptr;
  return unavailable(device, "");
}

Status cudaCopyHostToDevice(int device, void*, const void*, size_t bytes) {
  return unavailable(device, "cannot copy " + std::to_string(bytes) + " bytes to the device");
}

Status cudaCopyDeviceToHost(int device, void*, const void*, size_t bytes) {
  return unavailable(device, "cannot copy " + std::to_string(bytes) + " bytes to the host");
}

Status cudaCopyDeviceToDevice(int dstDevice, void*, int, const void*, size_t bytes) {
  return unavailable(dstDevice, "cannot copy " + std::to_string(bytes) + " bytes on the device");
}

Status cudaAttentionForward(const AttentionParams&, const CudaMaskArrays&, int device) {
  return unavailable(device, "cannot run attention");
}

}  // namespace attnflow

// === linear attention (appended; see native/cuda/linear_scan.cu) ==============================
namespace attnflow {

Status cudaLinearAttention(const LinearAttentionParams&, int device) {
  return unavailable(device, "cannot run linear attention");
}

}  // namespace attnflow
// === end linear attention =======================================================================
