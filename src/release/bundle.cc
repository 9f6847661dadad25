#include "henbtrust/release/bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "henbtrust/core/file.h"

namespace henbtrust {

namespace {

constexpr char kBundleMagic[8] = {'H', 'E', 'N', 'B', 'R', 'L', 'S', '1'};
constexpr size_t kBufferSize =
    128 << 10;  // fits L2: the copy from the page cache stays hot for SHA-256

// Sequential reads from a file of an Env, a buffer of kBufferSize at a time.
class FileSource {
 public:
  static Result<FileSource> Open(Env& env, const std::string& path) {
    HENB_ASSIGN_OR_RETURN(auto file, env.NewSequentialFile(path));
    return FileSource(std::move(file));
  }

  uint64_t offset() const { return offset_; }

  // Up to `max` bytes; empty at end of file.
  Result<ByteView> Read(size_t max) {
    if (pos_ == buf_.size()) {
      HENB_TRY(Fill());
      if (pos_ == buf_.size()) return ByteView();
    }
    const size_t n = std::min(max, buf_.size() - pos_);
    ByteView v(buf_.data() + pos_, n);
    pos_ += n;
    offset_ += n;
    return v;
  }

  // Exactly `n` bytes appended to `out`; kReleaseTruncated at end of file.
  Status ReadExact(size_t n, Bytes& out, const char* what) {
    while (n > 0) {
      HENB_ASSIGN_OR_RETURN(ByteView v, Read(n));
      if (v.empty())
        return Error(ErrorCode::kReleaseTruncated, std::string("bundle ends inside ") + what);
      Append(out, v);
      n -= v.size();
    }
    return OkStatus();
  }

  Result<uint64_t> ReadBe(size_t width, const char* what) {
    Bytes b;
    HENB_TRY(ReadExact(width, b, what));
    uint64_t v = 0;
    for (uint8_t x : b) v = v << 8 | x;
    return v;
  }

  Result<bool> AtEnd() {
    if (pos_ < buf_.size()) return false;
    HENB_TRY(Fill());
    return pos_ == buf_.size();
  }

 private:
  explicit FileSource(std::unique_ptr<SequentialFile> file) : file_(std::move(file)) {}
  Status Fill() {
    HENB_ASSIGN_OR_RETURN(buf_, file_->Read(kBufferSize));
    pos_ = 0;
    return OkStatus();
  }
  std::unique_ptr<SequentialFile> file_;
  Bytes buf_;
  size_t pos_ = 0;
  uint64_t offset_ = 0;
};

Result<BundleHeader> ReadHeader(FileSource& src) {
  Bytes magic;
  HENB_TRY(src.ReadExact(sizeof kBundleMagic, magic, "the magic"));
  if (std::memcmp(magic.data(), kBundleMagic, sizeof kBundleMagic) != 0) {
    return Error(ErrorCode::kReleaseMalformed, "not a henbtrust release bundle (bad magic)");
  }
  BundleHeader h;
  HENB_ASSIGN_OR_RETURN(uint64_t manifest_len, src.ReadBe(4, "the manifest length"));
  if (manifest_len > kMaxManifestBytes) {
    return Error(ErrorCode::kReleaseTooLarge, "manifest of " + std::to_string(manifest_len) +
                                                  " bytes, limit " +
                                                  std::to_string(kMaxManifestBytes));
  }
  HENB_TRY(src.ReadExact(manifest_len, h.manifest_bytes, "the manifest"));
  HENB_ASSIGN_OR_RETURN(uint64_t sig_len, src.ReadBe(4, "the signature block length"));
  if (sig_len > kMaxSignatureBlockBytes) {
    return Error(ErrorCode::kReleaseTooLarge,
                 "signature block of " + std::to_string(sig_len) + " bytes");
  }
  Bytes sig_block;
  HENB_TRY(src.ReadExact(sig_len, sig_block, "the signature block"));
  HENB_ASSIGN_OR_RETURN(h.signatures, ParseSignatures(sig_block));
  h.payload_offset = src.offset();
  return h;
}

// Reads a payload entry header; nullopt at a clean end of file.
struct EntryHeader {
  std::string id;
  uint64_t size;
};
Result<std::optional<EntryHeader>> ReadEntryHeader(FileSource& src) {
  HENB_ASSIGN_OR_RETURN(bool end, src.AtEnd());
  if (end) return std::optional<EntryHeader>();
  HENB_ASSIGN_OR_RETURN(uint64_t id_len, src.ReadBe(2, "a payload header"));
  if (id_len == 0 || id_len > 64) {
    return Error(ErrorCode::kReleaseTrailing,
                 "bytes after the last payload that are not a payload");
  }
  Bytes id;
  HENB_TRY(src.ReadExact(id_len, id, "a payload header"));
  HENB_ASSIGN_OR_RETURN(uint64_t size, src.ReadBe(8, "a payload header"));
  return std::optional<EntryHeader>(EntryHeader{ToString(id), size});
}

Bytes EntryHeaderBytes(const ReleaseComponent& c) {
  Bytes out;
  PutU16Be(out, static_cast<uint16_t>(c.id.size()));
  Append(out, AsBytes(c.id));
  PutU64Be(out, c.size);
  return out;
}

Bytes HeaderBytes(ByteView manifest_bytes, const std::vector<ReleaseSignature>& sigs) {
  return EncodeSignedEnvelope(std::string_view(kBundleMagic, sizeof kBundleMagic), manifest_bytes,
                              sigs);
}

// Streams the rest of `src` through SHA-256, handing each chunk to `each`;
// returns the digest and the byte count.
Result<std::pair<Bytes, uint64_t>> DigestStream(FileSource& src,
                                                const std::function<Status(ByteView)>& each) {
  Hasher h(HashAlg::kSha256);
  uint64_t total = 0;
  for (;;) {
    HENB_ASSIGN_OR_RETURN(ByteView chunk, src.Read(kBufferSize));
    if (chunk.empty()) break;
    h.Update(chunk);
    total += chunk.size();
    if (each) HENB_TRY(each(chunk));
  }
  return std::make_pair(h.Finish(), total);
}

// Writes through a temporary file that replaces `path` on Commit().
class AtomicWriter {
 public:
  static Result<AtomicWriter> Create(const std::string& path) {
    std::filesystem::path p(path);
    std::string tmpl = ((p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path()) /
                        ("." + p.filename().string() + ".tmpXXXXXX"))
                           .string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      return Error(ErrorCode::kIo,
                   "cannot create a temporary file for " + path + ": " + std::strerror(errno));
    }
    return AtomicWriter(fd, tmpl, path);
  }
  AtomicWriter(AtomicWriter&& o) noexcept
      : fd_(o.fd_), tmp_(std::move(o.tmp_)), path_(std::move(o.path_)) {
    o.fd_ = -1;
  }
  AtomicWriter(const AtomicWriter&) = delete;
  ~AtomicWriter() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }
  Status Write(ByteView data) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return Error(ErrorCode::kIo, "cannot write " + path_ + ": " + std::strerror(errno));
      off += static_cast<size_t>(n);
    }
    return OkStatus();
  }
  Status Commit() {
    if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      ::unlink(tmp_.c_str());
      return Error(ErrorCode::kIo, "cannot flush " + path_ + ": " + std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      ::unlink(tmp_.c_str());
      return Error(ErrorCode::kIo, "cannot rename onto " + path_ + ": " + std::strerror(errno));
    }
    return OkStatus();
  }

 private:
  AtomicWriter(int fd, std::string tmp, std::string path)
      : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)) {}
  int fd_;
  std::string tmp_, path_;
};

}  // namespace

