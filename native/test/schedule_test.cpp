// The thread pool's look-ahead (each index's successor on its thread) and the chains the CPU
// schedule cuts its items into (schedule_cut.h).
#include <atomic>
#include <mutex>
#include <thread>

#include "../cpu/schedule_cut.h"
#include "../cpu/thread_pool.h"
#include "harness.h"

namespace nativetest {

namespace {

// Every index runs once; the `next` an index reports is exactly the index its thread runs next
// (so a prefetch for it lands in that thread's cache), and each thread's last index reports none.
void testPoolLookAhead() {
  cpu::ThreadPool& pool = cpu::ThreadPool::instance();
  for (size_t n : {size_t{1}, size_t{2}, size_t{7}, size_t{300}}) {
    std::vector<size_t> next(n, 0);
    std::vector<std::pair<std::thread::id, size_t>> ran;  // (thread, index) in the order they ran
    std::mutex mu;
    auto body = [&](size_t i, size_t following) {
      std::lock_guard<std::mutex> g(mu);
      next[i] = following;
      ran.emplace_back(std::this_thread::get_id(), i);
    };
    pool.parallelFor(n, body);
    std::vector<int> runs(n, 0);
    bool exact = true;
    for (size_t x = 0; x < ran.size(); ++x) {
      ++runs[ran[x].second];
      size_t want = cpu::ThreadPool::kNone;  // the same thread's next index, if any
      for (size_t y = x + 1; y < ran.size(); ++y)
        if (ran[y].first == ran[x].first) {
          want = ran[y].second;
          break;
        }
      exact = exact && next[ran[x].second] == want;
    }
    CHECK(std::count(runs.begin(), runs.end(), 1) == static_cast<long>(n), "parallelFor(%zu): every index once", n);
    CHECK(exact, "parallelFor(%zu): each index reports the index its thread runs next", n);
  }
  // plain f(i) bodies still work
  std::atomic<size_t> sum{0};
  auto plain = [&](size_t i) { sum.fetch_add(i); };
  pool.parallelFor(100, plain);
  CHECK(sum.load() == 4950, "parallelFor with f(i)");
}

// Chains cover the items in order, each within one (batch, kv head) group, and stop growing at
// kChainTiles key tiles or when fewer than kChainsPerThread chains per thread would remain.
void testChains() {
  Rng rng(77);
  for (int t = 0; t < 200; ++t) {
    cpu::Plan P{};
    P.B = rng.range(1, 2);
    P.Hkv = rng.range(1, 3);
    P.group = rng.range(1, 3);
    P.Hq = P.Hkv * P.group;
    const unsigned threads = static_cast<unsigned>(rng.range(1, 4));
    std::vector<cpu::Item> items;
    for (int b = 0; b < P.B; ++b)
      for (int h = 0; h < P.Hq; ++h)
        for (int qb = 0, n = rng.range(0, 40); qb < n; ++qb) {
          const int tiles = rng.range(0, 3) == 0 ? rng.range(20, 70) : rng.range(0, 6);
          items.push_back(cpu::Item{b, h, qb, 1, 0, tiles, -1});
        }
    std::vector<size_t> starts;
    cpu::cut::cutChains(
        P, items.size(), threads, [&](size_t k) -> const cpu::Item& { return items[k]; },
        [&](size_t k) { starts.push_back(k); });
    starts.push_back(items.size());
    bool ok = items.empty() ? starts.size() == 1 : starts.front() == 0;
    const size_t maxItems = std::max<size_t>(1, items.size() / (cpu::cut::kChainsPerThread * threads));
    for (size_t c = 0; ok && c + 1 < starts.size(); ++c) {
      const size_t a = starts[c], z = starts[c + 1];
      ok = z > a && z - a <= maxItems;
      int64_t tiles = 0;
      for (size_t k = a; ok && k < z; ++k) {
        ok = items[k].b == items[a].b && items[k].h / P.group == items[a].h / P.group;
        if (k > a) ok = ok && tiles < cpu::cut::kChainTiles;  // it grew only while under the target
        tiles += items[k].e1 - items[k].e0;
      }
    }
    CHECK(ok, "chains of %zu items (%u threads): a partition in order, within groups, bounded", items.size(), threads);
  }
}

}  // namespace

void testSchedule() {
  testPoolLookAhead();
  testChains();
}

}  // namespace nativetest
