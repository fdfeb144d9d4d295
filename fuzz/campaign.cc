// The campaign runner: Concord's main job. It runs every campaign property (random architectures
// in every model form, eager against traced, optimizer state across forms, finite differences,
// shared layers, random op programs: testing/campaign_properties.h) round-robin from one seed
// until the time budget is spent. A property that fails is shrunk by RapidCheck, written to a
// report folder and not run again; the others go on. At the end a table; the last line reads
// `campaign: <P> properties, <C> cases, <F> failures`, and the exit status is 1 on any failure.
//
//   bazel run //fuzz:campaign                                  # 120 s, seed from the clock
//   bazel run //fuzz:campaign -- --budget_seconds=600 --seed=42
//   bazel run //fuzz:campaign -- --replay=campaign_out/<property>/replay.txt
//
// Under `bazel test` with shard_count it runs only its shard's (round, property) units (Bazel's
// test-sharding protocol). See docs/campaigns.md, "Campaign runner".

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/engine.h"
#include "rapidcheck.h"
#include "testing/campaign_properties.h"
#include "testing/campaign_report.h"

ABSL_FLAG(uint64_t, seed, 0, "Campaign seed; 0 derives one from the clock (always printed).");
ABSL_FLAG(double, budget_seconds, 120.0,
          "Time budget in seconds; units of work start while time is left.");
ABSL_FLAG(std::string, out, "",
          "Folder for failure reports (default: campaign_out, relative to the directory `bazel "
          "run` was started from; under `bazel test`, inside the test's undeclared outputs).");
ABSL_FLAG(std::string, replay, "",
          "Rerun exactly the case of a replay file (<out>/<property>/replay.txt) and exit: 0 if "
          "it passes now, 1 if it still fails.");
ABSL_FLAG(std::string, property, "", "Run only properties whose name contains this text.");
ABSL_FLAG(bool, list, false, "List the (selected) properties with their promises and exit.");
ABSL_FLAG(int, cases, 25, "Cases per property per round (RapidCheck's max_success).");
ABSL_FLAG(int64_t, round, -1,
          "Run only this round (-1: all). With --seed, --property and --cases it reruns one unit, "
          "e.g. the one a crash note names.");
ABSL_FLAG(int64_t, max_cases, 0,
          "Stop after this many cases in all (0: no limit). Units then always run --cases "
          "cases (fewer to end exactly), so the counts do not depend on timing.");

namespace concord::fuzz {
namespace {

namespace fs = std::filesystem;
using testing::CampaignProperty;

// UsageError prints `message` and returns the exit status of a usage error.
int UsageError(const std::string& message) {
  std::cerr << "campaign: " << message << "\n";
  return 2;
}

// The test-sharding protocol: this process runs shard `index` of `total`.
struct Shard {
  int index = 0;
  int total = 1;
};

absl::StatusOr<Shard> ShardFromEnvironment() {
  Shard shard;
  const char* total = std::getenv("TEST_TOTAL_SHARDS");
  const char* index = std::getenv("TEST_SHARD_INDEX");
  if (total == nullptr || *total == '\0') return shard;
  if (!absl::SimpleAtoi(total, &shard.total) || index == nullptr ||
      !absl::SimpleAtoi(index, &shard.index) || shard.total < 1 || shard.index < 0 ||
      shard.index >= shard.total) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad sharding environment: TEST_TOTAL_SHARDS=", total,
                     " TEST_SHARD_INDEX=", index == nullptr ? "(unset)" : index));
  }
  // Tell Bazel that this binary shards its work.
  if (const char* status = std::getenv("TEST_SHARD_STATUS_FILE")) std::ofstream touch(status);
  return shard;
}

// ResolvePath makes a relative path relative to where `bazel run` was started.
std::string ResolvePath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (fs::path(path).is_relative() && cwd != nullptr) return (fs::path(cwd) / path).string();
  return path;
}

std::string OutDir() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) return fs::absolute(ResolvePath(out)).string();
  const char* undeclared = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (undeclared != nullptr && *undeclared != '\0') {
    return (fs::path(undeclared) / "campaign_out").string();
  }
  return fs::absolute(ResolvePath("campaign_out")).string();
}

