// Device discovery. Every CUDA runtime error becomes a reason string: a machine without a GPU
// or driver must load the addon and say why CUDA is unavailable, never crash.
#include <cuda_runtime.h>

#include <string>

#include "attnflow.h"

namespace attnflow {

static std::string describe(const char* call, cudaError_t err) {
  return std::string(call) + ": " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")";
}

CudaInfo cudaInfo() {
  CudaInfo info;
  info.compiled = true;
  cudaRuntimeGetVersion(&info.runtimeVersion);
  if (cudaDriverGetVersion(&info.driverVersion) != cudaSuccess) info.driverVersion = 0;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls see a clean state
    info.reason = std::string("no device (") + (info.driverVersion == 0 ? "no NVIDIA driver found; " : "") +
                  describe("cudaGetDeviceCount", err) + ")";
    return info;
  }
  if (count == 0) {
    info.reason = "no device (cudaGetDeviceCount returned 0)";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    err = cudaGetDeviceProperties(&prop, i);
    if (err != cudaSuccess) {
      info.reason = describe("cudaGetDeviceProperties", err);
      continue;
    }
    CudaDevice d;
    d.index = i;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.totalMemory = prop.totalGlobalMem;
    d.multiprocessors = prop.multiProcessorCount;
    info.devices.push_back(d);
  }
  info.available = !info.devices.empty();
  if (info.available) info.reason.clear();
  return info;
}

}  // namespace attnflow
