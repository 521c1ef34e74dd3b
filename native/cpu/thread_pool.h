// One process-wide pool for the CPU backend. It owns (threads - 1) workers; the thread that calls
// parallelFor helps with its own job only while it holds the single "caller slot", so however
// many calls are in flight (e.g. from several libuv threads), at most `threads` threads compute.
#pragma once

#include <cstddef>

namespace attnflow {
namespace cpu {

class ThreadPool {
 public:
  // The shared pool, created on first use with ATTNFLOW_CPU_THREADS (if set) or cpuInfo().threads
  // (the CPUs this process may run on) threads in all.
  static ThreadPool& instance();

  // Threads that may compute at once (workers + the caller slot).
  unsigned threads() const { return workers_ + 1; }

  // Runs fn(ctx, i) for every i in [0, n) and returns when all have finished. If an item throws,
  // the remaining items are skipped and the first exception is rethrown here.
  void parallelFor(size_t n, void (*fn)(void* ctx, size_t i), void* ctx);

  template <class F>
  void parallelFor(size_t n, F& f) {
    parallelFor(
        n, [](void* c, size_t i) { (*static_cast<F*>(c))(i); }, &f);
  }

  struct Impl;

 private:
  explicit ThreadPool(unsigned workers);
  unsigned workers_;
  Impl* impl_;
};

}  // namespace cpu
}  // namespace attnflow
