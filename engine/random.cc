#include "engine/random.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/threading.h"

namespace concord::engine {
namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

inline void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

// Word w (0..3) of the words an element reads, starting at element `index` * `words` words.
struct WordReader {
  uint64_t seed, key, counter;
  std::array<uint32_t, 4> block;
  uint64_t loaded = ~uint64_t{0};
  uint32_t Word(uint64_t word_index) {
    const uint64_t b = counter + word_index / 4;
    if (b != loaded) {
      block = PhiloxBlock(seed, key, b);
      loaded = b;
    }
    return block[word_index % 4];
  }
};

// A float in [0, 1) from the top 24 bits of a word.
inline float UnitFloat(uint32_t w) { return static_cast<float>(w >> 8) * (1.0f / 16777216.0f); }

// A double in [0, 1) from 53 bits of two words.
inline double UnitDouble(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Box-Muller's first output from two uniforms in [0, 1); u1 is moved into (0, 1].
inline double BoxMuller(double u1, double u2) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(kTwoPi * u2);
}

absl::Status CheckFloating(absl::string_view op, DType dtype) {
  if (!IsFloating(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": dtype ", DTypeName(dtype), " is not float32 or float64"));
  }
  return absl::OkStatus();
}

// Fills `out` in parallel; `element(reader, i)` produces element i.
template <typename T, typename Fn>
void ParallelFill(Tensor& out, const RngStream& stream, Fn element) {
  T* data = out.mutable_data<T>();
  ParallelFor(out.num_elements(), /*cost_per_element=*/40, [&](int64_t begin, int64_t end) {
    WordReader reader{stream.seed, stream.key, stream.counter, {}};
    for (int64_t i = begin; i < end; ++i) data[i] = static_cast<T>(element(reader, i));
  });
}

}  // namespace

std::array<uint32_t, 4> PhiloxBlock(uint64_t seed, uint64_t key, uint64_t counter) {
  uint32_t c[4] = {static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32),
                   static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)};
  uint32_t k0 = static_cast<uint32_t>(seed);
  uint32_t k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kPhiloxM0, c[0], &hi0, &lo0);
    MulHiLo(kPhiloxM1, c[2], &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c[1] ^ k0;
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ c[3] ^ k1;
    const uint32_t n3 = lo0;
    c[0] = n0;
    c[1] = n1;
    c[2] = n2;
    c[3] = n3;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return {c[0], c[1], c[2], c[3]};
}

