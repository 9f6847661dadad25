#include "support/simulated_env.h"

#include <filesystem>

namespace henbtrust::testing {

namespace {

// One spelling per name, so that a file and its directory match.
std::string Normalise(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  return p.string();
}

std::string ParentOf(const std::string& normalised) {
  std::string parent = std::filesystem::path(normalised).parent_path().string();
  return parent.empty() ? "." : parent;
}

constexpr size_t kMaxTrackedFile = size_t{1} << 30;

}  // namespace

// A writable file whose writes are remembered in its inode.
class SimulatedEnv::File final : public WritableFile {
 public:
  File(SimulatedEnv* env, std::string path, InodeId inode, int64_t generation,
       std::unique_ptr<WritableFile> base)
      : env_(env),
        path_(std::move(path)),
        inode_(inode),
        generation_(generation),
        base_(std::move(base)) {}

  Status Append(ByteView data) override {
    std::lock_guard<std::mutex> lock(env_->mu_);
    HENB_TRY(Alive());
    HENB_TRY(env_->CheckPowerLocked("append " + path_));
    HENB_TRY(base_->Append(data));
    Bytes& current = env_->inodes_[inode_].current;
    current.insert(current.end(), data.begin(), data.end());
    return OkStatus();
  }

  Status Sync() override {
    std::lock_guard<std::mutex> lock(env_->mu_);
    HENB_TRY(Alive());
    HENB_TRY(env_->CheckPowerLocked("sync " + path_));
    Inode& inode = env_->inodes_[inode_];
    inode.synced = inode.current;
    return OkStatus();
  }

  Status Close() override {
    std::lock_guard<std::mutex> lock(env_->mu_);
    HENB_TRY(Alive());
    return base_->Close();
  }

 private:
  Status Alive() const {
    if (env_->power_lost_ || generation_ != env_->generation_)
      return Error(ErrorCode::kIo, path_ + ": opened before a power loss");
    return OkStatus();
  }

  SimulatedEnv* const env_;
  const std::string path_;
  const InodeId inode_;
  const int64_t generation_;
  std::unique_ptr<WritableFile> base_;
};

SimulatedEnv::SimulatedEnv(Env* base, int64_t start_unix_millis)
    : base_(base), wall_millis_(start_unix_millis) {}

int64_t SimulatedEnv::NowUnixMillis() {
  std::lock_guard<std::mutex> lock(mu_);
  return wall_millis_;
}

int64_t SimulatedEnv::SteadyMillis() {
  std::lock_guard<std::mutex> lock(mu_);
  return steady_millis_;
}

void SimulatedEnv::SleepForMillis(int64_t millis) { AdvanceMillis(millis); }

void SimulatedEnv::AdvanceMillis(int64_t millis) {
  if (millis <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  wall_millis_ += millis;
  steady_millis_ += millis;
}

void SimulatedEnv::SetWallMillis(int64_t unix_millis) {
  std::lock_guard<std::mutex> lock(mu_);
  wall_millis_ = unix_millis;
}

void SimulatedEnv::CrashAtOperation(int64_t k) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = k < 0 ? -1 : counted_ + k;
}

void SimulatedEnv::LosePower() {
  std::lock_guard<std::mutex> lock(mu_);
  LosePowerLocked();
}

void SimulatedEnv::PowerOn() {
  std::lock_guard<std::mutex> lock(mu_);
  power_lost_ = false;
}

bool SimulatedEnv::power_lost() const {
  std::lock_guard<std::mutex> lock(mu_);
  return power_lost_;
}

Status SimulatedEnv::CheckPower(std::string_view operation) {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckPowerLocked(operation);
}

std::vector<std::string> SimulatedEnv::operations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return operations_;
}

Error SimulatedEnv::PowerOffError() const {
  return Error(ErrorCode::kIo, "the power is off (simulated power loss)");
}

Status SimulatedEnv::CheckPowerLocked(std::string_view operation) {
  if (power_lost_) return PowerOffError();
  const int64_t index = counted_++;
  operations_.emplace_back(operation);
  if (index == crash_at_) {
    crash_at_ = -1;
    LosePowerLocked();
    return Error(ErrorCode::kIo, "power lost (simulated) before operation " +
                                     std::to_string(index) + ": " + std::string(operation));
  }
  return OkStatus();
}

Status SimulatedEnv::TrackLocked(const std::string& path) {
  if (current_names_.count(path) != 0) return OkStatus();
  std::optional<InodeId> id;
  if (base_->FileExists(path)) {
    auto contents = base_->ReadFile(path, kMaxTrackedFile);
    if (!contents.ok()) return contents.error();
    id = next_inode_++;
    inodes_[*id] = Inode{*contents, *contents, 0644};
  }
  current_names_[path] = id;
  durable_names_[path] = id;
  return OkStatus();
}

