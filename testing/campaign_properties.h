// Campaign properties: the one list of every property the campaign runner (//fuzz:campaign) runs,
// each a RapidCheck property body with a name and the promise it checks (docs/campaigns.md).
//
//   for (const CampaignProperty& p : CampaignProperties()) rc::check(p.name, p.check);
//   const CampaignCase& shrunk = LastCase();  // what the last run body generated
//
// A body generates its case, records it with RecordCase and then checks it, failing with RC_FAIL
// and a message that names what differs. After RapidCheck reproduces a shrunk counterexample (the
// failing case runs last), LastCase() holds that case, so the runner can write it out as C++,
// JSON and Graphviz (testing/campaign_report.h).
#ifndef CONCORD_TESTING_CAMPAIGN_PROPERTIES_H_
#define CONCORD_TESTING_CAMPAIGN_PROPERTIES_H_

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rapidcheck.h"
#include "testing/arch_spec.h"
#include "testing/op_program.h"

namespace concord::testing {

struct CampaignProperty {
  std::string name;             // a sentence, unique: "model forms agree bitwise"
  std::string promise;          // what Concord promises, for --list and reports
  std::function<void()> check;  // a RapidCheck property body
};

// CampaignProperties returns every property, in a fixed order (the runner derives each property's
// seeds from its index): the six architecture and tracing properties of issue 7, then the
// op-program properties over the engine and autodiff.
std::vector<CampaignProperty> CampaignProperties();

// RunProperty checks `property` with RapidCheck's `params` as a test whose id is the property's
// name, reporting to `listener` (nullptr: to none). With a non-empty `reproduce` map it runs
// only the case the map holds for that id (rc::detail::checkProperty).
rc::detail::TestResult RunProperty(
    const CampaignProperty& property, const rc::detail::TestParams& params,
    rc::detail::TestListener* listener = nullptr,
    const std::unordered_map<std::string, rc::detail::Reproduce>& reproduce = {});

// The case a property body generated last.
struct CampaignCase {
  std::optional<ArchSpec> spec;
  std::optional<OpProgram> program;
};

// RecordCase remembers `spec` (or `program`) as the last case, replacing the previous one.
void RecordCase(const ArchSpec& spec);
void RecordCase(const OpProgram& program);
// LastCase is the case recorded last (both empty after ClearCase or before any).
const CampaignCase& LastCase();
// ClearCase forgets the last case.
void ClearCase();

// CaseSize is the size of a counterexample: the number of layer calls of a spec (a nested block
// counts the layers inside it, a shared layer each call), or of steps of a program; -1 for an
// empty case.
int CaseSize(const CampaignCase& c);

namespace internal {
// The properties of testing/campaign_op_properties.cc (random op programs through the engine
// and autodiff), appended to `out`.
void AddOpProgramProperties(std::vector<CampaignProperty>& out);
}  // namespace internal

}  // namespace concord::testing

#endif  // CONCORD_TESTING_CAMPAIGN_PROPERTIES_H_
