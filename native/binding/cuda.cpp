// Node-API binding of the CUDA backend: device buffers (External handles freed by cudaFree or by
// the garbage collector), host <-> device copies (synchronous, and asynchronous on the CUDA lane),
// device copies of BlockMasks, and attention on device tensors (a Promise, or synchronous).
//
// Lifetime rules, all enforced on the JS thread:
//   - a buffer handle owns one allocation; cudaFree(handle) disposes it (idempotent) and its
//     finalizer frees it if JS never did;
//   - an asynchronous call pins every buffer it uses (and holds a reference, so the GC cannot
//     collect it): disposing a pinned buffer only marks it, and the memory is freed when the last
//     call using it settles. Frees are stream-ordered on the device anyway, so nothing a kernel
//     reads can be reused under it;
//   - handles carry a type tag: a wrong or foreign value is a TypeError, never a crash.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "attnflow.h"
#include "cuda_args.h"
#include "cuda_binding.h"
#include "worker.h"

namespace {

using attnflow::AttentionParams;
using attnflow::CudaMaskArrays;
using attnflow::Status;
using attnflow::TensorView;

const napi_type_tag kMaskTag = {0x2c4e6a8b0d1f3e5aULL, 0x7b9d1f3a5c7e9b0dULL};

struct DeviceMask {
  attnflow::BlockMaskView view;  // points into the host vectors below
  std::vector<int32_t> rowPtr, colIdx, partial;
  std::vector<uint32_t> bits;
  CudaMaskArrays device;
  void* block = nullptr;  // one allocation holding the four arrays
  int deviceIndex = 0;
};

using binding::Args;
using binding::bufferOf;
using binding::cudaArgs;
using binding::DeviceBuffer;
using binding::deviceArg;
using binding::Holds;
using binding::kBufferTag;
using binding::KeepAlive;
using binding::rangeError;
using binding::releaseBuffer;
using binding::sizeArg;
using binding::statusError;
using binding::typeError;

DeviceMask* maskOf(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) typeError(env, "mask must be a device mask handle");
  Napi::External<DeviceMask> ext = v.As<Napi::External<DeviceMask>>();
  if (!ext.CheckTypeTag(&kMaskTag)) typeError(env, "mask is not a device mask handle");
  return ext.Data();
}

// Host memory of a typed array (any element type), its byte length.
uint8_t* typedArrayBytes(Napi::Env env, Napi::Value v, const std::string& what, size_t* bytes) {
  if (!v.IsTypedArray()) typeError(env, what + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  *bytes = ta.ByteLength();
  if (*bytes == 0) return nullptr;
  return binding::typedArrayBase(ta);
}

// A copy of a typed array of type `want`.
template <typename T>
std::vector<T> copyTypedArray(Napi::Env env, Napi::Value v, napi_typedarray_type want, const char* what) {
  Napi::TypedArray ta = binding::typedArrayOf(cudaArgs(env), v, want, what);
  std::vector<T> out(ta.ElementLength());
  if (!out.empty()) std::memcpy(out.data(), binding::typedArrayBase(ta), out.size() * sizeof(T));
  return out;
}

// --- buffers ------------------------------------------------------------------------------

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = deviceArg(env, info[1]);
  const uint64_t bytes = sizeArg(env, info[0], "cuda:" + std::to_string(device) + ": cannot allocate: bytes");
  void* ptr = nullptr;
  Status s = attnflow::cudaDeviceAlloc(device, static_cast<size_t>(bytes), &ptr);
  if (!s.ok) statusError(env, s);
  auto* b = new DeviceBuffer();
  b->ptr = ptr;
  b->bytes = static_cast<size_t>(bytes);
  b->device = device;
  Napi::External<DeviceBuffer> ext = Napi::External<DeviceBuffer>::New(env, b, [](Napi::Env, DeviceBuffer* d) {
    releaseBuffer(d);  // the GC collected the handle: it holds no pins (pins hold references)
    delete d;
  });
  ext.TypeTag(&kBufferTag);
  return ext;
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value v = info[0];
  if (!v.IsExternal()) typeError(env, "cudaFree expects a device buffer handle");
  Napi::External<DeviceBuffer> ext = v.As<Napi::External<DeviceBuffer>>();
  if (!ext.CheckTypeTag(&kBufferTag)) typeError(env, "cudaFree expects a device buffer handle");
  DeviceBuffer* b = ext.Data();
  if (b->disposed) return env.Undefined();
  b->disposed = true;
  if (b->pins == 0) releaseBuffer(b);
  return env.Undefined();
}

