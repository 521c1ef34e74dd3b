// Argument conversion shared by the parts of the Node-API binding; see args.h.
#include "args.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace binding {

using attnflow::DType;
using attnflow::TensorView;

void Args::fail(const std::string& what) const { throw Napi::TypeError::New(env_, std::string(prefix_) + ": " + what); }

void Args::failRange(const std::string& what) const {
  throw Napi::RangeError::New(env_, std::string(prefix_) + ": " + what);
}

Napi::Object objectField(const Args& a, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) a.fail(std::string(key) + " must be an object");
  return v.As<Napi::Object>();
}

double number(const Args& a, Napi::Value v, const std::string& what) {
  if (!v.IsNumber()) a.fail(what + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

double numberField(const Args& a, Napi::Object o, const char* key) { return number(a, o.Get(key), key); }

int32_t intField(const Args& a, Napi::Object o, const char* key) {
  const double d = numberField(a, o, key);
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int32_t>(d)))
    a.fail(std::string(key) + " must be a 32-bit integer");
  return static_cast<int32_t>(d);
}

int64_t nonNegative(const Args& a, Napi::Value v, const std::string& what) {
  const double d = number(a, v, what);
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d)))
    a.fail(what + " must be a non-negative integer");
  return static_cast<int64_t>(d);
}

Napi::Array fourEntries(const Args& a, Napi::Value v, const std::string& what) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 4) a.fail(what + " must have 4 entries");
  return v.As<Napi::Array>();
}

DType dtypeField(const Args& a, Napi::Object o, const std::string& key) {
  const int32_t dtype = intField(a, o, "dtype");
  if (dtype < 0 || dtype > 2) a.fail(key + ".dtype must be 0, 1 or 2");
  return static_cast<DType>(dtype);
}

// --- typed arrays -------------------------------------------------------------------------------

uint8_t* typedArrayBase(Napi::TypedArray ta) { return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(); }

Napi::TypedArray typedArrayOf(const Args& a, Napi::Value v, napi_typedarray_type want, const std::string& what) {
  if (!v.IsTypedArray()) a.fail(what + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != want) a.fail(what + " has the wrong typed array type");
  return ta;
}

void* typedArrayPointer(const Args& a, Napi::Value v, napi_typedarray_type want, const std::string& what,
                        size_t* length, KeepAlive& keep) {
  Napi::TypedArray ta = typedArrayOf(a, v, want, what);
  // A resizable ArrayBuffer can shrink under a running asynchronous call (its memory is then
  // decommitted): refuse it. (A growable SharedArrayBuffer only grows, which is harmless.)
  Napi::Value resizable = ta.ArrayBuffer().Get("resizable");
  if (resizable.IsBoolean() && resizable.As<Napi::Boolean>().Value())
    a.fail(what + " is backed by a resizable ArrayBuffer; copy it into a fixed-length one");
  *length = ta.ElementLength();
  keep.hold(v);
  void* data = *length == 0 ? nullptr : typedArrayBase(ta);
  keep.seen.push_back(KeepAlive::Seen{ta, data, *length, what});
  return data;
}

void KeepAlive::verify(const Args& a) {
  for (const Seen& s : seen) {
    const size_t length = s.array.ElementLength();
    const void* data = length == 0 ? nullptr : typedArrayBase(s.array);
    if (length != s.length || data != s.data) a.fail(s.what + " changed (resized or detached) while the arguments were read");
  }
  seen.clear();  // the handles belong to this call's scope
}

float* optionalFloat32(const Args& a, Napi::Object o, const char* key, size_t* length, KeepAlive& keep) {
  static float dummy[1];
  Napi::Value v = o.Get(key);
  *length = 0;
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  float* data = typedArrayData<float>(a, v, napi_float32_array, key, length, keep);
  return data ? data : dummy;
}

// --- views and options --------------------------------------------------------------------------

TensorView hostTensorView(const Args& a, Napi::Object args, const char* key, KeepAlive& keep) {
  Napi::Object o = objectField(a, args, key);
  const std::string name(key);
  TensorView t;
  t.dtype = dtypeField(a, o, name);
  Napi::Array shape = fourEntries(a, o.Get("shape"), name + ".shape");
  Napi::Array strides = fourEntries(a, o.Get("strides"), name + ".strides");
  for (uint32_t i = 0; i < 4; ++i) {
    t.shape[i] = nonNegative(a, shape.Get(i), name + ".shape[i]");
    t.strides[i] = nonNegative(a, strides.Get(i), name + ".strides[i]");
  }
  const int64_t offset = nonNegative(a, o.Get("offset"), name + ".offset");
  size_t length = 0;
  if (t.dtype == DType::F32) {
    t.data = typedArrayData<float>(a, o.Get("data"), napi_float32_array, name, &length, keep);
  } else {
    t.data = typedArrayData<uint16_t>(a, o.Get("data"), napi_uint16_array, name, &length, keep);
  }
  if (static_cast<uint64_t>(offset) > length) a.fail(name + ".offset is outside its data");
  if (t.data) t.data = static_cast<uint8_t*>(t.data) + static_cast<size_t>(offset) * attnflow::dtypeSize(t.dtype);
  t.capacity = length - static_cast<size_t>(offset);
  return t;
}

