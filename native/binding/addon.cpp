// Node-API binding: turns JS values into the views of attnflow.h and calls one backend
// function. User input was validated in TypeScript; what native code relies on is checked
// again here (types, lengths) and in validateAttention (shapes, strides, mask), so a bad call
// from JS becomes a JS exception instead of an out-of-bounds access.
#include <napi.h>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "attnflow.h"
#include "cuda_binding.h"
#include "linear_binding.h"

namespace {

using attnflow::AttentionParams;
using attnflow::BlockMaskView;
using attnflow::DType;
using attnflow::Status;
using attnflow::TensorView;

Napi::Object cpuInfoObject(Napi::Env env) {
  attnflow::CpuInfo c = attnflow::cpuInfo();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avx2", c.avx2);
  o.Set("fma", c.fma);
  o.Set("f16c", c.f16c);
  o.Set("avx512f", c.avx512f);
  o.Set("neon", c.neon);
  o.Set("threads", c.threads);
  attnflow::TileShape t = attnflow::cpuTileShape();
  Napi::Object tile = Napi::Object::New(env);
  tile.Set("blockQ", t.blockQ);
  tile.Set("blockK", t.blockK);
  o.Set("tile", tile);
  return o;
}

Napi::Object cudaInfoObject(Napi::Env env) {
  attnflow::CudaInfo c = attnflow::cudaInfo();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", c.compiled);
  o.Set("available", c.available);
  o.Set("reason", c.reason);
  o.Set("runtimeVersion", c.runtimeVersion);
  o.Set("driverVersion", c.driverVersion);
  Napi::Array devices = Napi::Array::New(env, c.devices.size());
  for (size_t i = 0; i < c.devices.size(); ++i) {
    const attnflow::CudaDevice& d = c.devices[i];
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("index", d.index);
    dev.Set("name", d.name);
    dev.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    dev.Set("totalMemory", static_cast<double>(d.totalMemory));
    dev.Set("multiprocessors", d.multiprocessors);
    devices.Set(static_cast<uint32_t>(i), dev);
  }
  o.Set("devices", devices);
  return o;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpu", cpuInfoObject(env));
  o.Set("cuda", cudaInfoObject(env));
  return o;
}

// --- argument conversion ----------------------------------------------------------------

[[noreturn]] void fail(Napi::Env env, const std::string& what) {
  throw Napi::TypeError::New(env, "attnflow native: " + what);
}

Napi::Object objectField(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) fail(env, std::string(key) + " must be an object");
  return v.As<Napi::Object>();
}

double numberField(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(env, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int32_t intField(Napi::Env env, Napi::Object o, const char* key) {
  double d = numberField(env, o, key);
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int32_t>(d)))
    fail(env, std::string(key) + " must be a 32-bit integer");
  return static_cast<int32_t>(d);
}

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
    const char* what;
  };
  std::vector<Napi::Reference<Napi::Value>> refs;
  std::vector<Seen> seen;
  void hold(Napi::Value v) { refs.push_back(Napi::Persistent(v)); }
  void verify(Napi::Env env);
};

template <typename T>
T* typedArrayData(Napi::Env env, Napi::Value v, napi_typedarray_type want, const char* what, size_t* length,
                  KeepAlive& keep) {
  if (!v.IsTypedArray()) fail(env, std::string(what) + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != want) fail(env, std::string(what) + " has the wrong typed array type");
  Napi::ArrayBuffer buf = ta.ArrayBuffer();
  // A resizable ArrayBuffer can shrink under a running asynchronous call (its memory is then
  // decommitted): refuse it. (A growable SharedArrayBuffer only grows, which is harmless.)
  Napi::Value resizable = buf.Get("resizable");
  if (resizable.IsBoolean() && resizable.As<Napi::Boolean>().Value())
    fail(env, std::string(what) + " is backed by a resizable ArrayBuffer; copy it into a fixed-length one");
  *length = ta.ElementLength();
  keep.hold(v);
  T* data = *length == 0 ? nullptr
                         : reinterpret_cast<T*>(static_cast<uint8_t*>(buf.Data()) + ta.ByteOffset());
  keep.seen.push_back(KeepAlive::Seen{ta, data, *length, what});
  return data;
}

