#include "thread_pool.h"

#include "attnflow.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace attnflow {
namespace cpu {

namespace {

struct Job {
  void (*fn)(void*, size_t, size_t) = nullptr;
  void* ctx = nullptr;
  size_t n = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  int refs = 0;  // workers holding a pointer to this job (guarded by the pool mutex)
  std::mutex m;  // guards waiting on cv
  std::condition_variable cv;
  std::mutex errorMutex;
  std::exception_ptr error;
};

// Claims and runs items of `j` until none is left; reports finished items. Each item's successor
// is claimed before the item runs, so the item can prefetch for it.
void runItems(Job& j) {
  size_t finished = 0;
  size_t i = j.next.fetch_add(1, std::memory_order_relaxed);
  while (i < j.n) {
    const size_t following = j.next.fetch_add(1, std::memory_order_relaxed);
    const size_t cur = i;
    i = following;
    if (!j.failed.load(std::memory_order_relaxed)) {
      try {
        j.fn(j.ctx, cur, following < j.n ? following : ThreadPool::kNone);
      } catch (...) {
        std::lock_guard<std::mutex> g(j.errorMutex);
        if (!j.error) j.error = std::current_exception();
        j.failed.store(true, std::memory_order_relaxed);
      }
    }
    ++finished;
  }
  if (finished > 0 && j.done.fetch_add(finished, std::memory_order_acq_rel) + finished == j.n) {
    std::lock_guard<std::mutex> g(j.m);
    j.cv.notify_all();
  }
}

unsigned configuredThreads() {
  unsigned n = cpuInfo().threads;
  if (n == 0) n = 1;
  if (const char* env = std::getenv("ATTNFLOW_CPU_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && v >= 1 && v <= 1024) n = static_cast<unsigned>(v);
  }
  return n;
}

}  // namespace

struct ThreadPool::Impl {
  std::mutex mu;
  std::condition_variable workCv;  // workers wait here for jobs
  std::condition_variable refsCv;  // callers wait here for workers to let go of a job
  std::deque<Job*> jobs;           // jobs that may still have unclaimed items
  std::atomic<bool> slotBusy{false};
  std::vector<std::thread> threads;

  void workerLoop() {
    for (;;) {
      Job* j = nullptr;
      {
        std::unique_lock<std::mutex> lk(mu);
        for (;;) {
          while (!jobs.empty() && jobs.front()->next.load(std::memory_order_relaxed) >= jobs.front()->n) {
            jobs.pop_front();  // exhausted: its caller only waits for the items in progress
          }
          if (!jobs.empty()) break;
          workCv.wait(lk);
        }
        j = jobs.front();
        ++j->refs;
      }
      runItems(*j);
      {
        std::lock_guard<std::mutex> lk(mu);
        if (--j->refs == 0) refsCv.notify_all();
      }
    }
  }

  bool tryAcquireSlot() {
    bool expected = false;
    return slotBusy.compare_exchange_strong(expected, true, std::memory_order_acquire);
  }

  void releaseSlot() {
    slotBusy.store(false, std::memory_order_release);
    // Wake callers waiting for the slot (lock order: pool mutex, then job mutex).
    std::lock_guard<std::mutex> lk(mu);
    for (Job* j : jobs) {
      std::lock_guard<std::mutex> g(j->m);
      j->cv.notify_all();
    }
  }
};

ThreadPool::ThreadPool(unsigned workers) : workers_(0), impl_(new Impl) {
  for (unsigned i = 0; i < workers; ++i) {
    try {
      impl_->threads.emplace_back([this] { impl_->workerLoop(); });
    } catch (...) {
      break;  // fewer workers than asked for: still correct
    }
  }
  workers_ = static_cast<unsigned>(impl_->threads.size());
  // The pool lives until the process exits; its workers never return, so detach them.
  for (std::thread& t : impl_->threads) t.detach();
}

ThreadPool& ThreadPool::instance() {
  // Deliberately never destroyed: worker threads may still be parked in it at exit.
  static ThreadPool* pool = new ThreadPool(configuredThreads() - 1);
  return *pool;
}

void ThreadPool::parallelFor(size_t n, void (*fn)(void*, size_t, size_t), void* ctx) {
  if (n == 0) return;
  Job j;
  j.fn = fn;
  j.ctx = ctx;
  j.n = n;
  Impl& I = *impl_;
  {
    // Always queued, even when only the caller will run it: releaseSlot finds waiting callers
    // through the queue.
    std::lock_guard<std::mutex> lk(I.mu);
    I.jobs.push_back(&j);
  }
  if (workers_ > 0 && n > 1) I.workCv.notify_all();
  {
    std::unique_lock<std::mutex> lk(j.m);
    while (j.done.load(std::memory_order_acquire) < n) {
      if (j.next.load(std::memory_order_relaxed) < n && I.tryAcquireSlot()) {
        lk.unlock();
        runItems(j);
        I.releaseSlot();
        lk.lock();
        continue;
      }
      j.cv.wait(lk);
    }
  }
  {
    std::unique_lock<std::mutex> lk(I.mu);
    auto it = std::find(I.jobs.begin(), I.jobs.end(), &j);
    if (it != I.jobs.end()) I.jobs.erase(it);
    I.refsCv.wait(lk, [&] { return j.refs == 0; });
  }
  if (j.error) std::rethrow_exception(j.error);
}

}  // namespace cpu
}  // namespace attnflow