Result<BundleHeader> ReadBundleHeader(const std::string& path) {
  return ReadBundleHeader(*Env::Default(), path);
}

Result<BundleHeader> ReadBundleHeader(Env& env, const std::string& path) {
  HENB_ASSIGN_OR_RETURN(FileSource src, FileSource::Open(env, path));
  HENB_ASSIGN_OR_RETURN(BundleHeader h, ReadHeader(src));
  HENB_ASSIGN_OR_RETURN(h.manifest, ParseManifest(h.manifest_bytes));
  return h;
}

Result<ReleaseManifest> VerifyBundle(const std::string& path, const BundlePolicy& policy,
                                     const PayloadSink& sink) {
  return VerifyBundle(*Env::Default(), path, policy, sink);
}

Result<ReleaseManifest> VerifyBundle(Env& env, const std::string& path, const BundlePolicy& policy,
                                     const PayloadSink& sink) {
  if (policy.trust == nullptr) return Error(ErrorCode::kInvalidArgument, "no trust root given");
  HENB_ASSIGN_OR_RETURN(FileSource src, FileSource::Open(env, path));
  HENB_ASSIGN_OR_RETURN(BundleHeader header, ReadHeader(src));
  // Authenticate the manifest bytes before interpreting them.
  HENB_TRY(
      policy.trust->VerifyThreshold(kManifestDomain, header.manifest_bytes, header.signatures));
  HENB_ASSIGN_OR_RETURN(ReleaseManifest m, ParseManifest(header.manifest_bytes));
  if (m.expires_at <= policy.now) {
    return Error(ErrorCode::kReleaseExpired, "release " + m.release_id + " " + m.version +
                                                 " expired at " + std::to_string(m.expires_at) +
                                                 " (now " + std::to_string(policy.now) + ")");
  }
  if (policy.hardware_model && std::find(m.hardware_models.begin(), m.hardware_models.end(),
                                         *policy.hardware_model) == m.hardware_models.end()) {
    return Error(ErrorCode::kReleaseHardware,
                 "release is not for hardware model " + *policy.hardware_model);
  }
  if (m.release_counter < policy.floor) {
    return Error(ErrorCode::kReleaseRollback,
                 "release counter " + std::to_string(m.release_counter) +
                     " is below the anti-rollback floor " + std::to_string(policy.floor));
  }
  for (const auto& c : m.components) {
    HENB_ASSIGN_OR_RETURN(std::optional<EntryHeader> entry, ReadEntryHeader(src));
    if (!entry)
      return Error(ErrorCode::kReleaseComponentMissing, "component " + c.id + " is missing");
    if (entry->id != c.id) {
      if (m.Find(entry->id) != nullptr) {
        return Error(ErrorCode::kReleaseComponentMissing,
                     "component " + c.id + " is missing (found " + entry->id + " in its place)");
      }
      return Error(ErrorCode::kReleaseComponentExtra,
                   "payload " + entry->id + " is not in the manifest");
    }
    if (entry->size != c.size) {
      return Error(ErrorCode::kReleaseDigest,
                   "component " + c.id + " is " + std::to_string(entry->size) +
                       " bytes, the manifest says " + std::to_string(c.size));
    }
    Hasher h(HashAlg::kSha256);
    uint64_t left = c.size;
    while (left > 0) {
      HENB_ASSIGN_OR_RETURN(ByteView chunk,
                            src.Read(static_cast<size_t>(std::min<uint64_t>(left, kBufferSize))));
      if (chunk.empty())
        return Error(ErrorCode::kReleaseTruncated, "bundle ends inside component " + c.id);
      h.Update(chunk);
      left -= chunk.size();
      if (sink && left > 0) HENB_TRY(sink(c, chunk, false));
      if (left == 0) {
        const Bytes digest = h.Finish();
        if (!Equal(digest, c.sha256)) {
          return Error(ErrorCode::kReleaseDigest, "component " + c.id + " has digest " +
                                                      HexEncode(digest) + ", its RIM is " +
                                                      HexEncode(c.sha256));
        }
        if (sink) HENB_TRY(sink(c, chunk, true));
      }
    }
    if (c.size == 0) {
      if (!Equal(h.Finish(), c.sha256))
        return Error(ErrorCode::kReleaseDigest, "component " + c.id + " digest");
      if (sink) HENB_TRY(sink(c, ByteView(), true));
    }
  }
  HENB_ASSIGN_OR_RETURN(std::optional<EntryHeader> extra, ReadEntryHeader(src));
  if (extra) {
    return Error(ErrorCode::kReleaseComponentExtra,
                 "payload " + extra->id + " is not in the manifest");
  }
  return m;
}

