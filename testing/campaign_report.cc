// Failure reports and replay files of the campaign runner (see campaign_report.h).
#include "testing/campaign_report.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "models/models.h"
#include "testing/arch_spec.h"

namespace concord::testing {
namespace {

namespace fs = std::filesystem;

// A file of the report: name in the folder and contents.
using ReportFile = std::pair<std::string, std::string>;

// ArchFiles: the spec as C++ (both forms), the functional model's JSON config and Graphviz
// picture. A form that cannot be built is a note instead of a file.
std::vector<ReportFile> ArchFiles(const ArchSpec& spec, std::vector<std::string>& notes) {
  std::vector<ReportFile> files = {
      {"spec.cc", absl::StrCat("// The shrunk counterexample of a campaign failure, as C++ for "
                               "both model forms (see report.txt).\n",
                               spec.ToCpp())}};
  auto functional = BuildFunctional(spec);
  if (!functional.ok()) {
    notes.push_back(absl::StrCat("config.json and model.dot not written: BuildFunctional: ",
                                 functional.status().ToString()));
    return files;
  }
  auto json = models::ModelToJson(**functional);
  if (json.ok()) {
    files.emplace_back("config.json", *json + "\n");
  } else {
    notes.push_back(absl::StrCat("config.json not written: ", json.status().ToString()));
  }
  files.emplace_back("model.dot", (*functional)->ToDot());
  return files;
}

std::string ResultMessage(const rc::detail::TestResult& result) {
  std::ostringstream os;
  rc::detail::printResultMessage(result, os);
  return os.str();
}

struct ReportText {
  const CampaignProperty& property;
  const FailureContext& context;
  std::string message;
  std::string counterexample;  // CounterexampleText
  std::string reproduce;       // empty when the failure has no replayable case
  std::string replay_command;
  std::vector<std::string> notes;
  std::vector<std::string> files;

  std::string Render(const CampaignCase& c) const {
    std::string s =
        absl::StrCat("Concord campaign failure\n\nproperty: ", property.name,
                     "\npromise: ", property.promise, "\ncampaign seed: ", context.campaign_seed,
                     " (round ", context.round, ", RapidCheck seed ", context.unit_seed, ")\n");
    if (!reproduce.empty()) {
      absl::StrAppend(&s, "reproduce: ", reproduce, "\nreplay: ", replay_command, "\n");
    }
    absl::StrAppend(&s, "files: ", absl::StrJoin(files, ", "), "\n");
    for (const std::string& note : notes) absl::StrAppend(&s, "note: ", note, "\n");
    absl::StrAppend(&s, "\nfailure:\n", message, "\n");
    const int size = CaseSize(c);
    absl::StrAppend(
        &s, "\ncounterexample",
        size < 0 ? std::string() : absl::StrCat(" (", size, c.spec ? " layers" : " steps", ")"),
        ":\n", CaseText(c), "\n");
    if (!counterexample.empty()) {
      absl::StrAppend(&s, "\nother generated values:\n", counterexample);
    }
    return s;
  }
};

// CounterexampleText: RapidCheck's counterexample (every value the body generated), leaving out
// the recorded case, which the report prints already.
std::string CounterexampleText(const rc::detail::Example& example, const std::string& recorded) {
  std::string s;
  for (const auto& [type, value] : example) {
    if (value != recorded) absl::StrAppend(&s, type, ":\n", value, "\n");
  }
  return s;
}

// WriteFolder writes `files` into `dir` (created if needed), in order, after removing what an
// earlier report left there; returns their paths.
absl::StatusOr<std::vector<std::string>> WriteFolder(const fs::path& dir,
                                                     const std::vector<ReportFile>& files) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create the report folder ", dir.string(), ": ", error.message()));
  }
  // A report of an earlier failure in this folder may hold files this one has not.
  for (const char* name : {"spec.cc", "config.json", "model.dot", "program.txt", "replay.txt"}) {
    fs::remove(dir / name, error);
  }
  std::vector<std::string> paths;
  for (const auto& [name, contents] : files) {
    paths.push_back((dir / name).string());
    const absl::Status status = WriteFileAtomically(paths.back(), contents);
    if (!status.ok()) return status;
  }
  return paths;
}

}  // namespace

