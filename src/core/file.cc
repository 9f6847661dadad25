#include "henbtrust/core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace henbtrust {

namespace {
Error IoError(const std::string& what, const std::string& path, int err) {
  return Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
               what + " " + path + ": " + std::strerror(err));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};
}  // namespace

Result<Bytes> ReadFile(const std::string& path, size_t max_size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return IoError("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError("cannot stat", path, errno);
  if (S_ISDIR(st.st_mode)) return Error(ErrorCode::kIo, "cannot read " + path + ": is a directory");
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_size) {
    return Error(ErrorCode::kTooLarge, path + " is " + std::to_string(st.st_size) +
                                           " bytes, more than the limit of " +
                                           std::to_string(max_size));
  }
  Bytes out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<size_t>(st.st_size));
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_size) {
      return Error(ErrorCode::kTooLarge,
                   path + " exceeds the limit of " + std::to_string(max_size) + " bytes");
    }
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

namespace {

// Writes a temporary file beside `path` with `fill(fd)`, fsyncs it, renames
// it over `path` and fsyncs the directory. `fill` returns 0 or an errno.
template <typename Fill>
Status ReplaceAtomically(const std::string& path, unsigned mode, Fill fill) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmpXXXXXX")).string();
  Fd fd(::mkstemp(tmpl.data()));
  if (fd.get() < 0) return IoError("cannot create temporary file for", path, errno);
  auto fail = [&](const char* what, int err) {
    ::unlink(tmpl.c_str());
    return IoError(what, path, err);
  };
  if (const int err = fill(fd.get()); err != 0) return fail("cannot write", err);
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot chmod", errno);
  if (::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
  if (::close(fd.release()) != 0) return fail("cannot close", errno);
  if (::rename(tmpl.c_str(), path.c_str()) != 0) return fail("cannot rename onto", errno);
  return SyncDirectory(dir.string());
}

// Writes all of `data` to `fd`: 0 or an errno.
int WriteAll(int fd, const uint8_t* data, size_t size) {
  size_t off = 0;
  while (off < size) {
    const ssize_t n = ::write(fd, data + off, size - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    off += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Status WriteFileAtomic(const std::string& path, ByteView data, unsigned mode) {
  return ReplaceAtomically(path, mode,
                           [&](int fd) { return WriteAll(fd, data.data(), data.size()); });
}

Status CopyFileAtomic(const std::string& from, const std::string& to, unsigned mode) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return IoError("cannot open", from, errno);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return IoError("cannot stat", from, errno);
  if (S_ISDIR(st.st_mode)) return Error(ErrorCode::kIo, "cannot copy " + from + ": is a directory");
  int read_error = 0;
  Status st_copy = ReplaceAtomically(to, mode, [&](int out) {
    uint8_t buf[1 << 16];
    for (;;) {
      const ssize_t n = ::read(in.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        read_error = errno;
        return errno;
      }
      if (n == 0) return 0;
      if (const int err = WriteAll(out, buf, static_cast<size_t>(n)); err != 0) return err;
    }
  });
  if (read_error != 0) return IoError("cannot read", from, read_error);
  return st_copy;
}

Status SyncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return IoError("cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return IoError("cannot fsync directory", dir, errno);
  return OkStatus();
}

Result<std::string> ReadTextFile(const std::string& path, size_t max_size) {
  HENB_ASSIGN_OR_RETURN(Bytes data, ReadFile(path, max_size));
  return ToString(data);
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatUtc(int64_t unix_seconds) {
  const auto tt = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace henbtrust
