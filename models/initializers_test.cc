// Initializers: known values and bounds, orthogonality, statistics of the normals, every error,
// the registry and JSON form, and the properties of Note [Initializer streams] (a pure function of
// (seed, path, shape, dtype), independent of order and thread count).
#include "models/initializers.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "engine/threading.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 42;

Tensor Init(const Initializer& init, const Shape& shape, DType dtype = DType::kFloat32,
            absl::string_view path = "block1/dense/kernel", uint64_t seed = kSeed) {
  absl::StatusOr<Tensor> t = Initialize(init, seed, path, shape, dtype);
  EXPECT_THAT(t, IsOk());
  return t.ok() ? *t : Tensor::Zeros(shape, dtype);
}

std::vector<double> AsDoubles(const Tensor& t) {
  std::vector<double> out(t.num_elements());
  for (int64_t i = 0; i < t.num_elements(); ++i) out[i] = t.ElementAsDouble(i);
  return out;
}

struct Moments {
  double mean = 0;
  double stddev = 0;
  double max_abs_deviation = 0;  // from the expected mean
};
Moments MomentsOf(const Tensor& t, double expected_mean) {
  const std::vector<double> v = AsDoubles(t);
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= v.size();
  double var = 0;
  for (double x : v) {
    var += (x - m.mean) * (x - m.mean);
    m.max_abs_deviation = std::max(m.max_abs_deviation, std::abs(x - expected_mean));
  }
  m.stddev = std::sqrt(var / v.size());
  return m;
}

// ---- Known values ---------------------------------------------------------------------------

TEST(Initializers, ZerosOnesConstant) {
  EXPECT_THAT(Init(Initializer::Zeros(), Shape({2, 3})),
              BitwiseEquals(Tensor::Zeros(Shape({2, 3}))));
  EXPECT_THAT(Init(Initializer::Ones(), Shape({4}), DType::kFloat64),
              BitwiseEquals(Tensor::Ones(Shape({4}), DType::kFloat64)));
  EXPECT_THAT(Init(Initializer::Constant(0.25), Shape({3, 1})),
              BitwiseEquals(Tensor::Full(Shape({3, 1}), 0.25)));
  // Deterministic initializers take any dtype.
  EXPECT_THAT(Init(Initializer::Constant(7), Shape({2}), DType::kInt32),
              BitwiseEquals(*Tensor::FromVector<int32_t>(Shape({2}), {7, 7})));
  EXPECT_THAT(Init(Initializer::Ones(), Shape(), DType::kBool),
              BitwiseEquals(Tensor::Scalar<bool>(true)));
}

TEST(Initializers, FansFollowKeras) {
  auto fans = [](const Shape& s) {
    const Fans f = ComputeFans(s);
    return std::vector<double>{f.fan_in, f.fan_out};
  };
  EXPECT_THAT(fans(Shape()), ElementsAre(1, 1));
  EXPECT_THAT(fans(Shape({5})), ElementsAre(5, 5));
  EXPECT_THAT(fans(Shape({784, 128})), ElementsAre(784, 128));      // Dense [in, out]
  EXPECT_THAT(fans(Shape({3, 3, 16, 32})), ElementsAre(144, 288));  // Conv2D [kh, kw, in, out]
  EXPECT_THAT(fans(Shape({5, 4, 6})), ElementsAre(20, 30));         // Conv1D [k, in, out]
}

TEST(Initializers, UniformsStayWithinTheirLimits) {
  struct Case {
    Initializer init;
    Shape shape;
    double limit;
  };
  const std::vector<Case> cases = {
      {Initializer::GlorotUniform(), Shape({64, 32}), std::sqrt(6.0 / (64 + 32))},
      {Initializer::GlorotUniform(), Shape({3, 3, 4, 8}), std::sqrt(6.0 / (36 + 72))},
      {Initializer::HeUniform(), Shape({50, 10}), std::sqrt(6.0 / 50)},
      {Initializer::LecunUniform(), Shape({50, 10}), std::sqrt(3.0 / 50)},
      {Initializer::RandomUniform(-0.5, 0.5), Shape({40, 40}), 0.5},
  };
  for (const Case& c : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      const std::vector<double> v = AsDoubles(Init(c.init, c.shape, dtype));
      double max_abs = 0;
      for (double x : v) max_abs = std::max(max_abs, std::abs(x));
      EXPECT_LE(max_abs, c.limit) << c.init.ToString();
      EXPECT_GT(max_abs, 0.9 * c.limit) << c.init.ToString();  // the range is used
    }
  }
  const std::vector<double> v = AsDoubles(Init(Initializer::RandomUniform(2, 3), Shape({1000})));
  for (double x : v) {
    EXPECT_GE(x, 2);
    EXPECT_LT(x, 3);
  }
}

