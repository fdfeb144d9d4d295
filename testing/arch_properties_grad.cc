// Properties 4 and 5: gradients agree with finite differences; a shared layer's gradient is the
// sum over its uses (testing/arch_properties.h). And the generators of the specs they want.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "engine/status.h"
#include "testing/arch_properties.h"
#include "testing/arch_properties_internal.h"
#include "testing/grad_check.h"
#include "testing/layer_grad_check.h"
#include "testing/tensor_matchers.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using internal::Form;
using models::Model;
using models::Variable;

// Flat is the outputs as one value: the output itself, or the outputs flattened and concatenated.
Value Flat(const std::vector<Value>& outputs) {
  if (outputs.size() == 1) return outputs[0];
  std::vector<Value> flat;
  for (const Value& y : outputs) flat.push_back(autodiff::Reshape(y, {-1}));
  return autodiff::Concat(flat, 0);
}

// Sites are the nodes that call each shared layer (its owner's node first, then in call order),
// by owner node.
std::map<int, std::vector<int>> SharedSites(const ArchSpec& spec) {
  std::map<int, std::vector<int>> sites;
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    if (spec.nodes[i].shares >= 0) sites[spec.nodes[i].shares].push_back(i);
  }
  for (auto& [owner, nodes] : sites) nodes.insert(nodes.begin(), owner);
  return sites;
}

// Unshared is `spec` with every call site owning its layer (a copy, named after its own node).
ArchSpec Unshared(ArchSpec spec) {
  for (ArchNode& node : spec.nodes) node.shares = -1;
  return spec;
}

// CopyPaths maps each variable path of the shared model to the paths of its copies in the
// unshared one, in call order (a variable of an unshared layer maps to its own path).
std::map<std::string, std::vector<std::string>> CopyPaths(const ArchSpec& spec,
                                                          const Model& shared) {
  const ArchSpec unshared = Unshared(spec);
  const std::map<int, std::vector<int>> sites = SharedSites(spec);
  std::map<std::string, std::vector<std::string>> out;
  for (const Variable& v : shared.variables()) {
    std::vector<std::string>& copies = out[v.path()];
    for (const auto& [owner, nodes] : sites) {
      const std::string prefix = absl::StrCat(spec.LayerName(owner), "/");
      if (!absl::StartsWith(v.path(), prefix)) continue;
      for (int node : nodes) {
        copies.push_back(
            absl::StrCat(unshared.LayerName(node), "/", v.path().substr(prefix.size())));
      }
    }
    if (copies.empty()) copies.push_back(v.path());
  }
  return out;
}

// CountUnder is the number of variables of `model` whose path starts with `layer` + "/".
int CountUnder(const Model& model, const std::string& layer) {
  int n = 0;
  for (const Variable& v : model.variables()) n += absl::StartsWith(v.path(), layer + "/");
  return n;
}

// CheckOneSetOfVariables: the shared model's paths are unique, and each shared layer holds as
// many variables as each of its copies in the unshared model (one set, not one per call).
absl::Status CheckOneSetOfVariables(const ArchSpec& spec, const Model& shared,
                                    const Model& copies) {
  std::set<std::string> paths;
  for (const Variable& v : shared.variables()) {
    if (!paths.insert(v.path()).second) {
      return absl::InternalError(absl::StrCat("variable path ", v.path(), " appears twice"));
    }
  }
  const ArchSpec unshared = Unshared(spec);
  for (const auto& [owner, nodes] : SharedSites(spec)) {
    const int n = CountUnder(shared, spec.LayerName(owner));
    for (int node : nodes) {
      const int m = CountUnder(copies, unshared.LayerName(node));
      if (n != m) {
        return absl::InternalError(absl::StrCat(
            "shared layer ", spec.LayerName(owner), " (called by ", nodes.size(), " nodes) has ", n,
            " variables, its copy ", unshared.LayerName(node), " in the unshared model ", m));
      }
    }
  }
  return absl::OkStatus();
}

