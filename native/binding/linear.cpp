// Node-API binding of linear attention on the CPU: turns the argument object built by
// lib/backends/operands.ts into a LinearAttentionParams and calls cpuLinearAttention, on the
// calling thread (linearAttentionSync) or on the addon's CPU lane (linearAttention → Promise,
// worker.h). The CUDA entry points (device memory) are in cuda_linear.cpp. Everything native code
// relies on is checked again here (types, lengths) and in validateLinearAttention (shapes,
// strides, options), so a bad call from JS becomes a JS exception, never a crash.
#include "linear_binding.h"

#include <utility>

#include "args.h"
#include "attnflow.h"
#include "worker.h"

namespace {

using attnflow::LinearAttentionParams;
using attnflow::Status;

using binding::Args;
using binding::KeepAlive;
using binding::optionalFloat32;

LinearAttentionParams params(Napi::Env env, Napi::Value arg, KeepAlive& keep) {
  const Args a(env, "attnflow native (linear)");
  if (!arg.IsObject()) a.fail("linearAttention expects an argument object");
  Napi::Object o = arg.As<Napi::Object>();
  LinearAttentionParams p;
  p.q = binding::hostTensorView(a, o, "q", keep);
  p.k = binding::hostTensorView(a, o, "k", keep);
  p.v = binding::hostTensorView(a, o, "v", keep);
  p.out = binding::hostTensorView(a, o, "out", keep);
  binding::linearOptions(a, o, p, keep);
  p.gates = optionalFloat32(a, o, "gates", &p.gatesLen, keep);
  p.initS = optionalFloat32(a, o, "initS", &p.initSLen, keep);
  p.initZ = optionalFloat32(a, o, "initZ", &p.initZLen, keep);
  p.stateS = optionalFloat32(a, o, "stateS", &p.stateSLen, keep);
  p.stateZ = optionalFloat32(a, o, "stateZ", &p.stateZLen, keep);
  keep.verify(a);
  return p;
}

using Backend = Status (*)(const LinearAttentionParams&);

template <Backend run>
Napi::Value LinearSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  LinearAttentionParams p = params(env, info[0], keep);
  Status s = run(p);
  if (!s.ok) throw Napi::Error::New(env, s.message);
  return env.Undefined();
}

// (args, token?) → Promise, on `lane` (worker.h).
template <Backend run, binding::Lane lane>
Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  LinearAttentionParams p = params(env, info[0], keep);
  auto call = [p](const attnflow::CancelFlag& cancel) mutable {
    p.cancel = &cancel;
    return run(p);
  };
  return binding::queueCall(env, lane, call, std::move(keep), info[1]);
}

}  // namespace

void registerLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("linearAttentionSync", Napi::Function::New(env, LinearSync<attnflow::cpuLinearAttention>, "linearAttentionSync"));
  exports.Set("linearAttention", Napi::Function::New(env, Linear<attnflow::cpuLinearAttention, binding::Lane::Cpu>, "linearAttention"));
}
