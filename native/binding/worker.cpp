// queueCall (worker.h): lanes of the addon's own threads, per-environment settlement through a
// thread-safe function, cancel tokens, and environment teardown.
//
// One mutex (`gMu`) guards every piece of shared state: the lanes' queues, each call's state,
// each environment's `closed` flag, its list of calls finished natively and its running count.
// It is held for a handful of operations per call, never while a backend runs.
//
// Life of a call (state under gMu):
//   Queued   in its lane's FIFO; JS may cancel it: it is taken out and settled at once;
//   Running  a lane thread runs it (the backend checks the call's CancelFlag);
//   Finished pushed to its environment's `finished` list and the thread-safe function woken;
//            its JS thread then settles the promise and releases the call's holds.
// Teardown of an environment (its cleanup hook, on its JS thread, registered after its
// thread-safe function so that it runs first): `closed` is set, every call of the environment
// is cancelled, queued ones leave their lane, and the hook waits until none is Running; from
// then on no lane thread touches the environment, and the hook frees the calls.
#include "worker.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace binding {

namespace {

using attnflow::CancelFlag;
using attnflow::Status;

std::mutex& gMu() {
  static std::mutex* m = new std::mutex;  // never destroyed: lane threads may hold it at exit
  return *m;
}

struct EnvCalls;
struct Call;

// Shared by a call and the JS value of its cancel token.
struct Token {
  CancelFlag flag{false};
  Call* call = nullptr;  // the call it cancels while that call is live (gMu)
};

enum class State { Queued, Running, Finished };

struct Call {
  EnvCalls* owner = nullptr;
  Lane lane = Lane::Cpu;
  CallFn run;
  std::shared_ptr<Token> token;
  std::unique_ptr<CallHold> hold;
  napi_deferred deferred = nullptr;
  Status result;
  State state = State::Queued;  // gMu
};

struct LaneQueue {
  std::deque<Call*> queue;  // gMu
  std::condition_variable cv;
  unsigned threads = 0;
  bool started = false;  // gMu
};

LaneQueue* laneQueue(Lane lane) {
  // Never destroyed: lane threads are detached and may be waiting on them at exit.
  static LaneQueue* lanes = [] {
    auto* l = new LaneQueue[2];
    l[0].threads = kCpuLaneThreads;
    l[1].threads = kCudaLaneThreads;
    return l;
  }();
  return &lanes[static_cast<int>(lane)];
}

// The calls of one environment (worker or main thread).
struct EnvCalls {
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  std::unordered_set<Call*> live;  // JS thread only: every call not yet settled
  bool closed = false;             // gMu: the environment is being torn down
  std::vector<Call*> finished;     // gMu: finished natively, not yet settled
  unsigned running = 0;            // gMu
  std::condition_variable idle;    // notified when `running` drops while closed
};

// --- settling (JS thread) ---------------------------------------------------------------------

napi_value rejection(napi_env env, const Status& s) {
  napi_value msg = nullptr, err = nullptr;
  const std::string text = s.cancelled ? "attnflow: the call was aborted" : s.message;
  if (napi_create_string_utf8(env, text.c_str(), text.size(), &msg) != napi_ok) return nullptr;
  napi_value code = nullptr;
  if (s.cancelled) napi_create_string_utf8(env, "ABORT_ERR", NAPI_AUTO_LENGTH, &code);
  if (napi_create_error(env, code, msg, &err) != napi_ok) return nullptr;
  if (s.cancelled) {
    napi_value name = nullptr;
    if (napi_create_string_utf8(env, "AbortError", NAPI_AUTO_LENGTH, &name) == napi_ok) {
      napi_set_named_property(env, err, "name", name);
    }
  }
  return err;
}

void releaseHold(Call* c) {
  try {
    if (c->hold) c->hold->release();
  } catch (...) {
    // A reference that cannot be deleted any more: nothing left to do with it.
  }
}

// Settles one finished (or dequeued) call and frees it.
void settle(napi_env env, Call* c) {
  EnvCalls* ec = c->owner;
  releaseHold(c);
  napi_value undefined = nullptr;
  napi_get_undefined(env, &undefined);
  if (c->result.ok) {
    napi_resolve_deferred(env, c->deferred, undefined);
  } else {
    napi_value err = rejection(env, c->result);
    napi_reject_deferred(env, c->deferred, err != nullptr ? err : undefined);
  }
  ec->live.erase(c);
  delete c;
  // Only while a call is in flight does the environment's event loop wait for us.
  if (ec->live.empty()) napi_unref_threadsafe_function(env, ec->tsfn);
}

// The thread-safe function's callback: settles every call finished since the last time.
void deliver(napi_env env, napi_value /*js*/, void* context, void* /*data*/) {
  if (env == nullptr) return;  // the function is being torn down: the cleanup hook freed everything
  auto* ec = static_cast<EnvCalls*>(context);
  std::vector<Call*> done;
  {
    std::lock_guard<std::mutex> lk(gMu());
    if (ec->closed) return;
    done.swap(ec->finished);
    for (Call* c : done) {
      if (c->token->call == c) c->token->call = nullptr;
    }
  }
  for (Call* c : done) settle(env, c);
}

// --- lanes -------------------------------------------------------------------------------------

void removeQueued(Call* c) {  // gMu held
  std::deque<Call*>& q = laneQueue(c->lane)->queue;
  for (auto it = q.begin(); it != q.end(); ++it) {
    if (*it == c) {
      q.erase(it);
      return;
    }
  }
}

void laneLoop(LaneQueue* lane) {
  for (;;) {
    Call* c = nullptr;
    {
      std::unique_lock<std::mutex> lk(gMu());
      lane->cv.wait(lk, [lane] { return !lane->queue.empty(); });
      c = lane->queue.front();
      lane->queue.pop_front();
      c->state = State::Running;
      ++c->owner->running;
    }
    Status s;
    const CancelFlag& flag = c->token->flag;
    if (flag.load()) {
      s = Status::Cancelled();
    } else {
      try {
        s = c->run(flag);
      } catch (const std::exception& e) {
        s = Status::Error(std::string("attnflow: ") + e.what());
      } catch (...) {
        s = Status::Error("attnflow: unknown error");
      }
    }
    std::lock_guard<std::mutex> lk(gMu());
    EnvCalls* ec = c->owner;
    c->result = std::move(s);
    c->state = State::Finished;
    --ec->running;
    if (ec->closed) {
      ec->idle.notify_all();  // the cleanup hook owns the call from here
    } else {
      ec->finished.push_back(c);
      // Unbounded queue, non-blocking: cannot fail while the environment is open.
      napi_call_threadsafe_function(ec->tsfn, nullptr, napi_tsfn_nonblocking);
    }
  }
}

// Starts the lane's threads on its first call. They live as long as the process (like the CPU
// backend's pool), so they are detached. Fewer than asked for still work; none is an error.
void startLane(Napi::Env env, Lane which) {
  std::lock_guard<std::mutex> lk(gMu());
  LaneQueue* lane = laneQueue(which);
  if (lane->started) return;
  unsigned n = 0;
  for (unsigned i = 0; i < lane->threads; ++i) {
    try {
      std::thread(laneLoop, lane).detach();
      ++n;
    } catch (...) {
      break;
    }
  }
  if (n == 0) throw Napi::Error::New(env, "attnflow: cannot start a thread for async calls");
  lane->started = true;
}

void enqueue(Call* c) {  // gMu held
  LaneQueue* lane = laneQueue(c->lane);
  lane->queue.push_back(c);
  lane->cv.notify_one();
}

// --- environments ------------------------------------------------------------------------------

void teardown(void* arg) {
  auto* ec = static_cast<EnvCalls*>(arg);
  {
    std::unique_lock<std::mutex> lk(gMu());
    ec->closed = true;
    for (Call* c : ec->live) {
      c->token->flag.store(true);
      if (c->token->call == c) c->token->call = nullptr;
      if (c->state == State::Queued) removeQueued(c);
    }
    ec->idle.wait(lk, [ec] { return ec->running == 0; });
    ec->finished.clear();
  }
  // No lane thread touches these calls any more. Their promises stay pending: the environment
  // can no longer run JS, so Node-API refuses to settle a napi_deferred now, and offers no other
  // way to free one; its handle dies with the isolate, only its small wrapper (tens of bytes a
  // call) is lost. Everything the call held is released here.
  for (Call* c : ec->live) {
    releaseHold(c);
    delete c;
  }
  ec->live.clear();
}

// The environment's EnvCalls (the addon's instance data), made on its first async call.
EnvCalls* envCalls(Napi::Env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) == napi_ok && data != nullptr) return static_cast<EnvCalls*>(data);
  auto* ec = new EnvCalls();
  ec->env = env;
  napi_value name = Napi::String::New(env, "attnflow:call");
  napi_status s = napi_create_threadsafe_function(
      env, nullptr, nullptr, name, 0, 1, ec, [](napi_env, void* d, void*) { delete static_cast<EnvCalls*>(d); }, ec,
      deliver, &ec->tsfn);
  if (s != napi_ok) {
    delete ec;
    throw Napi::Error::New(env, "attnflow: cannot create the thread-safe function that settles async calls");
  }
  napi_unref_threadsafe_function(env, ec->tsfn);
  // Registered after the thread-safe function's own hook, so it runs before it (hooks run in
  // reverse order): the function is still alive while lane threads may call it.
  napi_add_env_cleanup_hook(env, teardown, ec);
  napi_set_instance_data(env, ec, nullptr, nullptr);
  return ec;
}

