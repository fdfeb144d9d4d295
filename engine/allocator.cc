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
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<void*>& list = free_lists_[index];
    if (!list.empty()) {
      void* ptr = list.back();
      list.pop_back();
      cached_bytes_ -= static_cast<int64_t>(class_bytes);
      return ptr;
    }
  }
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
  std::lock_guard<std::mutex> lock(mu_);
  free_lists_[ClassIndex(class_bytes)].push_back(ptr);
  cached_bytes_ += static_cast<int64_t>(class_bytes);
}

int64_t Allocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_bytes_;
}

void Allocator::EmptyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::vector<void*>& list : free_lists_) {
    for (void* ptr : list) std::free(ptr);
    list.clear();
  }
  cached_bytes_ = 0;
}

}  // namespace concord::engine