std::string PropertySlug(absl::string_view name) {
  std::string slug;
  for (const char ch : name) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      slug += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? "property" : slug;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  const std::string temporary = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    file.flush();
    if (!file) {
      std::remove(temporary.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", temporary));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return absl::OkStatus();
}

std::string EncodeReproduce(const std::string& property, uint64_t seed,
                            const rc::detail::Reproduce& reproduce) {
  rc::detail::Configuration config;
  config.testParams.seed = seed;
  config.reproduce = {{property, reproduce}};
  return rc::detail::configToMinimalString(config);
}

absl::StatusOr<rc::detail::Reproduce> DecodeReproduce(const std::string& property,
                                                      const std::string& text) {
  rc::detail::Configuration config;
  try {
    config = rc::detail::configFromString(text);
  } catch (const rc::detail::ConfigurationException& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad reproduce string: ", e.what()));
  }
  if (config.reproduce.size() != 1 || config.reproduce.count(property) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the reproduce string must name exactly one case, of property \"", property, "\""));
  }
  return config.reproduce.at(property);
}

std::string ReplayFileText(const ReplayFile& replay, const std::string& replay_command) {
  return absl::StrCat("# A Concord campaign case. Rerun it with\n#   ", replay_command,
                      "\nproperty: ", replay.property, "\nreproduce: ", replay.reproduce, "\n");
}

absl::StatusOr<ReplayFile> ReadReplayFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read replay file ", path));
  ReplayFile replay;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    const std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(text, ": ");
    if (kv.first == "property") {
      replay.property = std::string(kv.second);
    } else if (kv.first == "reproduce") {
      replay.reproduce = std::string(kv.second);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": expected \"property: ...\" or \"reproduce: ...\", got: ", text));
    }
  }
  if (replay.property.empty() || replay.reproduce.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": a replay file needs a \"property:\" and a \"reproduce:\" line"));
  }
  return replay;
}

rc::detail::TestResult ReplayCase(const CampaignProperty& property,
                                  const rc::detail::Reproduce& reproduce) {
  return RunProperty(property, rc::detail::TestParams(), nullptr, {{property.name, reproduce}});
}

std::string CaseText(const CampaignCase& c) {
  if (c.spec) return c.spec->ToString();
  if (c.program) return c.program->ToString();
  return "(no case recorded)";
}

absl::StatusOr<CampaignReport> ReportFailure(const CampaignProperty& property,
                                             const rc::detail::TestResult& result,
                                             const FailureContext& context,
                                             const std::string& out_dir) {
  CampaignReport report;
  report.dir = fs::absolute(fs::path(out_dir) / PropertySlug(property.name)).string();
  ReportText text{property, context, ResultMessage(result)};
  std::vector<ReportFile> files;
  ClearCase();
  rc::detail::FailureResult failure;
  if (result.match(failure)) {
    text.message = failure.description;
    text.reproduce = EncodeReproduce(property.name, context.unit_seed, failure.reproduce);
    report.replay_command =
        absl::StrCat("./bazelw run //fuzz:campaign -- --replay=", report.dir, "/replay.txt");
    text.replay_command = report.replay_command;
    const rc::detail::TestResult again = ReplayCase(property, failure.reproduce);
    if (!again.match(failure)) {
      text.notes.push_back(
          absl::StrCat("replaying the shrunk case did not fail again (a flaky property?): ",
                       ResultMessage(again)));
    }
  }
  report.message = text.message;
  const CampaignCase& shrunk = LastCase();
  text.counterexample = CounterexampleText(failure.counterExample, CaseText(shrunk));
  report.case_size = CaseSize(shrunk);
  if (shrunk.spec) files = ArchFiles(*shrunk.spec, text.notes);
  if (shrunk.program) files.emplace_back("program.txt", shrunk.program->ToString() + "\n");
  for (const ReportFile& f : files) text.files.push_back(f.first);
  text.files.push_back("report.txt");
  if (!text.reproduce.empty()) text.files.push_back("replay.txt");
  files.emplace_back("report.txt", text.Render(shrunk));
  if (!text.reproduce.empty()) {
    files.emplace_back("replay.txt",
                       ReplayFileText({property.name, text.reproduce}, report.replay_command));
  }
  auto paths = WriteFolder(report.dir, files);
  if (!paths.ok()) return paths.status();
  report.files = *std::move(paths);
  return report;
}

}  // namespace concord::testing