// CopyWeights gives each copy in `copies` the weights of its layer in `shared`.
absl::Status CopyWeights(const std::map<std::string, std::vector<std::string>>& copy_paths,
                         const Model& shared, Model& copies) {
  std::map<std::string, Variable> by_path;
  for (const Variable& v : copies.variables()) by_path[v.path()] = v;
  for (const Variable& v : shared.variables()) {
    for (const std::string& path : copy_paths.at(v.path())) {
      if (by_path.count(path) == 0) {
        return absl::InternalError(absl::StrCat("the unshared model has no variable ", path));
      }
      CONCORD_RETURN_IF_ERROR(by_path[path].Assign(v.tensor()));
    }
  }
  return absl::OkStatus();
}

// CompareSummedGradients: the loss is bitwise the unshared model's, and the gradient of each
// trainable variable is bitwise the sum of its copies' gradients, added newest call first
// (Note [Summing over call sites]).
absl::Status CompareSummedGradients(
    const std::map<std::string, std::vector<std::string>>& copy_paths, Model& shared, Model& copies,
    absl::Span<const Value> inputs, bool training, const std::string& when) {
  const std::vector<Value> a = internal::LossAndGradients(shared, inputs, training);
  const std::vector<Value> b = internal::LossAndGradients(copies, inputs, training);
  CONCORD_RETURN_IF_ERROR(internal::FirstError(a, absl::StrCat(when, ", shared model")));
  CONCORD_RETURN_IF_ERROR(internal::FirstError(b, absl::StrCat(when, ", unshared model")));
  CONCORD_RETURN_IF_ERROR(
      internal::Divergence(when, internal::DiffValues("loss", {b[0]}, {a[0]}, {"the loss"})));
  // A model whose call created variables (a layer building twice) no longer lines up with the
  // gradients taken for the variables it had before the call: a failure, not an index past the end.
  const std::vector<Variable> copy_vars = copies.trainable_variables();
  const std::vector<Variable> vars = shared.trainable_variables();
  if (a.size() != vars.size() + 1 || b.size() != copy_vars.size() + 1) {
    return absl::InternalError(absl::StrCat(
        when, ": the call changed the trainable variables (shared model: ", a.size() - 1,
        " gradients for ", vars.size(), " variables now; unshared model: ", b.size() - 1,
        " gradients for ", copy_vars.size(), ")"));
  }
  std::map<std::string, Value> copy_grads;
  for (size_t i = 0; i < copy_vars.size(); ++i) copy_grads[copy_vars[i].path()] = b[i + 1];
  for (size_t i = 0; i < vars.size(); ++i) {
    const auto paths_it = copy_paths.find(vars[i].path());
    if (paths_it == copy_paths.end()) {
      return absl::InternalError(absl::StrCat(when, ": the shared model's variable ",
                                              vars[i].path(), " appeared during the call"));
    }
    const std::vector<std::string>& paths = paths_it->second;
    std::vector<Value> site_grads;
    for (const std::string& path : paths) {
      const auto grad_it = copy_grads.find(path);
      if (grad_it == copy_grads.end()) {
        return absl::InternalError(absl::StrCat(when, ": the unshared model has no trainable ",
                                                path, " for ", vars[i].path()));
      }
      site_grads.push_back(grad_it->second);
    }
    Value sum = site_grads.back();
    for (int k = static_cast<int>(paths.size()) - 2; k >= 0; --k) sum = sum + site_grads[k];
    const std::string d = AgreementDiff(a[i + 1].tensor(), sum.tensor());
    if (!d.empty()) {
      return absl::InternalError(
          absl::StrCat(when, ": the gradient of ", vars[i].path(), " is not the sum of its ",
                       paths.size(), " call sites' (", absl::StrJoin(paths, " + "), "): ", d));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// Note [Summing over call sites]
// The tape accumulates a gradient that reaches a value from several consumers one at a time, in
// its reverse walk over the equations: the newest call's contribution first, then Add(sum, next
// older) (autodiff/tape.cc). Summing the copies' gradients in that same order performs the same
// Adds on the same bits, so property 5 compares bitwise; another order would differ in the last
// bits from three call sites on, since float addition is not associative.
absl::Status CheckSharedLayerGradient(const ArchSpec& spec) {
  if (SharedSites(spec).empty()) {
    return absl::InvalidArgumentError("CheckSharedLayerGradient: the spec shares no layer");
  }
  const std::vector<Value> inputs = RandomInputs(spec);
  for (const Form form : {Form::kFunctional, Form::kSubclass}) {
    const std::string name = internal::FormName(form);
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> shared,
                             internal::BuildSeeded(spec, form, inputs));
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> copies,
                             internal::BuildSeeded(Unshared(spec), form, inputs));
    CONCORD_RETURN_IF_ERROR(
        internal::Annotate(CheckOneSetOfVariables(spec, *shared, *copies), name));
    const std::map<std::string, std::vector<std::string>> copy_paths = CopyPaths(spec, *shared);
    CONCORD_RETURN_IF_ERROR(internal::Annotate(CopyWeights(copy_paths, *shared, *copies), name));
    for (const bool training : {false, true}) {
      CONCORD_RETURN_IF_ERROR(CompareSummedGradients(
          copy_paths, *shared, *copies, inputs, training,
          absl::StrCat(name, training ? ", training call" : ", inference call")));
    }
  }
  return absl::OkStatus();
}

// Note [Finite-difference tolerance]
// Central differences in float64 with h = 1e-6 have a truncation error of about h^2 / 6 * |f'''|
// (1e-13 for the smooth layers of GenSpecForFiniteDifferences; normalizations over a tiny
// variance raise f''' to about eps^-1.5 = 3e4 for LayerNormalization's eps of 1e-3, still under
// 1e-8) and a rounding error of about 1e-16 * |s| / h = 1e-10 * |s|, with |s| = |sum(y * v)| well
// under 100 for these small specs (dims <= 3, batch <= 3): under 1e-8 in all. atol = 1e-6 and
// rtol = 1e-5 leave a hundredfold margin over that, and are still tight enough that a gradient rule
// off by 1% (tanh's derivative scaled by 0.99, say) fails on any element whose gradient exceeds
// 1e-4 in magnitude; with random weights most do. Rounding noise amplified past this estimate (a
// BatchNormalization over a batch constant up to rounding) is handled by GradCheck itself: Note
// [Noisy finite differences] in testing/grad_check.cc.
GradCheckOptions FiniteDifferenceOptions() {
  GradCheckOptions options;
  options.step = 1e-6;
  options.rtol = 1e-5;
  options.atol = 1e-6;
  return options;
}

absl::Status CheckFiniteDifferences(const ArchSpec& spec) {
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (spec.inputs[i].dtype != engine::DType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CheckFiniteDifferences needs float64 inputs; input ", i, " is ",
          engine::DTypeName(spec.inputs[i].dtype), " (use GenSpecForFiniteDifferences)"));
    }
  }
  const std::vector<Value> inputs = RandomInputs(spec);
  const Form form = spec.data_key % 2 == 0 ? Form::kFunctional : Form::kSubclass;
  CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, internal::BuildSeeded(spec, form, inputs));
  const GradCheckOptions options = FiniteDifferenceOptions();
  for (const bool training : {false, true}) {
    const std::string when =
        absl::StrCat(internal::FormName(form), training ? ", training calls" : ", inference calls");
    for (const Variable& v : model->trainable_variables()) {
      CONCORD_RETURN_IF_ERROR(internal::Annotate(
          VariableGradCheck([&] { return Flat(model->CallMulti(inputs, training)); }, v, options),
          when));
    }
    CONCORD_RETURN_IF_ERROR(internal::Annotate(
        GradCheck([&](absl::Span<const Value> x) { return Flat(model->CallMulti(x, training)); },
                  internal::Tensors(inputs), options),
        absl::StrCat(when, ", gradient with respect to the inputs")));
  }
  return absl::OkStatus();
}

rc::Gen<ArchSpec> GenSpecForFiniteDifferences() {
  ArchSpecOptions options;
  options.max_nodes = 4;
  options.max_dim = 3;
  options.max_batch = 3;
  options.float64 = true;
  options.smooth = true;
  return GenArchSpec(options);
}

rc::Gen<ArchSpec> GenSpecWithSharedLayer() {
  ArchSpecOptions options;
  options.shared = true;
  return GenArchSpec(options);
}

}  // namespace concord::testing