void KeepAlive::verify(Napi::Env env) {
  for (const Seen& s : seen) {
    const size_t length = s.array.ElementLength();
    const void* data = length == 0 ? nullptr
                                   : static_cast<uint8_t*>(s.array.ArrayBuffer().Data()) + s.array.ByteOffset();
    if (length != s.length || data != s.data)
      fail(env, std::string(s.what) + " changed (resized or detached) while the arguments were read");
  }
  seen.clear();  // the handles belong to this call's scope
}

TensorView tensorView(Napi::Env env, Napi::Object args, const char* key, KeepAlive& keep) {
  Napi::Object o = objectField(env, args, key);
  TensorView t;
  int32_t dtype = intField(env, o, "dtype");
  if (dtype < 0 || dtype > 2) fail(env, std::string(key) + ".dtype must be 0, 1 or 2");
  t.dtype = static_cast<DType>(dtype);
  Napi::Value shape = o.Get("shape"), strides = o.Get("strides");
  if (!shape.IsArray() || shape.As<Napi::Array>().Length() != 4)
    fail(env, std::string(key) + ".shape must have 4 entries");
  if (!strides.IsArray() || strides.As<Napi::Array>().Length() != 4)
    fail(env, std::string(key) + ".strides must have 4 entries");
  for (uint32_t i = 0; i < 4; ++i) {
    Napi::Value s = shape.As<Napi::Array>().Get(i), st = strides.As<Napi::Array>().Get(i);
    if (!s.IsNumber() || !st.IsNumber()) fail(env, std::string(key) + ".shape/strides must hold numbers");
    double sv = s.As<Napi::Number>().DoubleValue(), stv = st.As<Napi::Number>().DoubleValue();
    if (!(sv >= 0 && sv <= 9007199254740991.0) || sv != static_cast<double>(static_cast<int64_t>(sv)) ||
        !(stv >= 0 && stv <= 9007199254740991.0) || stv != static_cast<double>(static_cast<int64_t>(stv)))
      fail(env, std::string(key) + ".shape/strides must be non-negative integers");
    t.shape[i] = static_cast<int64_t>(sv);
    t.strides[i] = static_cast<int64_t>(stv);
  }
  double offset = numberField(env, o, "offset");
  size_t length = 0;
  Napi::Value data = o.Get("data");
  if (t.dtype == DType::F32) {
    t.data = typedArrayData<float>(env, data, napi_float32_array, key, &length, keep);
  } else {
    t.data = typedArrayData<uint16_t>(env, data, napi_uint16_array, key, &length, keep);
  }
  if (!(offset >= 0) || offset > static_cast<double>(length) ||
      offset != static_cast<double>(static_cast<size_t>(offset)))
    fail(env, std::string(key) + ".offset is outside its data");
  size_t off = static_cast<size_t>(offset);
  if (t.data) t.data = static_cast<uint8_t*>(t.data) + off * attnflow::dtypeSize(t.dtype);
  t.capacity = length - off;
  return t;
}

BlockMaskView maskView(Napi::Env env, Napi::Object args, KeepAlive& keep) {
  Napi::Object m = objectField(env, args, "mask");
  BlockMaskView v;
  v.seqQ = intField(env, m, "seqQ");
  v.seqK = intField(env, m, "seqK");
  v.blockQ = intField(env, m, "blockQ");
  v.blockK = intField(env, m, "blockK");
  v.numQBlocks = intField(env, m, "numQBlocks");
  v.numKBlocks = intField(env, m, "numKBlocks");
  v.heads = intField(env, m, "heads");
  v.wordsPerRow = intField(env, m, "wordsPerRow");
  size_t n = 0;
  v.rowPtr = typedArrayData<int32_t>(env, m.Get("rowPtr"), napi_int32_array, "mask.rowPtr", &v.rowPtrLen, keep);
  v.colIdx = typedArrayData<int32_t>(env, m.Get("colIdx"), napi_int32_array, "mask.colIdx", &v.nnz, keep);
  v.partial = typedArrayData<int32_t>(env, m.Get("partial"), napi_int32_array, "mask.partial", &n, keep);
  if (n != v.nnz) fail(env, "mask.partial and mask.colIdx differ in length");
  v.bits = typedArrayData<uint32_t>(env, m.Get("bits"), napi_uint32_array, "mask.bits", &v.bitsLen, keep);
  return v;
}

