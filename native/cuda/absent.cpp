// Linked instead of the CUDA sources when the addon was built without nvcc.
#include "attnflow.h"

namespace attnflow {

CudaInfo cudaInfo() {
  CudaInfo info;
  info.compiled = false;
  info.available = false;
  info.reason = "not compiled (nvcc was not found when the addon was built)";
  return info;
}

}  // namespace attnflow
