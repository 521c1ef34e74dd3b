// Node-API binding of linear attention on device memory: cudaLinearAttention(args, token?) → Promise and
// cudaLinearAttentionSync(args), where q, k, v, out, the gates and the state arrays are device
// buffers ({ buffer, ... } as for cudaAttention) and the favor weights and per-head decays are
// host Float32Arrays. Calls cudaLinearAttention (native/cuda/linear_scan.cu): the device's stream
// and memory pool, no host staging. Buffers are pinned until the call settles (see cuda.cpp).
#include <napi.h>

#include <utility>

#include "args.h"
#include "attnflow.h"
#include "cuda_args.h"
#include "cuda_binding.h"
#include "worker.h"

namespace {

using attnflow::LinearAttentionParams;
using attnflow::Status;
using binding::Holds;

struct LinearCall {
  LinearAttentionParams params;
  int device = 0;
  Holds holds;
};

void parseLinearCall(Napi::Env env, Napi::Value arg, LinearCall& call) {
  const binding::Args a = binding::cudaArgs(env);
  if (!arg.IsObject()) a.fail("cudaLinearAttention expects an argument object");
  Napi::Object o = arg.As<Napi::Object>();
  const int device = binding::deviceArg(env, o.Get("device"));
  call.device = device;
  LinearAttentionParams& p = call.params;
  Holds& h = call.holds;
  p.q = binding::deviceView(a, o, "q", device, h);
  p.k = binding::deviceView(a, o, "k", device, h);
  p.v = binding::deviceView(a, o, "v", device, h);
  p.out = binding::deviceView(a, o, "out", device, h);
  binding::linearOptions(a, o, p, h.keep);
  p.gates = binding::deviceFloats(a, o, "gates", device, &p.gatesLen, h);
  p.initS = binding::deviceFloats(a, o, "initS", device, &p.initSLen, h);
  p.initZ = binding::deviceFloats(a, o, "initZ", device, &p.initZLen, h);
  p.stateS = binding::deviceFloats(a, o, "stateS", device, &p.stateSLen, h);
  p.stateZ = binding::deviceFloats(a, o, "stateZ", device, &p.stateZLen, h);
  // Every getter has run: nothing moved under the host arrays taken above.
  h.keep.verify(a);
}

// The arguments of a call; a bad one releases what was pinned so far.
void linearCall(Napi::Env env, Napi::Value arg, LinearCall& call) {
  try {
    parseLinearCall(env, arg, call);
  } catch (...) {
    call.holds.release();
    throw;
  }
}

Napi::Value LinearSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LinearCall call;
  linearCall(env, info[0], call);
  Status s = attnflow::cudaLinearAttention(call.params, call.device);
  call.holds.release();
  if (!s.ok) binding::statusError(env, s);
  return env.Undefined();
}

Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LinearCall call;
  linearCall(env, info[0], call);
  // On the CUDA lane (worker.h); a cancelled call stops before its launches.
  auto run = [p = call.params, device = call.device](const attnflow::CancelFlag& cancel) mutable {
    p.cancel = &cancel;
    return attnflow::cudaLinearAttention(p, device);
  };
  return binding::queueCall(env, binding::Lane::Cuda, run, std::move(call.holds), info[1]);
}

}  // namespace

void registerCudaLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaLinearAttention", Napi::Function::New(env, Linear, "cudaLinearAttention"));
  exports.Set("cudaLinearAttentionSync", Napi::Function::New(env, LinearSync, "cudaLinearAttentionSync"));
}
