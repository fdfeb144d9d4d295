// Campaign failure reports and replay files: what the campaign runner (//fuzz:campaign) writes when
// a property fails, and how `--replay FILE` reads it back (docs/campaigns.md, "Failure reports").
//
//   ASSIGN_OR_RETURN(CampaignReport report, ReportFailure(property, failure, context, out_dir));
//   std::cout << report.replay_command << "\n";
//
// A report is a folder <out>/<property slug>/ holding report.txt (property, promise, message,
// seeds, reproduce string, the case as text), the case itself (spec.cc, config.json and
// model.dot for an architecture; program.txt for an op program) and replay.txt, written last.
// Every file is written atomically (a temporary file, then a rename), so an interrupted campaign
// leaves whole files or none.
#ifndef CONCORD_TESTING_CAMPAIGN_REPORT_H_
#define CONCORD_TESTING_CAMPAIGN_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidcheck.h"
#include "testing/campaign_properties.h"

namespace concord::testing {

// PropertySlug is a property's name as a folder name: lower case, runs of other characters as
// one '-' ("a shared layer's gradient" -> "a-shared-layer-s-gradient").
std::string PropertySlug(absl::string_view name);

// WriteFileAtomically writes `contents` to `path` through `<path>.tmp.<pid>` and a rename.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// EncodeReproduce is RapidCheck's configuration string ("seed=... reproduce=...") that replays
// `reproduce` for the test id `property`. DecodeReproduce reads one back: InvalidArgument unless
// it holds exactly one reproduce entry, for `property`.
std::string EncodeReproduce(const std::string& property, uint64_t seed,
                            const rc::detail::Reproduce& reproduce);
absl::StatusOr<rc::detail::Reproduce> DecodeReproduce(const std::string& property,
                                                      const std::string& text);

// A replay file names a property and the reproduce string of one of its cases.
struct ReplayFile {
  std::string property;
  std::string reproduce;  // EncodeReproduce's string
};

// ReplayFileText is the text of replay.txt (lines "property: ..." and "reproduce: ...", with a
// comment giving `replay_command`).
std::string ReplayFileText(const ReplayFile& replay, const std::string& replay_command);
// ReadReplayFile parses a replay file: NotFound when it cannot be read, InvalidArgument when a
// line is malformed or a key is missing.
absl::StatusOr<ReplayFile> ReadReplayFile(const std::string& path);

// ReplayCase runs the one case `reproduce` names through `property` (afterwards LastCase() holds
// it): a FailureResult when it fails, an Error("Reproduced result is not a failure") when it
// passes.
rc::detail::TestResult ReplayCase(const CampaignProperty& property,
                                  const rc::detail::Reproduce& reproduce);

// Where a failure was found, for the report.
struct FailureContext {
  uint64_t campaign_seed = 0;
  int64_t round = 0;
  uint64_t unit_seed = 0;  // the RapidCheck seed of the failing (round, property) unit
};

// What ReportFailure wrote.
struct CampaignReport {
  std::string dir;                 // absolute
  std::vector<std::string> files;  // absolute paths, replay.txt last
  std::string message;             // the failure's description (RapidCheck's message)
  int case_size = -1;              // CaseSize of the shrunk case (-1: none recorded)
  std::string replay_command;      // "./bazelw run //fuzz:campaign -- --replay=<dir>/replay.txt"
};

// ReportFailure writes the report folder for a property's failing `result` under `out_dir`
// (created if needed). For a FailureResult it first replays the shrunk counterexample once to
// recover the case (LastCase); for a GaveUpResult (too many discarded cases) or an Error there is
// no case, and the folder holds report.txt only.
absl::StatusOr<CampaignReport> ReportFailure(const CampaignProperty& property,
                                             const rc::detail::TestResult& result,
                                             const FailureContext& context,
                                             const std::string& out_dir);

// CaseText is the case as text (ArchSpec::ToString or OpProgram::ToString), or "(no case
// recorded)".
std::string CaseText(const CampaignCase& c);

}  // namespace concord::testing

#endif  // CONCORD_TESTING_CAMPAIGN_REPORT_H_
