// Embedding: the table's path, dtype and initial values, lookups by hand for ids of several
// ranks, the gradient (a scatter-add), out-of-range ids as errors, and the config.
#include "models/layers/embedding.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::Out;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::shared_ptr<Embedding> MakeEmbedding(int64_t input_dim, int64_t output_dim,
                                         EmbeddingOptions options = {}, std::string name = "") {
  absl::StatusOr<std::shared_ptr<Embedding>> e =
      Embedding::Create(input_dim, output_dim, std::move(options), std::move(name));
  EXPECT_THAT(e, IsOk());
  return *e;
}

template <typename T>
Value Ids(const Shape& shape, std::vector<T> ids) {
  return Value::Constant(*Tensor::FromVector<T>(shape, ids));
}

// A [5, 3] table whose row r is [10 r, 10 r + 1, 10 r + 2].
void FillTable(Embedding& e) {
  std::vector<float> rows;
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 3; ++c) rows.push_back(10.0f * r + c);
  }
  Variable table = e.embeddings();
  ASSERT_THAT(table.Assign(*Tensor::FromVector<float>(Shape({5, 3}), rows)), IsOk());
}

TEST(Embedding, TableIsInitializedFromSeedAndPath) {
  std::shared_ptr<Embedding> e = MakeEmbedding(10, 4);
  ASSERT_THAT(e->set_seed(3), IsOk());
  ASSERT_THAT((*e)(Ids<int32_t>(Shape({2}), {1, 2}), false).status(), IsOk());
  ASSERT_EQ(e->variables().size(), 1u);
  const Variable& table = e->embeddings();
  EXPECT_EQ(table.path(), "embedding/embeddings");
  EXPECT_EQ(table.shape(), Shape({10, 4}));
  EXPECT_EQ(table.dtype(), DType::kFloat32);
  EXPECT_TRUE(table.trainable());
  absl::StatusOr<Tensor> expected =
      Initialize(Initializer::RandomUniform(-0.05, 0.05), 3, "embedding/embeddings", Shape({10, 4}),
                 DType::kFloat32);
  ASSERT_THAT(expected, IsOk());
  EXPECT_THAT(table.tensor(), BitwiseEquals(*expected));
  for (float v : table.tensor().ToVector<float>()) {
    EXPECT_GE(v, -0.05f);
    EXPECT_LT(v, 0.05f);
  }
}

TEST(Embedding, LooksUpRowsForIdsOfAnyRank) {
  std::shared_ptr<Embedding> e = MakeEmbedding(5, 3);
  ASSERT_THAT(e->Build(TensorSpec({kUnknownDim}, DType::kInt64)), IsOk());
  FillTable(*e);
  EXPECT_THAT(
      Out((*e)(Ids<int64_t>(Shape({3}), {4, 0, 4}), false)),
      BitwiseEquals(*Tensor::FromVector<float>(Shape({3, 3}), {40, 41, 42, 0, 1, 2, 40, 41, 42})));
  // int32 ids of rank 3 give rank 4.
  const Tensor y = Out((*e)(Ids<int32_t>(Shape({2, 1, 2}), {1, 2, 3, 0}), true));
  EXPECT_THAT(y, BitwiseEquals(*Tensor::FromVector<float>(
                     Shape({2, 1, 2, 3}), {10, 11, 12, 20, 21, 22, 30, 31, 32, 0, 1, 2})));
  // Rank 5 ids are the most a rank-6 output allows.
  EXPECT_EQ(Out((*e)(Value::Constant(Tensor::Zeros(Shape({1, 1, 1, 1, 2}), DType::kInt32)), false))
                .shape(),
            Shape({1, 1, 1, 1, 2, 3}));
}

TEST(Embedding, SymbolicOutputSpecAppendsOutputDim) {
  std::shared_ptr<Embedding> e = MakeEmbedding(100, 8);
  SymbolicTensor y = (*e)(Input({5}, DType::kInt32));
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.spec(), TensorSpec({kUnknownDim, 5, 8}, DType::kFloat32));
  EmbeddingOptions wide;
  wide.dtype = DType::kFloat64;
  SymbolicTensor z = (*MakeEmbedding(100, 8, wide))(Input({5}, DType::kInt64));
  ASSERT_THAT(z.status(), IsOk());
  EXPECT_EQ(z.spec().dtype, DType::kFloat64);
}

TEST(Embedding, GradientScatterAddsIntoTheTable) {
  EmbeddingOptions options;
  options.dtype = DType::kFloat64;
  std::shared_ptr<Embedding> e = MakeEmbedding(4, 2, options);
  ASSERT_THAT(e->Build(TensorSpec({kUnknownDim}, DType::kInt32)), IsOk());
  EXPECT_EQ(e->embeddings().dtype(), DType::kFloat64);
  const Value table = e->embeddings().value();
  autodiff::GradientTape tape;
  const Value y = (*e)(Ids<int32_t>(Shape({3}), {2, 0, 2}), true);
  const Value weights =
      Value::Constant(*Tensor::FromVector<double>(Shape({3, 2}), {1, 2, 3, 4, 5, 6}));
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(autodiff::SumAll(y * weights), {table});
  ASSERT_THAT(grads, IsOk());
  // Row 0 gets the second weight row, row 2 the sum of the first and third, rows 1 and 3 nothing.
  EXPECT_THAT(Out((*grads)[0]),
              BitwiseEquals(*Tensor::FromVector<double>(Shape({4, 2}), {3, 4, 0, 0, 6, 8, 0, 0})));
}

