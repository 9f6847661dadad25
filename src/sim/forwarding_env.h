// An Env (core/env.h) that hands every call to another one, for the
// simulator's Envs to override only what they change (the shape of
// LevelDB's EnvWrapper).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "henbtrust/core/env.h"

namespace henbtrust::sim {

class ForwardingEnv : public Env {
 public:
  // `base` is not owned and outlives this Env.
  explicit ForwardingEnv(Env* base) : base_(base) {}

  int64_t NowUnixMillis() override { return base_->NowUnixMillis(); }
  int64_t SteadyMillis() override { return base_->SteadyMillis(); }
  void SleepForMillis(int64_t millis) override { base_->SleepForMillis(millis); }
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

 protected:
  Env* base() const { return base_; }

 private:
  Env* const base_;
};

}  // namespace henbtrust::sim
