// An Env (core/env.h) that keeps the files under its roots in this
// process's memory, for the devices of a simulated fleet: nothing of theirs
// touches the disk, and contents that many files share (a release's images,
// in every device's slots and downloads) are kept once. Every other path,
// and the clocks, go to a base Env.
//
// Files behave as on a POSIX file system, as far as the project uses it: an
// open WritableFile writes to its file whatever name it has since been
// given (rename moves the file, not the handle's target); Sync and
// SyncDirectory do nothing (there is no power to lose: the simulator's
// power cuts are VirtualEnv's). Directories exist once created, and
// ListDirectory lists the files and directories directly below. Where it
// differs, the project does not go: one writer per file at a time (a
// writer starts from the contents it opened, and others see what it wrote
// at its Sync or Close, not before); modes are kept, not enforced;
// directories are not renamed or removed. Relative paths are taken from
// the working directory at construction. Thread-safe.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/forwarding_env.h"
#include "sim/packed_dir.h"

namespace henbtrust::sim {

class MemoryEnv final : public ForwardingEnv {
 public:
  // `base` is not owned and outlives this Env.
  explicit MemoryEnv(Env* base);
  MemoryEnv(const MemoryEnv&) = delete;
  MemoryEnv& operator=(const MemoryEnv&) = delete;

  // Paths under `root` (an absolute or relative directory, compared as
  // written after its trailing slashes) are kept in memory from now on; the
  // root itself exists at once. Call before any file under it is used and
  // before other threads use this Env (the roots are then read unlocked).
  void AddRoot(const std::string& root);

  // What the files hold: bytes of contents, each distinct content once.
  size_t ContentBytes() const;
  size_t FileCount() const;
  // Entries of the table of shared contents, those of gone files included
  // until they are swept.
  size_t InternedEntries();

  // The files and directories under `dir` (kept here), and `dir` itself,
  // taken out of this Env into one compressed object (sim/packed_dir.h):
  // until Unpack puts them back, `dir` does not exist. Nothing under it may
  // be open. On error nothing is taken.
  Result<PackedDir> Pack(const std::string& dir);
  // Back as Pack found them; kIo, and nothing changed, if anything of
  // theirs exists meanwhile.
  Status Unpack(const std::string& dir, const PackedDir& packed);

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

  using Contents = FileContents;
  struct Inode {
    Contents data;
    unsigned mode = 0644;
  };

 private:
  class Writer;

  // `path` absolute, in the spelling the maps are keyed by.
  std::string Normal(const std::string& path) const;
  // Whether `path` (normalised) is kept here.
  bool Mine(const std::string& path) const;
  Result<std::unique_ptr<WritableFile>> Open(const std::string& path, unsigned mode, bool append);
  // The one copy of `data` this Env keeps (a new one if none is alike).
  Contents Intern(std::string data);
  // Under mu_: why `normal` (spelt `path` to the caller) is not there:
  // kIo when a file stands where a directory above it should be, else
  // kNotFound.
  Error AbsentLocked(const std::string& normal, const std::string& what,
                     const std::string& path) const;
  // Under mu_: kNotFound (or kIo, as AbsentLocked) unless the directory
  // that would hold `path` exists.
  Status ParentExistsLocked(const std::string& path) const;

  std::filesystem::path cwd_;
  mutable std::mutex mu_;
  std::vector<std::string> roots_;  // set up before use (AddRoot)
  std::map<std::string, std::shared_ptr<Inode>, std::less<>> files_;
  std::set<std::string, std::less<>> dirs_;
  // Contents by a hash of their bytes; entries whose files are gone expire.
  std::mutex intern_mu_;
  std::unordered_map<size_t, std::vector<std::weak_ptr<const std::string>>> interned_;
  size_t added_since_sweep_ = 0;
  DirPacker packer_;
};

}  // namespace henbtrust::sim