// --- cancel tokens -----------------------------------------------------------------------------

const napi_type_tag kTokenTag = {0x51c3a9e07b2d4f68ULL, 0x8e1f6a4c2b9d3e75ULL};

std::shared_ptr<Token>* tokenOf(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsExternal()) {
    auto ext = v.As<Napi::External<std::shared_ptr<Token>>>();
    if (ext.CheckTypeTag(&kTokenTag)) return ext.Data();
  }
  throw Napi::TypeError::New(env, std::string("attnflow native: ") + what + " must be a cancel token (from cancelToken())");
}

Napi::Value CancelToken(const Napi::CallbackInfo& info) {
  auto ext = Napi::External<std::shared_ptr<Token>>::New(
      info.Env(), new std::shared_ptr<Token>(std::make_shared<Token>()),
      [](Napi::Env, std::shared_ptr<Token>* t) { delete t; });
  ext.TypeTag(&kTokenTag);
  return ext;
}

Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Token> token = *tokenOf(env, info[0], "cancel's argument");
  token->flag.store(true);
  Call* c = nullptr;
  {
    std::lock_guard<std::mutex> lk(gMu());
    c = token->call;
    if (c == nullptr || c->state != State::Queued || c->owner->env != static_cast<napi_env>(env)) return env.Undefined();
    removeQueued(c);
    c->state = State::Finished;
    token->call = nullptr;
  }
  c->result = Status::Cancelled();  // never started: settled now, not behind the calls ahead of it
  settle(env, c);
  return env.Undefined();
}

}  // namespace

