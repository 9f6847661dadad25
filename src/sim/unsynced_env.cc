#include "sim/unsynced_env.h"

namespace henbtrust::sim {

namespace {

class UnsyncedFile final : public WritableFile {
 public:
  explicit UnsyncedFile(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  Status Append(ByteView data) override { return file_->Append(data); }
  Status Sync() override { return OkStatus(); }
  Status Close() override { return file_->Close(); }

 private:
  std::unique_ptr<WritableFile> file_;
};

class Unsynced final : public Env {
 public:
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
    HENB_ASSIGN_OR_RETURN(auto file, base_->NewWritableFile(path, mode));
    return std::unique_ptr<WritableFile>(std::make_unique<UnsyncedFile>(std::move(file)));
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          unsigned mode) override {
    HENB_ASSIGN_OR_RETURN(auto file, base_->NewAppendableFile(path, mode));
    return std::unique_ptr<WritableFile>(std::make_unique<UnsyncedFile>(std::move(file)));
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Status SyncDirectory(const std::string& /*dir*/) override { return OkStatus(); }
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
};

}  // namespace

Env* UnsyncedEnv() {
  static auto* const env = new Unsynced();  // never destroyed, as Env::Default()
  return env;
}

}  // namespace henbtrust::sim
