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

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Decode issues hundreds of small parallel loops per token; waking sleeping threads through the
// kernel for each would cost more than the loops. Workers spin this long before they sleep.
constexpr int kSpinIterations = 200000;

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
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

void ThreadPool::parallel_for(size_t n, RangeFn fn) { run(n, 0, false, fn); }

void ThreadPool::parallel_for_dynamic(size_t n, size_t chunk, RangeFn fn) { run(n, chunk == 0 ? 1 : chunk, false, fn); }

void ThreadPool::parallel_for_guided(size_t n, size_t granule, RangeFn fn) { run(n, granule == 0 ? 1 : granule, true, fn); }

void ThreadPool::run_part(int index) {
  if (job_chunk_ == 0) {
    run_share(job_size_, index, num_threads_, *job_);
    return;
  }
  if (!job_guided_) {
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

void ThreadPool::run(size_t n, size_t chunk, bool guided, const RangeFn& fn) {
  if (num_threads_ == 1 || n < 2 || (chunk != 0 && chunk >= n)) {
    if (chunk == 0 || guided) {  // one thread: one range (guided chunks only balance threads)
      if (n > 0) fn(0, n, 0);
    } else {
      for (size_t b = 0; b < n; b += chunk) fn(b, std::min(n, b + chunk), 0);
    }
    return;
  }
  job_ = &fn;
  job_size_ = n;
  job_chunk_ = chunk;
  job_guided_ = guided;
  next_chunk_.store(0, std::memory_order_relaxed);
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    // The lock orders the publication against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  run_part(0);
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < kSpinIterations) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
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
