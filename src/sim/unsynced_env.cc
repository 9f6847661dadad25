#include "sim/unsynced_env.h"

#include "sim/forwarding_env.h"

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

class Unsynced final : public ForwardingEnv {
 public:
  Unsynced() : ForwardingEnv(Env::Default()) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        unsigned mode) override {
    HENB_ASSIGN_OR_RETURN(auto file, base()->NewWritableFile(path, mode));
    return std::unique_ptr<WritableFile>(std::make_unique<UnsyncedFile>(std::move(file)));
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          unsigned mode) override {
    HENB_ASSIGN_OR_RETURN(auto file, base()->NewAppendableFile(path, mode));
    return std::unique_ptr<WritableFile>(std::make_unique<UnsyncedFile>(std::move(file)));
  }
  Status SyncDirectory(const std::string& /*dir*/) override { return OkStatus(); }
};

}  // namespace

Env* UnsyncedEnv() {
  static auto* const env = new Unsynced();  // never destroyed, as Env::Default()
  return env;
}

}  // namespace henbtrust::sim
