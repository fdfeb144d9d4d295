// Failure reports and replay files: a failing property's shrunk case is recovered, written as a
// folder of whole files, and replayed from its replay file.
#include "testing/campaign_report.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "testing/arch_spec.h"
#include "testing/campaign_properties.h"

namespace concord::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(root != nullptr ? root : "/tmp") / name;
  fs::remove_all(dir);
  return dir.string();
}

std::string Read(const std::string& path) {
  std::ifstream file(path);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

// A property that fails on every spec of three or more nodes: shrinks to three.
CampaignProperty FewNodes() {
  return {"specs have fewer than 3 nodes", "a planted failure", [] {
            const ArchSpec spec = *GenArchSpec();
            RecordCase(spec);
            RC_ASSERT(spec.nodes.size() < 3u);
          }};
}

// Runs `property` until it fails and returns the failure.
rc::detail::TestResult Fail(const CampaignProperty& property) {
  rc::detail::TestParams params;
  params.seed = 11;
  params.maxSuccess = 200;
  const rc::detail::TestResult result = RunProperty(property, params);
  EXPECT_TRUE(result.is<rc::detail::FailureResult>());
  return result;
}

TEST(PropertySlug, IsAFolderName) {
  EXPECT_EQ(PropertySlug("model forms agree bitwise"), "model-forms-agree-bitwise");
  EXPECT_EQ(PropertySlug("a shared layer's gradient (k=2)"), "a-shared-layer-s-gradient-k-2");
  EXPECT_EQ(PropertySlug("!!"), "property");
}

TEST(WriteFileAtomically, LeavesTheWholeFileAndNoTemporary) {
  const std::string dir = TempDir("atomic");
  fs::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomically(dir + "/a.txt", "first").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/a.txt", "second").ok());
  EXPECT_EQ(Read(dir + "/a.txt"), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_FALSE(WriteFileAtomically(dir + "/missing/a.txt", "x").ok());
}

TEST(ReplayFile, RoundTripsAndRejectsBadFiles) {
  const std::string dir = TempDir("replay");
  fs::create_directories(dir);
  const ReplayFile replay{"some property", "seed=3 reproduce=abc"};
  ASSERT_TRUE(WriteFileAtomically(dir + "/r.txt", ReplayFileText(replay, "cmd")).ok());
  auto read = ReadReplayFile(dir + "/r.txt");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->property, "some property");
  EXPECT_EQ(read->reproduce, "seed=3 reproduce=abc");
  EXPECT_EQ(ReadReplayFile(dir + "/none.txt").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomically(dir + "/bad.txt", "property: p\nhello\n").ok());
  EXPECT_THAT(ReadReplayFile(dir + "/bad.txt").status().message(), HasSubstr("bad.txt:2"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/half.txt", "property: p\n").ok());
  EXPECT_EQ(ReadReplayFile(dir + "/half.txt").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Reproduce, EncodesOneCaseOfOneProperty) {
  rc::detail::Reproduce r;
  r.size = 17;
  r.shrinkPath = {3, 0, 2};
  const std::string text = EncodeReproduce("p", 99, r);
  EXPECT_THAT(text, HasSubstr("seed=99"));
  auto back = DecodeReproduce("p", text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(DecodeReproduce("q", text).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeReproduce("p", "reproduce=%%%").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReportFailure, WritesTheShrunkSpecInEveryForm) {
  const CampaignProperty property = FewNodes();
  const rc::detail::TestResult failure = Fail(property);
  ClearCase();
  const std::string out = TempDir("out");
  auto report = ReportFailure(property, failure, {42, 3, 1234}, out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->case_size, 3);
  EXPECT_EQ(report->dir, fs::absolute(out + "/specs-have-fewer-than-3-nodes").string());
  std::vector<std::string> names;
  for (const std::string& f : report->files) names.push_back(fs::path(f).filename().string());
  EXPECT_THAT(names,
              ElementsAre("spec.cc", "config.json", "model.dot", "report.txt", "replay.txt"));
  const std::string text = Read(report->dir + "/report.txt");
  EXPECT_THAT(text, HasSubstr("property: specs have fewer than 3 nodes"));
  EXPECT_THAT(text, HasSubstr("campaign seed: 42 (round 3, RapidCheck seed 1234)"));
  EXPECT_THAT(text, HasSubstr("counterexample (3 layers):"));
  EXPECT_THAT(Read(report->dir + "/spec.cc"), HasSubstr("FunctionalArch()"));
  EXPECT_THAT(Read(report->dir + "/model.dot"), HasSubstr("digraph"));
  EXPECT_THAT(report->replay_command, HasSubstr("--replay=" + report->dir + "/replay.txt"));

  // The replay file reruns exactly the shrunk case.
  auto replay = ReadReplayFile(report->dir + "/replay.txt");
  ASSERT_TRUE(replay.ok()) << replay.status();
  auto reproduce = DecodeReproduce(replay->property, replay->reproduce);
  ASSERT_TRUE(reproduce.ok()) << reproduce.status();
  ClearCase();
  EXPECT_TRUE(ReplayCase(property, *reproduce).is<rc::detail::FailureResult>());
  EXPECT_EQ(CaseSize(LastCase()), 3);
}

TEST(ReportFailure, ReplacesAnEarlierReportOfTheProperty) {
  const CampaignProperty property = FewNodes();
  const std::string out = TempDir("again");
  const std::string dir = out + "/specs-have-fewer-than-3-nodes";
  fs::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomically(dir + "/program.txt", "stale").ok());
  auto report = ReportFailure(property, Fail(property), {}, out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(fs::exists(dir + "/program.txt"));
  EXPECT_TRUE(fs::exists(dir + "/replay.txt"));
}

TEST(ReportFailure, WritesAnOpProgramAsText) {
  const CampaignProperty property = {"programs have one step", "planted", [] {
                                       const OpProgram p = *GenOpProgram({});
                                       RecordCase(p);
                                       RC_ASSERT(p.steps.size() < 2u);
                                     }};
  auto report = ReportFailure(property, Fail(property), {1, 0, 5}, TempDir("program"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->case_size, 2);
  std::vector<std::string> names;
  for (const std::string& f : report->files) names.push_back(fs::path(f).filename().string());
  EXPECT_THAT(names, ElementsAre("program.txt", "report.txt", "replay.txt"));
  EXPECT_THAT(Read(report->dir + "/program.txt"), HasSubstr("v1 = "));
}

TEST(ReportFailure, WritesOnlyTheMessageWhenThereIsNoCase) {
  const CampaignProperty property = {"discards everything", "planted", [] { RC_DISCARD(); }};
  rc::detail::TestParams params;
  params.maxSuccess = 5;
  const rc::detail::TestResult gave_up = RunProperty(property, params);
  ASSERT_TRUE(gave_up.is<rc::detail::GaveUpResult>());
  auto report = ReportFailure(property, gave_up, {}, TempDir("gave_up"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->files.size(), 1u);
  EXPECT_TRUE(report->replay_command.empty());
  EXPECT_THAT(Read(report->files[0]), HasSubstr("(no case recorded)"));
}

}  // namespace
}  // namespace concord::testing