// Statistics on 200,000 draws: the *_normal initializers have the Keras stddev sqrt(scale / fan)
// after truncation, and nothing lies beyond two (pre-truncation) standard deviations.
TEST(Initializers, NormalsHaveTheirStatistics) {
  struct Case {
    Initializer init;
    Shape shape;
    double mean;
    double stddev;  // of the result
    double bound;   // every |x - mean| <= bound; 0 for no bound
  };
  const double kCorr = .87962566103423978;
  const std::vector<Case> cases = {
      {Initializer::GlorotNormal(), Shape({400, 500}), 0, std::sqrt(2.0 / 900),
       2 * std::sqrt(2.0 / 900) / kCorr},
      {Initializer::HeNormal(), Shape({400, 500}), 0, std::sqrt(2.0 / 400),
       2 * std::sqrt(2.0 / 400) / kCorr},
      {Initializer::LecunNormal(), Shape({5, 5, 16, 500}), 0, std::sqrt(1.0 / 400),
       2 * std::sqrt(1.0 / 400) / kCorr},
      {Initializer::TruncatedNormal(1.0, 2.0), Shape({200000}), 1.0, 2.0 * kCorr, 4.0},
      {Initializer::RandomNormal(-1.0, 3.0), Shape({200000}), -1.0, 3.0, 0},
  };
  for (const Case& c : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      const Moments m = MomentsOf(Init(c.init, c.shape, dtype), c.mean);
      EXPECT_NEAR(m.mean, c.mean, 5 * c.stddev / std::sqrt(c.shape.num_elements()))
          << c.init.ToString();
      EXPECT_NEAR(m.stddev, c.stddev, 0.01 * c.stddev) << c.init.ToString();
      if (c.bound > 0) {
        EXPECT_LE(m.max_abs_deviation, c.bound * (1 + 1e-6)) << c.init.ToString();
      }
    }
  }
}

// engine::TruncatedNormal once reused a rejected attempt's words for the redraw, which biased
// the mean by about +0.029 stddev (30 standard errors at this size); it must stay centred.
TEST(Initializers, TruncatedNormalsAreCentred) {
  const Shape shape({1000, 1000});
  const Moments m =
      MomentsOf(Init(Initializer::TruncatedNormal(0.0, 1.0), shape, DType::kFloat64), 0.0);
  EXPECT_NEAR(m.mean, 0.0, 5 * 0.88 / std::sqrt(shape.num_elements()));
}

// ---- Orthogonal -----------------------------------------------------------------------------

// Gram returns A^T A for `t` viewed as [rows, cols] (rows = product of the leading sizes), or
// A A^T when `rows_orthonormal`.
std::vector<double> Gram(const Tensor& t, bool rows_orthonormal, int64_t* size) {
  const int64_t cols = t.dim(t.rank() - 1);
  const int64_t rows = t.num_elements() / cols;
  const std::vector<double> a = AsDoubles(t);
  const int64_t n = rows_orthonormal ? rows : cols;
  const int64_t k = rows_orthonormal ? cols : rows;
  auto at = [&](int64_t i, int64_t j) {  // element (i, j) of the matrix whose columns we dot
    return rows_orthonormal ? a[j * cols + i] : a[i * cols + j];
  };
  std::vector<double> g(n * n, 0.0);
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t q = 0; q < n; ++q) {
      for (int64_t i = 0; i < k; ++i) g[p * n + q] += at(i, p) * at(i, q);
    }
  }
  *size = n;
  return g;
}

