// The campaign's property list: names are unique, and every property passes a few cases from a
// fixed seed and records each case it generates.
#include "testing/campaign_properties.h"

#include <set>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "rapidcheck.h"

namespace concord::testing {
namespace {

TEST(CampaignProperties, HaveUniqueNamesAndPromises) {
  std::set<std::string> names;
  for (const CampaignProperty& p : CampaignProperties()) {
    EXPECT_TRUE(names.insert(p.name).second) << "two properties are named " << p.name;
    EXPECT_FALSE(p.promise.empty()) << p.name;
    EXPECT_TRUE(p.check) << p.name;
  }
  EXPECT_GE(names.size(), 14u);
}

TEST(CampaignProperties, ComeInAFixedOrder) {
  const std::vector<CampaignProperty> a = CampaignProperties();
  const std::vector<CampaignProperty> b = CampaignProperties();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].name, b[i].name);
  EXPECT_EQ(a[0].name, "model forms agree bitwise");
}

TEST(CampaignProperties, EachPassesAFewCasesAndRecordsThem) {
  for (const CampaignProperty& p : CampaignProperties()) {
    ClearCase();
    rc::detail::TestParams params;
    params.seed = 7;
    params.maxSuccess = 3;
    params.maxSize = 20;
    const rc::detail::TestResult result = RunProperty(p, params);
    rc::detail::SuccessResult success;
    EXPECT_TRUE(result.match(success)) << p.name << ": " << [&] {
      std::ostringstream os;
      rc::detail::printResultMessage(result, os);
      return os.str();
    }();
    EXPECT_GE(CaseSize(LastCase()), 0) << p.name << " recorded no case";
  }
}

TEST(CampaignCase, HoldsTheLastRecordedCase) {
  ArchSpec spec;
  spec.nodes.resize(2);
  RecordCase(spec);
  EXPECT_TRUE(LastCase().spec.has_value());
  EXPECT_EQ(CaseSize(LastCase()), 2);
  OpProgram program;
  program.steps.resize(3);
  RecordCase(program);
  EXPECT_FALSE(LastCase().spec.has_value());
  EXPECT_EQ(CaseSize(LastCase()), 3);
  ClearCase();
  EXPECT_EQ(CaseSize(LastCase()), -1);
}

// A block is one node of its spec but as many layers as it holds; the size bound of the planted-bug
// test (at most 3 layers) must not be met by hiding layers in a block.
TEST(CampaignCase, ABlockCountsTheLayersInsideIt) {
  ArchSpec spec;
  spec.nodes.resize(2);
  spec.nodes[1].kind = LayerKind::kBlock;
  spec.nodes[1].block.resize(3);
  RecordCase(spec);
  EXPECT_EQ(CaseSize(LastCase()), 4);
}

}  // namespace
}  // namespace concord::testing
