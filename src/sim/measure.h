// What the simulators measure about themselves: the CPU time of the calling
// thread, and the size of a SQLite store's files.
#pragma once

#include <cstdint>
#include <string>

namespace henbtrust::sim {

// CPU time of the calling thread, in microseconds.
double ThreadCpuMicros();

// The bytes of the SQLite store at `path` with its WAL and shared-memory
// files (those that exist).
uint64_t SqliteStoreBytes(const std::string& path);

}  // namespace henbtrust::sim
