// The one seam between the project and the operating system's time and files
// (the shape of LevelDB's Env). Production code reads its clocks and does its
// file I/O through an Env, so that a test can run it on simulated time and on
// a file system that loses unsynced writes (tests/support/simulated_env.h).
//
// How a service takes an Env: a constructor argument or an options field
// `Env* env = Env::Default();`, never owned by the service; the caller keeps
// it alive for as long as the service runs. Code that has no Env at hand uses
// the free functions of core/file.h, which go through Env::Default().
//
// Errors are kIo naming the path, kNotFound when a file or directory does not
// exist, kTooLarge when a read exceeds its limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"

namespace henbtrust {

// A file opened for writing. Data is durable only once Sync() returned OK;
// the file's name is durable only once its directory was synced
// (Env::SyncDirectory). One caller at a time; the destructor closes without
// syncing.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(ByteView data) = 0;
  // fsync: everything appended so far survives a power loss.
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// A file opened for reading from its start. One caller at a time.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Up to `max_bytes` more bytes; empty at the end of the file.
  virtual Result<Bytes> Read(size_t max_bytes) = 0;
  // Moves `n` bytes on without reading them (past the end is allowed: the
  // next Read is then empty).
  virtual Status Skip(uint64_t n) = 0;
};

// Implementations are safe to use from many threads at once.
class Env {
 public:
  virtual ~Env() = default;

  // The real clocks and file system of this machine. Never destroyed.
  static Env* Default();

  // --- Clocks ---
  // Wall clock: milliseconds since the Unix epoch. May jump.
  virtual int64_t NowUnixMillis() = 0;
  // Seconds since the Unix epoch (NowUnixMillis() rounded down).
  int64_t NowUnixSeconds();
  // Steady clock: milliseconds from an arbitrary origin, never decreasing.
  // For timeouts and deadlines.
  virtual int64_t SteadyMillis() = 0;
  // Blocks for `millis` of steady time (a simulated Env advances its clocks
  // and returns at once).
  virtual void SleepForMillis(int64_t millis) = 0;

  // --- Files ---
  // Reads a whole file; refuses files larger than `max_size` bytes.
  virtual Result<Bytes> ReadFile(const std::string& path, size_t max_size) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  // Creates `path`, or truncates it if it exists, with permission bits `mode`
  // (exactly, whatever the umask).
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                unsigned mode = 0644) = 0;
  // Opens `path` for appending, creating it (with `mode`) if it is missing.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                                  unsigned mode = 0644) = 0;
  // rename(2): atomically replaces `to`. Durable once the directory is synced.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Removes a file (not a directory). kNotFound if it does not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
  // fsyncs the directory `dir`, so that the names created, renamed or removed
  // in it so far survive a power loss. kNotFound if it does not exist.
  virtual Status SyncDirectory(const std::string& dir) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // The size in bytes of a file (not a directory).
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Creates `dir` and its missing parents; OK if it exists already.
  virtual Status CreateDirectories(const std::string& dir) = 0;
  // The names in `dir` (files and directories, without "." and ".."), sorted.
  virtual Result<std::vector<std::string>> ListDirectory(const std::string& dir) = 0;
  // chmod(2).
  virtual Status SetFileMode(const std::string& path, unsigned mode) = 0;

  // --- Built on the operations above, the same for every Env ---
  // Crash-safe replacement of `path`: writes a temporary file in the same
  // directory, syncs it, renames it over `path` and syncs the directory.
  // After a power loss `path` holds either its old or its new contents.
  Status WriteFileAtomic(const std::string& path, ByteView data, unsigned mode = 0644);
  // The same, with a copy of the file `from`, streamed (memory stays bounded
  // whatever its size).
  Status CopyFileAtomic(const std::string& from, const std::string& to, unsigned mode = 0644);
  // Exactly `length` bytes of `path` from `offset` (kIo if the file ends
  // first), appended to `out`.
  Status ReadRange(const std::string& path, uint64_t offset, size_t length, std::string& out);
};

}  // namespace henbtrust
