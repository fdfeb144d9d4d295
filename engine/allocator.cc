#include "engine/allocator.h"

#include <cstdlib>

#include "engine/status.h"

namespace concord::engine {
namespace {

int FloorLog2(size_t x) { return 63 - __builtin_clzll(static_cast<unsigned long long>(x)); }

void* SystemAllocate(size_t class_bytes) {
  void* ptr = std::aligned_alloc(kBufferAlignment, class_bytes);
  CONCORD_CHECK_MSG(ptr != nullptr, "out of memory");
  return ptr;
}

}  // namespace

// The calling thread's lock-free cache of small blocks (Note [Caching allocator]). Trivially
// destructible, so it stays usable until the thread is gone; ThreadCacheFlusher empties it when
// the thread's destructors run and sends later frees (from other thread_local objects that hold
// tensors) to the shared lists.
struct ThreadCache {
  void* blocks[Allocator::kThreadCachedClasses][Allocator::kThreadCacheDepth];
  int count[Allocator::kThreadCachedClasses];
  int64_t bytes;
  bool disabled;

  // Returns everything to the shared lists.
  void Flush() {
    Allocator& allocator = Allocator::Get();
    for (int index = 0; index < Allocator::kThreadCachedClasses; ++index) {
      const size_t class_bytes = ClassBytes(index);
      while (count[index] > 0) {
        allocator.ReturnShared(blocks[index][--count[index]], index, class_bytes);
      }
    }
    bytes = 0;
  }

  // The inverse of Allocator::ClassIndex for cached classes.
  static size_t ClassBytes(int index) {
    if (index < 16) return static_cast<size_t>(index + 1) * 64;
    const int octave = (index - 16) / 4;       // 1 KiB << octave < class <= 2 KiB << octave
    const size_t step = size_t{256} << octave;  // a quarter of the octave's lower bound
    return (size_t{1024} << octave) + static_cast<size_t>((index - 16) % 4 + 1) * step;
  }
};

namespace {

thread_local ThreadCache tl_cache;  // zero-initialized

struct ThreadCacheFlusher {
  ~ThreadCacheFlusher() {
    tl_cache.Flush();
    tl_cache.disabled = true;
  }
};

ThreadCache& LocalCache() {
  thread_local ThreadCacheFlusher flusher;
  (void)flusher;
  return tl_cache;
}

}  // namespace

Allocator& Allocator::Get() {
  static Allocator* allocator = new Allocator();  // Never destroyed: tensors may outlive main.
  return *allocator;
}

size_t Allocator::SizeClass(size_t bytes) {
  if (bytes <= 1024) return bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  const int k = FloorLog2(bytes - 1);  // 2^k < bytes <= 2^(k+1)
  const size_t step = size_t{1} << (k - 2);
  return (bytes + step - 1) / step * step;
}

int Allocator::ClassIndex(size_t class_bytes) {
  if (class_bytes <= 1024) return static_cast<int>(class_bytes / 64) - 1;
  const int k = FloorLog2(class_bytes - 1);
  const size_t step = size_t{1} << (k - 2);
  return 16 + (k - 10) * 4 + static_cast<int>(class_bytes / step) - 5;
}

void Allocator::CountAllocation(size_t class_bytes) {
  const int64_t live =
      live_bytes_.fetch_add(static_cast<int64_t>(class_bytes), std::memory_order_relaxed) +
      static_cast<int64_t>(class_bytes);
  int64_t peak = peak_live_bytes_.load(std::memory_order_relaxed);
  while (live > peak &&
         !peak_live_bytes_.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

void* Allocator::Allocate(size_t bytes) {
  const size_t class_bytes = SizeClass(bytes);
  CountAllocation(class_bytes);
  if (class_bytes > kMaxCachedBytes) return SystemAllocate(class_bytes);
  const int index = ClassIndex(class_bytes);
  if (index < kThreadCachedClasses) {
    ThreadCache& cache = LocalCache();
    if (cache.count[index] > 0 && !cache.disabled) {
      cache.bytes -= static_cast<int64_t>(class_bytes);
      return cache.blocks[index][--cache.count[index]];
    }
  }
  if (void* ptr = TakeShared(index, class_bytes)) return ptr;
  return SystemAllocate(class_bytes);
}

void Allocator::Deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t class_bytes = SizeClass(bytes);
  live_bytes_.fetch_sub(static_cast<int64_t>(class_bytes), std::memory_order_relaxed);
  if (class_bytes > kMaxCachedBytes) {
    std::free(ptr);
    return;
  }
  const int index = ClassIndex(class_bytes);
  if (index < kThreadCachedClasses) {
    ThreadCache& cache = LocalCache();
    if (cache.count[index] < kThreadCacheDepth && !cache.disabled) {
      cache.blocks[index][cache.count[index]++] = ptr;
      cache.bytes += static_cast<int64_t>(class_bytes);
      return;
    }
  }
  ReturnShared(ptr, index, class_bytes);
}

void* Allocator::TakeShared(int index, size_t class_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<void*>& list = free_lists_[index];
  if (list.empty()) return nullptr;
  void* ptr = list.back();
  list.pop_back();
  cached_bytes_ -= static_cast<int64_t>(class_bytes);
  return ptr;
}

void Allocator::ReturnShared(void* ptr, int index, size_t class_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  free_lists_[index].push_back(ptr);
  cached_bytes_ += static_cast<int64_t>(class_bytes);
}

int64_t Allocator::cached_bytes() const {
  const int64_t local = LocalCache().bytes;
  std::lock_guard<std::mutex> lock(mu_);
  return cached_bytes_ + local;
}

void Allocator::EmptyCache() {
  LocalCache().Flush();
  std::lock_guard<std::mutex> lock(mu_);
  for (std::vector<void*>& list : free_lists_) {
    for (void* ptr : list) std::free(ptr);
    list.clear();
  }
  cached_bytes_ = 0;
}

}  // namespace concord::engine
