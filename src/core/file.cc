#include "henbtrust/core/file.h"

#include <ctime>

#include "henbtrust/core/env.h"

namespace henbtrust {

Result<Bytes> ReadFile(const std::string& path, size_t max_size) {
  return Env::Default()->ReadFile(path, max_size);
}

Result<std::string> ReadTextFile(const std::string& path, size_t max_size) {
  HENB_ASSIGN_OR_RETURN(Bytes data, ReadFile(path, max_size));
  return ToString(data);
}

Status WriteFileAtomic(const std::string& path, ByteView data, unsigned mode) {
  return Env::Default()->WriteFileAtomic(path, data, mode);
}

Status CopyFileAtomic(const std::string& from, const std::string& to, unsigned mode) {
  return Env::Default()->CopyFileAtomic(from, to, mode);
}

Status SyncDirectory(const std::string& dir) { return Env::Default()->SyncDirectory(dir); }

int64_t UnixSeconds() { return Env::Default()->NowUnixSeconds(); }

std::string FormatUtc(int64_t unix_seconds) {
  const auto tt = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace henbtrust
