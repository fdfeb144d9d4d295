// Variable gradient checking: compare the tape's gradient with respect to a model variable (a
// Dense kernel, a BatchNormalization gamma) with central finite differences.
//
//   auto fn = [&] { return (*dense)(Value::Constant(x), /*training=*/false); };
//   EXPECT_THAT(VariableGradCheck(fn, dense->kernel()), IsOk());   // a float64 variable
//
// Like GradCheck, and public for the same reason: authors of layers check their own variables'
// gradients with it.
//
// How it works. fn's output y is reduced to s = sum(y * v) with a fixed random projection v, as
// in GradCheck (testing/grad_check.h). The analytic gradient is the tape's d s / d w, taken with
// respect to the Value fn's ops read (Note [Variable identity] in models/variable.h). The numeric
// one, per element of w, is (s(w + h) - s(w - h)) / (2h), with w + h and w - h written into the
// variable by Assign; the variable holds its original values again when the check returns. An
// element passes when |analytic - numeric| <= atol + rtol * |numeric|.
#ifndef CONCORD_TESTING_LAYER_GRAD_CHECK_H_
#define CONCORD_TESTING_LAYER_GRAD_CHECK_H_

#include <functional>

#include "absl/status/status.h"
#include "autodiff/value.h"
#include "models/variable.h"
#include "testing/grad_check.h"

namespace concord::testing {

// VariableGradCheck returns OK; InvalidArgument for an undefined or non-float64 variable, for fn
// failing or returning a non-float64 value, or when fn's output does not depend on the variable;
// or Internal naming the first mismatching element:
//   "VariableGradCheck: variable 'dense/kernel' element [2, 0]: analytic 0.53, numeric 0.54 ..."
// fn runs once on the tape and twice per element of the variable; it must read the variable
// anew on each run (a layer call does).
absl::Status VariableGradCheck(const std::function<autodiff::Value()>& fn,
                               models::Variable variable, const GradCheckOptions& options = {});

}  // namespace concord::testing

#endif  // CONCORD_TESTING_LAYER_GRAD_CHECK_H_