// Checks [offset, offset + bytes) lies inside the buffer.
void checkRange(Napi::Env env, const DeviceBuffer* b, uint64_t offset, uint64_t bytes, const char* what) {
  if (offset > b->bytes || bytes > b->bytes - offset) {
    rangeError(env, std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                        " do not fit in a device buffer of " + std::to_string(b->bytes) + " bytes");
  }
}

// cudaCopyToDevice(handle, byteOffset, typedArray) / cudaCopyToHost(handle, byteOffset, typedArray),
// and their Async versions (an extra cancel token argument; a Promise; the buffer is pinned and
// the typed array held until then).
constexpr size_t kCopyPiece = size_t(64) << 20;

Napi::Value copy(const Napi::CallbackInfo& info, bool toDevice, bool async) {
  Napi::Env env = info.Env();
  DeviceBuffer* b = bufferOf(env, info[0], toDevice ? "dst" : "src");
  const uint64_t offset = sizeArg(env, info[1], "byteOffset");
  size_t bytes = 0;
  uint8_t* host = typedArrayBytes(env, info[2], toDevice ? "src" : "dst", &bytes);
  const char* name = toDevice ? (async ? "cudaCopyToDeviceAsync" : "cudaCopyToDevice")
                              : (async ? "cudaCopyToHostAsync" : "cudaCopyToHost");
  checkRange(env, b, offset, bytes, name);
  const int device = b->device;
  uint8_t* devicePtr = static_cast<uint8_t*>(b->ptr) + offset;
  auto piece = [=](size_t at, size_t n) {
    return toDevice ? attnflow::cudaCopyHostToDevice(device, devicePtr + at, host + at, n)
                    : attnflow::cudaCopyDeviceToHost(device, host + at, devicePtr + at, n);
  };
  if (!async) {
    if (bytes == 0) return env.Undefined();
    Status s = piece(0, bytes);
    if (!s.ok) statusError(env, s);
    return env.Undefined();
  }
  // In pieces, so that a cancelled copy stops between two of them.
  auto run = [=](const attnflow::CancelFlag& cancel) {
    for (size_t at = 0; at < bytes; at += kCopyPiece) {
      if (attnflow::cancelRequested(&cancel)) return Status::Cancelled();
      Status s = piece(at, std::min(kCopyPiece, bytes - at));
      if (!s.ok) return s;
    }
    return Status::Ok();
  };
  Holds holds;
  holds.hold(info[0]);
  holds.hold(info[2]);
  holds.pin(b);
  return binding::queueCall(env, binding::Lane::Cuda, run, std::move(holds), info[3]);
}

Napi::Value CopyToDevice(const Napi::CallbackInfo& info) { return copy(info, true, false); }
Napi::Value CopyToHost(const Napi::CallbackInfo& info) { return copy(info, false, false); }
Napi::Value CopyToDeviceAsync(const Napi::CallbackInfo& info) { return copy(info, true, true); }
Napi::Value CopyToHostAsync(const Napi::CallbackInfo& info) { return copy(info, false, true); }

