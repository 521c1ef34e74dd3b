// One process-wide pool for the CPU backend. It owns (threads - 1) workers; the thread that calls
// parallelFor helps with its own job only while it holds the single "caller slot", so however
// many calls are in flight (e.g. from several libuv threads), at most `threads` threads compute.
#pragma once

#include <cstddef>
#include <type_traits>

namespace attnflow {
namespace cpu {

class ThreadPool {
 public:
  // The shared pool, created on first use with ATTNFLOW_CPU_THREADS (if set) or cpuInfo().threads
  // (the CPUs this process may run on) threads in all.
  static ThreadPool& instance();

  // Threads that may compute at once (workers + the caller slot).
  unsigned threads() const { return workers_ + 1; }

  // Runs fn(ctx, i, next) for every i in [0, n) and returns when all have finished. A thread
  // claims its next index before it runs i, so fn learns it (`next`, or kNone when the thread
  // has no more) and may prefetch for it. If an item throws, the remaining items are skipped and
  // the first exception is rethrown here.
  static constexpr size_t kNone = ~static_cast<size_t>(0);
  void parallelFor(size_t n, void (*fn)(void* ctx, size_t i, size_t next), void* ctx);

  // f(i), or f(i, next) where f takes the index run next.
  template <class F>
  void parallelFor(size_t n, F& f) {
    parallelFor(
        n,
        [](void* c, size_t i, size_t next) {
          if constexpr (std::is_invocable_v<F&, size_t, size_t>)
            (*static_cast<F*>(c))(i, next);
          else
            (*static_cast<F*>(c))(i), (void)next;
        },
        &f);
  }

  struct Impl;

 private:
  explicit ThreadPool(unsigned workers);
  unsigned workers_;
  Impl* impl_;
};

}  // namespace cpu
}  // namespace attnflow
