// Every optimizer and schedule: include this one header to train.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Adam> adam, Adam::Create());
//   RETURN_IF_ERROR(adam->ApplyGradients(grads, model->trainable_variables()));
#ifndef CONCORD_MODELS_OPTIMIZERS_OPTIMIZERS_H_
#define CONCORD_MODELS_OPTIMIZERS_OPTIMIZERS_H_

#include "models/optimizers/adagrad.h"    // IWYU pragma: export
#include "models/optimizers/adam.h"       // IWYU pragma: export
#include "models/optimizers/optimizer.h"  // IWYU pragma: export
#include "models/optimizers/rmsprop.h"    // IWYU pragma: export
#include "models/optimizers/schedules.h"  // IWYU pragma: export
#include "models/optimizers/sgd.h"        // IWYU pragma: export

#endif  // CONCORD_MODELS_OPTIMIZERS_OPTIMIZERS_H_
