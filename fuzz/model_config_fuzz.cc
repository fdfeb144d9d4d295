// Fuzz target: arbitrary bytes are read as a model config (models/layer_registry.h). The reader
// must answer malformed JSON, unknown classes, wrong fields, bad references, hostile sizes and
// deep nesting with a status that says what is wrong, never a crash. A config it accepts must
// describe itself again (ModelToJson) as a config that reads back to the same JSON.
//
// Accepted models are not built: a config may legally ask for a 2^40-unit Dense layer, and
// allocating it is not the reader's business.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "models/functional.h"
#include "models/layer_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concord::models;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::shared_ptr<Model>> model = ModelFromJson(text);
  if (!model.ok()) {
    if (model.status().message().empty()) std::abort();
    return 0;
  }
  absl::StatusOr<std::string> json = ModelToJson(**model);
  if (!json.ok()) {
    std::fprintf(stderr, "an accepted config cannot be written back: %s\n",
                 std::string(json.status().message()).c_str());
    std::abort();
  }
  absl::StatusOr<std::shared_ptr<Model>> again = ModelFromJson(*json);
  if (!again.ok() || *ModelToJson(**again) != *json) {
    std::fprintf(stderr, "the written config does not read back the same:\n%s\n", json->c_str());
    std::abort();
  }
  // Shape inference over the whole graph must agree with what construction recorded.
  if (auto* functional = dynamic_cast<Functional*>(model->get())) {
    auto specs = functional->ComputeOutputSpecs(functional->model_input_specs());
    bool same = specs.ok() && specs->size() == functional->output_specs().size();
    for (size_t i = 0; same && i < specs->size(); ++i) {
      same = (*specs)[i].WithUnknownBatch() == functional->output_specs()[i];
    }
    if (!same) {
      std::fprintf(stderr, "shape inference disagrees with construction:\n%s\n", json->c_str());
      std::abort();
    }
  }
  return 0;
}
