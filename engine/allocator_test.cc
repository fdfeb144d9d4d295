#include "engine/allocator.h"

#include <cstdint>
#include <thread>
#include <vector>

#include "engine/tensor.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"

namespace concord::engine {
namespace {

TEST(Allocator, BlocksAre64ByteAligned) {
  for (size_t bytes : {0, 1, 63, 64, 65, 1000, 1025, 5000, 1 << 20}) {
    void* p = Allocator::Get().Allocate(bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kBufferAlignment, 0u) << bytes;
    Allocator::Get().Deallocate(p, bytes);
  }
}

TEST(Allocator, LiveBytesCountTensorsAndDropWhenTheyDie) {
  const int64_t before = Allocator::Get().live_bytes();
  {
    Tensor t = Tensor::Zeros(Shape({1000}));  // 4000 bytes -> class 4096
    EXPECT_EQ(Allocator::Get().live_bytes() - before,
              static_cast<int64_t>(Allocator::SizeClass(4000)));
    Tensor shared = t;  // a handle, not a new buffer
    EXPECT_EQ(Allocator::Get().live_bytes() - before,
              static_cast<int64_t>(Allocator::SizeClass(4000)));
  }
  EXPECT_EQ(Allocator::Get().live_bytes(), before);
}

TEST(Allocator, ReusesAFreedBlockOfTheSameClass) {
  void* p = Allocator::Get().Allocate(3000);
  Allocator::Get().Deallocate(p, 3000);
  void* q = Allocator::Get().Allocate(2900);  // same class (3072)
  EXPECT_EQ(p, q);
  Allocator::Get().Deallocate(q, 2900);
  EXPECT_GT(Allocator::Get().cached_bytes(), 0);
  Allocator::Get().EmptyCache();
  EXPECT_EQ(Allocator::Get().cached_bytes(), 0);
}

RC_GTEST_PROP(Allocator, SizeClassesCoverTheRequestWithUnderAQuarterWaste, ()) {
  const size_t bytes = *rc::gen::inRange<size_t>(1, size_t{1} << 30);
  const size_t cls = Allocator::SizeClass(bytes);
  RC_ASSERT(cls >= bytes);
  RC_ASSERT(cls % kBufferAlignment == 0);
  const bool small_waste = bytes <= 1024 ? cls - bytes < 64 : (cls - bytes) * 4 < bytes;
  RC_ASSERT(small_waste);
  RC_ASSERT(Allocator::SizeClass(cls) == cls);
}

TEST(Allocator, PeakTracksTheHighWaterMark) {
  Allocator::Get().ResetPeak();
  const int64_t base = Allocator::Get().live_bytes();
  { Tensor big = Tensor::Empty(Shape({1 << 16})); }
  EXPECT_GE(Allocator::Get().peak_live_bytes() - base, (1 << 16) * 4);
  EXPECT_EQ(Allocator::Get().live_bytes(), base);
}

// The per-thread cache's class table must agree with SizeClass/ClassIndex: a block cached by one
// thread and flushed to the shared lists at its exit must be reused for the same class.
TEST(Allocator, BlocksFreedOnAnotherThreadAreReusedAfterItExits) {
  Allocator::Get().EmptyCache();
  for (size_t bytes : {64, 1000, 1300, 5000, 60000}) {
    void* p = nullptr;
    std::thread([&] {
      p = Allocator::Get().Allocate(bytes);
      Allocator::Get().Deallocate(p, bytes);  // into that thread's cache, flushed at exit
    }).join();
    EXPECT_GE(Allocator::Get().cached_bytes(), static_cast<int64_t>(Allocator::SizeClass(bytes)));
    void* q = Allocator::Get().Allocate(bytes);
    EXPECT_EQ(p, q) << bytes;
    Allocator::Get().Deallocate(q, bytes);
    Allocator::Get().EmptyCache();
  }
}

TEST(Allocator, ManySmallBlocksOverflowTheThreadCacheIntoTheSharedLists) {
  Allocator::Get().EmptyCache();
  const int64_t before = Allocator::Get().live_bytes();
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(Allocator::Get().Allocate(256));
  for (void* p : blocks) Allocator::Get().Deallocate(p, 256);
  EXPECT_EQ(Allocator::Get().live_bytes(), before);
  EXPECT_EQ(Allocator::Get().cached_bytes(), 100 * 256);
  Allocator::Get().EmptyCache();
  EXPECT_EQ(Allocator::Get().cached_bytes(), 0);
}

}  // namespace
}  // namespace concord::engine
