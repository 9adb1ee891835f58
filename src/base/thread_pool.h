#pragma once
// One persistent pool of workers for the whole engine (no OpenMP). parallel_for splits
// [0, n) into contiguous ranges, one per thread, and the caller thread works too.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace ts {

// Distinct (package, core) pairs: the physical cores behind a list of logical CPUs.
int count_physical_cores(const std::vector<std::pair<int, int>>& package_core);

// The CPU's spin-wait hint (PAUSE on x86; nothing elsewhere).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Decode issues hundreds of small parallel loops per token; waking sleeping threads through the
// kernel for each would cost more than the loops. Threads spin this long before they sleep or
// yield.
constexpr int kSpinIterations = 200000;

// Waits for done() inside a parallel region: spins with cpu_relax() for up to `spins` checks,
// then keeps checking but yields the core between checks (past that the thread waited for is
// most likely not running).
template <typename Done>
void spin_until(Done&& done, int spins = kSpinIterations) {
  int n = 0;
  while (!done()) {
    if (n < spins) {
      ++n;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

// Non-owning reference to a callable: unlike std::function it never allocates, so a parallel
// loop in the decode path costs no heap traffic.
class RangeFn {
 public:
  template <typename F>
  RangeFn(const F& f)  // NOLINT(google-explicit-constructor): built implicitly from lambdas
      : object_(&f), call_([](const void* o, size_t b, size_t e, int t) { (*static_cast<const F*>(o))(b, e, t); }) {}
  void operator()(size_t begin, size_t end, int thread) const { call_(object_, begin, end, thread); }

 private:
  const void* object_;
  void (*call_)(const void*, size_t, size_t, int);
};

// Makes the threads of one parallel_for over num_threads indices (one index each) wait for
// each other inside it: arrive_and_wait(thread) returns once every thread has called it as many
// times as this one. Each thread counts its arrivals on a cache line of its own and reads the
// others', so a wait costs one line transfer each way instead of a shared counter's round
// trips. Every thread must call it equally often; counts carry over from one use to the next.
class ArrivalBarrier {
 public:
  explicit ArrivalBarrier(int num_threads);
  int num_threads() const { return static_cast<int>(slots_.size()); }
  void arrive_and_wait(int thread);

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> arrivals{0};
  };
  std::vector<Slot> slots_;
};

class ThreadPool {
 public:
  // num_threads counts the calling thread: 1 means no workers are started.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end, thread_index) on disjoint ranges covering [0, n); blocks until done.
  // Static split: one contiguous range per thread.
  void parallel_for(size_t n, RangeFn fn);

  // Same contract, but threads take chunks of `chunk` indices from a shared counter until none
  // are left, so a thread that runs slower (a busier memory channel, a late wake-up) simply
  // takes fewer chunks. fn may be called several times per thread.
  void parallel_for_dynamic(size_t n, size_t chunk, RangeFn fn);

  // Dynamic, with chunks that shrink as the work runs out: each take is a share of what is
  // left (remaining / (2 x threads)), rounded up to a multiple of `granule`, so the first takes
  // are long contiguous runs and the last ones short, and threads finish close together even
  // when one of them runs slower. Ranges start at multiples of granule.
  void parallel_for_guided(size_t n, size_t granule, RangeFn fn);

  // Static split with stealing: each thread works through its own contiguous share (as in
  // parallel_for) front to back, in takes that shrink with what is left of it; a thread that
  // finishes early takes the back half of what is left of another's share, so a thread slowed
  // by its neighbours is helped out. Each thread reads one long run of indices (one stream
  // through memory, for the prefetchers) while it works on its own share. Ranges start at
  // multiples of granule. (n of 2^32 or more falls back to parallel_for_guided.)
  void parallel_for_stealing(size_t n, size_t granule, RangeFn fn);

  // Physical cores this process may run on: CPUs in its affinity mask, SMT siblings counted
  // once (from sysfs topology); falls back to the usable CPU count where topology is missing.
  static int default_num_threads();

 private:
  void worker_loop(int index);
  enum class Mode { kStatic, kDynamic, kGuided, kStealing };
  void run(size_t n, size_t chunk, Mode mode, const RangeFn& fn);
  void run_part(int index);
  void run_stealing(int index);

  // One thread's share in stealing mode: [front, back) packed as front | back << 32, so that
  // the owner (from the front) and thieves (from the back) take with one compare-and-swap.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };

  // Laid out by who writes what, one cache line per group: idle workers spin on generation_,
  // so nothing the caller writes while it sets up a job shares that line (each such write would
  // pull the line back from every spinning core, one round trip at a time), and the caller
  // spins on pending_ alone. Between cores on different dies a round trip costs ~350 ns (Zen 4
  // guest: 70 ns on one CCD), and a parallel loop pays a handful of them: there, a product of 64
  // Q4_0 rows at M = 1 took 6.5 µs per call instead of 7.0 (medians of ~38 calls of 4000, old and
  // new alternating); on one CCD both took ~2.5 µs.
  int num_threads_;
  std::vector<std::thread> workers_;
  std::vector<Share> shares_;  // [num_threads], stealing mode
  alignas(64) const RangeFn* job_ = nullptr;
  size_t job_size_ = 0;
  size_t job_chunk_ = 0;  // dynamic: chunk; guided and stealing: granule
  Mode job_mode_ = Mode::kStatic;
  alignas(64) std::atomic<size_t> next_chunk_{0};  // dynamic mode: first index not yet taken
  alignas(64) std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  alignas(64) std::atomic<int> pending_{0};
  alignas(64) std::mutex mutex_;  // only for workers that sleep
  std::condition_variable start_cv_;
};

}  // namespace ts
