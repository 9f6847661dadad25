#include "sim/memory_env.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string_view>
#include <unordered_set>

namespace henbtrust::sim {

namespace {

// Contents shorter than this are a device's own (its state, its journal) and
// are not worth a hash: only longer ones are looked for among the others.
constexpr size_t kInternFrom = 256;

// "a//b/./c/" -> "/cwd/a/b/c": the spelling the maps are keyed by.
std::string NormalPath(const std::filesystem::path& cwd, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = cwd / p;
  std::string n = p.lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Error NotFound(const std::string& what, const std::string& path) {
  return Error(ErrorCode::kNotFound, what + " " + path + ": No such file or directory");
}

const std::string& KeyOf(const std::string& key) { return key; }
template <typename Value>
const std::string& KeyOf(const std::pair<const std::string, Value>& entry) {
  return entry.first;
}

Error NotADirectory(const std::string& path) {
  return Error(ErrorCode::kIo, path + ": Not a directory");
}

class MemoryFile final : public SequentialFile {
 public:
  explicit MemoryFile(MemoryEnv::Contents data) : data_(std::move(data)) {}
  Result<Bytes> Read(size_t max_bytes) override {
    const size_t n = std::min(max_bytes, data_->size() - std::min(offset_, data_->size()));
    Bytes out(data_->begin() + static_cast<ptrdiff_t>(offset_),
              data_->begin() + static_cast<ptrdiff_t>(offset_ + n));
    offset_ += n;
    return out;
  }
  Status Skip(uint64_t n) override {
    offset_ = n > data_->size() - std::min(offset_, data_->size()) ? data_->size() : offset_ + n;
    return OkStatus();
  }

 private:
  MemoryEnv::Contents data_;
  size_t offset_ = 0;
};

}  // namespace

// Writes to its inode, whatever its name is by now; what it wrote becomes
// the file's contents at Sync and Close.
class MemoryEnv::Writer final : public WritableFile {
 public:
  Writer(MemoryEnv* env, std::shared_ptr<Inode> inode, std::string start)
      : env_(env), inode_(std::move(inode)), buffer_(std::move(start)) {}
  ~Writer() override { (void)Close(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  Status Append(ByteView data) override {
    if (closed_) return Error(ErrorCode::kIo, "cannot write: the file is closed");
    buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return OkStatus();
  }
  Status Sync() override {
    if (closed_) return Error(ErrorCode::kIo, "cannot fsync: the file is closed");
    Publish(buffer_);
    return OkStatus();
  }
  Status Close() override {
    if (closed_) return OkStatus();
    closed_ = true;
    Publish(std::move(buffer_));
    buffer_.clear();
    return OkStatus();
  }

 private:
  void Publish(std::string data) {
    Contents contents = env_->Intern(std::move(data));
    const std::lock_guard<std::mutex> lock(env_->mu_);
    inode_->data = std::move(contents);
  }

  MemoryEnv* env_;
  std::shared_ptr<Inode> inode_;
  std::string buffer_;
  bool closed_ = false;
};

MemoryEnv::MemoryEnv(Env* base) : ForwardingEnv(base) {
  std::error_code ec;
  cwd_ = std::filesystem::current_path(ec);
  if (ec) cwd_ = "/";
}

std::string MemoryEnv::Normal(const std::string& path) const { return NormalPath(cwd_, path); }

void MemoryEnv::AddRoot(const std::string& root) {
  const std::string r = Normal(root);
  const std::lock_guard<std::mutex> lock(mu_);
  roots_.push_back(r);
  dirs_.insert(r);
}

size_t MemoryEnv::ContentBytes() const {
  const std::lock_guard<std::mutex> lock(mu_);
  std::unordered_set<const std::string*> seen;
  size_t bytes = 0;
  for (const auto& [name, inode] : files_) {
    if (seen.insert(inode->data.get()).second) bytes += inode->data->size();
  }
  return bytes;
}

size_t MemoryEnv::FileCount() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return files_.size();
}

size_t MemoryEnv::InternedEntries() {
  const std::lock_guard<std::mutex> lock(intern_mu_);
  size_t n = 0;
  for (const auto& [hash, bucket] : interned_) n += bucket.size();
  return n;
}

bool MemoryEnv::Mine(const std::string& path) const {
  return std::any_of(roots_.begin(), roots_.end(), [&](const std::string& root) {
    return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                            (path[root.size()] == '/' || root == "/"));
  });
}

MemoryEnv::Contents MemoryEnv::Intern(std::string data) {
  if (data.size() < kInternFrom) return std::make_shared<const std::string>(std::move(data));
  const size_t hash = std::hash<std::string_view>{}(data);
  const std::lock_guard<std::mutex> lock(intern_mu_);
  // Contents whose files are all gone leave entries behind: swept whenever
  // as many were added as the table holds, so that it stays within twice
  // the contents alive.
  if (++added_since_sweep_ > std::max<size_t>(1024, interned_.size())) {
    added_since_sweep_ = 0;
    for (auto it = interned_.begin(); it != interned_.end();) {
      std::erase_if(it->second, [](const auto& weak) { return weak.expired(); });
      it = it->second.empty() ? interned_.erase(it) : std::next(it);
    }
  }
  auto& bucket = interned_[hash];
  std::erase_if(bucket, [](const auto& weak) { return weak.expired(); });
  for (const auto& weak : bucket) {
    if (Contents kept = weak.lock(); kept && *kept == data) return kept;
  }
  auto contents = std::make_shared<const std::string>(std::move(data));
  bucket.push_back(contents);
  return contents;
}

Result<PackedDir> MemoryEnv::Pack(const std::string& dir) {
  const std::string d = Normal(dir);
  if (!Mine(d)) return Error(ErrorCode::kInvalidArgument, dir + " is not kept in memory");
  const std::string below = d + "/";
  auto relative = [&](const std::string& key) {
    return key == d ? std::string() : key.substr(below.size());
  };
  std::vector<PackedEntry> entries;
  std::vector<std::pair<std::string, std::shared_ptr<Inode>>> taken;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    if (!dirs_.contains(d)) return AbsentLocked(d, "cannot pack", dir);
    // `dir` itself, then what is below it (names such as "dir-x" sort
    // between the two).
    dirs_.erase(d);
    entries.push_back({std::string(), true, 0, nullptr});
    for (auto it = dirs_.lower_bound(below); it != dirs_.end() && it->starts_with(below);) {
      entries.push_back({relative(*it), true, 0, nullptr});
      it = dirs_.erase(it);
    }
    for (auto it = files_.lower_bound(below); it != files_.end() && it->first.starts_with(below);) {
      taken.emplace_back(it->first, std::move(it->second));
      it = files_.erase(it);
    }
  }
  // The contents move out of their inodes, so that only other holders
  // count in their use (PackedDir refers to what others share).
  for (auto& [path, inode] : taken) {
    entries.push_back({relative(path), false, inode->mode, std::move(inode->data)});
  }
  auto packed = packer_.Pack(entries);
  if (packed.ok()) return packed;
  // Put back as they were.
  const std::lock_guard<std::mutex> lock(mu_);
  size_t file = 0;
  for (PackedEntry& e : entries) {
    const std::string path = e.path.empty() ? d : below + e.path;
    if (e.directory) {
      dirs_.insert(path);
    } else {
      taken[file].second->data = std::move(e.data);
      files_[path] = std::move(taken[file++].second);
    }
  }
  return packed.error();
}

Status MemoryEnv::Unpack(const std::string& dir, const PackedDir& packed) {
  const std::string d = Normal(dir);
  if (!Mine(d)) return Error(ErrorCode::kInvalidArgument, dir + " is not kept in memory");
  HENB_ASSIGN_OR_RETURN(std::vector<PackedEntry> entries, packer_.Unpack(packed));
  // Contents written out in the record come back shared where they were.
  for (PackedEntry& e : entries) {
    if (!e.directory && e.data.use_count() == 1 && e.data->size() >= kInternFrom) {
      e.data = Intern(std::string(*e.data));
    }
  }
  const std::lock_guard<std::mutex> lock(mu_);
  auto path_of = [&](const PackedEntry& e) {
    std::string path = d;
    if (!e.path.empty()) path.append("/").append(e.path);
    return path;
  };
  for (const PackedEntry& e : entries) {
    std::string path = path_of(e);
    if (files_.contains(path) || (!e.directory && dirs_.contains(path))) {
      return Error(ErrorCode::kIo, "cannot unpack " + dir + ": " + path.append(" exists"));
    }
  }
  for (PackedEntry& e : entries) {
    if (e.directory) {
      dirs_.insert(path_of(e));
    } else {
      files_[path_of(e)] = std::make_shared<Inode>(Inode{std::move(e.data), e.mode});
    }
  }
  return OkStatus();
}

Error MemoryEnv::AbsentLocked(const std::string& normal, const std::string& what,
                              const std::string& path) const {
  // Below a file, as POSIX says: not a directory.
  for (std::string p = Parent(normal); p.size() > 1 && p != "."; p = Parent(p)) {
    if (files_.contains(p)) return NotADirectory(path);
  }
  return NotFound(what, path);
}

Status MemoryEnv::ParentExistsLocked(const std::string& path) const {
  const std::string parent = Parent(path);
  if (dirs_.contains(parent)) return OkStatus();
  if (files_.contains(parent)) return NotADirectory(parent);
  return AbsentLocked(parent, "no directory for", path);
}

Result<Bytes> MemoryEnv::ReadFile(const std::string& path, size_t max_size) {
  const std::string p = Normal(path);
  if (!Mine(p)) return base()->ReadFile(path, max_size);
  Contents data;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(p);
    if (it == files_.end()) {
      if (dirs_.contains(p)) return Error(ErrorCode::kIo, "cannot read " + path + ": a directory");
      return AbsentLocked(p, "cannot open", path);
    }
    data = it->second->data;
  }
  if (data->size() > max_size) {
    return Error(ErrorCode::kTooLarge, path + " is larger than " + std::to_string(max_size) +
                                           " bytes (" + std::to_string(data->size()) + ")");
  }
  return Bytes(data->begin(), data->end());
}

