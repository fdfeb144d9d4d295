#include "fuzz/replay.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace concord::fuzz {
namespace {

std::vector<std::string>* g_inputs = nullptr;

int RecordInput(const uint8_t* data, size_t size) {
  g_inputs->emplace_back(reinterpret_cast<const char*>(data), size);
  return 0;
}

class ReplayMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_inputs = &inputs_;
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / "replay_main_test";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "nested");
  }
  void TearDown() override { g_inputs = nullptr; }

  std::string Write(const std::filesystem::path& relative, const std::string& contents) {
    const std::filesystem::path path = dir_ / relative;
    std::ofstream(path, std::ios::binary) << contents;
    return path.string();
  }

  int Run(std::vector<std::string> args) {
    args.insert(args.begin(), "replay");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    return ReplayMain(static_cast<int>(argv.size()), argv.data(), &RecordInput);
  }

  std::vector<std::string> inputs_;
  std::filesystem::path dir_;
};

TEST_F(ReplayMainTest, RunsEveryFileOfADirectoryRecursivelyInSortedOrder) {
  Write("b", "second");
  Write("a", "first");
  Write("nested/c", std::string("with\0nul", 8));
  EXPECT_EQ(Run({dir_.string()}), 0);
  EXPECT_EQ(inputs_, (std::vector<std::string>{"first", "second", std::string("with\0nul", 8)}));
}

TEST_F(ReplayMainTest, RunsNamedFilesAndIgnoresLibFuzzerFlags) {
  const std::string file = Write("only", "x");
  EXPECT_EQ(Run({"-runs=10", file}), 0);
  EXPECT_EQ(inputs_, std::vector<std::string>{"x"});
}

TEST_F(ReplayMainTest, RunsOneEmptyInputWithoutArguments) {
  EXPECT_EQ(Run({}), 0);
  EXPECT_EQ(inputs_, std::vector<std::string>{""});
}

TEST_F(ReplayMainTest, FailsOnAMissingPath) {
  EXPECT_EQ(Run({(dir_ / "does_not_exist").string()}), 1);
  EXPECT_TRUE(inputs_.empty());
}

}  // namespace
}  // namespace concord::fuzz