Napi::Promise queueCall(Napi::Env env, Lane lane, CallFn run, std::unique_ptr<CallHold> hold, Napi::Value token) {
  std::shared_ptr<Token> t;
  EnvCalls* ec = nullptr;
  napi_deferred deferred = nullptr;
  napi_value promise = nullptr;
  try {
    t = token.IsUndefined() ? std::make_shared<Token>() : *tokenOf(env, token, "the cancel token");
    startLane(env, lane);
    ec = envCalls(env);
    if (napi_create_promise(env, &deferred, &promise) != napi_ok) throw Napi::Error::New(env, "attnflow: cannot create a promise");
  } catch (...) {
    hold->release();
    throw;
  }
  auto* c = new Call();
  c->owner = ec;
  c->lane = lane;
  c->run = std::move(run);
  c->token = std::move(t);
  c->hold = std::move(hold);
  c->deferred = deferred;
  if (ec->live.empty()) napi_ref_threadsafe_function(env, ec->tsfn);
  ec->live.insert(c);
  {
    std::lock_guard<std::mutex> lk(gMu());
    c->token->call = c;
    enqueue(c);
  }
  return Napi::Promise(env, promise);
}

void registerCalls(Napi::Env env, Napi::Object exports) {
  exports.Set("cancelToken", Napi::Function::New(env, CancelToken, "cancelToken"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
}

}  // namespace binding
