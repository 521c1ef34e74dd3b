// Argument conversion shared by the parts of the Node-API binding (addon.cpp, cuda.cpp,
// linear.cpp): numbers and integers read from argument objects, typed arrays turned into
// pointers (kept alive, and checked not to have moved once every argument was read), host tensor
// views, and the attention options that the CPU and CUDA entry points share. Every malformed
// value becomes a JS exception whose message starts with the prefix of the part that read it.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attnflow.h"

namespace binding {

// Where argument errors come from: "<prefix>: <what>" ("attnflow native", "attnflow cuda", ...).
class Args {
 public:
  Args(Napi::Env env, const char* prefix) : env_(env), prefix_(prefix) {}
  Napi::Env env() const { return env_; }
  [[noreturn]] void fail(const std::string& what) const;       // a TypeError
  [[noreturn]] void failRange(const std::string& what) const;  // a RangeError

 private:
  Napi::Env env_;
  const char* prefix_;
};

Napi::Object objectField(const Args& a, Napi::Object o, const char* key);
double number(const Args& a, Napi::Value v, const std::string& what);
double numberField(const Args& a, Napi::Object o, const char* key);
int32_t intField(const Args& a, Napi::Object o, const char* key);
// An integer in [0, 2^53).
int64_t nonNegative(const Args& a, Napi::Value v, const std::string& what);
// An array of exactly 4 entries (shape, strides).
Napi::Array fourEntries(const Args& a, Napi::Value v, const std::string& what);
// o.dtype: 0, 1 or 2 (attnflow::DType); `key` names o in the message.
attnflow::DType dtypeField(const Args& a, Napi::Object o, const std::string& key);

// Holds the JS typed arrays a call reads or writes, so the garbage collector keeps them alive
// until an asynchronous call has finished. It also remembers where each array's elements were
// and how many there were when its pointer was taken: reading the later arguments can run JS
// (getters, proxies) that shrinks a resizable buffer or detaches one, so once every argument has
// been read, verify() checks that nothing moved (no JS runs after that until the call is done).
struct KeepAlive {
  struct Seen {
    Napi::TypedArray array;
    const void* data;
    size_t length;
    std::string what;
  };
  std::vector<Napi::Reference<Napi::Value>> refs;
  std::vector<Seen> seen;
  void hold(Napi::Value v) { refs.push_back(Napi::Persistent(v)); }
  void verify(const Args& a);
  // On the JS thread, when the call has settled.
  void release() {
    seen.clear();
    refs.clear();
  }
};

// Where a typed array's elements start (its buffer's memory plus its byte offset).
uint8_t* typedArrayBase(Napi::TypedArray ta);
// v as a typed array of type `want`.
Napi::TypedArray typedArrayOf(const Args& a, Napi::Value v, napi_typedarray_type want, const std::string& what);
// The elements of a typed array of type `want` (nullptr when it is empty), their count in
// *length; refuses one backed by a resizable ArrayBuffer, and holds and tracks it in `keep`.
void* typedArrayPointer(const Args& a, Napi::Value v, napi_typedarray_type want, const std::string& what,
                        size_t* length, KeepAlive& keep);
template <typename T>
T* typedArrayData(const Args& a, Napi::Value v, napi_typedarray_type want, const std::string& what, size_t* length,
                  KeepAlive& keep) {
  return static_cast<T*>(typedArrayPointer(a, v, want, what, length, keep));
}

// A Float32Array field, or null/undefined → nullptr (length 0). A given but empty array yields a
// non-null dummy pointer (length 0), so "given" stays distinguishable: validation compares lengths.
float* optionalFloat32(const Args& a, Napi::Object o, const char* key, size_t* length, KeepAlive& keep);

// A host view: { data (Float32Array for dtype 0, Uint16Array otherwise), dtype, shape, strides,
// offset } (offset in elements).
attnflow::TensorView hostTensorView(const Args& a, Napi::Object args, const char* key, KeepAlive& keep);

// The integer fields of a BlockMask (its arrays are read by the caller).
void maskGeometry(const Args& a, Napi::Object m, attnflow::BlockMaskView& v);

// The options of attention shared by the CPU and CUDA entry points, read in this order:
// scale and softcap, then (after the caller's lse) alibi and rope.
void scaleAndSoftcap(const Args& a, Napi::Object args, attnflow::AttentionParams& p);
void alibiAndRope(const Args& a, Napi::Object args, attnflow::AttentionParams& p, KeepAlive& keep);
// Optional positions (queryPositions and keyPositions: host Int32Arrays; queryStart: an int32), null
// or undefined for none; with the keyMass output (a host Float32Array) for the CPU entry points.
void positions(const Args& a, Napi::Object args, attnflow::AttentionParams& p, KeepAlive& keep);
void positionsAndKeyMass(const Args& a, Napi::Object args, attnflow::AttentionParams& p, KeepAlive& keep);

// The options of linear attention shared by the CPU and CUDA entry points: featureMap,
// favorWeights and features, decay, decayHead and gateStrides, normalize, eps, chunk (the
// operands, gates and state arrays are read by the caller: host or device memory).
void linearOptions(const Args& a, Napi::Object o, attnflow::LinearAttentionParams& p, KeepAlive& keep);

}  // namespace binding
