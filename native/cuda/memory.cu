// Per-device contexts (one stream, one memory pool), the stream-ordered caching allocator and the
// copies. Every CUDA error becomes a Status whose message names the device and, for
// allocations, the bytes asked for; nothing here aborts the process.
//
// Ordering: all work for a device (allocations, copies, kernels, frees, from any thread) is
// issued on the device's one stream, so a block freed with cudaFreeAsync after a kernel was
// launched is only reused once that kernel has finished, and a copy to the host sees every
// kernel issued before it.
#include <cuda_runtime.h>

#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "attnflow.h"
#include "internal.cuh"

namespace attnflow {
namespace cudaimpl {

std::string describeError(const char* call, cudaError_t err) {
  return std::string(call) + ": " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")";
}

std::string deviceName(int device) { return "cuda:" + std::to_string(device); }

std::string describeBytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[96];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " bytes", bytes);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s (%" PRIu64 " bytes)", v, units[u], bytes);
  }
  return buf;
}

namespace {

constexpr int kMaxDevices = 64;

struct Tracked {
  DeviceContext ctx;
  std::mutex mutex;  // guards the fields below
  std::unordered_map<void*, size_t> live;
  uint64_t allocated = 0, peak = 0;
};

std::mutex gInitMutex;
Tracked* gDevices[kMaxDevices] = {};  // created on first use, never freed

Tracked* tracked(const DeviceContext& ctx) { return gDevices[ctx.device]; }

Status initContext(int device, Tracked** out) {
  auto* t = new Tracked();
  DeviceContext& c = t->ctx;
  c.device = device;
  cudaError_t e = cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    cudaGetLastError();
    delete t;
    return Status::Error(describeError("cudaStreamCreateWithFlags", e));
  }
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, device) == cudaSuccess && v) {
    cudaMemPoolProps props = {};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    if (cudaMemPoolCreate(&c.pool, &props) == cudaSuccess) {
      // Keep freed blocks cached in the pool (a caching allocator) until released explicitly.
      uint64_t threshold = UINT64_MAX;
      cudaMemPoolSetAttribute(c.pool, cudaMemPoolAttrReleaseThreshold, &threshold);
      c.pools = true;
    } else {
      c.pool = nullptr;
    }
  }
  cudaGetLastError();  // an unsupported attribute above is not an error for us
  cudaDeviceGetAttribute(&c.multiprocessors, cudaDevAttrMultiProcessorCount, device);
  cudaDeviceGetAttribute(&c.major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&c.minor, cudaDevAttrComputeCapabilityMinor, device);
  int smem = 0;
  cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  c.smemOptin = static_cast<size_t>(smem);
  size_t freeB = 0, totalB = 0;
  if (cudaMemGetInfo(&freeB, &totalB) == cudaSuccess) c.totalMemory = totalB;
  cudaGetLastError();
  if (c.multiprocessors < 1) c.multiprocessors = 1;
  *out = t;
  return Status::Ok();
}

// Releases a tracked block (stream-ordered). Returns false if the pointer is not a live block.
bool releaseBlock(DeviceContext& ctx, void* ptr, cudaError_t* err) {
  Tracked* t = tracked(ctx);
  {
    std::lock_guard<std::mutex> lock(t->mutex);
    auto it = t->live.find(ptr);
    if (it == t->live.end()) return false;
    t->allocated -= it->second;
    t->live.erase(it);
  }
  *err = ctx.pools ? cudaFreeAsync(ptr, ctx.stream) : cudaFree(ptr);
  return true;
}

}  // namespace

Status deviceContext(int device, DeviceContext** out, const std::string& what) {
  const std::string dn = deviceName(device);
  auto fail = [&](const std::string& why) {
    return Status::Error(dn + ": " + why + (what.empty() ? std::string() : "; " + what));
  };
  if (device < 0 || device >= kMaxDevices) return fail("no such device (device index out of range)");
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail("no device (" + describeError("cudaGetDeviceCount", e) + ")");
  }
  if (count == 0) return fail("no device (cudaGetDeviceCount returned 0)");
  if (device >= count) {
    return fail("no such device (this machine has " + std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") +
                ": cuda:0" + (count > 1 ? " .. cuda:" + std::to_string(count - 1) : std::string()) + ")");
  }
  e = cudaSetDevice(device);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail(describeError("cudaSetDevice", e));
  }
  Tracked* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(gInitMutex);
    t = gDevices[device];
    if (t == nullptr) {
      Status s = initContext(device, &t);
      if (!s.ok) return fail(s.message);
      gDevices[device] = t;
    }
  }
  *out = &t->ctx;
  return Status::Ok();
}

