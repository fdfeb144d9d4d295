#include "testing/generators.h"

#include <algorithm>
#include <numeric>

namespace concord::testing {

using engine::DType;
using engine::Shape;
using engine::Tensor;

rc::Gen<Shape> GenShape(int max_rank, int64_t max_dim, int min_rank, bool allow_zero) {
  return rc::gen::mapcat(rc::gen::inRange(min_rank, max_rank + 1), [=](int rank) {
    return rc::gen::map(
        rc::gen::container<std::vector<int64_t>>(
            rank, rc::gen::inRange<int64_t>(allow_zero ? 0 : 1, max_dim + 1)),
        [](const std::vector<int64_t>& dims) { return Shape::FromDims(dims).value(); });
  });
}

rc::Gen<std::pair<Shape, Shape>> GenBroadcastablePair(int max_rank, int64_t max_dim) {
  return rc::gen::mapcat(GenShape(max_rank, max_dim), [=](const Shape& full) {
    const int rank = full.rank();
    // For each side: how many leading axes to drop, and which axes become 1.
    return rc::gen::map(
        rc::gen::tuple(rc::gen::inRange(0, rank + 1), rc::gen::inRange(0, rank + 1),
                       rc::gen::container<std::vector<bool>>(rank, rc::gen::arbitrary<bool>()),
                       rc::gen::container<std::vector<bool>>(rank, rc::gen::arbitrary<bool>())),
        [full, rank](const std::tuple<int, int, std::vector<bool>, std::vector<bool>>& t) {
          auto side = [&](int drop, const std::vector<bool>& ones) {
            std::vector<int64_t> dims;
            for (int i = drop; i < rank; ++i) dims.push_back(ones[i] ? 1 : full.dim(i));
            return Shape::FromDims(dims).value();
          };
          return std::make_pair(side(std::get<0>(t), std::get<2>(t)),
                                side(std::get<1>(t), std::get<3>(t)));
        });
  });
}

rc::Gen<Tensor> GenTensor(const Shape& shape, DType dtype, double low, double high) {
  const int64_t n = shape.num_elements();
  // Draw in millionths of the range so values shrink towards `low` and stay reproducible. The
  // size is fixed: inRange would otherwise narrow the range for small sizes (all values = low).
  return rc::gen::map(
      rc::gen::container<std::vector<int>>(
          static_cast<size_t>(n), rc::gen::resize(100, rc::gen::inRange(0, 1000001))),
      [=](const std::vector<int>& raw) {
        Tensor t = Tensor::Empty(shape, dtype);
        for (int64_t i = 0; i < n; ++i) {
          const double u = raw[i] / 1e6;
          const double v = low + (high - low) * u;
          engine::DispatchDType(dtype, [&](auto tag) {
            using T = typename decltype(tag)::type;
            if constexpr (std::is_same_v<T, bool>) {
              t.mutable_data<bool>()[i] = raw[i] % 2 == 1;
            } else if constexpr (std::is_integral_v<T>) {
              t.mutable_data<T>()[i] = static_cast<T>(std::llround(v));
            } else {
              t.mutable_data<T>()[i] = static_cast<T>(v);
            }
          });
        }
        return t;
      });
}

rc::Gen<std::vector<int>> GenAxes(int rank) {
  return rc::gen::map(rc::gen::container<std::vector<bool>>(rank, rc::gen::arbitrary<bool>()),
                      [](const std::vector<bool>& keep) {
                        std::vector<int> axes;
                        for (size_t i = 0; i < keep.size(); ++i) {
                          if (keep[i]) axes.push_back(static_cast<int>(i));
                        }
                        return axes;
                      });
}

rc::Gen<std::vector<int>> GenPermutation(int rank) {
  std::vector<int> identity(rank);
  std::iota(identity.begin(), identity.end(), 0);
  // Fixed size: inRange would shrink its range with RapidCheck's size and give the identity.
  return rc::gen::map(rc::gen::container<std::vector<int>>(
                          rank, rc::gen::resize(100, rc::gen::inRange(0, std::max(rank, 1) * 1000))),
                      [identity](const std::vector<int>& keys) {
                        std::vector<int> perm = identity;
                        std::stable_sort(perm.begin(), perm.end(),
                                         [&](int a, int b) { return keys[a] < keys[b]; });
                        return perm;
                      });
}

}  // namespace concord::testing
