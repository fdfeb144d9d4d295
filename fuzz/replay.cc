#include "fuzz/replay.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace concord::fuzz {
namespace {

// Appends the regular files under `path` (or `path` itself) to `files`; false if unreadable.
bool CollectFiles(const std::filesystem::path& path, std::vector<std::filesystem::path>& files) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    files.push_back(path);
    return true;
  }
  if (!std::filesystem::is_directory(path, error)) return false;
  std::vector<std::filesystem::path> found;
  for (std::filesystem::recursive_directory_iterator it(path, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) found.push_back(it->path());
  }
  if (error) return false;
  std::sort(found.begin(), found.end());
  files.insert(files.end(), found.begin(), found.end());
  return true;
}

// Runs `callback` on a heap copy of exactly `bytes.size()` bytes, so that ASan builds catch
// reads past the end of the input just as libFuzzer would.
void RunOne(const std::vector<char>& bytes, FuzzCallback callback) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size()]);
  std::copy(bytes.begin(), bytes.end(), copy.get());
  callback(copy.get(), bytes.size());
}

}  // namespace

int ReplayMain(int argc, char** argv, FuzzCallback callback) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg[0] == '-') continue;
    if (!CollectFiles(arg, files)) {
      std::fprintf(stderr, "replay: cannot read corpus input '%s'\n", arg.c_str());
      return 1;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no corpus inputs; running one empty input\n");
    RunOne({}, callback);
    return 0;
  }
  for (const std::filesystem::path& file : files) {
    std::ifstream stream(file, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(stream)),
                                  std::istreambuf_iterator<char>());
    if (stream.bad()) {
      std::fprintf(stderr, "replay: error reading '%s'\n", file.c_str());
      return 1;
    }
    std::fprintf(stderr, "replay: running %s (%zu bytes)\n", file.c_str(), bytes.size());
    RunOne(bytes, callback);
  }
  std::fprintf(stderr, "replay: executed %zu inputs\n", files.size());
  return 0;
}

}  // namespace concord::fuzz
