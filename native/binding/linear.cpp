// Node-API binding of linear attention: turns the argument object built by lib/linear/cpu.ts
// into a LinearAttentionParams and calls cpuLinearAttention, on the calling thread
// (linearAttentionSync) or on the libuv pool (linearAttention → Promise). Everything native code
// relies on is checked again here (types, lengths) and in validateLinearAttention (shapes,
// strides, options), so a bad call from JS becomes a JS exception, never a crash.
#include "linear_binding.h"

#include <string>
#include <vector>

#include "attnflow.h"

namespace {

using attnflow::DType;
using attnflow::LinearAttentionParams;
using attnflow::Status;
using attnflow::TensorView;

[[noreturn]] void fail(Napi::Env env, const std::string& what) {
  throw Napi::TypeError::New(env, "attnflow native (linear): " + what);
}

double number(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(env, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int32_t int32(Napi::Env env, Napi::Object o, const char* key) {
  const double d = number(env, o, key);
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int32_t>(d)))
    fail(env, std::string(key) + " must be a 32-bit integer");
  return static_cast<int32_t>(d);
}

int64_t nonNegative(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsNumber()) fail(env, what + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d)))
    fail(env, what + " must be a non-negative integer");
  return static_cast<int64_t>(d);
}

// Keeps the JS arrays a call reads or writes alive until an asynchronous call has finished, and
// remembers where each array's elements were: reading later arguments can run JS (getters,
// proxies) that detaches or shrinks a buffer, so verify() checks, once every argument has been
// read, that nothing moved (no JS runs after that until the call is done).
struct Keep {
  struct Seen {
    Napi::TypedArray array;
    const void* data;
    size_t length;
    std::string what;
  };
  std::vector<Napi::Reference<Napi::Value>> refs;
  std::vector<Seen> seen;
  void hold(Napi::Value v) { refs.push_back(Napi::Persistent(v)); }
  void verify(Napi::Env env) {
    for (const Seen& s : seen) {
      const size_t length = s.array.ElementLength();
      const void* data =
          length == 0 ? nullptr : static_cast<uint8_t*>(s.array.ArrayBuffer().Data()) + s.array.ByteOffset();
      if (length != s.length || data != s.data) fail(env, s.what + " changed (resized or detached) while the arguments were read");
    }
    seen.clear();
  }
};

template <typename T>
T* typed(Napi::Env env, Napi::Value v, napi_typedarray_type want, const std::string& what, size_t* length, Keep& keep) {
  if (!v.IsTypedArray()) fail(env, what + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != want) fail(env, what + " has the wrong typed array type");
  Napi::ArrayBuffer buf = ta.ArrayBuffer();
  // A resizable ArrayBuffer can shrink under a running asynchronous call: refuse it.
  Napi::Value resizable = buf.Get("resizable");
  if (resizable.IsBoolean() && resizable.As<Napi::Boolean>().Value())
    fail(env, what + " is backed by a resizable ArrayBuffer; copy it into a fixed-length one");
  *length = ta.ElementLength();
  keep.hold(v);
  T* data = *length == 0 ? nullptr : reinterpret_cast<T*>(static_cast<uint8_t*>(buf.Data()) + ta.ByteOffset());
  keep.seen.push_back(Keep::Seen{ta, data, *length, what});
  return data;
}

// A Float32Array field, or null/undefined → nullptr. A given but empty array yields a non-null
// dummy pointer (length 0), so "given" stays distinguishable; validation compares lengths.
template <typename T>
T* optionalF32(Napi::Env env, Napi::Object o, const char* key, size_t* length, Keep& keep) {
  static float dummy = 0.f;
  Napi::Value v = o.Get(key);
  *length = 0;
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  T* data = typed<T>(env, v, napi_float32_array, key, length, keep);
  return data ? data : &dummy;
}

TensorView view(Napi::Env env, Napi::Object args, const char* key, Keep& keep) {
  Napi::Value ov = args.Get(key);
  if (!ov.IsObject()) fail(env, std::string(key) + " must be an object");
  Napi::Object o = ov.As<Napi::Object>();
  TensorView t;
  const int32_t dtype = int32(env, o, "dtype");
  if (dtype < 0 || dtype > 2) fail(env, std::string(key) + ".dtype must be 0, 1 or 2");
  t.dtype = static_cast<DType>(dtype);
  Napi::Value shape = o.Get("shape"), strides = o.Get("strides");
  if (!shape.IsArray() || shape.As<Napi::Array>().Length() != 4) fail(env, std::string(key) + ".shape must have 4 entries");
  if (!strides.IsArray() || strides.As<Napi::Array>().Length() != 4)
    fail(env, std::string(key) + ".strides must have 4 entries");
  for (uint32_t i = 0; i < 4; ++i) {
    t.shape[i] = nonNegative(env, shape.As<Napi::Array>().Get(i), std::string(key) + ".shape[i]");
    t.strides[i] = nonNegative(env, strides.As<Napi::Array>().Get(i), std::string(key) + ".strides[i]");
  }
  const int64_t offset = nonNegative(env, o.Get("offset"), std::string(key) + ".offset");
  size_t length = 0;
  if (t.dtype == DType::F32) {
    t.data = typed<float>(env, o.Get("data"), napi_float32_array, key, &length, keep);
  } else {
    t.data = typed<uint16_t>(env, o.Get("data"), napi_uint16_array, key, &length, keep);
  }
  if (static_cast<uint64_t>(offset) > length) fail(env, std::string(key) + ".offset is outside its data");
  if (t.data) t.data = static_cast<uint8_t*>(t.data) + static_cast<size_t>(offset) * attnflow::dtypeSize(t.dtype);
  t.capacity = length - static_cast<size_t>(offset);
  return t;
}