// cudaCopyDevice(dst, dstByteOffset, src, srcByteOffset, bytes): stream-ordered on the device
// (between devices: through host memory, blocking).
Napi::Value CopyDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceBuffer* dst = bufferOf(env, info[0], "dst");
  const uint64_t dOff = sizeArg(env, info[1], "dstByteOffset");
  DeviceBuffer* src = bufferOf(env, info[2], "src");
  const uint64_t sOff = sizeArg(env, info[3], "srcByteOffset");
  const uint64_t bytes = sizeArg(env, info[4], "bytes");
  checkRange(env, dst, dOff, bytes, "cudaCopyDevice (destination)");
  checkRange(env, src, sOff, bytes, "cudaCopyDevice (source)");
  if (bytes == 0) return env.Undefined();
  Status s = attnflow::cudaCopyDeviceToDevice(dst->device, static_cast<uint8_t*>(dst->ptr) + dOff, src->device,
                                              static_cast<uint8_t*>(src->ptr) + sOff, static_cast<size_t>(bytes));
  if (!s.ok) statusError(env, s);
  return env.Undefined();
}

// --- masks ----------------------------------------------------------------------------------

size_t align256(size_t n) { return (n + 255) & ~static_cast<size_t>(255); }

// cudaUploadMask(blockMask, device): a handle owning a host copy (what validation reads) and a
// device copy (what kernels read) of the mask, made from the same bytes.
Napi::Value UploadMask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) typeError(env, "cudaUploadMask expects a BlockMask");
  Napi::Object m = info[0].As<Napi::Object>();
  const int device = deviceArg(env, info[1]);
  auto owned = std::make_unique<DeviceMask>();
  DeviceMask& dm = *owned;
  attnflow::BlockMaskView& v = dm.view;
  binding::maskGeometry(cudaArgs(env), m, v);
  dm.rowPtr = copyTypedArray<int32_t>(env, m.Get("rowPtr"), napi_int32_array, "mask.rowPtr");
  dm.colIdx = copyTypedArray<int32_t>(env, m.Get("colIdx"), napi_int32_array, "mask.colIdx");
  dm.partial = copyTypedArray<int32_t>(env, m.Get("partial"), napi_int32_array, "mask.partial");
  dm.bits = copyTypedArray<uint32_t>(env, m.Get("bits"), napi_uint32_array, "mask.bits");
  if (dm.partial.size() != dm.colIdx.size()) typeError(env, "mask.partial and mask.colIdx differ in length");
  v.rowPtr = dm.rowPtr.data();
  v.rowPtrLen = dm.rowPtr.size();
  v.colIdx = dm.colIdx.data();
  v.partial = dm.partial.data();
  v.nnz = dm.colIdx.size();
  v.bits = dm.bits.data();
  v.bitsLen = dm.bits.size();
  dm.deviceIndex = device;

  const size_t bRow = dm.rowPtr.size() * 4, bCol = dm.colIdx.size() * 4, bPart = dm.partial.size() * 4,
               bBits = dm.bits.size() * 4;
  const size_t oCol = align256(bRow), oPart = oCol + align256(bCol), oBits = oPart + align256(bPart);
  const size_t total = oBits + align256(bBits);
  // Assemble one host image and upload it in one copy.
  std::vector<uint8_t> image(total, 0);
  if (bRow) std::memcpy(image.data(), dm.rowPtr.data(), bRow);
  if (bCol) std::memcpy(image.data() + oCol, dm.colIdx.data(), bCol);
  if (bPart) std::memcpy(image.data() + oPart, dm.partial.data(), bPart);
  if (bBits) std::memcpy(image.data() + oBits, dm.bits.data(), bBits);
  Status s = attnflow::cudaDeviceAlloc(device, total, &dm.block);
  if (!s.ok) statusError(env, Status::Error(s.message + " (BlockMask upload)"));
  s = attnflow::cudaCopyHostToDevice(device, dm.block, image.data(), total);
  if (!s.ok) {
    attnflow::cudaDeviceFree(device, dm.block);
    statusError(env, s);
  }
  uint8_t* base = static_cast<uint8_t*>(dm.block);
  dm.device.rowPtr = bRow ? reinterpret_cast<const int32_t*>(base) : nullptr;
  dm.device.colIdx = bCol ? reinterpret_cast<const int32_t*>(base + oCol) : nullptr;
  dm.device.partial = bPart ? reinterpret_cast<const int32_t*>(base + oPart) : nullptr;
  dm.device.bits = bBits ? reinterpret_cast<const uint32_t*>(base + oBits) : nullptr;

  Napi::External<DeviceMask> ext = Napi::External<DeviceMask>::New(env, owned.release(), [](Napi::Env, DeviceMask* d) {
    if (d->block != nullptr) attnflow::cudaDeviceFree(d->deviceIndex, d->block);
    delete d;
  });
  ext.TypeTag(&kMaskTag);
  return ext;
}