AttentionParams attentionParams(Napi::Env env, Napi::Value arg, KeepAlive& keep) {
  if (!arg.IsObject()) fail(env, "attention expects an argument object");
  Napi::Object args = arg.As<Napi::Object>();
  AttentionParams p;
  p.q = tensorView(env, args, "q", keep);
  p.k = tensorView(env, args, "k", keep);
  p.v = tensorView(env, args, "v", keep);
  p.out = tensorView(env, args, "out", keep);
  p.mask = maskView(env, args, keep);
  p.scale = static_cast<float>(numberField(env, args, "scale"));
  const double softcap = numberField(env, args, "softcap");
  p.softcap = static_cast<float>(softcap);
  // A positive cap that rounds to 0 in float32 would silently turn the softcap off.
  if (softcap > 0 && !(p.softcap >= std::numeric_limits<float>::min())) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", softcap);
    fail(env, std::string("softcap must be 0 (none) or at least the smallest normal float32 (got ") + shown + ")");
  }
  // An empty array given for lse or alibi must not read as "none": it points at a dummy, so the
  // length checks of validateAttention see it (an empty lse is right only for an empty problem).
  static float emptyArray[1];
  Napi::Value lse = args.Get("lse");
  if (!lse.IsNull() && !lse.IsUndefined()) {
    p.lse = typedArrayData<float>(env, lse, napi_float32_array, "lse", &p.lseLen, keep);
    if (p.lse == nullptr) p.lse = emptyArray;
  }
  Napi::Value alibi = args.Get("alibi");
  if (!alibi.IsNull() && !alibi.IsUndefined()) {
    p.alibiSlopes = typedArrayData<float>(env, alibi, napi_float32_array, "alibi", &p.alibiLen, keep);
    if (p.alibiSlopes == nullptr) p.alibiSlopes = emptyArray;
  }
  Napi::Value rope = args.Get("rope");
  if (!rope.IsNull() && !rope.IsUndefined()) {
    if (!rope.IsObject()) fail(env, "rope must be an object or null");
    Napi::Object r = rope.As<Napi::Object>();
    p.rope.enabled = true;
    p.rope.base = static_cast<float>(numberField(env, r, "base"));
    p.rope.interleaved = r.Get("interleaved").ToBoolean();
    p.rope.offset = intField(env, r, "offset");
    p.rope.dims = intField(env, r, "dims");
  }
  // Every getter has run: from here on no JS runs until the call is done (or, for the
  // asynchronous call, JS that could resize buffers meets the checks above).
  keep.verify(env);
  return p;
}

// --- attention ----------------------------------------------------------------------------

Napi::Value AttentionSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  AttentionParams p = attentionParams(env, info[0], keep);
  Status s = attnflow::cpuAttentionForward(p);
  if (!s.ok) throw Napi::Error::New(env, s.message);
  return env.Undefined();
}

// Runs the backend on the libuv pool and settles a promise; the CPU backend's own thread pool
// bounds the cores used, however many calls are in flight.
class AttentionWorker : public Napi::AsyncWorker {
 public:
  AttentionWorker(Napi::Env env, AttentionParams params, KeepAlive keep)
      : Napi::AsyncWorker(env, "attnflow:attention"),
        deferred_(Napi::Promise::Deferred::New(env)),
        params_(params),
        keep_(std::move(keep)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Status s = attnflow::cpuAttentionForward(params_);
    if (!s.ok) SetError(s.message);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  AttentionParams params_;
  KeepAlive keep_;
};

Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  AttentionParams p = attentionParams(env, info[0], keep);
  auto* worker = new AttentionWorker(env, p, std::move(keep));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("attentionSync", Napi::Function::New(env, AttentionSync, "attentionSync"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  registerCuda(env, exports);
  registerLinear(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(attnflow, Init)
