// Whole-file I/O on the real file system: shorthands for the same calls on
// Env::Default() (core/env.h), for code that is not handed an Env. Errors are
// kIo (or kNotFound / kTooLarge) naming the path.
#pragma once

#include <cstddef>
#include <string>

#include "henbtrust/core/bytes.h"

namespace henbtrust {

// Reads a whole file; refuses files larger than `max_size` bytes.
Result<Bytes> ReadFile(const std::string& path, size_t max_size = size_t{64} << 20);
// The same, as text (PEM files, logs).
Result<std::string> ReadTextFile(const std::string& path, size_t max_size = size_t{1} << 20);

// Seconds since the Unix epoch, from Env::Default()'s wall clock.
int64_t UnixSeconds();
// `unix_seconds` as UTC in RFC 3339 form, "2026-12-05T14:44:13Z".
std::string FormatUtc(int64_t unix_seconds);

// Crash-safe replacement of `path`: writes a temporary file in the same
// directory, fsyncs it, renames it over `path`, and fsyncs the directory.
// `mode` is applied to the new file.
Status WriteFileAtomic(const std::string& path, ByteView data, unsigned mode = 0644);
// The same, with a copy of the file `from`, streamed (memory stays bounded
// whatever its size).
Status CopyFileAtomic(const std::string& from, const std::string& to, unsigned mode = 0644);

// fsyncs the directory `dir`, so that the names created, renamed or removed
// in it so far survive a power loss (a rename is durable only once its
// directory is). kNotFound if it does not exist, kIo if it is not a directory
// or cannot be synced.
Status SyncDirectory(const std::string& dir);

}  // namespace henbtrust