Result<std::unique_ptr<SequentialFile>> MemoryEnv::NewSequentialFile(const std::string& path) {
  const std::string p = Normal(path);
  if (!Mine(p)) return base()->NewSequentialFile(path);
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(p);
  if (it == files_.end()) {
    if (dirs_.contains(p)) return Error(ErrorCode::kIo, "cannot read " + path + ": a directory");
    return AbsentLocked(p, "cannot open", path);
  }
  return std::unique_ptr<SequentialFile>(std::make_unique<MemoryFile>(it->second->data));
}

Result<std::unique_ptr<WritableFile>> MemoryEnv::Open(const std::string& path, unsigned mode,
                                                      bool append) {
  const std::string p = Normal(path);
  const std::lock_guard<std::mutex> lock(mu_);
  if (dirs_.contains(p)) return Error(ErrorCode::kIo, "cannot create " + path + ": a directory");
  HENB_TRY(ParentExistsLocked(p));
  auto& inode = files_[p];
  std::string start;
  if (!inode) {
    inode = std::make_shared<Inode>(Inode{std::make_shared<const std::string>(), mode});
  } else if (append) {
    start = *inode->data;
  } else {
    inode->data = std::make_shared<const std::string>();
  }
  return std::unique_ptr<WritableFile>(std::make_unique<Writer>(this, inode, std::move(start)));
}

