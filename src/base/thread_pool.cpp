#include "base/thread_pool.h"

#include <unistd.h>

#include <algorithm>

namespace ts {

namespace {
void run_share(size_t n, int index, int count, const RangeFn& fn) {
  const size_t begin = n * static_cast<size_t>(index) / static_cast<size_t>(count);
  const size_t end = n * static_cast<size_t>(index + 1) / static_cast<size_t>(count);
  if (begin < end) fn(begin, end, index);
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

int ThreadPool::default_num_threads() {
  // Physical cores are what matter for these memory/compute bound kernels; without a portable
  // physical-core query we take the online CPU count.
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

void ThreadPool::parallel_for(size_t n, RangeFn fn) {
  if (num_threads_ == 1 || n < 2) {
    if (n > 0) fn(0, n, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_size_ = n;
    pending_ = num_threads_ - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  run_share(n, 0, num_threads_, fn);
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const RangeFn* job = nullptr;
    size_t n = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      n = job_size_;
    }
    run_share(n, index, num_threads_, *job);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace ts
