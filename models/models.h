// Everything a model author needs in one include: variables, initializers, the layers, both
// model-building styles and configs. See docs/models.md.
//
//   #include "models/models.h"
//   using namespace concord::models;
#ifndef CONCORD_MODELS_MODELS_H_
#define CONCORD_MODELS_MODELS_H_

#include "models/functional.h"             // IWYU pragma: export
#include "models/initializers.h"           // IWYU pragma: export
#include "models/layer.h"                  // IWYU pragma: export
#include "models/layer_registry.h"         // IWYU pragma: export
#include "models/layers/activation.h"      // IWYU pragma: export
#include "models/layers/conv.h"            // IWYU pragma: export
#include "models/layers/dense.h"           // IWYU pragma: export
#include "models/layers/dropout.h"         // IWYU pragma: export
#include "models/layers/embedding.h"       // IWYU pragma: export
#include "models/layers/function_layer.h"  // IWYU pragma: export
#include "models/layers/merging.h"         // IWYU pragma: export
#include "models/layers/normalization.h"   // IWYU pragma: export
#include "models/layers/pooling.h"         // IWYU pragma: export
#include "models/layers/reshaping.h"       // IWYU pragma: export
#include "models/model.h"                  // IWYU pragma: export
#include "models/optimizers/optimizers.h"  // IWYU pragma: export
#include "models/training.h"               // IWYU pragma: export
#include "models/variable.h"               // IWYU pragma: export

#endif  // CONCORD_MODELS_MODELS_H_
