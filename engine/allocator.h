// The caching allocator behind every tensor buffer: 64-byte aligned blocks, recycled by size
// class, with counters tests and benchmarks read.
//
//   void* p = Allocator::Get().Allocate(1024);   // 64-byte aligned
//   Allocator::Get().Deallocate(p, 1024);        // cached for the next request of that class
//   int64_t live = Allocator::Get().live_bytes();
//
// Note [Caching allocator]
// Requests are rounded up to a size class: multiples of 64 bytes up to 1 KiB, then powers of two
// split into four steps each (1 KiB, 1.25, 1.5, 1.75, 2 KiB, ...), so the waste stays under 25%.
// A freed block goes back to a free list of its class instead of the system. Small classes (up to
// 64 KiB) first go to a per-thread cache of at most kThreadCacheDepth blocks per class, which needs
// no lock: a 16-element op allocates and frees in a few nanoseconds, where even an uncontended
// mutex pair showed up as 20% of the per-op time in bench/tape_bench. Beyond that depth, and for
// larger classes, one std::mutex guards the shared lists. A thread's cache goes back to the
// shared lists when the thread exits. Blocks above kMaxCachedBytes go straight back to the system.
// `live_bytes` counts the bytes of blocks handed out and not yet returned (by class size), so a
// test can show that intermediates were freed.
#ifndef CONCORD_ENGINE_ALLOCATOR_H_
#define CONCORD_ENGINE_ALLOCATOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <mutex>

namespace concord::engine {

inline constexpr size_t kBufferAlignment = 64;

class Allocator {
 public:
  // Get returns the process-wide allocator.
  static Allocator& Get();

  // Allocate returns a 64-byte-aligned block of at least `bytes` bytes (a unique non-null block
  // even for 0 bytes). Aborts only if the system is out of memory.
  void* Allocate(size_t bytes);

  // Deallocate returns a block obtained from Allocate with the same `bytes`.
  void Deallocate(void* ptr, size_t bytes);

  // live_bytes is the total class size of blocks handed out and not yet returned.
  int64_t live_bytes() const { return live_bytes_.load(std::memory_order_relaxed); }

  // peak_live_bytes is the largest live_bytes seen since the last ResetPeak.
  int64_t peak_live_bytes() const { return peak_live_bytes_.load(std::memory_order_relaxed); }
  void ResetPeak() { peak_live_bytes_.store(live_bytes(), std::memory_order_relaxed); }

  // cached_bytes is the total size of free blocks kept for reuse in the shared lists and in the
  // calling thread's cache (other threads' caches are not visible from here).
  int64_t cached_bytes() const;

  // EmptyCache returns the calling thread's cache and the shared lists to the system.
  void EmptyCache();

  // SizeClass returns the rounded size a request of `bytes` is served with.
  static size_t SizeClass(size_t bytes);

  // kMaxCachedBytes: larger blocks are not cached.
  static constexpr size_t kMaxCachedBytes = size_t{1} << 30;

  // Per-thread caching: classes with an index below kThreadCachedClasses (up to 64 KiB), at most
  // kThreadCacheDepth blocks each.
  static constexpr int kThreadCachedClasses = 40;
  static constexpr int kThreadCacheDepth = 16;

 private:
  Allocator() = default;
  static int ClassIndex(size_t class_bytes);

  void CountAllocation(size_t class_bytes);
  void* TakeShared(int index, size_t class_bytes);
  void ReturnShared(void* ptr, int index, size_t class_bytes);
  friend struct ThreadCache;

  static constexpr int kNumClasses = 16 + 4 * 20;  // 64..1024 by 64, then 4 per octave to 1 GiB.

  mutable std::mutex mu_;
  std::vector<void*> free_lists_[kNumClasses];  // guarded by mu_
  int64_t cached_bytes_ = 0;                    // guarded by mu_
  std::atomic<int64_t> live_bytes_{0};
  std::atomic<int64_t> peak_live_bytes_{0};
};

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_ALLOCATOR_H_