// --- attention ------------------------------------------------------------------------------

struct CudaCall {
  AttentionParams params;
  CudaMaskArrays mask;
  int device = 0;
  Holds holds;
};

// An optional float32 output args[key] = { buffer, offset } (offset in floats) of `n` floats on the
// call's device (lse, keyMass): its device pointer, or nullptr when absent (or the buffer is empty);
// the buffer is held and pinned for the call.
float* deviceOutput(Napi::Env env, Napi::Object args, const char* key, uint64_t n, CudaCall& call) {
  Napi::Value v = args.Get(key);
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  const std::string name(key);
  if (!v.IsObject()) typeError(env, name + " must be { buffer, offset } or null");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value bv = o.Get("buffer");
  DeviceBuffer* b = bufferOf(env, bv, name + ".buffer");
  if (b->device != call.device) rangeError(env, name + " is on another device than the call");
  const uint64_t offset = sizeArg(env, o.Get("offset"), name + ".offset");
  const uint64_t elems = b->bytes / 4;
  if (offset > elems || n > elems - offset) {
    rangeError(env, name + " needs " + std::to_string(n) + " floats at offset " + std::to_string(offset) +
                        " but its buffer holds " + std::to_string(elems));
  }
  call.holds.hold(bv);
  call.holds.pin(b);
  return b->ptr == nullptr ? nullptr : reinterpret_cast<float*>(static_cast<uint8_t*>(b->ptr) + offset * 4);
}

// Parses the argument object into `call`; pins and holds everything it uses.
void parseCall(Napi::Env env, Napi::Value arg, CudaCall& call) {
  const Args a = cudaArgs(env);
  if (!arg.IsObject()) a.fail("cudaAttention expects an argument object");
  Napi::Object args = arg.As<Napi::Object>();
  const int device = deviceArg(env, args.Get("device"));
  call.device = device;
  AttentionParams& p = call.params;
  // Pins taken before an exception are released by the caller (cudaCall).
  p.q = binding::deviceView(a, args, "q", device, call.holds);
  p.k = binding::deviceView(a, args, "k", device, call.holds);
  p.v = binding::deviceView(a, args, "v", device, call.holds);
  p.out = binding::deviceView(a, args, "out", device, call.holds);

  Napi::Value maskV = args.Get("mask");
  DeviceMask* dm = maskOf(env, maskV);
  if (dm->deviceIndex != device) {
    rangeError(env, "the mask was uploaded to cuda:" + std::to_string(dm->deviceIndex) + ", the call runs on cuda:" +
                        std::to_string(device));
  }
  call.holds.hold(maskV);
  p.mask = dm->view;
  call.mask = dm->device;

  binding::scaleAndSoftcap(a, args, p);

  const uint64_t rows = static_cast<uint64_t>(p.q.shape[0]) * static_cast<uint64_t>(p.q.shape[1]) *
                        static_cast<uint64_t>(p.q.shape[2]);
  p.lse = deviceOutput(env, args, "lse", rows, call);
  p.lseLen = p.lse == nullptr ? 0 : static_cast<size_t>(rows);
  binding::alibiAndRope(a, args, p, call.holds.keep);
  binding::positions(a, args, p, call.holds.keep);
  const uint64_t keys = static_cast<uint64_t>(p.k.shape[0]) * static_cast<uint64_t>(p.k.shape[1]) *
                        static_cast<uint64_t>(p.k.shape[2]);
  p.keyMass = deviceOutput(env, args, "keyMass", keys, call);
  p.keyMassLen = p.keyMass == nullptr ? 0 : static_cast<size_t>(keys);
  // Every getter has run: nothing moved under the host arrays taken above (alibi, positions).
  call.holds.keep.verify(a);
}

