// The one rule every asynchronous entry point of the Node-API binding follows (addon.cpp,
// linear.cpp, cuda.cpp): queueCall.
//
//   - The native work runs on the addon's own threads, never on libuv's pool (whose 4 threads
//     serve fs, dns and crypto for the whole application). Calls wait in a FIFO queue per lane,
//     shared by every environment of the process: the CPU lane runs one call at a time (a call
//     already uses every core through the CPU backend's pool, which would serve a second call's
//     work only after the first's anyway, and a call still in the queue can be cancelled at
//     once); the CUDA lane runs up to kCudaLaneThreads (one waiting for its stream while the
//     next one launches, so the device does not idle between calls).
//   - The promise is settled on the JS thread of the environment (main thread or worker) that
//     made the call, through one thread-safe function per environment, referenced only while a
//     call of that environment is in flight, so an idle worker's event loop can exit.
//   - Every call carries a CancelFlag: JS sets it through a cancel token (AbortSignal in
//     lib/abort.ts); a queued call is then settled at once, a running one when its backend
//     stops at the next work item. The promise rejects with an Error whose code is 'ABORT_ERR'.
//   - Environment teardown (worker.terminate(), process.exit() in a worker, the end of the main
//     thread) cancels the environment's calls, drops the queued ones, waits for the running ones
//     to leave native code (so no backend touches a buffer the environment is about to free),
//     then releases what they held. Nothing throws into C++ and no promise is settled.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <utility>

#include "attnflow.h"

namespace binding {

enum class Lane { Cpu = 0, Cuda = 1 };

constexpr unsigned kCpuLaneThreads = 1;
constexpr unsigned kCudaLaneThreads = 2;

// The native work of a call: runs on a lane thread; it must stop early once `cancel` is set
// (pass it to the backend as AttentionParams::cancel or LinearAttentionParams::cancel).
using CallFn = std::function<attnflow::Status(const attnflow::CancelFlag& cancel)>;

// What a call holds on the JS side (references, pins) until it settles; released on the JS
// thread, or by the environment's teardown.
struct CallHold {
  virtual ~CallHold() = default;
  virtual void release() = 0;
};

template <typename Hold>
struct HoldOf : CallHold {
  explicit HoldOf(Hold h) : hold(std::move(h)) {}
  void release() override { hold.release(); }
  Hold hold;
};

// Queues `run` on `lane`; returns its promise (undefined on success, an Error with the Status's
// message, or an ABORT_ERR Error once cancelled). `token` is the entry point's optional cancel
// token argument (undefined, or a value from exports.cancelToken()); anything else is a TypeError.
Napi::Promise queueCall(Napi::Env env, Lane lane, CallFn run, std::unique_ptr<CallHold> hold, Napi::Value token);

template <typename Hold>
Napi::Promise queueCall(Napi::Env env, Lane lane, CallFn run, Hold hold, Napi::Value token) {
  return queueCall(env, lane, std::move(run), std::unique_ptr<CallHold>(new HoldOf<Hold>(std::move(hold))), token);
}

// Adds cancelToken() → a new token, and cancel(token) → sets its flag.
void registerCalls(Napi::Env env, Napi::Object exports);

}  // namespace binding
