// Train a classifier on real data: the 8x8 handwritten digits (examples/data/README.md), with
// Compile / Fit / Evaluate, and print the accuracy it reaches on held-out digits.
//
//   ./bazelw run //examples:train_digits
//   ./bazelw run //examples:train_digits -- --history=/tmp/history.csv

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/engine.h"
#include "models/models.h"

namespace {

using concord::engine::DType;
using concord::engine::Shape;
using concord::engine::Tensor;
using namespace concord::models;  // NOLINT: a short example

struct Digits {
  std::vector<float> pixels;  // rows of 64, scaled to [0, 1]
  std::vector<int64_t> labels;
};

// ReadDigits parses the CSV: 64 pixel values in 0..16, then the label, per line.
absl::StatusOr<Digits> ReadDigits(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError("cannot open " + path);
  Digits digits;
  std::string line;
  int row = 0;
  while (std::getline(file, line)) {
    ++row;
    std::stringstream fields(line);
    std::string field;
    std::vector<double> values;
    while (std::getline(fields, field, ',')) values.push_back(std::atof(field.c_str()));
    if (values.size() != 65) {
      return absl::InvalidArgumentError(path + ": line " + std::to_string(row) + " has " +
                                        std::to_string(values.size()) + " fields, not 65");
    }
    for (int i = 0; i < 64; ++i) digits.pixels.push_back(static_cast<float>(values[i] / 16.0));
    digits.labels.push_back(static_cast<int64_t>(values[64]));
  }
  return digits;
}

// Rows copies the samples `order[begin, end)` into an x tensor and a y tensor.
absl::StatusOr<std::pair<Tensor, Tensor>> Rows(const Digits& d, const std::vector<int64_t>& order,
                                               size_t begin, size_t end) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (size_t i = begin; i < end; ++i) {
    const int64_t r = order[i];
    x.insert(x.end(), d.pixels.begin() + r * 64, d.pixels.begin() + (r + 1) * 64);
    y.push_back(d.labels[r]);
  }
  const auto n = static_cast<int64_t>(end - begin);
  CONCORD_ASSIGN_OR_RETURN(Tensor xs, Tensor::FromVector<float>(Shape({n, 64}), x));
  CONCORD_ASSIGN_OR_RETURN(Tensor ys, Tensor::FromVector<int64_t>(Shape({n}), y));
  return std::make_pair(xs, ys);
}

absl::Status Run(const std::string& data_path, const std::string& history_path) {
  CONCORD_ASSIGN_OR_RETURN(Digits digits, ReadDigits(data_path));
  // A fixed split: 80% to train, the rest held out.
  const std::vector<int64_t> order =
      ShuffledOrder(/*seed=*/7, /*epoch=*/0, static_cast<int64_t>(digits.labels.size()));
  const size_t train_size = order.size() * 4 / 5;
  CONCORD_ASSIGN_OR_RETURN(auto train, Rows(digits, order, 0, train_size));
  CONCORD_ASSIGN_OR_RETURN(auto test, Rows(digits, order, train_size, order.size()));

  DenseOptions relu;
  relu.activation = "relu";
  CONCORD_ASSIGN_OR_RETURN(auto hidden, Dense::Create(64, relu, "hidden"));
  CONCORD_ASSIGN_OR_RETURN(auto drop, Dropout::Create(0.1, {}, "drop"));
  CONCORD_ASSIGN_OR_RETURN(auto logits, Dense::Create(10, {}, "logits"));
  CONCORD_ASSIGN_OR_RETURN(auto model,
                           Sequential::Create(Input({64}), {hidden, drop, logits}, "digits"));
  CONCORD_RETURN_IF_ERROR(model->set_seed(1));
  AdamOptions adam;
  adam.learning_rate = 0.003;
  CONCORD_ASSIGN_OR_RETURN(std::unique_ptr<Adam> optimizer, Adam::Create(adam));
  CONCORD_RETURN_IF_ERROR(model->Compile(std::move(optimizer),
                                         Loss::SparseCategoricalCrossentropy(/*from_logits=*/true),
                                         {"sparse_categorical_accuracy"}));
  CONCORD_RETURN_IF_ERROR(model->Build());
  std::cout << model->Summary() << "\n";

  FitOptions fit;
  fit.epochs = 20;
  fit.batch_size = 32;
  fit.shuffle_seed = 3;
  fit.validation_x = {test.first};
  fit.validation_y = {test.second};
  CONCORD_ASSIGN_OR_RETURN(History history, model->Fit(train.first, train.second, fit));
  if (!history_path.empty()) CONCORD_RETURN_IF_ERROR(history.WriteCsv(history_path));

  CONCORD_ASSIGN_OR_RETURN(Logs result, model->Evaluate({test.first}, {test.second}));
  std::cout << "held-out digits: " << order.size() - train_size << ", accuracy "
            << result["sparse_categorical_accuracy"] << ", loss " << result["loss"] << "\n";
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = "examples/data/digits.csv";
  std::string history;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--data=")) data = arg.substr(7);
    if (absl::StartsWith(arg, "--history=")) history = arg.substr(10);
  }
  const absl::Status status = Run(data, history);
  if (!status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }
  return 0;
}
