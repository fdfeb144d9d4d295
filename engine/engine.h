// The tensor engine behind one header: tensors, kernels, random numbers, threads.
//
//   #include "engine/engine.h"
//   concord::engine::Tensor x = concord::engine::Tensor::Ones(concord::engine::Shape({2, 3}));
#ifndef CONCORD_ENGINE_ENGINE_H_
#define CONCORD_ENGINE_ENGINE_H_

#include "engine/assign.h"       // IWYU pragma: export
#include "engine/conv.h"         // IWYU pragma: export
#include "engine/dtype.h"        // IWYU pragma: export
#include "engine/elementwise.h"  // IWYU pragma: export
#include "engine/matmul.h"       // IWYU pragma: export
#include "engine/movement.h"     // IWYU pragma: export
#include "engine/random.h"       // IWYU pragma: export
#include "engine/reduction.h"    // IWYU pragma: export
#include "engine/shape.h"        // IWYU pragma: export
#include "engine/status.h"       // IWYU pragma: export
#include "engine/tensor.h"       // IWYU pragma: export
#include "engine/threading.h"    // IWYU pragma: export

#endif  // CONCORD_ENGINE_ENGINE_H_