Status allocOnStream(DeviceContext& ctx, size_t bytes, void** out) {
  *out = nullptr;
  if (bytes == 0) return Status::Ok();
  const std::string dn = deviceName(ctx.device);
  if (ctx.totalMemory > 0 && bytes > ctx.totalMemory) {
    return Status::Error(dn + ": out of memory: cannot allocate " + describeBytes(bytes) + ", more than the device's " +
                         describeBytes(ctx.totalMemory) + " in total");
  }
  void* p = nullptr;
  auto attempt = [&]() {
    return ctx.pools ? cudaMallocFromPoolAsync(&p, bytes, ctx.pool, ctx.stream) : cudaMalloc(&p, bytes);
  };
  cudaError_t e = attempt();
  if (e == cudaErrorMemoryAllocation) {
    // The pool may hold cached blocks: wait for the stream, give them back, try once more.
    cudaGetLastError();
    Status w = waitStream(ctx, "waiting before retrying an allocation");
    if (!w.ok) return Status::Error(dn + ": cannot allocate " + describeBytes(bytes) + ": " + w.message);
    if (ctx.pools) cudaMemPoolTrimTo(ctx.pool, 0);
    e = attempt();
  }
  if (e != cudaSuccess) {
    cudaGetLastError();  // out of memory is not sticky; clear it
    std::string extra;
    size_t freeB = 0, totalB = 0;
    if (cudaMemGetInfo(&freeB, &totalB) == cudaSuccess) {
      extra = "; " + describeBytes(freeB) + " free of " + describeBytes(totalB);
    }
    cudaGetLastError();
    {
      Tracked* t = tracked(ctx);
      std::lock_guard<std::mutex> lock(t->mutex);
      extra += "; attnflow holds " + describeBytes(t->allocated) + " in " + std::to_string(t->live.size()) +
               " allocation" + (t->live.size() == 1 ? "" : "s") + " (dispose() tensors you no longer need)";
    }
    if (e == cudaErrorMemoryAllocation) {
      return Status::Error(dn + ": out of memory: cannot allocate " + describeBytes(bytes) + extra);
    }
    return Status::Error(dn + ": cannot allocate " + describeBytes(bytes) + ": " +
                         describeError(ctx.pools ? "cudaMallocFromPoolAsync" : "cudaMalloc", e) + extra);
  }
  Tracked* t = tracked(ctx);
  {
    std::lock_guard<std::mutex> lock(t->mutex);
    t->live.emplace(p, bytes);
    t->allocated += bytes;
    if (t->allocated > t->peak) t->peak = t->allocated;
  }
  *out = p;
  return Status::Ok();
}

void freeOnStream(DeviceContext& ctx, void* ptr) {
  if (ptr == nullptr) return;
  cudaError_t e = cudaSuccess;
  if (releaseBlock(ctx, ptr, &e) && e != cudaSuccess) cudaGetLastError();
}

Status waitStream(DeviceContext& ctx, const char* what) {
  const std::string dn = deviceName(ctx.device);
  cudaEvent_t ev = nullptr;
  cudaError_t e = cudaEventCreateWithFlags(&ev, cudaEventBlockingSync | cudaEventDisableTiming);
  if (e == cudaSuccess) {
    e = cudaEventRecord(ev, ctx.stream);
    if (e == cudaSuccess) e = cudaEventSynchronize(ev);
    cudaEventDestroy(ev);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(dn + ": " + what + ": " + describeError("cudaEventSynchronize", e));
  }
  return Status::Ok();
}

}  // namespace cudaimpl

using namespace cudaimpl;

TileShape cudaTileShape() { return TileShape{kTileQ, kTileK}; }

Status cudaDeviceAlloc(int device, size_t bytes, void** out) {
  *out = nullptr;
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, "cannot allocate " + describeBytes(bytes));
  if (!s.ok) return s;
  return allocOnStream(*ctx, bytes, out);
}

