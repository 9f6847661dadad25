// The simulator's Env (core/env.h): the machine's files, and clocks that move
// only when the simulator moves them (fleet time). Both clocks start at the
// machine's wall clock, so that certificates issued in fleet time are valid
// on the machine too.
#pragma once

#include <atomic>
#include <cstdint>

#include "henbtrust/core/env.h"

namespace henbtrust::sim {

class VirtualEnv final : public Env {
 public:
  VirtualEnv();

  void Advance(int64_t millis) { millis_ += millis; }
  // Seconds since the clock started.
  int64_t Elapsed() const { return (millis_ - start_) / 1000; }

  int64_t NowUnixMillis() override { return millis_; }
  int64_t SteadyMillis() override { return millis_ - start_; }
  void SleepForMillis(int64_t millis) override { Advance(millis); }

  Result<Bytes> ReadFile(const std::string& path, size_t max_size) override {
    return base_->ReadFile(path, max_size);
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    return base_->NewSequentialFile(path);
  }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        unsigned mode) override {
    return base_->NewWritableFile(path, mode);
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          unsigned mode) override {
    return base_->NewAppendableFile(path, mode);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Status SyncDirectory(const std::string& dir) override { return base_->SyncDirectory(dir); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Status CreateDirectories(const std::string& dir) override {
    return base_->CreateDirectories(dir);
  }
  Result<std::vector<std::string>> ListDirectory(const std::string& dir) override {
    return base_->ListDirectory(dir);
  }
  Status SetFileMode(const std::string& path, unsigned mode) override {
    return base_->SetFileMode(path, mode);
  }

 private:
  Env* const base_ = Env::Default();
  const int64_t start_;
  std::atomic<int64_t> millis_;
};

inline VirtualEnv::VirtualEnv() : start_(Env::Default()->NowUnixMillis()), millis_(start_) {}

}  // namespace henbtrust::sim