TEST(Initializers, OrthogonalIsOrthonormal) {
  struct Case {
    Shape shape;
    double gain;
  };
  const std::vector<Case> cases = {{Shape({8, 4}), 1.0},        {Shape({4, 8}), 1.0},
                                   {Shape({16, 16}), 1.0},      {Shape({3, 3, 4, 8}), 1.0},
                                   {Shape({3, 3, 16, 4}), 1.0}, {Shape({2, 2, 2, 64}), 1.0},
                                   {Shape({10, 6}), 2.0}};
  for (const Case& c : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      const Tensor q = Init(Initializer::Orthogonal(c.gain), c.shape, dtype);
      const int64_t cols = c.shape.dim(c.shape.rank() - 1);
      const int64_t rows = c.shape.num_elements() / cols;
      int64_t n = 0;
      const std::vector<double> g = Gram(q, /*rows_orthonormal=*/rows < cols, &n);
      const double tol = dtype == DType::kFloat32 ? 1e-5 : 1e-12;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          EXPECT_NEAR(g[i * n + j], i == j ? c.gain * c.gain : 0.0, tol * c.gain * c.gain)
              << c.shape << " " << engine::DTypeName(dtype) << " at " << i << "," << j;
        }
      }
    }
  }
}

// Orthogonal is the sign-corrected Q of the QR of the normal matrix drawn from the variable's
// stream: R = Q^T A is upper triangular with a positive diagonal.
TEST(Initializers, OrthogonalIsTheSignCorrectedQOfTheStreamsNormalMatrix) {
  for (const Shape& shape : {Shape({8, 4}), Shape({4, 8})}) {
    const Tensor out = Init(Initializer::Orthogonal(), shape, DType::kFloat64);
    const Tensor a = *engine::RandomNormal(
        Shape({8, 4}), DType::kFloat64,
        engine::RngStream{kSeed, engine::StableHash64("block1/dense/kernel"), 0});
    auto q = [&](int64_t i, int64_t j) {  // Q is 8 x 4; the [4, 8] result is Q^T
      return shape.dim(0) == 8 ? out.ElementAsDouble(i * 4 + j) : out.ElementAsDouble(j * 8 + i);
    };
    for (int64_t r = 0; r < 4; ++r) {
      for (int64_t c = 0; c < 4; ++c) {
        double rc = 0;
        for (int64_t i = 0; i < 8; ++i) rc += q(i, r) * a.ElementAsDouble(i * 4 + c);
        if (r > c) {
          EXPECT_NEAR(rc, 0.0, 1e-12) << shape << " R(" << r << "," << c << ")";
        } else if (r == c) {
          EXPECT_GT(rc, 0.0) << shape << " R(" << r << "," << r << ")";
        }
      }
    }
  }
}

TEST(Initializers, OrthogonalOfAnEmptyShapeIsEmpty) {
  EXPECT_EQ(Init(Initializer::Orthogonal(), Shape({0, 4})).num_elements(), 0);
}

// ---- Errors ---------------------------------------------------------------------------------

TEST(Initializers, BadInputsNameTheInitializerAndShape) {
  struct Case {
    Initializer init;
    Shape shape;
    DType dtype;
    const char* why;
  };
  const std::vector<Case> cases = {
      {Initializer::TruncatedNormal(0, -1), Shape({2, 3}), DType::kFloat32, "stddev is negative"},
      {Initializer::RandomNormal(0, -0.1), Shape({2, 3}), DType::kFloat32, "stddev is negative"},
      {Initializer::RandomUniform(1, -1), Shape({2, 3}), DType::kFloat32, "minval"},
      {Initializer::Constant(NAN), Shape({2, 3}), DType::kFloat32, "not finite"},
      {Initializer::RandomNormal(INFINITY, 1), Shape({2, 3}), DType::kFloat32, "not finite"},
      {Initializer::GlorotUniform(), Shape({0, 0}), DType::kFloat32, "fan is 0"},
      {Initializer::HeNormal(), Shape({0, 3}), DType::kFloat32, "fan is 0"},
      {Initializer::LecunUniform(), Shape({3, 3, 0, 4}), DType::kFloat32, "fan is 0"},
      {Initializer::GlorotUniform(), Shape({2, 3}), DType::kInt32, "float32 or float64"},
      {Initializer::RandomNormal(), Shape({2, 3}), DType::kBool, "float32 or float64"},
      {Initializer::Orthogonal(), Shape({2, 3}), DType::kInt64, "float32 or float64"},
      {Initializer::Orthogonal(), Shape({5}), DType::kFloat32, "rank >= 2"},
      {Initializer::Orthogonal(), Shape(), DType::kFloat32, "rank >= 2"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(
        Initialize(c.init, kSeed, "w", c.shape, c.dtype),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr(c.init.name()), HasSubstr(c.shape.ToString()), HasSubstr(c.why))))
        << c.init.ToString() << " " << c.shape;
  }
}

