// The asynchronous entry points of the Node-API binding (addon.cpp, cuda.cpp, linear.cpp): a
// backend call run on the libuv pool, off the event loop, that settles a promise.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>

#include "attnflow.h"

namespace binding {

// Runs `run` and settles its promise with the Status: resolved (undefined) or rejected with an
// Error carrying the message. `hold` keeps the call's arguments alive until then (a KeepAlive,
// or what else has a release()); it is released on the JS thread once the call has settled.
template <typename Hold>
class CallWorker : public Napi::AsyncWorker {
 public:
  CallWorker(Napi::Env env, const char* name, std::function<attnflow::Status()> run, Hold hold)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        run_(std::move(run)),
        hold_(std::move(hold)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    attnflow::Status s = run_();
    if (!s.ok) SetError(s.message);
  }
  void OnOK() override {
    hold_.release();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    hold_.release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<attnflow::Status()> run_;
  Hold hold_;
};

// Queues `run` on the libuv pool (async resource `name`); returns its promise.
template <typename Hold>
Napi::Promise queueCall(Napi::Env env, const char* name, std::function<attnflow::Status()> run, Hold hold) {
  auto* worker = new CallWorker<Hold>(env, name, std::move(run), std::move(hold));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace binding
