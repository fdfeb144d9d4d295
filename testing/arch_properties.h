// The architecture properties of the campaigns (issue 7; docs/campaigns.md, "Architecture
// properties 1-5"), one Status-returning check per property, shared by the gtest properties
// (testing/arch_properties_test.cc, testing/arch_property_test.cc) and the campaign runner.
//
//   const ArchSpec spec = *GenSpecWithSharedLayer();
//   const absl::Status s = CheckSharedLayerGradient(spec);
//   if (!s.ok()) RC_FAIL(s.ToString());
#ifndef CONCORD_TESTING_ARCH_PROPERTIES_H_
#define CONCORD_TESTING_ARCH_PROPERTIES_H_

#include "absl/status/status.h"
#include "rapidcheck.h"
#include "testing/arch_spec.h"
#include "testing/grad_check.h"

namespace concord::testing {

// Each checks one property for one generated spec and returns OkStatus when it holds, or an
// error (absl::StatusCode::kInternal for a divergence, others for a build/run failure) whose
// message names the form pair / mode, the first layer path or variable path that differs, and how.
// They never call RC_ macros, so gtest, RapidCheck and the campaign share them.

// CheckFormsAgree (property 1): subclass vs functional, functional vs from-config and (linear
// specs) subclass vs Sequential have the same variables and bitwise the same initial weights,
// outputs, gradients and variables over one inference and two training calls; the spec's output
// shapes are the models' real ones.
absl::Status CheckFormsAgree(const ArchSpec& spec);
// CheckEagerAgreesWithTraced (property 2): eager and traced calls of fresh identical models (one
// form eager, the other traced, both ways) give bitwise the same outputs (inference and
// training), gradients (a tape inside the traced Function, and an outer tape around a traced
// call) and variables, and `steps` TrainOnBatch steps eager vs traced leave bitwise the same
// weights, BatchNorm statistics, optimizer slots and counters.
absl::Status CheckEagerAgreesWithTraced(const ArchSpec& spec, int steps = 2);
// CheckOptimizerStateMaps (property 3): `steps` steps in the subclass and functional forms give
// the same slot map; `steps` steps in one form, a checkpoint, a restore into the other form and
// `steps` more steps (gradients applied in another variable order) equal 2 * `steps`
// uninterrupted steps, bitwise.
absl::Status CheckOptimizerStateMaps(const ArchSpec& spec, int steps = 2);
// CheckFiniteDifferences (property 4): the tape gradient of a scalar loss with respect to every
// trainable variable agrees with central differences in float64.
absl::Status CheckFiniteDifferences(const ArchSpec& spec);
// CheckSharedLayerGradient (property 5): a shared layer has one set of variables, and its
// gradient equals the sum of the gradients of per-call-site copies.
absl::Status CheckSharedLayerGradient(const ArchSpec& spec);

// FiniteDifferenceOptions are the step and tolerances of CheckFiniteDifferences (Note
// [Finite-difference tolerance] in arch_properties_grad.cc): h = 1e-6, rtol = 1e-5, atol = 1e-6.
GradCheckOptions FiniteDifferenceOptions();

// Generators for the specs each property wants (e.g. small float64-friendly ones for 4, ones with a
// shared layer for 5); RapidCheck shrinks them.
rc::Gen<ArchSpec> GenSpecForFiniteDifferences();
rc::Gen<ArchSpec> GenSpecWithSharedLayer();

}  // namespace concord::testing

#endif  // CONCORD_TESTING_ARCH_PROPERTIES_H_