Result<std::unique_ptr<WritableFile>> MemoryEnv::NewWritableFile(const std::string& path,
                                                                 unsigned mode) {
  if (!Mine(Normal(path))) return base()->NewWritableFile(path, mode);
  return Open(path, mode, false);
}

Result<std::unique_ptr<WritableFile>> MemoryEnv::NewAppendableFile(const std::string& path,
                                                                   unsigned mode) {
  if (!Mine(Normal(path))) return base()->NewAppendableFile(path, mode);
  return Open(path, mode, true);
}

Status MemoryEnv::RenameFile(const std::string& from, const std::string& to) {
  const std::string f = Normal(from);
  const std::string t = Normal(to);
  const bool mine = Mine(f);
  if (mine != Mine(t)) {
    return Error(ErrorCode::kIo,
                 "cannot rename " + from + " to " + to + ": one is in memory, the other on disk");
  }
  if (!mine) return base()->RenameFile(from, to);
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(f);
  if (it == files_.end()) return AbsentLocked(f, "cannot rename", from);
  if (dirs_.contains(t)) return Error(ErrorCode::kIo, "cannot rename onto " + to + ": a directory");
  HENB_TRY(ParentExistsLocked(t));
  if (f == t) return OkStatus();
  std::shared_ptr<Inode> inode = std::move(it->second);
  files_.erase(it);
  files_[t] = std::move(inode);
  return OkStatus();
}