// The arguments of cudaAttention / cudaAttentionSync; a bad one releases what was pinned so far.
void cudaCall(Napi::Env env, Napi::Value arg, CudaCall& call) {
  try {
    parseCall(env, arg, call);
  } catch (...) {
    call.holds.release();
    throw;
  }
}

Napi::Value AttentionSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaCall call;
  cudaCall(env, info[0], call);
  Status s = attnflow::cudaAttentionForward(call.params, call.mask, call.device);
  call.holds.release();
  if (!s.ok) statusError(env, s);
  return env.Undefined();
}

// cudaAttention(args, token?): launches on the device's stream and waits for it on the CUDA lane
// (worker.h), off the event loop.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaCall call;
  cudaCall(env, info[0], call);
  const CudaMaskArrays mask = call.mask;
  const int device = call.device;
  auto run = [p = call.params, mask, device](const attnflow::CancelFlag& cancel) mutable {
    p.cancel = &cancel;
    return attnflow::cudaAttentionForward(p, mask, device);
  };
  return binding::queueCall(env, binding::Lane::Cuda, run, std::move(call.holds), info[1]);
}

// --- device state -----------------------------------------------------------------------------

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = deviceArg(env, info[0]);
  attnflow::CudaMemoryStats st;
  Status s = attnflow::cudaMemoryStatsOf(device, &st);
  if (!s.ok) statusError(env, s);
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", "cuda:" + std::to_string(device));
  o.Set("allocatedBytes", static_cast<double>(st.allocatedBytes));
  o.Set("peakAllocatedBytes", static_cast<double>(st.peakAllocatedBytes));
  o.Set("allocations", static_cast<double>(st.allocations));
  o.Set("reservedBytes", static_cast<double>(st.reservedBytes));
  o.Set("freeBytes", static_cast<double>(st.freeBytes));
  o.Set("totalBytes", static_cast<double>(st.totalBytes));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Status s = attnflow::cudaReleaseCachedMemory(deviceArg(env, info[0]));
  if (!s.ok) statusError(env, s);
  return env.Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Status s = attnflow::cudaSynchronizeDevice(deviceArg(env, info[0]));
  if (!s.ok) statusError(env, s);
  return env.Undefined();
}

Napi::Value Tile(const Napi::CallbackInfo& info) {
  attnflow::TileShape t = attnflow::cudaTileShape();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("blockQ", t.blockQ);
  o.Set("blockK", t.blockK);
  return o;
}

}  // namespace

void registerCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaAlloc", Napi::Function::New(env, Alloc, "cudaAlloc"));
  exports.Set("cudaFree", Napi::Function::New(env, Free, "cudaFree"));
  exports.Set("cudaCopyToDevice", Napi::Function::New(env, CopyToDevice, "cudaCopyToDevice"));
  exports.Set("cudaCopyToHost", Napi::Function::New(env, CopyToHost, "cudaCopyToHost"));
  exports.Set("cudaCopyToDeviceAsync", Napi::Function::New(env, CopyToDeviceAsync, "cudaCopyToDeviceAsync"));
  exports.Set("cudaCopyToHostAsync", Napi::Function::New(env, CopyToHostAsync, "cudaCopyToHostAsync"));
  exports.Set("cudaCopyDevice", Napi::Function::New(env, CopyDevice, "cudaCopyDevice"));
  exports.Set("cudaUploadMask", Napi::Function::New(env, UploadMask, "cudaUploadMask"));
  exports.Set("cudaAttention", Napi::Function::New(env, Attention, "cudaAttention"));
  exports.Set("cudaAttentionSync", Napi::Function::New(env, AttentionSync, "cudaAttentionSync"));
  exports.Set("cudaMemoryStats", Napi::Function::New(env, MemoryStats, "cudaMemoryStats"));
  exports.Set("cudaEmptyCache", Napi::Function::New(env, EmptyCache, "cudaEmptyCache"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, Synchronize, "cudaSynchronize"));
  exports.Set("cudaTile", Napi::Function::New(env, Tile, "cudaTile"));
  registerCudaLinear(env, exports);
}