void maskGeometry(const Args& a, Napi::Object m, attnflow::BlockMaskView& v) {
  v.seqQ = intField(a, m, "seqQ");
  v.seqK = intField(a, m, "seqK");
  v.blockQ = intField(a, m, "blockQ");
  v.blockK = intField(a, m, "blockK");
  v.numQBlocks = intField(a, m, "numQBlocks");
  v.numKBlocks = intField(a, m, "numKBlocks");
  v.heads = intField(a, m, "heads");
  v.wordsPerRow = intField(a, m, "wordsPerRow");
}

void scaleAndSoftcap(const Args& a, Napi::Object args, attnflow::AttentionParams& p) {
  p.scale = static_cast<float>(numberField(a, args, "scale"));
  const double softcap = numberField(a, args, "softcap");
  p.softcap = static_cast<float>(softcap);
  // A positive cap that rounds to 0 in float32 would silently turn the softcap off.
  if (softcap > 0 && !(p.softcap >= std::numeric_limits<float>::min())) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", softcap);
    a.fail(std::string("softcap must be 0 (none) or at least the smallest normal float32 (got ") + shown + ")");
  }
}

void alibiAndRope(const Args& a, Napi::Object args, attnflow::AttentionParams& p, KeepAlive& keep) {
  p.alibiSlopes = optionalFloat32(a, args, "alibi", &p.alibiLen, keep);
  Napi::Value rope = args.Get("rope");
  if (!rope.IsNull() && !rope.IsUndefined()) {
    if (!rope.IsObject()) a.fail("rope must be an object or null");
    Napi::Object r = rope.As<Napi::Object>();
    p.rope.enabled = true;
    p.rope.base = static_cast<float>(numberField(a, r, "base"));
    p.rope.interleaved = r.Get("interleaved").ToBoolean();
    p.rope.offset = intField(a, r, "offset");
    p.rope.dims = intField(a, r, "dims");
  }
}

void linearOptions(const Args& a, Napi::Object o, attnflow::LinearAttentionParams& p, KeepAlive& keep) {
  const int32_t fm = intField(a, o, "featureMap");
  if (fm < 0 || fm > 3) a.fail("featureMap must be 0..3");
  p.featureMap = static_cast<attnflow::LinearFeatureMap>(fm);
  p.favorW = optionalFloat32(a, o, "favorWeights", &p.favorWLen, keep);
  p.features = intField(a, o, "features");
  const int32_t decay = intField(a, o, "decay");
  if (decay < 0 || decay > 3) a.fail("decay must be 0..3");
  p.decay = static_cast<attnflow::LinearDecay>(decay);
  p.decayHead = optionalFloat32(a, o, "decayHead", &p.decayHeadLen, keep);
  Napi::Array gs = fourEntries(a, o.Get("gateStrides"), "gateStrides");
  for (uint32_t i = 0; i < 4; ++i) p.gateStrides[i] = nonNegative(a, gs.Get(i), "gateStrides[i]");
  p.normalize = o.Get("normalize").ToBoolean();
  p.eps = static_cast<float>(numberField(a, o, "eps"));
  p.chunk = intField(a, o, "chunk");
}

}  // namespace binding

namespace binding {

namespace {

// An Int32Array field, or null/undefined → nullptr (length 0); like optionalFloat32.
const int32_t* optionalInt32(const Args& a, Napi::Object o, const char* key, size_t* length, KeepAlive& keep) {
  static int32_t dummy[1];
  Napi::Value v = o.Get(key);
  *length = 0;
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  const int32_t* data = typedArrayData<int32_t>(a, v, napi_int32_array, key, length, keep);
  return data ? data : dummy;
}

}  // namespace

void positions(const Args& a, Napi::Object args, attnflow::AttentionParams& p, KeepAlive& keep) {
  p.queryPositions = optionalInt32(a, args, "queryPositions", &p.queryPositionsLen, keep);
  Napi::Value qs = args.Get("queryStart");
  if (!qs.IsNull() && !qs.IsUndefined()) {
    const double x = number(a, qs, "queryStart");
    if (!(x == std::floor(x)) || x < -2147483648.0 || x > 2147483647.0) a.fail("queryStart must be an integer in 32 bits");
    p.queryStart = static_cast<int64_t>(x);
  }
  p.keyPositions = optionalInt32(a, args, "keyPositions", &p.keyPositionsLen, keep);
}

void positionsAndKeyMass(const Args& a, Napi::Object args, attnflow::AttentionParams& p, KeepAlive& keep) {
  positions(a, args, p, keep);
  p.keyMass = optionalFloat32(a, args, "keyMass", &p.keyMassLen, keep);
}

}  // namespace binding