Status MemoryEnv::RemoveFile(const std::string& path) {
  const std::string p = Normal(path);
  if (!Mine(p)) return base()->RemoveFile(path);
  const std::lock_guard<std::mutex> lock(mu_);
  if (files_.erase(p) == 0) {
    if (dirs_.contains(p)) return Error(ErrorCode::kIo, "cannot remove " + path + ": a directory");
    return AbsentLocked(p, "cannot remove", path);
  }
  return OkStatus();
}

Status MemoryEnv::SyncDirectory(const std::string& dir) {
  const std::string d = Normal(dir);
  if (!Mine(d)) return base()->SyncDirectory(dir);
  const std::lock_guard<std::mutex> lock(mu_);
  if (dirs_.contains(d)) return OkStatus();
  if (files_.contains(d)) return NotADirectory(dir);
  return AbsentLocked(d, "cannot open directory", dir);
}

bool MemoryEnv::FileExists(const std::string& path) {
  const std::string p = Normal(path);
  if (!Mine(p)) return base()->FileExists(path);
  const std::lock_guard<std::mutex> lock(mu_);
  return files_.contains(p) || dirs_.contains(p);
}

Result<uint64_t> MemoryEnv::FileSize(const std::string& path) {
  const std::string p = Normal(path);
  if (!Mine(p)) return base()->FileSize(path);
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(p);
  if (it == files_.end()) {
    if (dirs_.contains(p)) return Error(ErrorCode::kIo, "cannot size " + path + ": a directory");
    return AbsentLocked(p, "cannot stat", path);
  }
  return static_cast<uint64_t>(it->second->data->size());
}

Status MemoryEnv::CreateDirectories(const std::string& dir) {
  const std::string d = Normal(dir);
  if (!Mine(d)) return base()->CreateDirectories(dir);
  // The directory and its parents, up to the root that holds them.
  std::vector<std::string> chain;
  for (std::string p = d; Mine(p); p = Parent(p)) {
    chain.push_back(p);
    if (p == "/" || p == ".") break;
  }
  const std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& p : chain) {
    if (files_.contains(p)) {
      return Error(ErrorCode::kIo, "cannot create directory " + p + ": a file is in the way");
    }
  }
  dirs_.insert(chain.begin(), chain.end());
  return OkStatus();
}

Result<std::vector<std::string>> MemoryEnv::ListDirectory(const std::string& dir) {
  const std::string d = Normal(dir);
  if (!Mine(d)) return base()->ListDirectory(dir);
  const std::lock_guard<std::mutex> lock(mu_);
  if (files_.contains(d)) return NotADirectory(dir);
  if (!dirs_.contains(d)) return AbsentLocked(d, "cannot list", dir);
  const std::string prefix = d == "/" ? d : d + "/";
  std::set<std::string> names;
  // The entries directly below: a deeper one names its first component, and
  // the walk jumps past everything else under that component.
  auto collect = [&](const auto& keys) {
    for (auto it = keys.lower_bound(prefix); it != keys.end();) {
      const std::string& key = KeyOf(*it);
      if (key.compare(0, prefix.size(), prefix) != 0) break;
      const size_t slash = key.find('/', prefix.size());
      if (slash == std::string::npos) {
        names.insert(key.substr(prefix.size()));
        ++it;
      } else {
        names.insert(key.substr(prefix.size(), slash - prefix.size()));
        it = keys.lower_bound(key.substr(0, slash) + static_cast<char>('/' + 1));
      }
    }
  };
  collect(files_);
  collect(dirs_);
  return std::vector<std::string>(names.begin(), names.end());
}

Status MemoryEnv::SetFileMode(const std::string& path, unsigned mode) {
  const std::string p = Normal(path);
  if (!Mine(p)) return base()->SetFileMode(path, mode);
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(p);
  if (it != files_.end()) {
    it->second->mode = mode;
    return OkStatus();
  }
  if (dirs_.contains(p)) return OkStatus();
  return AbsentLocked(p, "cannot chmod", path);
}

}  // namespace henbtrust::sim