LinearAttentionParams params(Napi::Env env, Napi::Value arg, Keep& keep) {
  if (!arg.IsObject()) fail(env, "linearAttention expects an argument object");
  Napi::Object a = arg.As<Napi::Object>();
  LinearAttentionParams p;
  p.q = view(env, a, "q", keep);
  p.k = view(env, a, "k", keep);
  p.v = view(env, a, "v", keep);
  p.out = view(env, a, "out", keep);
  const int32_t fm = int32(env, a, "featureMap");
  if (fm < 0 || fm > 3) fail(env, "featureMap must be 0..3");
  p.featureMap = static_cast<attnflow::LinearFeatureMap>(fm);
  p.favorW = optionalF32<const float>(env, a, "favorWeights", &p.favorWLen, keep);
  p.features = int32(env, a, "features");
  const int32_t decay = int32(env, a, "decay");
  if (decay < 0 || decay > 3) fail(env, "decay must be 0..3");
  p.decay = static_cast<attnflow::LinearDecay>(decay);
  p.decayHead = optionalF32<const float>(env, a, "decayHead", &p.decayHeadLen, keep);
  p.gates = optionalF32<const float>(env, a, "gates", &p.gatesLen, keep);
  Napi::Value gs = a.Get("gateStrides");
  if (!gs.IsArray() || gs.As<Napi::Array>().Length() != 4) fail(env, "gateStrides must have 4 entries");
  for (uint32_t i = 0; i < 4; ++i) p.gateStrides[i] = nonNegative(env, gs.As<Napi::Array>().Get(i), "gateStrides[i]");
  p.normalize = a.Get("normalize").ToBoolean();
  p.eps = static_cast<float>(number(env, a, "eps"));
  p.initS = optionalF32<const float>(env, a, "initS", &p.initSLen, keep);
  p.initZ = optionalF32<const float>(env, a, "initZ", &p.initZLen, keep);
  p.stateS = optionalF32<float>(env, a, "stateS", &p.stateSLen, keep);
  p.stateZ = optionalF32<float>(env, a, "stateZ", &p.stateZLen, keep);
  p.chunk = int32(env, a, "chunk");
  keep.verify(env);
  return p;
}

using Backend = Status (*)(const LinearAttentionParams&);

template <Backend run>
Napi::Value LinearSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Keep keep;
  LinearAttentionParams p = params(env, info[0], keep);
  Status s = run(p);
  if (!s.ok) throw Napi::Error::New(env, s.message);
  return env.Undefined();
}

class LinearWorker : public Napi::AsyncWorker {
 public:
  LinearWorker(Napi::Env env, Backend run, LinearAttentionParams params, Keep keep)
      : Napi::AsyncWorker(env, "attnflow:linearAttention"),
        deferred_(Napi::Promise::Deferred::New(env)),
        run_(run),
        params_(params),
        keep_(std::move(keep)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Status s = run_(params_);
    if (!s.ok) SetError(s.message);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Backend run_;
  LinearAttentionParams params_;
  Keep keep_;
};

template <Backend run>
Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Keep keep;
  LinearAttentionParams p = params(env, info[0], keep);
  auto* worker = new LinearWorker(env, run, p, std::move(keep));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void registerLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("linearAttentionSync", Napi::Function::New(env, LinearSync<attnflow::cpuLinearAttention>, "linearAttentionSync"));
  exports.Set("linearAttention", Napi::Function::New(env, Linear<attnflow::cpuLinearAttention>, "linearAttention"));
  // Host arrays in and out, computed on the current CUDA device (staged copies).
  exports.Set("linearAttentionCudaSync",
              Napi::Function::New(env, LinearSync<attnflow::cudaLinearAttentionHost>, "linearAttentionCudaSync"));
  exports.Set("linearAttentionCuda", Napi::Function::New(env, Linear<attnflow::cudaLinearAttentionHost>, "linearAttentionCuda"));
}
