// Node-API binding: turns JS values into the views of attnflow.h and calls one backend
// function. User input was validated in TypeScript; what native code relies on is checked
// again here (types, lengths) and in validateAttention (shapes, strides, mask), so a bad call
// from JS becomes a JS exception instead of an out-of-bounds access.
#include <napi.h>

#include <string>
#include <utility>

#include "args.h"
#include "attnflow.h"
#include "cuda_binding.h"
#include "linear_binding.h"
#include "worker.h"

namespace {

using attnflow::AttentionParams;
using attnflow::BlockMaskView;
using attnflow::Status;

Napi::Object cpuInfoObject(Napi::Env env) {
  attnflow::CpuInfo c = attnflow::cpuInfo();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avx2", c.avx2);
  o.Set("fma", c.fma);
  o.Set("f16c", c.f16c);
  o.Set("avx512f", c.avx512f);
  o.Set("neon", c.neon);
  o.Set("threads", c.threads);
  o.Set("avx512bw", c.avx512bw);
  o.Set("avx512dq", c.avx512dq);
  o.Set("avx512vl", c.avx512vl);
  o.Set("avx512bf16", c.avx512bf16);
  attnflow::TileShape t = attnflow::cpuTileShape();
  Napi::Object tile = Napi::Object::New(env);
  tile.Set("blockQ", t.blockQ);
  tile.Set("blockK", t.blockK);
  o.Set("tile", tile);
  // The kernel calls run (isa.h: the best this CPU supports, or ATTNFLOW_CPU_ISA's), or null and
  // the reason every call fails; and every kernel of this build.
  const attnflow::CpuKernelInfo k = attnflow::cpuKernelInfo();
  if (k.active.empty()) {
    o.Set("kernel", env.Null());
    o.Set("kernelError", k.error);
  } else {
    o.Set("kernel", k.active);
    o.Set("kernelLanes", k.activeLanes);
  }
  Napi::Array all = Napi::Array::New(env, k.kernels.size());
  for (size_t i = 0; i < k.kernels.size(); ++i) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", k.kernels[i].name);
    e.Set("lanes", k.kernels[i].lanes);
    e.Set("supported", k.kernels[i].supported);
    e.Set("preferred", k.kernels[i].preferred);
    e.Set("needs", k.kernels[i].needs);
    all.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("kernels", all);
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

using binding::Args;
using binding::hostTensorView;
using binding::KeepAlive;
using binding::typedArrayData;

BlockMaskView maskView(const Args& a, Napi::Object args, KeepAlive& keep) {
  Napi::Object m = binding::objectField(a, args, "mask");
  BlockMaskView v;
  binding::maskGeometry(a, m, v);
  size_t n = 0;
  v.rowPtr = typedArrayData<int32_t>(a, m.Get("rowPtr"), napi_int32_array, "mask.rowPtr", &v.rowPtrLen, keep);
  v.colIdx = typedArrayData<int32_t>(a, m.Get("colIdx"), napi_int32_array, "mask.colIdx", &v.nnz, keep);
  v.partial = typedArrayData<int32_t>(a, m.Get("partial"), napi_int32_array, "mask.partial", &n, keep);
  if (n != v.nnz) a.fail("mask.partial and mask.colIdx differ in length");
  v.bits = typedArrayData<uint32_t>(a, m.Get("bits"), napi_uint32_array, "mask.bits", &v.bitsLen, keep);
  return v;
}

AttentionParams attentionParams(Napi::Env env, Napi::Value arg, KeepAlive& keep) {
  const Args a(env, "attnflow native");
  if (!arg.IsObject()) a.fail("attention expects an argument object");
  Napi::Object args = arg.As<Napi::Object>();
  AttentionParams p;
  p.q = hostTensorView(a, args, "q", keep);
  p.k = hostTensorView(a, args, "k", keep);
  p.v = hostTensorView(a, args, "v", keep);
  p.out = hostTensorView(a, args, "out", keep);
  p.mask = maskView(a, args, keep);
  binding::scaleAndSoftcap(a, args, p);
  // An empty array given for lse or alibi does not read as "none": the length checks of
  // validateAttention see it (an empty lse is right only for an empty problem).
  p.lse = binding::optionalFloat32(a, args, "lse", &p.lseLen, keep);
  binding::alibiAndRope(a, args, p, keep);
  binding::positionsAndKeyMass(a, args, p, keep);
  // Every getter has run: from here on no JS runs until the call is done (or, for the
  // asynchronous call, JS that could resize buffers meets the checks above).
  keep.verify(a);
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

// attention(args, token?): the backend on the CPU lane (worker.h); the CPU backend's thread pool
// bounds the cores used, however many calls are in flight.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  AttentionParams p = attentionParams(env, info[0], keep);
  auto run = [p](const attnflow::CancelFlag& cancel) mutable {
    p.cancel = &cancel;
    return attnflow::cpuAttentionForward(p);
  };
  return binding::queueCall(env, binding::Lane::Cpu, run, std::move(keep), info[1]);
}

// questSelect({ q, rows, headDim, min, max, boundsOffset, numBlocks, flags, blocks }) -> Int32Array
// of the kept blocks (see attnflow::QuestSelectParams). Synchronous: it is O(blocks * headDim).
Napi::Value QuestSelect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(env, "attnflow native");
  if (!info[0].IsObject()) a.fail("questSelect expects an argument object");
  Napi::Object o = info[0].As<Napi::Object>();
  KeepAlive keep;
  attnflow::QuestSelectParams p;
  p.q = typedArrayData<float>(a, o.Get("q"), napi_float32_array, "q", &p.qLen, keep);
  p.rows = binding::intField(a, o, "rows");
  p.headDim = binding::intField(a, o, "headDim");
  size_t maxLen = 0;
  p.min = typedArrayData<float>(a, o.Get("min"), napi_float32_array, "min", &p.boundsLen, keep);
  p.max = typedArrayData<float>(a, o.Get("max"), napi_float32_array, "max", &maxLen, keep);
  if (maxLen != p.boundsLen) a.fail("min and max differ in length");
  p.boundsOffset = binding::nonNegative(a, o.Get("boundsOffset"), "boundsOffset");
  p.numBlocks = binding::intField(a, o, "numBlocks");
  p.flags = typedArrayData<uint8_t>(a, o.Get("flags"), napi_uint8_array, "flags", &p.flagsLen, keep);
  p.blocks = binding::intField(a, o, "blocks");
  keep.verify(a);
  if (p.numBlocks < 0) a.fail("numBlocks must be >= 0");
  Napi::Int32Array out = Napi::Int32Array::New(env, static_cast<size_t>(p.numBlocks));
  p.out = out.Data();
  p.outLen = out.ElementLength();
  int32_t count = 0;
  Status s = attnflow::cpuQuestSelect(p, &count);
  if (!s.ok) throw Napi::Error::New(env, s.message);
  return Napi::Int32Array::New(env, static_cast<size_t>(count), out.ArrayBuffer(), 0);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("questSelect", Napi::Function::New(env, QuestSelect, "questSelect"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("attentionSync", Napi::Function::New(env, AttentionSync, "attentionSync"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  registerCuda(env, exports);
  registerLinear(env, exports);
  binding::registerCalls(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(attnflow, Init)
