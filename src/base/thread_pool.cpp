#include "base/thread_pool.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>

namespace ts {

namespace {

void run_share(size_t n, int index, int count, const RangeFn& fn) {
  const size_t begin = n * static_cast<size_t>(index) / static_cast<size_t>(count);
  const size_t end = n * static_cast<size_t>(index + 1) / static_cast<size_t>(count);
  if (begin < end) fn(begin, end, index);
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)), shares_(static_cast<size_t>(num_threads_)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

int count_physical_cores(const std::vector<std::pair<int, int>>& package_core) {
  std::vector<std::pair<int, int>> unique = package_core;
  std::sort(unique.begin(), unique.end());
  return static_cast<int>(std::unique(unique.begin(), unique.end()) - unique.begin());
}

int ThreadPool::default_num_threads() {
  // Two threads on SMT siblings share one core's load and multiply units; these kernels are
  // bound by exactly those, so one thread per physical core.
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
  }
  std::vector<std::pair<int, int>> package_core;
  for (int c : cpus) {
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/";
    int package = -1, core = -1;
    std::ifstream(dir + "physical_package_id") >> package;
    std::ifstream(dir + "core_id") >> core;
    if (package < 0 || core < 0) return static_cast<int>(cpus.size());  // no topology: count CPUs
    package_core.emplace_back(package, core);
  }
  return std::max(1, count_physical_cores(package_core));
}

ArrivalBarrier::ArrivalBarrier(int num_threads) : slots_(static_cast<size_t>(std::max(1, num_threads))) {}

// A barrier's wait lasts as long as one thread's lead over another inside a step (microseconds);
// past ~50 µs the thread waited for is most likely not running, and this one gives way.
constexpr int kBarrierSpins = 20000;

void ArrivalBarrier::arrive_and_wait(int thread) {
  std::atomic<uint64_t>& own = slots_[static_cast<size_t>(thread)].arrivals;
  const uint64_t mine = own.load(std::memory_order_relaxed) + 1;
  own.store(mine, std::memory_order_release);
  for (const Slot& slot : slots_) {
    spin_until([&] { return slot.arrivals.load(std::memory_order_acquire) >= mine; }, kBarrierSpins);
  }
}

void ThreadPool::parallel_for(size_t n, RangeFn fn) { run(n, 0, Mode::kStatic, fn); }

void ThreadPool::parallel_for_dynamic(size_t n, size_t chunk, RangeFn fn) { run(n, chunk == 0 ? 1 : chunk, Mode::kDynamic, fn); }

void ThreadPool::parallel_for_guided(size_t n, size_t granule, RangeFn fn) { run(n, granule == 0 ? 1 : granule, Mode::kGuided, fn); }

void ThreadPool::parallel_for_stealing(size_t n, size_t granule, RangeFn fn) {
  const bool fits = n < (uint64_t{1} << 32);
  run(n, granule == 0 ? 1 : granule, fits ? Mode::kStealing : Mode::kGuided, fn);
}

namespace {

constexpr uint64_t pack_range(size_t front, size_t back) { return static_cast<uint64_t>(front) | static_cast<uint64_t>(back) << 32; }
constexpr size_t range_front(uint64_t r) { return static_cast<size_t>(r & 0xFFFFFFFFu); }
constexpr size_t range_back(uint64_t r) { return static_cast<size_t>(r >> 32); }
constexpr size_t round_up(size_t x, size_t g) { return (x + g - 1) / g * g; }

}  // namespace

void ThreadPool::run_stealing(int index) {
  const size_t g = job_chunk_;
  // Own share first, front to back: a quarter of what is left per take (at least a granule),
  // so that what remains for thieves stays large until the share is nearly done. Fronts stay on
  // granules: they start on one and advance by multiples of one.
  Share& own = shares_[static_cast<size_t>(index)];
  uint64_t r = own.range.load(std::memory_order_relaxed);
  for (;;) {
    const size_t f = range_front(r), b = range_back(r);
    if (f >= b) break;
    const size_t end = std::min(b, f + round_up(std::max<size_t>((b - f) / 4, 1), g));
    if (own.range.compare_exchange_weak(r, pack_range(end, b), std::memory_order_relaxed)) {
      (*job_)(f, end, index);
      r = own.range.load(std::memory_order_relaxed);
    }
  }
  // Then the back half of what is left of the others' shares, until every share is empty
  // (shares only shrink, so one pass that finds all of them empty is final).
  for (int k = 1; k < num_threads_; ++k) {
    Share& victim = shares_[static_cast<size_t>((index + k) % num_threads_)];
    uint64_t v = victim.range.load(std::memory_order_relaxed);
    for (;;) {
      const size_t f = range_front(v), b = range_back(v);
      if (f >= b) break;
      size_t begin = f + round_up((b - f + 1) / 2, g);
      if (begin >= b) begin = f;
      if (victim.range.compare_exchange_weak(v, pack_range(f, begin), std::memory_order_relaxed)) {
        (*job_)(begin, b, index);
        v = victim.range.load(std::memory_order_relaxed);
      }
    }
  }
}

void ThreadPool::run_part(int index) {
  if (job_mode_ == Mode::kStatic) {
    run_share(job_size_, index, num_threads_, *job_);
    return;
  }
  if (job_mode_ == Mode::kStealing) {
    run_stealing(index);
    return;
  }
  if (job_mode_ == Mode::kDynamic) {
    for (;;) {
      const size_t begin = next_chunk_.fetch_add(job_chunk_, std::memory_order_relaxed);
      if (begin >= job_size_) return;
      (*job_)(begin, std::min(job_size_, begin + job_chunk_), index);
    }
  }
  const size_t share = 2 * static_cast<size_t>(num_threads_);
  size_t begin = next_chunk_.load(std::memory_order_relaxed);
  while (begin < job_size_) {
    const size_t want = std::max<size_t>((job_size_ - begin) / share, 1);
    const size_t end = std::min(job_size_, begin + (want + job_chunk_ - 1) / job_chunk_ * job_chunk_);
    // On failure begin is reloaded with the current counter and the take is sized again.
    if (next_chunk_.compare_exchange_weak(begin, end, std::memory_order_relaxed)) {
      (*job_)(begin, end, index);
      begin = next_chunk_.load(std::memory_order_relaxed);
    }
  }
}

void ThreadPool::run(size_t n, size_t chunk, Mode mode, const RangeFn& fn) {
  if (num_threads_ == 1 || n < 2 || (chunk != 0 && chunk >= n)) {
    if (mode != Mode::kDynamic) {  // one thread: one range (guided and stolen chunks only balance threads)
      if (n > 0) fn(0, n, 0);
    } else {
      for (size_t b = 0; b < n; b += chunk) fn(b, std::min(n, b + chunk), 0);
    }
    return;
  }
  job_ = &fn;
  job_size_ = n;
  job_chunk_ = chunk;
  job_mode_ = mode;
  next_chunk_.store(0, std::memory_order_relaxed);
  if (mode == Mode::kStealing) {
    // Home shares as in the static split, their starts moved down onto granules.
    const auto share_start = [&](int i) {
      return i >= num_threads_ ? n : n * static_cast<size_t>(i) / static_cast<size_t>(num_threads_) / chunk * chunk;
    };
    for (int t = 0; t < num_threads_; ++t) {
      shares_[static_cast<size_t>(t)].range.store(pack_range(share_start(t), share_start(t + 1)), std::memory_order_relaxed);
    }
  }
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    // The lock orders the publication against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  run_part(0);
  spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stopping_.load(std::memory_order_relaxed)) {
      if (++spins < kSpinIterations) {
        cpu_relax();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
    }
    if (stopping_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_part(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace ts
