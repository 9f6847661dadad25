// A directory's files as one compressed object: what a dormant simulated
// device's files cost while it sleeps (sim/memory_env.h, MemoryEnv::Pack).
//
// A device's own files are small and alike from one device to the next
// (JSON state of the same shape, PEM keys and certificates of the same
// issuers); its slot images are large and the same on every device of a
// release. So the record keeps each content that other files share by
// reference (one pointer), writes the others out, and deflates the whole
// with a preset dictionary (RFC 1950): the first record the packer made,
// against which the next devices' differ only in their keys, signatures
// and names.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust::sim {

using FileContents = std::shared_ptr<const std::string>;

// One entry of a packed directory: a directory, or a file with its mode and
// contents. `path` is relative to the packed directory ("" is itself).
struct PackedEntry {
  std::string path;
  bool directory = false;
  unsigned mode = 0;
  FileContents data;  // files only
};

struct PackedDir {
  std::string deflated;              // the record, deflated
  std::vector<FileContents> shared;  // contents the record refers to by index
  size_t Bytes() const;              // what it holds in memory, roughly
};

class DirPacker {
 public:
  static constexpr size_t kShareFrom = 4096;

  DirPacker() = default;
  DirPacker(const DirPacker&) = delete;
  DirPacker& operator=(const DirPacker&) = delete;

  // Contents that something else holds too (use_count above one: another
  // file, another device) or of kShareFrom bytes or more (images) go by
  // reference; the rest is written out. Thread-safe.
  Result<PackedDir> Pack(const std::vector<PackedEntry>& entries);
  // The entries Pack was given, in its order. Thread-safe.
  Result<std::vector<PackedEntry>> Unpack(const PackedDir& packed) const;

 private:
  // Set once, by the first Pack, and read-only afterwards: published
  // through the atomic pointer to Unpack, which does not go through the
  // once_flag.
  std::once_flag dictionary_once_;
  std::unique_ptr<const std::string> dictionary_owner_;
  std::atomic<const std::string*> dictionary_{nullptr};
};

}  // namespace henbtrust::sim