RC_GTEST_PROP(EmbeddingProperties, OutputRowsAreTableRows, ()) {
  const int64_t input_dim = *rc::gen::inRange<int64_t>(1, 20);
  const int64_t output_dim = *rc::gen::inRange<int64_t>(1, 5);
  const std::vector<int64_t> ids = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(0, input_dim)));
  std::shared_ptr<Embedding> e = *Embedding::Create(input_dim, output_dim);
  const int64_t n = static_cast<int64_t>(ids.size());
  const Value y = (*e)(Value::Constant(*Tensor::FromVector<int64_t>(Shape({n}), ids)), false);
  RC_ASSERT(y.ok());
  RC_ASSERT(y.shape() == Shape({n, output_dim}));
  const float* table = e->embeddings().tensor().data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < output_dim; ++c) {
      RC_ASSERT(y.tensor().data<float>()[i * output_dim + c] == table[ids[i] * output_dim + c]);
    }
  }
}

// ---- Errors -----------------------------------------------------------------------------------

TEST(Embedding, OutOfRangeIdsAreErrorsNotCrashes) {
  std::shared_ptr<Embedding> e = MakeEmbedding(5, 3);
  for (int32_t bad : {5, -1, 1000000}) {
    EXPECT_THAT((*e)(Ids<int32_t>(Shape({2}), {0, bad}), false).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("layer 'embedding' (Embedding): ids must be in [0, "
                                         "input_dim = 5): Gather: index "),
                               HasSubstr(std::to_string(bad)))))
        << bad;
  }
}

TEST(Embedding, WrongInputsNameTheLayerAndTheSpecs) {
  std::shared_ptr<Embedding> e = MakeEmbedding(5, 3, {}, "words");
  EXPECT_THAT((*e)(Value::Constant(Tensor::Zeros(Shape({2}))), false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'words' (Embedding): "), HasSubstr("int32 or int64"),
                             HasSubstr("float32[2]"))));
  EXPECT_THAT((*e)(Value::Scalar<int32_t>(1), false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int32[]")));
  EXPECT_THAT((*e)(Value::Constant(Tensor::Zeros(Shape({1, 1, 1, 1, 1, 1}), DType::kInt32)), false)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int32[1, 1, 1, 1, 1, 1]")));
  const Value ids = Ids<int32_t>(Shape({1}), {0});
  EXPECT_THAT((*e)({ids, ids}, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 1 input")));
}

TEST(Embedding, CreateRejectsBadArguments) {
  EXPECT_THAT(Embedding::Create(0, 3), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("Embedding: input_dim and output_dim")));
  EXPECT_THAT(Embedding::Create(3, -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("output_dim -1")));
  EXPECT_THAT(Embedding::Create(int64_t{1} << 30, int64_t{1} << 30),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2^48")));
  EmbeddingOptions ints;
  ints.dtype = DType::kInt32;
  EXPECT_THAT(Embedding::Create(3, 3, ints),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype must be float32")));
  EmbeddingOptions bad_init;
  bad_init.embeddings_initializer = Initializer::RandomUniform(1, -1);
  EXPECT_THAT(
      Embedding::Create(3, 3, bad_init),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Embedding: embeddings_initializer")));
  EXPECT_THAT(Embedding::Create(3, 3, {}, ""), IsOk());
  EXPECT_THAT(Embedding::Create(3, 3, {}, ".."),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid layer name")));
}

// ---- Config -----------------------------------------------------------------------------------

TEST(Embedding, ConfigRoundTripsAndRejectsBadFields) {
  EmbeddingOptions options;
  options.embeddings_initializer = Initializer::TruncatedNormal(0, 0.1);
  options.dtype = DType::kFloat64;
  std::shared_ptr<Embedding> e = MakeEmbedding(7, 2, options, "emb");
  absl::StatusOr<nlohmann::json> config = e->GetConfig();
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ((*config)["input_dim"], 7);
  EXPECT_EQ((*config)["dtype"], "float64");
  absl::StatusOr<std::shared_ptr<Embedding>> back = Embedding::FromConfig(*config);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*(*back)->GetConfig(), *config);
  EXPECT_EQ((*back)->options().embeddings_initializer, options.embeddings_initializer);

  auto from = [](const char* text) { return Embedding::FromConfig(nlohmann::json::parse(text)); };
  absl::StatusOr<std::shared_ptr<Embedding>> minimal = from(R"({"input_dim": 3, "output_dim": 2})");
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ((*minimal)->options().dtype, DType::kFloat32);
  EXPECT_THAT(from(R"({"output_dim": 2})"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     HasSubstr("field 'input_dim': missing")));
  EXPECT_THAT(from(R"({"input_dim": "3", "output_dim": 2})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'input_dim': expected an integer")));
  EXPECT_THAT(from(R"({"input_dim": 3, "output_dim": 2, "mask_zero": false})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'mask_zero'")));
  EXPECT_THAT(from(R"({"input_dim": 3, "output_dim": 2, "dtype": "float16"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'dtype'")));
  EXPECT_THAT(from(R"({"input_dim": 3, "output_dim": 2, "dtype": "int64"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype must be float32")));
  EXPECT_THAT(from(R"({"input_dim": 0, "output_dim": 2})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input_dim 0")));
}

}  // namespace
}  // namespace concord::models