Status cudaDeviceFree(int device, void* ptr) {
  if (ptr == nullptr) return Status::Ok();
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, "cannot free device memory");
  if (!s.ok) return s;
  cudaError_t e = cudaSuccess;
  if (!releaseBlock(*ctx, ptr, &e)) {
    return Status::Error(deviceName(device) + ": cannot free a pointer that is not a live attnflow allocation");
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(deviceName(device) + ": " + describeError(ctx->pools ? "cudaFreeAsync" : "cudaFree", e));
  }
  return Status::Ok();
}

Status cudaMemoryStatsOf(int device, CudaMemoryStats* out) {
  *out = CudaMemoryStats{};
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, "cannot read memory statistics");
  if (!s.ok) return s;
  Tracked* t = gDevices[device];
  {
    std::lock_guard<std::mutex> lock(t->mutex);
    out->allocatedBytes = t->allocated;
    out->peakAllocatedBytes = t->peak;
    out->allocations = t->live.size();
  }
  if (ctx->pools) {
    unsigned long long reserved = 0;
    if (cudaMemPoolGetAttribute(ctx->pool, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess) {
      out->reservedBytes = reserved;
    }
  } else {
    out->reservedBytes = out->allocatedBytes;
  }
  size_t freeB = 0, totalB = 0;
  if (cudaMemGetInfo(&freeB, &totalB) == cudaSuccess) {
    out->freeBytes = freeB;
    out->totalBytes = totalB;
  }
  cudaGetLastError();
  return Status::Ok();
}

Status cudaReleaseCachedMemory(int device) {
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, "cannot release cached memory");
  if (!s.ok) return s;
  s = waitStream(*ctx, "releasing cached memory");
  if (!s.ok) return s;
  if (ctx->pools) {
    cudaError_t e = cudaMemPoolTrimTo(ctx->pool, 0);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Status::Error(deviceName(device) + ": " + describeError("cudaMemPoolTrimTo", e));
    }
  }
  return Status::Ok();
}

Status cudaSynchronizeDevice(int device) {
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, "cannot synchronize");
  if (!s.ok) return s;
  return waitStream(*ctx, "synchronizing");
}

Status cudaDeviceStream(int device, void** stream) {
  *stream = nullptr;
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, "");
  if (!s.ok) return s;
  *stream = ctx->stream;
  return Status::Ok();
}

namespace {

Status copyBlocking(int device, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(device, &ctx, std::string("cannot copy ") + describeBytes(bytes) + " " + what);
  if (!s.ok) return s;
  if (bytes == 0) return Status::Ok();
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, ctx->stream);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(deviceName(device) + ": copying " + describeBytes(bytes) + " " + what + ": " +
                         describeError("cudaMemcpyAsync", e));
  }
  return waitStream(*ctx, (std::string("copying ") + what).c_str());
}

}  // namespace

Status cudaCopyHostToDevice(int device, void* dst, const void* src, size_t bytes) {
  return copyBlocking(device, dst, src, bytes, cudaMemcpyHostToDevice, "to the device");
}

Status cudaCopyDeviceToHost(int device, void* dst, const void* src, size_t bytes) {
  return copyBlocking(device, dst, src, bytes, cudaMemcpyDeviceToHost, "to the host");
}

Status cudaCopyDeviceToDevice(int dstDevice, void* dst, int srcDevice, const void* src, size_t bytes) {
  if (dstDevice != srcDevice) {
    // Between devices through host memory: simple, and independent of peer access.
    std::vector<unsigned char> staging;
    try {
      staging.resize(bytes);
    } catch (const std::bad_alloc&) {
      return Status::Error("cannot stage " + describeBytes(bytes) + " in host memory for a copy from " +
                           deviceName(srcDevice) + " to " + deviceName(dstDevice));
    }
    Status s = cudaCopyDeviceToHost(srcDevice, staging.data(), src, bytes);
    if (!s.ok) return s;
    return cudaCopyHostToDevice(dstDevice, dst, staging.data(), bytes);
  }
  DeviceContext* ctx = nullptr;
  Status s = deviceContext(dstDevice, &ctx, "cannot copy " + describeBytes(bytes) + " on the device");
  if (!s.ok) return s;
  if (bytes == 0) return Status::Ok();
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Status::Error(deviceName(dstDevice) + ": copying " + describeBytes(bytes) + " on the device: " +
                         describeError("cudaMemcpyAsync", e));
  }
  return Status::Ok();
}

}  // namespace attnflow