// ---- Registry and JSON ----------------------------------------------------------------------

TEST(InitializerRegistry, KnownNames) {
  EXPECT_THAT(Initializer::KnownNames(),
              ElementsAre("constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
                          "lecun_normal", "lecun_uniform", "ones", "orthogonal", "random_normal",
                          "random_uniform", "truncated_normal", "zeros"));
}

TEST(InitializerRegistry, FromNameGivesTheFactoryDefaults) {
  EXPECT_EQ(*Initializer::FromName("glorot_uniform"), Initializer::GlorotUniform());
  EXPECT_EQ(*Initializer::FromName("truncated_normal"), Initializer::TruncatedNormal());
  EXPECT_EQ(*Initializer::FromName("random_uniform"), Initializer::RandomUniform());
  EXPECT_EQ(*Initializer::FromName("orthogonal"), Initializer::Orthogonal());
  EXPECT_EQ(*Initializer::FromName("constant"), Initializer::Constant(0));
  EXPECT_EQ(*Initializer::Create("random_normal", {{"stddev", 2.0}}),
            Initializer::RandomNormal(0.0, 2.0));
  EXPECT_EQ(Initializer::TruncatedNormal(1, 2).ToString(), "truncated_normal(mean=1, stddev=2)");
}

TEST(InitializerRegistry, UnknownNamesAndParametersAreInvalid) {
  EXPECT_THAT(Initializer::FromName("xavier"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"xavier\""),
                             HasSubstr(absl::StrJoin(Initializer::KnownNames(), ", ")))));
  EXPECT_THAT(Initializer::Create("orthogonal", {{"scale", 2.0}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"scale\""), HasSubstr("gain"))));
  EXPECT_THAT(Initializer::Create("zeros", {{"value", 1.0}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("none")));
}

TEST(InitializerJson, EveryInitializerRoundTrips) {
  for (const std::string& name : Initializer::KnownNames()) {
    Initializer init = *Initializer::FromName(name);
    if (name == "random_normal") init = Initializer::RandomNormal(0.1, 0.3);
    const nlohmann::json json = init.ToJson();
    EXPECT_EQ(json["name"], name);
    absl::StatusOr<Initializer> back = Initializer::FromJson(nlohmann::json::parse(json.dump()));
    ASSERT_THAT(back, IsOk()) << json.dump();
    EXPECT_EQ(*back, init) << json.dump();
  }
  EXPECT_EQ(Initializer::TruncatedNormal(0, 0.5).ToJson().dump(),
            R"({"config":{"mean":0.0,"stddev":0.5},"name":"truncated_normal"})");
}

TEST(InitializerJson, ReadsBareNamesAndMissingParameters) {
  EXPECT_EQ(*Initializer::FromJson("he_normal"), Initializer::HeNormal());
  EXPECT_EQ(*Initializer::FromJson(nlohmann::json::parse(R"({"name": "orthogonal"})")),
            Initializer::Orthogonal(1.0));
  EXPECT_EQ(*Initializer::FromJson(
                nlohmann::json::parse(R"({"name": "random_uniform", "config": {"maxval": 2}})")),
            Initializer::RandomUniform(-0.05, 2));
}

TEST(InitializerJson, MalformedJsonIsInvalid) {
  for (const char* text :
       {R"(3)", R"([])", R"({})", R"({"name": 3})", R"({"name": "zeros", "seed": 1})",
        R"({"name": "zeros", "config": 1})", R"({"name": "constant", "config": {"value": "1"}})",
        R"({"name": "constant", "config": {"v": 1}})", R"("nope")"}) {
    EXPECT_THAT(Initializer::FromJson(nlohmann::json::parse(text)),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << text;
  }
}

// ---- Properties (Note [Initializer streams]) ------------------------------------------------

const std::vector<Initializer>& RandomInitializers() {
  static const auto* inits = new std::vector<Initializer>{Initializer::GlorotUniform(),
                                                          Initializer::GlorotNormal(),
                                                          Initializer::HeUniform(),
                                                          Initializer::HeNormal(),
                                                          Initializer::LecunUniform(),
                                                          Initializer::LecunNormal(),
                                                          Initializer::TruncatedNormal(0.5, 2),
                                                          Initializer::RandomUniform(-1, 3),
                                                          Initializer::RandomNormal(1, 0.5),
                                                          Initializer::Orthogonal(1.5)};
  return *inits;
}

rc::Gen<std::string> GenPath() {
  const rc::Gen<std::string> segment = rc::gen::nonEmpty(
      rc::gen::container<std::string>(rc::gen::elementOf(std::string("abcxyzAZ019_.-"))));
  return rc::gen::map(
      rc::gen::resize(3, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(segment))),
      [](const std::vector<std::string>& parts) { return absl::StrJoin(parts, "/"); });
}

