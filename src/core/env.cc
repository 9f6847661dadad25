#include "henbtrust/core/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <thread>

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
    const int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

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

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  Status Append(ByteView data) override {
    if (fd_.get() < 0) return Error(ErrorCode::kIo, "cannot write " + path_ + ": closed");
    if (const int err = WriteAll(fd_.get(), data.data(), data.size()); err != 0)
      return IoError("cannot write", path_, err);
    return OkStatus();
  }
  Status Sync() override {
    if (fd_.get() < 0) return Error(ErrorCode::kIo, "cannot fsync " + path_ + ": closed");
    if (::fsync(fd_.get()) != 0) return IoError("cannot fsync", path_, errno);
    return OkStatus();
  }
  Status Close() override {
    if (fd_.get() < 0) return OkStatus();
    if (::close(fd_.release()) != 0) return IoError("cannot close", path_, errno);
    return OkStatus();
  }

 private:
  std::string path_;
  Fd fd_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  Result<Bytes> Read(size_t max_bytes) override {
    Bytes out(max_bytes);
    for (;;) {
      const ssize_t n = ::read(fd_.get(), out.data(), out.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot read", path_, errno);
      }
      out.resize(static_cast<size_t>(n));
      return out;
    }
  }

  Status Skip(uint64_t n) override {
    if (n > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
      return IoError("cannot seek in", path_, EINVAL);
    }
    if (::lseek(fd_.get(), static_cast<off_t>(n), SEEK_CUR) < 0) {
      return IoError("cannot seek in", path_, errno);
    }
    return OkStatus();
  }

 private:
  std::string path_;
  Fd fd_;
};

class PosixEnv final : public Env {
 public:
  int64_t NowUnixMillis() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t SteadyMillis() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void SleepForMillis(int64_t millis) override {
    if (millis > 0) std::this_thread::sleep_for(std::chrono::milliseconds(millis));
  }

  Result<Bytes> ReadFile(const std::string& path, size_t max_size) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return IoError("cannot open", path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return IoError("cannot stat", path, errno);
    if (S_ISDIR(st.st_mode))
      return Error(ErrorCode::kIo, "cannot read " + path + ": is a directory");
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

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return IoError("cannot open", path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return IoError("cannot stat", path, errno);
    if (S_ISDIR(st.st_mode))
      return Error(ErrorCode::kIo, "cannot read " + path + ": is a directory");
    return std::unique_ptr<SequentialFile>(
        std::make_unique<PosixSequentialFile>(path, fd.release()));
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        unsigned mode) override {
    // Created private, then given `mode` exactly (the umask does not apply).
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return IoError("cannot create", path, errno);
    if (::fchmod(fd.get(), mode) != 0) return IoError("cannot chmod", path, errno);
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, fd.release()));
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          unsigned mode) override {
    for (;;) {
      Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
      if (fd.get() >= 0) {
        return std::unique_ptr<WritableFile>(
            std::make_unique<PosixWritableFile>(path, fd.release()));
      }
      if (errno != ENOENT) return IoError("cannot open", path, errno);
      Fd created(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (created.get() < 0) {
        if (errno == EEXIST) continue;  // another writer created it first
        return IoError("cannot create", path, errno);
      }
      if (::fchmod(created.get(), mode) != 0) return IoError("cannot chmod", path, errno);
      return std::unique_ptr<WritableFile>(
          std::make_unique<PosixWritableFile>(path, created.release()));
    }
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return IoError("cannot rename " + from + " onto", to, errno);
    return OkStatus();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return IoError("cannot remove", path, errno);
    return OkStatus();
  }

  Status SyncDirectory(const std::string& dir) override {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return IoError("cannot open directory", dir, errno);
    if (::fsync(fd.get()) != 0) return IoError("cannot fsync directory", dir, errno);
    return OkStatus();
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return IoError("cannot stat", path, errno);
    if (S_ISDIR(st.st_mode))
      return Error(ErrorCode::kIo, "cannot size " + path + ": is a directory");
    return static_cast<uint64_t>(st.st_size);
  }

  Status CreateDirectories(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
    return OkStatus();
  }

  Result<std::vector<std::string>> ListDirectory(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return IoError("cannot open directory", dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return IoError("cannot list", dir, err);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status SetFileMode(const std::string& path, unsigned mode) override {
    if (::chmod(path.c_str(), mode) != 0) return IoError("cannot chmod", path, errno);
    return OkStatus();
  }
};

// A name beside `path` that no other writer in this or another process uses.
std::string TemporaryNameFor(const std::filesystem::path& dir,
                             const std::filesystem::path& target) {
  static std::atomic<uint64_t> counter{0};
  return (dir / ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter.fetch_add(1))))
      .string();
}

// Writes a temporary file beside `path` with `fill(file)`, syncs it, renames
// it over `path` and syncs the directory. The temporary file is removed on
// failure.
template <typename Fill>
Status ReplaceAtomically(Env& env, const std::string& path, unsigned mode, Fill fill) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const std::string tmp = TemporaryNameFor(dir, target);
  HENB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env.NewWritableFile(tmp, mode));
  Status st = fill(*file);
  if (st.ok()) st = file->Sync();
  if (st.ok()) st = file->Close();
  if (st.ok()) st = env.RenameFile(tmp, path);
  if (!st.ok()) {
    file.reset();
    (void)env.RemoveFile(tmp);
    return st;
  }
  return env.SyncDirectory(dir.string());
}

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv;
  return env;
}

int64_t Env::NowUnixSeconds() {
  const int64_t ms = NowUnixMillis();
  return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

Status Env::WriteFileAtomic(const std::string& path, ByteView data, unsigned mode) {
  return ReplaceAtomically(*this, path, mode,
                           [&](WritableFile& file) { return file.Append(data); });
}

Status Env::CopyFileAtomic(const std::string& from, const std::string& to, unsigned mode) {
  HENB_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> in, NewSequentialFile(from));
  return ReplaceAtomically(*this, to, mode, [&](WritableFile& out) -> Status {
    for (;;) {
      HENB_ASSIGN_OR_RETURN(Bytes chunk, in->Read(size_t{1} << 16));
      if (chunk.empty()) return OkStatus();
      HENB_TRY(out.Append(chunk));
    }
  });
}

Status Env::ReadRange(const std::string& path, uint64_t offset, size_t length, std::string& out) {
  HENB_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> in, NewSequentialFile(path));
  HENB_TRY(in->Skip(offset));
  out.reserve(out.size() + length);
  while (length > 0) {
    HENB_ASSIGN_OR_RETURN(Bytes chunk, in->Read(std::min(length, size_t{1} << 16)));
    if (chunk.empty()) {
      return Error(ErrorCode::kIo, "cannot read " + path + ": it ends before the range asked for");
    }
    out.append(chunk.begin(), chunk.end());
    length -= chunk.size();
  }
  return OkStatus();
}

}  // namespace henbtrust
