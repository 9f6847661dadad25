#include "sim/measure.h"

#include <ctime>
#include <filesystem>
#include <system_error>

namespace henbtrust::sim {

double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

uint64_t SqliteStoreBytes(const std::string& path) {
  uint64_t bytes = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path + suffix, ec);
    if (!ec) bytes += size;
  }
  return bytes;
}

}  // namespace henbtrust::sim
