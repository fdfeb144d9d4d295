#include "engine/allocator.h"

#include <cstdint>

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

}  // namespace
}  // namespace concord::engine