uint64_t StableHash64(absl::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t CountersFor(int64_t num_elements, int words_per_element) {
  const uint64_t words = static_cast<uint64_t>(num_elements) * words_per_element;
  return (words + 3) / 4;
}

int UniformWords(DType dtype) { return dtype == DType::kFloat64 ? 2 : 1; }

absl::StatusOr<Tensor> RandomUniform(const Shape& shape, DType dtype, const RngStream& stream,
                                     double low, double high) {
  CONCORD_RETURN_IF_ERROR(CheckFloating("RandomUniform", dtype));
  if (!(low <= high) || !std::isfinite(low) || !std::isfinite(high)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RandomUniform: need finite low <= high, got [", low, ", ", high, ")"));
  }
  Tensor out = Tensor::Empty(shape, dtype);
  if (dtype == DType::kFloat32) {
    const float lo = static_cast<float>(low);
    const float span = static_cast<float>(high - low);
    ParallelFill<float>(out, stream, [&](WordReader& r, int64_t i) {
      return lo + span * UnitFloat(r.Word(static_cast<uint64_t>(i)));
    });
  } else {
    ParallelFill<double>(out, stream, [&](WordReader& r, int64_t i) {
      const uint64_t w = 2 * static_cast<uint64_t>(i);
      return low + (high - low) * UnitDouble(r.Word(w), r.Word(w + 1));
    });
  }
  return out;
}

absl::StatusOr<Tensor> RandomNormal(const Shape& shape, DType dtype, const RngStream& stream,
                                    double mean, double stddev) {
  CONCORD_RETURN_IF_ERROR(CheckFloating("RandomNormal", dtype));
  if (!(stddev >= 0) || !std::isfinite(mean) || !std::isfinite(stddev)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RandomNormal: need a finite mean and stddev >= 0, got ", mean, " and ", stddev));
  }
  Tensor out = Tensor::Empty(shape, dtype);
  if (dtype == DType::kFloat32) {
    ParallelFill<float>(out, stream, [&](WordReader& r, int64_t i) {
      const uint64_t w = 2 * static_cast<uint64_t>(i);
      return mean + stddev * BoxMuller(UnitFloat(r.Word(w)), UnitFloat(r.Word(w + 1)));
    });
  } else {
    ParallelFill<double>(out, stream, [&](WordReader& r, int64_t i) {
      const uint64_t w = 4 * static_cast<uint64_t>(i);
      return mean + stddev * BoxMuller(UnitDouble(r.Word(w), r.Word(w + 1)),
                                       UnitDouble(r.Word(w + 2), r.Word(w + 3)));
    });
  }
  return out;
}

absl::StatusOr<Tensor> TruncatedNormal(const Shape& shape, DType dtype, const RngStream& stream,
                                       double mean, double stddev) {
  CONCORD_RETURN_IF_ERROR(CheckFloating("TruncatedNormal", dtype));
  if (!(stddev >= 0) || !std::isfinite(mean) || !std::isfinite(stddev)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TruncatedNormal: need a finite mean and stddev >= 0, got ", mean, " and ", stddev));
  }
  Tensor out = Tensor::Empty(shape, dtype);
  auto sample = [&](WordReader&, int64_t i) {
    // Round r reads block (counter + i) of key + r * golden: one attempt per block, so a redraw
    // never reuses words of the attempt it replaces (reusing them, even swapped, biases the
    // accepted values).
    for (uint64_t round = 0;; ++round) {
      const std::array<uint32_t, 4> b =
          PhiloxBlock(stream.seed, stream.key + round * 0x9E3779B97F4A7C15ull,
                      stream.counter + static_cast<uint64_t>(i));
      const double z = BoxMuller(UnitDouble(b[0], b[1]), UnitDouble(b[2], b[3]));
      if (std::abs(z) <= 2.0) return mean + stddev * z;
    }
  };
  if (dtype == DType::kFloat32) {
    ParallelFill<float>(out, stream, sample);
  } else {
    ParallelFill<double>(out, stream, sample);
  }
  return out;
}

Tensor RandomBits(const Shape& shape, const RngStream& stream) {
  Tensor out = Tensor::Empty(shape, DType::kInt64);
  ParallelFill<int64_t>(out, stream, [&](WordReader& r, int64_t i) {
    return static_cast<int64_t>(r.Word(static_cast<uint64_t>(i)));
  });
  return out;
}

absl::StatusOr<Tensor> DropoutMask(const Shape& shape, DType dtype, const RngStream& stream,
                                   double rate) {
  if (!IsFloating(dtype) || !(rate >= 0.0 && rate < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("DropoutMask: needs a floating dtype and a rate in [0, 1), got ",
                                                   DTypeName(dtype), " and ", rate));
  }
  const Tensor bits = RandomBits(shape, stream);
  // A word at or above ceil(rate * 2^32) keeps its element.
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(std::ldexp(rate, 32)));
  const double scale = 1.0 / (1.0 - rate);
  Tensor mask = Tensor::Empty(shape, dtype);
  const int64_t* words = bits.data<int64_t>();
  DispatchFloating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T kept = static_cast<T>(scale);
    T* out = mask.mutable_data<T>();
    for (int64_t i = 0; i < mask.num_elements(); ++i) {
      out[i] = static_cast<uint64_t>(words[i]) >= threshold ? kept : T(0);
    }
  });
  return mask;
}

}  // namespace concord::engine
