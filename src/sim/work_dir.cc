#include "sim/work_dir.h"

#include <filesystem>
#include <system_error>

#include "henbtrust/core/file.h"

namespace henbtrust::sim {

namespace {

constexpr char kMarker[] = ".henbtrust-sim";

}  // namespace

Status PrepareWorkDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (dir.empty()) return Error(ErrorCode::kInvalidArgument, "no work directory");
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return Error(ErrorCode::kInvalidArgument, dir + " is not a directory");
    }
    const bool ours = fs::exists(fs::path(dir) / kMarker, ec);
    if (!ours && !fs::is_empty(dir, ec)) {
      return Error(ErrorCode::kInvalidArgument,
                   dir +
                       " holds files of something else; a run replaces its work directory, "
                       "so give an empty or new one");
    }
    fs::remove_all(dir, ec);
    if (ec) return Error(ErrorCode::kIo, "cannot empty " + dir + ": " + ec.message());
  }
  fs::create_directories(dir, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
  return WriteFileAtomic(
      (fs::path(dir) / kMarker).string(),
      AsBytes("a henbtrust simulation's work directory; replaced by each run\n"));
}

}  // namespace henbtrust::sim
