// Device arguments of the CUDA binding (cuda_args.h).
#include "cuda_args.h"

#include <cmath>
#include <cstdio>

namespace binding {

const napi_type_tag kBufferTag = {0x6a1f0e9c3b2d4c57ULL, 0x9e8d7c6b5a493827ULL};

void releaseBuffer(DeviceBuffer* b) {
  if (b->freed) return;
  b->freed = true;
  if (b->ptr != nullptr) attnflow::cudaDeviceFree(b->device, b->ptr);  // an error here has nowhere to go
  b->ptr = nullptr;
}

Args cudaArgs(Napi::Env env) { return Args(env, "attnflow cuda"); }
void typeError(Napi::Env env, const std::string& what) { cudaArgs(env).fail(what); }
void rangeError(Napi::Env env, const std::string& what) { cudaArgs(env).failRange(what); }
void statusError(Napi::Env env, const attnflow::Status& s) { throw Napi::Error::New(env, s.message); }

namespace {

std::string formatNumber(double d) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// The buffer of a device argument on `device`, pinned and held.
DeviceBuffer* pinnedBuffer(Napi::Env env, Napi::Value bv, const std::string& key, int device, Holds& holds) {
  DeviceBuffer* b = bufferOf(env, bv, key + ".buffer");
  if (b->device != device) {
    rangeError(env, key + " is on cuda:" + std::to_string(b->device) + ", the call runs on cuda:" + std::to_string(device));
  }
  holds.hold(bv);
  holds.pin(b);
  return b;
}

}  // namespace

uint64_t sizeArg(Napi::Env env, Napi::Value v, const std::string& what) {
  const double d = number(cudaArgs(env), v, what);
  if (!(d >= 0) || d > 9007199254740992.0 || d != std::floor(d)) {
    rangeError(env, what + " must be a non-negative integer no larger than 2^53, got " + formatNumber(d));
  }
  return static_cast<uint64_t>(d);
}

int deviceArg(Napi::Env env, Napi::Value v) {
  const double d = number(cudaArgs(env), v, "device");
  if (!(d >= 0) || d > 1e6 || d != std::floor(d)) rangeError(env, "device must be a non-negative integer");
  return static_cast<int>(d);
}

DeviceBuffer* bufferOf(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsExternal()) typeError(env, what + " must be a device buffer handle");
  Napi::External<DeviceBuffer> ext = v.As<Napi::External<DeviceBuffer>>();
  if (!ext.CheckTypeTag(&kBufferTag)) typeError(env, what + " is not a device buffer handle");
  DeviceBuffer* b = ext.Data();
  if (b->disposed) throw Napi::Error::New(env, what + ": the device buffer was disposed");
  return b;
}

attnflow::TensorView deviceView(const Args& a, Napi::Object args, const char* key, int device, Holds& holds) {
  Napi::Env env = a.env();
  Napi::Object o = objectField(a, args, key);
  attnflow::TensorView t;
  t.dtype = dtypeField(a, o, key);
  Napi::Array shape = fourEntries(a, o.Get("shape"), std::string(key) + ".shape");
  Napi::Array strides = fourEntries(a, o.Get("strides"), std::string(key) + ".strides");
  for (uint32_t i = 0; i < 4; ++i) {
    t.shape[i] = static_cast<int64_t>(sizeArg(env, shape.Get(i), std::string(key) + ".shape"));
    t.strides[i] = static_cast<int64_t>(sizeArg(env, strides.Get(i), std::string(key) + ".strides"));
  }
  const uint64_t offset = sizeArg(env, o.Get("offset"), std::string(key) + ".offset");
  DeviceBuffer* b = pinnedBuffer(env, o.Get("buffer"), key, device, holds);
  const size_t elt = attnflow::dtypeSize(t.dtype);
  const uint64_t elems = b->bytes / elt;
  if (offset > elems) rangeError(env, std::string(key) + ".offset is outside its buffer");
  t.data = b->ptr == nullptr ? nullptr : static_cast<uint8_t*>(b->ptr) + offset * elt;
  t.capacity = static_cast<size_t>(elems - offset);
  return t;
}

float* deviceFloats(const Args& a, Napi::Object args, const char* key, int device, size_t* length, Holds& holds) {
  *length = 0;
  Napi::Value v = args.Get(key);
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  Napi::Env env = a.env();
  if (!v.IsObject()) typeError(env, std::string(key) + " must be { buffer, offset } or null");
  Napi::Object o = v.As<Napi::Object>();
  const uint64_t offset = sizeArg(env, o.Get("offset"), std::string(key) + ".offset");
  DeviceBuffer* b = pinnedBuffer(env, o.Get("buffer"), key, device, holds);
  const uint64_t elems = b->bytes / 4;
  if (offset > elems) rangeError(env, std::string(key) + ".offset is outside its buffer");
  *length = static_cast<size_t>(elems - offset);
  // A given but empty array stays distinguishable from none (validation compares lengths): a
  // non-null pointer that nothing reads, as optionalFloat32 does for host arrays.
  static float emptyArray;
  if (b->ptr == nullptr || *length == 0) return &emptyArray;
  return reinterpret_cast<float*>(static_cast<uint8_t*>(b->ptr) + offset * 4);
}

}  // namespace binding
