// Device arguments shared by the CUDA parts of the Node-API binding (cuda.cpp, cuda_linear.cpp):
// device buffer handles (External values with a type tag, pinned by the calls in flight that use
// them), device indices and sizes, device tensor views, and device float32 arrays. Every
// malformed value becomes a JS exception ("attnflow cuda: ...").
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "attnflow.h"

namespace binding {

// Type tag of device buffer handles (a random 128-bit value).
extern const napi_type_tag kBufferTag;

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
  bool disposed = false;  // JS let go of it (cudaFree): no new use
  bool freed = false;     // the memory went back to the allocator
  int pins = 0;           // asynchronous calls in flight that use it
};

// Gives the memory back to the allocator (once).
void releaseBuffer(DeviceBuffer* b);

// The argument errors of the CUDA binding: "attnflow cuda: ...".
Args cudaArgs(Napi::Env env);
[[noreturn]] void typeError(Napi::Env env, const std::string& what);
[[noreturn]] void rangeError(Napi::Env env, const std::string& what);
[[noreturn]] void statusError(Napi::Env env, const attnflow::Status& s);

// A non-negative integer that a double represents exactly (<= 2^53).
uint64_t sizeArg(Napi::Env env, Napi::Value v, const std::string& what);
int deviceArg(Napi::Env env, Napi::Value v);
// The buffer behind a handle; an Error when it was disposed.
DeviceBuffer* bufferOf(Napi::Env env, Napi::Value v, const std::string& what);

// The references (and typed arrays, see KeepAlive) and the pins of one call's buffers and masks.
struct Holds {
  KeepAlive keep;
  std::vector<DeviceBuffer*> pinned;
  void hold(Napi::Value v) { keep.hold(v); }
  void pin(DeviceBuffer* b) {
    ++b->pins;
    pinned.push_back(b);
  }
  // On the JS thread, when the call has settled.
  void release() {
    for (DeviceBuffer* b : pinned) {
      if (--b->pins == 0 && b->disposed) releaseBuffer(b);
    }
    pinned.clear();
    keep.release();
  }
};

// A device view args[key] = { buffer, dtype, shape, strides, offset } (offset in elements) of a
// buffer on `device`; pins and holds the buffer.
attnflow::TensorView deviceView(const Args& a, Napi::Object args, const char* key, int device, Holds& holds);

// A device float32 array args[key] = { buffer, offset } (offset in floats) on `device`, or
// null/undefined → nullptr. *length receives the floats from the offset to the buffer's end.
float* deviceFloats(const Args& a, Napi::Object args, const char* key, int device, size_t* length, Holds& holds);

}  // namespace binding