struct Case {
  Initializer init;
  uint64_t seed;
  Shape shape;
  DType dtype;
};

rc::Gen<Case> GenCase(int64_t max_dim) {
  return rc::gen::apply(
      [](Initializer init, uint64_t seed, Shape shape, DType dtype) {
        return Case{std::move(init), seed, shape, dtype};
      },
      rc::gen::elementOf(RandomInitializers()), rc::gen::arbitrary<uint64_t>(),
      concord::testing::GenShape(/*max_rank=*/4, max_dim, /*min_rank=*/2),
      rc::gen::element(DType::kFloat32, DType::kFloat64));
}

Tensor MustInit(const Case& c, const std::string& path) {
  absl::StatusOr<Tensor> t = Initialize(c.init, c.seed, path, c.shape, c.dtype);
  RC_ASSERT(t.ok());
  return *t;
}

RC_GTEST_PROP(InitializerProperties, SameSeedPathShapeAndDtypeGiveBitwiseTheSameTensor, ()) {
  const Case c = *GenCase(6);
  const std::string path = *GenPath();
  RC_ASSERT(engine::BitwiseEqual(MustInit(c, path), MustInit(c, path)));
}

RC_GTEST_PROP(InitializerProperties, CreationOrderAndOtherVariablesChangeNothing, ()) {
  const Case c = *GenCase(5);
  const std::vector<std::string> paths =
      *rc::gen::nonEmpty(rc::gen::unique<std::vector<std::string>>(GenPath()));
  std::vector<Tensor> first;
  for (const std::string& p : paths) first.push_back(MustInit(c, p));
  // Again in reverse order, with other variables (other paths, other initializers) in between.
  const std::vector<std::string> others = *rc::gen::container<std::vector<std::string>>(GenPath());
  std::vector<Tensor> second(paths.size());
  for (size_t i = paths.size(); i-- > 0;) {
    for (const std::string& o : others) {
      (void)Initialize(Initializer::GlorotNormal(), c.seed + 1, o, c.shape, c.dtype);
      (void)Initialize(c.init, c.seed, o + "/other", c.shape, c.dtype);
    }
    second[i] = MustInit(c, paths[i]);
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    RC_ASSERT(engine::BitwiseEqual(first[i], second[i]));
  }
}

RC_GTEST_PROP(InitializerProperties, DifferentPathsOrSeedsGiveDifferentValues, ()) {
  Case c = *GenCase(6);
  c.shape = Shape({4, c.shape.dim(1) + 3});  // at least 16 elements: no chance collisions
  const std::string a = *GenPath();
  const std::string b = *GenPath();
  RC_PRE(a != b);
  RC_ASSERT(!engine::BitwiseEqual(MustInit(c, a), MustInit(c, b)));
  Case other_seed = c;
  other_seed.seed = c.seed + 1;
  RC_ASSERT(!engine::BitwiseEqual(MustInit(c, a), MustInit(other_seed, a)));
}

RC_GTEST_PROP(InitializerProperties, ValuesDoNotDependOnTheThreadCount, ()) {
  const Case c = *GenCase(40);
  const std::string path = *GenPath();
  Tensor one_thread, two_threads;
  {
    engine::ScopedNumThreads threads(1);
    one_thread = MustInit(c, path);
  }
  {
    engine::ScopedNumThreads threads(2);
    two_threads = MustInit(c, path);
  }
  RC_ASSERT(engine::BitwiseEqual(one_thread, two_threads));
}

}  // namespace
}  // namespace concord::models
