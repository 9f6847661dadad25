// An Env for tests (the shape of Envoy's SimulatedTimeSystem and LevelDB's
// fault-injection Env): clocks that move only when the test moves them, and
// a file system that can lose power.
//
// Files live on the real file system through a base Env; this Env remembers
// what a power loss would keep. A file's contents survive only as of its last
// WritableFile::Sync(); a name created, renamed or removed survives only once
// its directory was synced (SyncDirectory). LosePower() puts every file it
// touched back to what would survive, on the real disk, so that the code under
// test can be reopened on it. Simplifications: directories created are
// durable at once, as are permission changes; a file that existed before this
// Env first touched it counts as synced. Syncs are simulated only: the real
// disk is never fsynced (tests stay fast; their files need not outlive the
// machine).
//
// Every operation that changes durable state (create, append, sync, rename,
// remove, directory sync, mkdir, chmod) is counted; CrashAtOperation(k) makes
// the k-th of them fail and lose power instead. After a power loss every call
// fails (kIo) until PowerOn(); file handles opened before it stay dead.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/env.h"

namespace henbtrust::testing {

class SimulatedEnv final : public Env {
 public:
  // 2027-01-15T08:00:00Z: a fixed start, far from any epoch edge.
  static constexpr int64_t kStartUnixMillis = 1'800'000'000'000;

  explicit SimulatedEnv(Env* base = Env::Default(), int64_t start_unix_millis = kStartUnixMillis);
  SimulatedEnv(const SimulatedEnv&) = delete;
  SimulatedEnv& operator=(const SimulatedEnv&) = delete;

  // --- Clocks: move only through the calls below ---
  int64_t NowUnixMillis() override;
  int64_t SteadyMillis() override;
  // Advances both clocks by `millis` and returns at once.
  void SleepForMillis(int64_t millis) override;
  // The same, for the test's own use.
  void AdvanceMillis(int64_t millis);
  // Sets the wall clock (a jump, forwards or back); the steady clock stays.
  void SetWallMillis(int64_t unix_millis);

  // --- Power ---
  // The `k`-th operation that changes durable state from now on (0-based)
  // fails and power is lost before it takes effect. -1 disarms.
  void CrashAtOperation(int64_t k);
  // Drops every write that has not been synced (see above), now.
  void LosePower();
  // The file system works again, on what survived.
  void PowerOn();
  bool power_lost() const;
  // Counts one operation that changes durable state: the hook the file
  // operations use, and that a test decorator of another device on the same
  // power supply (a TrE's NV counter) calls before its own writes. An error
  // if power is off or this is the operation CrashAtOperation chose.
  Status CheckPower(std::string_view operation);
  // The operations counted since construction, "create /dir/file" and so on.
  std::vector<std::string> operations() const;

  // --- Files ---
  Result<Bytes> ReadFile(const std::string& path, size_t max_size) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        unsigned mode = 0644) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          unsigned mode = 0644) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status SyncDirectory(const std::string& dir) override;
  bool FileExists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Status CreateDirectories(const std::string& dir) override;
  Result<std::vector<std::string>> ListDirectory(const std::string& dir) override;
  Status SetFileMode(const std::string& path, unsigned mode) override;

 private:
  class File;
  // The contents of one file: as written, and as of its last sync.
  struct Inode {
    Bytes current = {};
    Bytes synced = {};
    unsigned mode = 0644;
  };
  using InodeId = int64_t;

  Status CheckPowerLocked(std::string_view operation);
  Error PowerOffError() const;
  // Starts following `path` (a normalised name) if it is new to this Env.
  Status TrackLocked(const std::string& path);
  Result<std::unique_ptr<WritableFile>> OpenLocked(const std::string& path, unsigned mode,
                                                   bool append);
  void LosePowerLocked();

  Env* const base_;
  mutable std::mutex mu_;
  int64_t wall_millis_;
  int64_t steady_millis_ = 0;
  bool power_lost_ = false;
  int64_t crash_at_ = -1;
  int64_t counted_ = 0;
  std::vector<std::string> operations_;
  // Power cycles so far: a file handle from an earlier cycle is dead.
  int64_t generation_ = 0;
  InodeId next_inode_ = 0;
  std::map<InodeId, Inode> inodes_;
  // Per file name followed: the inode it names now and the one a power loss
  // would leave (nullopt: no file).
  std::map<std::string, std::optional<InodeId>> current_names_;
  std::map<std::string, std::optional<InodeId>> durable_names_;
};

}  // namespace henbtrust::testing