uint64_t MixSeed(uint64_t seed, uint64_t round, uint64_t property) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (round * 64 + property + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Set by the first SIGINT or SIGTERM: no unit starts after it (a second signal ends the process).
std::atomic<bool> interrupted{false};

void OnInterrupt(int signal_number) {
  interrupted = true;
  std::signal(signal_number, SIG_DFL);
}

// Note [Crash notes]: a property that crashes (a failed CHECK, a segfault) ends the process
// before RapidCheck can shrink or the runner can report. So that the crash can be found again,
// the runner keeps a line naming the running unit and the flags that rerun it, which a handler
// writes to stderr before the signal's default action (write() is async-signal-safe).
char crash_note[1024];
size_t crash_note_size = 0;

void OnCrash(int signal_number) {
  if (write(STDERR_FILENO, crash_note, crash_note_size) < 0) {
    // Nothing more can be done inside a signal handler.
  }
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void SetCrashNote(const std::string& note) {
  crash_note_size = std::min(note.size(), sizeof(crash_note));
  std::memcpy(crash_note, note.data(), crash_note_size);
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Progress shows, on stderr, the elapsed time, cases and failures so far and the running
// property: a line rewritten in place on a terminal, else a line every 10 seconds.
class Progress : public rc::detail::TestListener {
 public:
  explicit Progress(std::chrono::steady_clock::time_point start)
      : start_(start), tty_(isatty(STDERR_FILENO) != 0) {}

  void StartUnit(const std::string& property, int64_t round, int64_t cases, int failures) {
    property_ = property;
    round_ = round;
    cases_ = cases;
    failures_ = failures;
    shrinking_ = false;
  }
  void onTestCaseFinished(const rc::detail::CaseDescription& c) override {
    if (c.result.type != rc::detail::CaseResult::Type::Discard) ++cases_;
    Show();
  }
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {
    shrinking_ = true;
    Show();
  }
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
  // Clear erases the in-place line before other output.
  void Clear() {
    if (tty_ && shown_) std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  void Show() {
    const double now = Since(start_);
    if (now - last_ < (tty_ ? 0.25 : 10.0)) return;
    last_ = now;
    const std::string line =
        absl::StrFormat("[%5.0f s] round %d: %d cases, %d failures; %s %s", now, round_, cases_,
                        failures_, shrinking_ ? "shrinking" : "running", property_);
    std::cerr << (tty_ ? "\r\033[K" : "") << line << (tty_ ? "" : "\n") << std::flush;
    shown_ = true;
  }

  std::chrono::steady_clock::time_point start_;
  bool tty_;
  bool shown_ = false;
  double last_ = 0;
  std::string property_;
  int64_t round_ = 0;
  int64_t cases_ = 0;
  int failures_ = 0;
  bool shrinking_ = false;
};

struct Stats {
  int64_t passed = 0;
  int64_t failed = 0;  // 0 or 1: a property that failed is not run again
  int size = -1;       // of the shrunk counterexample
  double seconds = 0;
};

struct Options {
  uint64_t seed = 0;
  double budget = 0;
  int cases = 0;
  int64_t round = -1;  // >= 0: only this round
  int64_t max_cases = 0;
  Shard shard;
  std::string out;
};

class Campaign {
 public:
  Campaign(std::vector<CampaignProperty> all, std::vector<int> selected, Options options)
      : all_(std::move(all)),
        selected_(std::move(selected)),
        options_(std::move(options)),
        stats_(selected_.size()),
        start_(std::chrono::steady_clock::now()),
        progress_(start_) {}

  int Run();

 private:
  int64_t Cases() const;
  int Failures() const;
  bool MayStartUnit() const;
  int CasesForUnit(size_t k) const;
  void RunUnit(int64_t round, size_t k);
  void ReportFailure(size_t k, int64_t round, uint64_t seed, const rc::detail::TestResult& r);
  void PrintHeader() const;
  void PrintTable() const;

  std::vector<CampaignProperty> all_;
  std::vector<int> selected_;  // indices into all_
  Options options_;
  std::vector<Stats> stats_;  // per selected property
  std::chrono::steady_clock::time_point start_;
  Progress progress_;
};

int64_t Campaign::Cases() const {
  int64_t n = 0;
  for (const Stats& s : stats_) n += s.passed + s.failed;
  return n;
}

int Campaign::Failures() const {
  int n = 0;
  for (const Stats& s : stats_) n += static_cast<int>(s.failed);
  return n;
}

bool Campaign::MayStartUnit() const {
  if (interrupted || Since(start_) >= options_.budget) return false;
  if (options_.max_cases > 0 && Cases() >= options_.max_cases) return false;
  return Failures() < static_cast<int>(selected_.size());
}

// CasesForUnit: --cases, fewer when the property's pace says the budget ends sooner (not with
// --max_cases, which keeps the counts independent of timing), and no more than --max_cases allows.
int Campaign::CasesForUnit(size_t k) const {
  int64_t n = options_.cases;
  const Stats& s = stats_[k];
  if (options_.max_cases > 0) {
    n = std::min<int64_t>(n, options_.max_cases - Cases());
  } else if (s.passed > 0) {
    const double per_case = s.seconds / static_cast<double>(s.passed);
    const double left = options_.budget - Since(start_);
    n = std::clamp<int64_t>(static_cast<int64_t>(left / per_case), 1, n);
  }
  return static_cast<int>(n);
}

void Campaign::RunUnit(int64_t round, size_t k) {
  const CampaignProperty& property = all_[selected_[k]];
  rc::detail::TestParams params;
  params.seed = MixSeed(options_.seed, round, selected_[k]);
  params.maxSuccess = CasesForUnit(k);
  progress_.StartUnit(property.name, round, Cases(), Failures());
  SetCrashNote(absl::StrFormat(
      "\ncampaign: crashed in property \"%s\" (round %d, RapidCheck seed %d, %d cases); rerun "
      "that unit with\n  ./bazelw run //fuzz:campaign -- --seed=%d --property=\"%s\" --round=%d "
      "--cases=%d\n",
      property.name, round, params.seed, params.maxSuccess, options_.seed, property.name, round,
      params.maxSuccess));
  const auto t0 = std::chrono::steady_clock::now();
  const rc::detail::TestResult result = testing::RunProperty(property, params, &progress_);
  rc::detail::SuccessResult success;
  rc::detail::FailureResult failure;
  rc::detail::GaveUpResult gave_up;
  if (result.match(success)) {
    stats_[k].passed += success.numSuccess;
  } else {
    if (result.match(failure)) stats_[k].passed += failure.numSuccess;
    if (result.match(gave_up)) stats_[k].passed += gave_up.numSuccess;
    stats_[k].failed = 1;
    ReportFailure(k, round, params.seed, result);
  }
  stats_[k].seconds += Since(t0);  // shrinking and the report included
}

// FirstLines is the first `n` lines of `text`, with a note when there are more.
std::string FirstLines(const std::string& text, size_t n) {
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::string out;
  for (size_t i = 0; i < lines.size() && i < n; ++i) absl::StrAppend(&out, "  | ", lines[i], "\n");
  if (lines.size() > n) absl::StrAppend(&out, "  | ... (", lines.size() - n, " more lines)\n");
  return out;
}

void Campaign::ReportFailure(size_t k, int64_t round, uint64_t seed,
                             const rc::detail::TestResult& result) {
  const CampaignProperty& property = all_[selected_[k]];
  progress_.Clear();
  std::cout << "\nFAILURE in \"" << property.name << "\" (round " << round << ", RapidCheck seed "
            << seed << ")\n  promise: " << property.promise << "\n  detected at case "
            << stats_[k].passed + stats_[k].failed << " of this property, case " << Cases()
            << " of the campaign\n";
  auto report =
      testing::ReportFailure(property, result, {options_.seed, round, seed}, options_.out);
  if (!report.ok()) {
    std::ostringstream message;
    rc::detail::printResultMessage(result, message);
    std::cout << FirstLines(message.str(), 40) << "  (no report written: " << report.status()
              << ")\n"
              << std::flush;
    return;
  }
  stats_[k].size = report->case_size;
  std::cout << FirstLines(report->message, 16);
  if (report->case_size >= 0) {
    std::cout << "  counterexample: " << report->case_size
              << (testing::LastCase().spec ? " layers" : " steps") << "\n";
  }
  std::cout << "  report: " << report->dir << "/ (";
  for (size_t i = 0; i < report->files.size(); ++i) {
    std::cout << (i > 0 ? " " : "") << fs::path(report->files[i]).filename().string();
  }
  std::cout << ")\n";
  if (!report->replay_command.empty()) std::cout << "  replay: " << report->replay_command << "\n";
  std::cout << std::flush;
}

void Campaign::PrintHeader() const {
  std::cout << "Concord campaign: " << selected_.size() << " properties, seed " << options_.seed
            << ", budget " << options_.budget << " s, " << options_.cases
            << " cases per property per round";
  if (options_.max_cases > 0) std::cout << ", at most " << options_.max_cases << " cases";
  if (options_.round >= 0) std::cout << ", round " << options_.round << " only";
  std::cout << ", " << engine::NumThreads() << " threads\n";
  if (options_.shard.total > 1) {
    std::cout << "  shard " << options_.shard.index + 1 << " of " << options_.shard.total
              << ": the units with (round * " << selected_.size() << " + property) % "
              << options_.shard.total << " == " << options_.shard.index << "\n";
  }
  std::cout << "  failure reports go to " << options_.out << "/<property>/\n" << std::flush;
}

void Campaign::PrintTable() const {
  size_t width = 8;
  for (int i : selected_) width = std::max(width, all_[i].name.size());
  const auto row = [&](const std::string& name, const std::string& cases, const std::string& passed,
                       const std::string& failed, const std::string& size,
                       const std::string& seconds) {
    std::cout << absl::StrFormat("%-*s %8s %8s %7s %9s %8s\n", width, name, cases, passed, failed,
                                 size, seconds);
  };
  std::cout << "\n";
  row("property", "cases", "passed", "failed", "smallest", "seconds");
  for (size_t k = 0; k < selected_.size(); ++k) {
    const Stats& s = stats_[k];
    row(all_[selected_[k]].name, absl::StrCat(s.passed + s.failed), absl::StrCat(s.passed),
        absl::StrCat(s.failed), s.size < 0 ? "-" : absl::StrCat(s.size),
        absl::StrFormat("%.1f", s.seconds));
  }
}

int Campaign::Run() {
  PrintHeader();
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  for (int signal_number : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    std::signal(signal_number, OnCrash);
  }
  const size_t p = selected_.size();
  const int64_t first = std::max<int64_t>(options_.round, 0);
  for (int64_t round = first; MayStartUnit() && (options_.round < 0 || round == first); ++round) {
    for (size_t k = 0; k < p && MayStartUnit(); ++k) {
      if (stats_[k].failed > 0) continue;
      if ((round * static_cast<int64_t>(p) + static_cast<int64_t>(k)) % options_.shard.total !=
          options_.shard.index) {
        continue;
      }
      RunUnit(round, k);
    }
  }
  progress_.Clear();
  PrintTable();
  std::cout << absl::StrFormat("(%.1f s%s)\ncampaign: %d properties, %d cases, %d failures\n",
                               Since(start_), interrupted ? ", interrupted" : "", p, Cases(),
                               Failures())
            << std::flush;
  return Failures() > 0 ? 1 : 0;
}

// Replay reruns the one case of a replay file: 0 if it passes now, 1 if it still fails.
int Replay(const std::vector<CampaignProperty>& all, const std::string& file) {
  auto replay = testing::ReadReplayFile(ResolvePath(file));
  if (!replay.ok()) return UsageError(absl::StrCat("--replay: ", replay.status().message()));
  const auto property = std::find_if(all.begin(), all.end(), [&](const CampaignProperty& p) {
    return p.name == replay->property;
  });
  if (property == all.end()) {
    return UsageError(absl::StrCat("--replay: ", file, " names property \"", replay->property,
                                   "\", which this campaign does not have (see --list)"));
  }
  auto reproduce = testing::DecodeReproduce(replay->property, replay->reproduce);
  if (!reproduce.ok()) {
    return UsageError(absl::StrCat("--replay: ", file, ": ", reproduce.status().message()));
  }
  std::cout << "Replaying one case of \"" << property->name << "\" from " << file << "\n";
  testing::ClearCase();
  const rc::detail::TestResult result = testing::ReplayCase(*property, *reproduce);
  std::cout << testing::CaseText(testing::LastCase()) << "\n";
  rc::detail::FailureResult failure;
  rc::detail::Error error;
  int failures = 0;
  if (result.match(failure)) {
    std::cout << "STILL FAILS:\n" << failure.description << "\n";
    failures = 1;
  } else if (result.match(error) && error.description == "Reproduced result is not a failure") {
    std::cout << "passes now\n";
  } else {
    std::ostringstream message;
    rc::detail::printResultMessage(result, message);
    return UsageError(
        absl::StrCat("--replay: cannot rerun the case (did its generator change since the file "
                     "was written?): ",
                     message.str()));
  }
  std::cout << "campaign: 1 properties, 1 cases, " << failures << " failures\n";
  return failures;
}

// Select returns the indices of the properties whose name contains --property.
std::vector<int> Select(const std::vector<CampaignProperty>& all) {
  std::vector<int> selected;
  for (size_t i = 0; i < all.size(); ++i) {
    if (absl::StrContains(all[i].name, absl::GetFlag(FLAGS_property))) {
      selected.push_back(static_cast<int>(i));
    }
  }
  return selected;
}

int Main() {
  std::vector<CampaignProperty> all = testing::CampaignProperties();
  if (!absl::GetFlag(FLAGS_replay).empty()) return Replay(all, absl::GetFlag(FLAGS_replay));
  const std::vector<int> selected = Select(all);
  if (selected.empty()) {
    return UsageError(absl::StrCat("no property matches --property=", absl::GetFlag(FLAGS_property),
                                   " (see --list)"));
  }
  if (absl::GetFlag(FLAGS_list)) {
    for (int i : selected) std::cout << all[i].name << "\n    " << all[i].promise << "\n";
    return 0;
  }
  Options options;
  options.budget = absl::GetFlag(FLAGS_budget_seconds);
  options.cases = absl::GetFlag(FLAGS_cases);
  options.max_cases = absl::GetFlag(FLAGS_max_cases);
  options.round = absl::GetFlag(FLAGS_round);
  if (!(options.budget > 0)) return UsageError("--budget_seconds must be positive");
  if (options.cases < 1) return UsageError("--cases must be at least 1");
  if (options.max_cases < 0) return UsageError("--max_cases must not be negative");
  if (options.round < -1) return UsageError("--round must be -1 (all) or a round number");
  auto shard = ShardFromEnvironment();
  if (!shard.ok()) return UsageError(std::string(shard.status().message()));
  options.shard = *shard;
  options.out = OutDir();
  options.seed = absl::GetFlag(FLAGS_seed);
  if (options.seed == 0) {
    options.seed =
        static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) | 1;
  }
  // RapidCheck reads RC_PARAMS if anything asks for its global configuration; make that name the
  // campaign's seed (every unit gets explicit parameters derived from it).
  setenv("RC_PARAMS", absl::StrCat("seed=", options.seed).c_str(), /*overwrite=*/1);
  return Campaign(std::move(all), selected, std::move(options)).Run();
}

// FlagError says why absl::ParseCommandLine would reject the command line ("" if it would not).
std::string FlagError(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) continue;
    const size_t eq = arg.find('=');
    const absl::string_view name = arg.substr(0, eq);
    // absl's usage flags (--help, --helpfull, --version, ...) are not registered flags.
    if (absl::StartsWith(name, "help") || name == "version" || name == "only_check_args") continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && eq == absl::string_view::npos && absl::ConsumePrefix(&arg, "no")) {
      flag = absl::FindCommandLineFlag(arg);  // --nolist
      if (flag != nullptr && flag->IsOfType<bool>()) continue;
      flag = nullptr;
    }
    if (flag == nullptr) return absl::StrCat("unknown flag --", name, " (see --help)");
    if (eq == absl::string_view::npos && flag->IsOfType<bool>()) continue;
    if (eq == absl::string_view::npos && i + 1 == argc) {
      return absl::StrCat("flag --", name, " needs a value");
    }
    const std::string value(eq == absl::string_view::npos ? argv[++i] : arg.substr(eq + 1));
    std::string why;
    if (!flag->ParseFrom(value, &why)) return absl::StrCat("--", name, "=", value, ": ", why);
  }
  return "";
}

}  // namespace
}  // namespace concord::fuzz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The Concord property campaign: runs every property round-robin for a time budget and "
      "writes a report folder per failing property (docs/campaigns.md).\n"
      "  campaign [--budget_seconds=120] [--seed=N] [--out=DIR] [--property=TEXT] [--list]\n"
      "  campaign --replay=FILE");
  // absl::ParseCommandLine exits with status 1 on a bad flag, which here means "a property
  // failed"; check the flags first so that usage errors exit with 2.
  const std::string error = concord::fuzz::FlagError(argc, argv);
  if (!error.empty()) return concord::fuzz::UsageError(error);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return concord::fuzz::UsageError(absl::StrCat("unexpected argument ", positional[1],
                                                  " (flags are --name=value; see --help)"));
  }
  return concord::fuzz::Main();
}
