// gtest matchers for tensors and statuses.
//
//   EXPECT_THAT(y, BitwiseEquals(expected));          // dtype, shape and every byte
//   RC_ASSERT(AgreementDiff(traced, eager) == "");    // every bit; a NaN matches any NaN
//   EXPECT_THAT(y, AllClose(expected, 1e-6, 1e-6));   // |y - e| <= atol + rtol * |e|
//   EXPECT_THAT(Add(a, b), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Add")));
//
// On failure the matchers name the first differing element by its index.
#ifndef CONCORD_TESTING_TENSOR_MATCHERS_H_
#define CONCORD_TESTING_TENSOR_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"

namespace concord::testing {

namespace internal {

inline const engine::Tensor& Unwrap(const engine::Tensor& t) { return t; }
// An error StatusOr unwraps to an undefined tensor, which never matches a defined one.
inline const engine::Tensor& Unwrap(const absl::StatusOr<engine::Tensor>& t) {
  static const engine::Tensor* undefined = new engine::Tensor();
  return t.ok() ? *t : *undefined;
}
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace internal

// FirstDifference describes where two tensors differ ("" when BitwiseEqual), for messages.
// `bitwise` compares the bits of each element, except that with `any_nan` a NaN matches any NaN;
// otherwise elements match within atol + rtol * |expected| (and a NaN matches any NaN).
std::string FirstDifference(const engine::Tensor& actual, const engine::Tensor& expected,
                            double rtol, double atol, bool bitwise, bool any_nan = false);

// BitwiseDiff is "" for bitwise-equal tensors, else where they differ (for RC_ASSERT messages).
inline std::string BitwiseDiff(const engine::Tensor& actual, const engine::Tensor& expected) {
  return FirstDifference(actual, expected, 0.0, 0.0, /*bitwise=*/true);
}

// AgreementDiff is "" when two forms' results agree as Concord promises (docs/tracing.md, "What
// bitwise covers"): dtype, shape and every bit of every element, except that a NaN matches any
// NaN. The sign and payload of a NaN made from two NaN operands depend on the kernel's code path
// (Note [NaN bits] in engine/elementwise_impl.h). The properties that compare forms (subclass and
// functional, eager and traced, fused and unfused, one trace at every size) use it.
inline std::string AgreementDiff(const engine::Tensor& actual, const engine::Tensor& expected) {
  return FirstDifference(actual, expected, 0.0, 0.0, /*bitwise=*/true, /*any_nan=*/true);
}

// BitwiseEquals matches a tensor (or an OK StatusOr<Tensor>) bitwise equal to `expected`.
MATCHER_P(BitwiseEquals, expected, "is bitwise equal to " + expected.ShapeString()) {
  const engine::Tensor& actual = ::concord::testing::internal::Unwrap(arg);
  const std::string diff =
      ::concord::testing::FirstDifference(actual, expected, 0.0, 0.0, /*bitwise=*/true);
  if (diff.empty()) return true;
  *result_listener << diff;
  return false;
}

// AllClose matches when shapes and dtypes agree and |a - e| <= atol + rtol * |e| everywhere
// (NaN matches NaN).
MATCHER_P3(AllClose, expected, rtol, atol,
           "is close to " + expected.ShapeString() + " (rtol " + std::to_string(rtol) + ", atol " +
               std::to_string(atol) + ")") {
  const engine::Tensor& actual = ::concord::testing::internal::Unwrap(arg);
  const std::string diff =
      ::concord::testing::FirstDifference(actual, expected, rtol, atol, /*bitwise=*/false);
  if (diff.empty()) return true;
  *result_listener << diff;
  return false;
}

// StatusIs matches a Status or StatusOr with `code` and a message matching `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& status = ::concord::testing::internal::StatusOf(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

// IsOk matches an OK Status or StatusOr.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = ::concord::testing::internal::StatusOf(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

}  // namespace concord::testing

#endif  // CONCORD_TESTING_TENSOR_MATCHERS_H_