Status WriteBundle(const std::string& path, const ReleaseManifest& manifest,
                   const std::vector<ReleaseSignature>& signatures,
                   const std::map<std::string, std::string>& component_files) {
  HENB_ASSIGN_OR_RETURN(Bytes manifest_bytes, EncodeManifest(manifest));
  HENB_ASSIGN_OR_RETURN(AtomicWriter out, AtomicWriter::Create(path));
  HENB_TRY(out.Write(HeaderBytes(manifest_bytes, signatures)));
  for (const auto& c : manifest.components) {
    auto file = component_files.find(c.id);
    if (file == component_files.end())
      return Error(ErrorCode::kInvalidArgument, "no file for component " + c.id);
    HENB_ASSIGN_OR_RETURN(FileSource src, FileSource::Open(*Env::Default(), file->second));
    HENB_TRY(out.Write(EntryHeaderBytes(c)));
    HENB_ASSIGN_OR_RETURN(auto digest,
                          DigestStream(src, [&](ByteView chunk) { return out.Write(chunk); }));
    if (digest.second != c.size || !Equal(digest.first, c.sha256)) {
      return Error(ErrorCode::kInvalidArgument,
                   file->second + " does not match component " + c.id + " of the manifest");
    }
  }
  return out.Commit();
}

Status SignBundle(const std::string& path, const PrivateKey& key, const std::string& out_path) {
  HENB_ASSIGN_OR_RETURN(FileSource src, FileSource::Open(*Env::Default(), path));
  HENB_ASSIGN_OR_RETURN(BundleHeader h, ReadHeader(src));
  HENB_TRY(ParseManifest(h.manifest_bytes));
  HENB_ASSIGN_OR_RETURN(ReleaseSignature sig,
                        SignWithDomain(key, kManifestDomain, h.manifest_bytes));
  std::vector<ReleaseSignature> sigs;
  for (auto& s : h.signatures) {
    if (s.key_id != sig.key_id) sigs.push_back(std::move(s));
  }
  sigs.push_back(std::move(sig));
  if (sigs.size() > kMaxSignatures)
    return Error(ErrorCode::kReleaseTooLarge, "too many signatures");
  HENB_ASSIGN_OR_RETURN(AtomicWriter out, AtomicWriter::Create(out_path));
  HENB_TRY(out.Write(HeaderBytes(h.manifest_bytes, sigs)));
  for (;;) {
    HENB_ASSIGN_OR_RETURN(ByteView chunk, src.Read(kBufferSize));
    if (chunk.empty()) break;
    HENB_TRY(out.Write(chunk));
  }
  return out.Commit();
}

Result<ReleaseComponent> DescribeComponentFile(const std::string& id, const std::string& version,
                                               uint32_t pcr, const std::string& path) {
  HENB_ASSIGN_OR_RETURN(FileSource src, FileSource::Open(*Env::Default(), path));
  HENB_ASSIGN_OR_RETURN(auto digest, DigestStream(src, nullptr));
  return ReleaseComponent{id, version, digest.second, std::move(digest.first), pcr};
}

}  // namespace henbtrust