void SimulatedEnv::LosePowerLocked() {
  power_lost_ = true;
  ++generation_;
  // Each name gets what a power loss leaves: the inode its directory last
  // recorded, with the contents that inode last synced.
  for (const auto& [path, durable] : durable_names_) {
    if (!durable) {
      if (base_->FileExists(path)) (void)base_->RemoveFile(path);
      continue;
    }
    const Inode& inode = inodes_[*durable];
    auto on_disk = base_->ReadFile(path, kMaxTrackedFile);
    if (on_disk.ok() && *on_disk == inode.synced) continue;
    if (on_disk.ok()) (void)base_->RemoveFile(path);
    auto file = base_->NewWritableFile(path, inode.mode);
    if (!file.ok()) continue;
    (void)(*file)->Append(inode.synced);
    (void)(*file)->Close();
  }
  // What survived is the new starting point.
  inodes_.clear();
  current_names_.clear();
  durable_names_.clear();
}

Result<Bytes> SimulatedEnv::ReadFile(const std::string& path, size_t max_size) {
  if (power_lost()) return PowerOffError();
  return base_->ReadFile(path, max_size);
}

Result<std::unique_ptr<SequentialFile>> SimulatedEnv::NewSequentialFile(const std::string& path) {
  if (power_lost()) return PowerOffError();
  return base_->NewSequentialFile(path);
}

Result<std::unique_ptr<WritableFile>> SimulatedEnv::OpenLocked(const std::string& path,
                                                               unsigned mode, bool append) {
  const std::string name = Normalise(path);
  HENB_TRY(CheckPowerLocked((append ? "open-append " : "create ") + name));
  HENB_TRY(TrackLocked(name));
  auto base = append ? base_->NewAppendableFile(path, mode) : base_->NewWritableFile(path, mode);
  if (!base.ok()) return base.error();
  std::optional<InodeId>& id = current_names_[name];
  if (id) {
    if (!append) inodes_[*id].current.clear();  // truncated, not yet durably
  } else {
    id = next_inode_++;
    inodes_[*id] = Inode{{}, {}, mode};
  }
  return std::unique_ptr<WritableFile>(
      std::make_unique<File>(this, name, *id, generation_, std::move(base).value()));
}

Result<std::unique_ptr<WritableFile>> SimulatedEnv::NewWritableFile(const std::string& path,
                                                                    unsigned mode) {
  std::lock_guard<std::mutex> lock(mu_);
  return OpenLocked(path, mode, false);
}

Result<std::unique_ptr<WritableFile>> SimulatedEnv::NewAppendableFile(const std::string& path,
                                                                      unsigned mode) {
  std::lock_guard<std::mutex> lock(mu_);
  return OpenLocked(path, mode, true);
}

Status SimulatedEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string src = Normalise(from);
  const std::string dst = Normalise(to);
  HENB_TRY(CheckPowerLocked("rename " + src + " " + dst));
  HENB_TRY(TrackLocked(src));
  HENB_TRY(TrackLocked(dst));
  HENB_TRY(base_->RenameFile(from, to));
  if (src != dst) {
    current_names_[dst] = current_names_[src];
    current_names_[src] = std::nullopt;
  }
  return OkStatus();
}

Status SimulatedEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = Normalise(path);
  HENB_TRY(CheckPowerLocked("remove " + name));
  HENB_TRY(TrackLocked(name));
  HENB_TRY(base_->RemoveFile(path));
  current_names_[name] = std::nullopt;
  return OkStatus();
}

Status SimulatedEnv::SyncDirectory(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = Normalise(dir);
  HENB_TRY(CheckPowerLocked("sync-dir " + name));
  if (!base_->FileExists(dir))
    return Error(ErrorCode::kNotFound, "cannot open directory " + dir + ": no such directory");
  for (const auto& [path, id] : current_names_) {
    if (ParentOf(path) == name) durable_names_[path] = id;
  }
  return OkStatus();
}

bool SimulatedEnv::FileExists(const std::string& path) {
  return !power_lost() && base_->FileExists(path);
}

Result<uint64_t> SimulatedEnv::FileSize(const std::string& path) {
  if (power_lost()) return PowerOffError();
  return base_->FileSize(path);
}

Status SimulatedEnv::CreateDirectories(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  HENB_TRY(CheckPowerLocked("mkdir " + Normalise(dir)));
  return base_->CreateDirectories(dir);
}

Result<std::vector<std::string>> SimulatedEnv::ListDirectory(const std::string& dir) {
  if (power_lost()) return PowerOffError();
  return base_->ListDirectory(dir);
}

Status SimulatedEnv::SetFileMode(const std::string& path, unsigned mode) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = Normalise(path);
  HENB_TRY(CheckPowerLocked("chmod " + name));
  HENB_TRY(TrackLocked(name));
  HENB_TRY(base_->SetFileMode(path, mode));
  if (const auto& id = current_names_[name]) inodes_[*id].mode = mode;
  return OkStatus();
}

}  // namespace henbtrust::testing
