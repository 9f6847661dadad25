#include "henbtrust/store/audit_anchor.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <vector>

#include "henbtrust/core/file.h"
#include "henbtrust/core/thread_annotations.h"

namespace henbtrust {

namespace {

constexpr std::string_view kLabel = "henbtrust audit checkpoint v1";
constexpr size_t kHashSize = 32;
constexpr int kPage = 1000;

}  // namespace

std::string AuditCheckpointTime(const AuditCheckpoint& c) { return FormatUtc(c.at); }

namespace {

std::string Describe(const AuditCheckpoint& c) {
  return "the checkpoint of " + AuditCheckpointTime(c) + " anchors entry " + std::to_string(c.seq);
}

Result<int64_t> ParseInt(std::string_view text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
      (text.size() > 1 && text[0] == '0') || text[0] == '+')
    return Error(ErrorCode::kMalformed, "not a number: " + std::string(text));
  return v;
}

// The value of the line "`key` VALUE" at `text`'s start; advances past it.
Result<std::string_view> Line(std::string_view& text, std::string_view key) {
  const size_t nl = text.find('\n');
  if (nl == std::string_view::npos) {
    return Error(ErrorCode::kMalformed, "audit checkpoint: line '" + std::string(key) +
                                            "' missing or not ended by a newline");
  }
  std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl + 1);
  if (line.size() < key.size() + 1 || line.substr(0, key.size()) != key ||
      line[key.size()] != ' ') {
    return Error(ErrorCode::kMalformed, "audit checkpoint: expected a line '" + std::string(key) +
                                            " ...', found '" + std::string(line) + "'");
  }
  return line.substr(key.size() + 1);
}

// An exclusive flock on `path` for the object's lifetime (cross-process
// exclusion around one Advance).
class FileLock {
 public:
  static Result<FileLock> Take(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Error(ErrorCode::kIo, "cannot open " + path + ": " + std::strerror(errno));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Error(ErrorCode::kIo, "cannot lock " + path + ": " + std::strerror(err));
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// Reads the entries after `seq`, whose hash is `prev`, in pages and checks
// that each extends the chain (consecutive seq, names the previous hash, its
// hash is AuditHash of it); `on_entry` sees each checked entry. Returns the
// last seq (or `seq` when there is none after it), with `prev` its hash;
// kStoreAuditBroken naming the first bad entry.
template <typename OnEntry>
Result<int64_t> Walk(Store& store, int64_t seq, Bytes& prev, OnEntry on_entry) {
  for (;;) {
    HENB_ASSIGN_OR_RETURN(std::vector<AuditEntry> page, store.ListAudit(seq, kPage));
    for (const AuditEntry& e : page) {
      const std::string where = "audit entry " + std::to_string(e.seq);
      if (e.seq != seq + 1) {
        return Error(ErrorCode::kStoreAuditBroken,
                     where + " follows entry " + std::to_string(seq) + ": entries are missing");
      }
      if (!Equal(e.prev_hash, prev)) {
        return Error(ErrorCode::kStoreAuditBroken,
                     where + " does not name the previous entry's hash");
      }
      Bytes hash = AuditHash(prev, e);
      if (!Equal(hash, e.hash)) {
        return Error(ErrorCode::kStoreAuditBroken, where + " was changed after it was written");
      }
      on_entry(e);
      prev = std::move(hash);
      seq = e.seq;
    }
    if (static_cast<int>(page.size()) < kPage) return seq;
  }
}

// Entry `c.seq` must still be in the store with `c.hash`.
Status CheckHeld(Store& store, const AuditCheckpoint& c) {
  HENB_ASSIGN_OR_RETURN(std::vector<AuditEntry> at, store.ListAudit(c.seq - 1, 1));
  if (at.empty() || at.front().seq != c.seq) {
    return Error(ErrorCode::kStoreAuditBroken, "audit entry " + std::to_string(c.seq) +
                                                   " is missing: the log was truncated (" +
                                                   Describe(c) + ")");
  }
  if (!Equal(at.front().hash, c.hash)) {
    return Error(ErrorCode::kStoreAuditBroken,
                 "audit entry " + std::to_string(c.seq) +
                     " does not match its checkpoint: the log was rewritten (" + Describe(c) + ")");
  }
  return OkStatus();
}

}  // namespace

Bytes AuditCheckpointMessage(int64_t seq, ByteView hash, int64_t at) {
  Bytes m(kLabel.begin(), kLabel.end());
  m.push_back(0);
  PutU64Be(m, static_cast<uint64_t>(seq));
  PutU64Be(m, hash.size());
  Append(m, hash);
  PutU64Be(m, static_cast<uint64_t>(at));
  return m;
}

Result<AuditCheckpoint> SignAuditCheckpoint(int64_t seq, ByteView hash, int64_t at,
                                            const PrivateKey& key) {
  if (key.type() != KeyType::kEcP256)
    return Error(ErrorCode::kCryptoBadKey, "the audit key must be an ECDSA P-256 key");
  if (seq < 1 || hash.size() != kHashSize)
    return Error(ErrorCode::kInvalidArgument, "an audit checkpoint needs seq >= 1 and a hash");
  AuditCheckpoint c{seq, Bytes(hash.begin(), hash.end()), at, {}};
  HENB_ASSIGN_OR_RETURN(c.signature, key.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256,
                                              AuditCheckpointMessage(seq, hash, at)));
  return c;
}

Status VerifyAuditCheckpoint(const AuditCheckpoint& c, const PublicKey& key) {
  if (key.type() != KeyType::kEcP256)
    return Error(ErrorCode::kCryptoBadKey, "the audit key must be an ECDSA P-256 key");
  if (c.seq < 1 || c.hash.size() != kHashSize)
    return Error(ErrorCode::kCryptoBadSignature, "the audit checkpoint is not well-formed");
  auto st = key.Verify(SignatureScheme::kEcdsa, HashAlg::kSha256,
                       AuditCheckpointMessage(c.seq, c.hash, c.at), c.signature);
  if (!st.ok()) {
    return Error(ErrorCode::kCryptoBadSignature,
                 "the audit checkpoint of entry " + std::to_string(c.seq) +
                     " is not signed by the audit key: " + st.error().message());
  }
  return OkStatus();
}

std::string EncodeAuditCheckpoint(const AuditCheckpoint& c) {
  return std::string(kLabel) + "\nseq " + std::to_string(c.seq) + "\nhash " + HexEncode(c.hash) +
         "\nat " + std::to_string(c.at) + "\nsignature " + Base64Encode(c.signature) + "\n";
}

Result<AuditCheckpoint> DecodeAuditCheckpoint(std::string_view text) {
  const size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.substr(0, nl) != kLabel) {
    return Error(ErrorCode::kMalformed,
                 "not an audit checkpoint (no '" + std::string(kLabel) + "' line)");
  }
  text.remove_prefix(nl + 1);
  AuditCheckpoint c;
  HENB_ASSIGN_OR_RETURN(std::string_view seq, Line(text, "seq"));
  HENB_ASSIGN_OR_RETURN(c.seq, ParseInt(seq));
  HENB_ASSIGN_OR_RETURN(std::string_view hash, Line(text, "hash"));
  HENB_ASSIGN_OR_RETURN(c.hash, HexDecode(hash));
  HENB_ASSIGN_OR_RETURN(std::string_view at, Line(text, "at"));
  HENB_ASSIGN_OR_RETURN(c.at, ParseInt(at));
  HENB_ASSIGN_OR_RETURN(std::string_view sig, Line(text, "signature"));
  HENB_ASSIGN_OR_RETURN(c.signature, Base64Decode(sig));
  if (!text.empty())
    return Error(ErrorCode::kMalformed, "audit checkpoint: text after the signature line");
  if (c.seq < 1 || c.hash.size() != kHashSize || c.signature.empty())
    return Error(ErrorCode::kMalformed, "audit checkpoint: seq, hash or signature out of range");
  return c;
}

Result<std::optional<AuditCheckpoint>> LoadAuditCheckpoint(const std::string& path) {
  auto text = ReadTextFile(path, 4096);
  if (!text.ok()) {
    if (text.error().code() == ErrorCode::kNotFound) return std::optional<AuditCheckpoint>();
    return std::move(text).error();
  }
  auto c = DecodeAuditCheckpoint(*text);
  if (!c.ok()) return std::move(c).error().WithContext(path);
  return std::optional<AuditCheckpoint>(std::move(c).value());
}

Status CreateAuditKey(const std::string& dir) {
  const std::string path = dir + "/audit.key";
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  // Written whole beside audit.key, then linked to its name, which fails if
  // the name exists: of several processes creating the key at once, one
  // wins and the others find its key.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = dir + "/.audit.key." + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1)) + ".new";
  HENB_TRY(WriteFileAtomic(tmp, AsBytes(key.ToPem()), 0600));
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && err == EEXIST)
    return Error(ErrorCode::kInvalidArgument, path + " exists; not replacing the audit key");
  if (linked != 0)
    return Error(ErrorCode::kIo, "cannot create " + path + ": " + std::strerror(err));
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
    const int e = errno;
    if (dir_fd >= 0) ::close(dir_fd);
    return Error(ErrorCode::kIo, "cannot sync " + dir + ": " + std::strerror(e));
  }
  ::close(dir_fd);
  return WriteFileAtomic(dir + "/audit.pub", AsBytes(key.Public().ToPem()));
}

Result<PrivateKey> LoadAuditKey(const std::string& dir) {
  HENB_ASSIGN_OR_RETURN(std::string pem, ReadTextFile(dir + "/audit.key"));
  auto key = PrivateKey::FromPem(pem);
  if (!key.ok()) return std::move(key).error().WithContext(dir + "/audit.key");
  return key;
}

struct AuditAnchor::State {
  State(std::string p, PrivateKey k, std::optional<AuditCheckpoint> l)
      : path(std::move(p)), key(std::move(k)), latest(std::move(l)) {}

  Mutex mu;
  std::string path;
  PrivateKey key;
  std::optional<AuditCheckpoint> latest GUARDED_BY(mu);
};

AuditAnchor::AuditAnchor(std::unique_ptr<State> state) : state_(std::move(state)) {}
AuditAnchor::AuditAnchor(AuditAnchor&&) noexcept = default;
AuditAnchor& AuditAnchor::operator=(AuditAnchor&&) noexcept = default;
AuditAnchor::~AuditAnchor() = default;

Result<AuditAnchor> AuditAnchor::Open(const std::string& path, PrivateKey key) {
  if (key.type() != KeyType::kEcP256)
    return Error(ErrorCode::kCryptoBadKey, "the audit key must be an ECDSA P-256 key");
  HENB_ASSIGN_OR_RETURN(std::optional<AuditCheckpoint> latest, LoadAuditCheckpoint(path));
  if (latest) {
    auto st = VerifyAuditCheckpoint(*latest, key.Public());
    if (!st.ok()) return std::move(st).error().WithContext(path);
  }
  auto state = std::make_unique<State>(path, std::move(key), std::move(latest));
  return AuditAnchor(std::move(state));
}

std::optional<AuditCheckpoint> AuditAnchor::Latest() const {
  MutexLock lock(state_->mu);
  return state_->latest;
}

Status AuditAnchor::Advance(Store& store) {
  State& s = *state_;
  MutexLock lock(s.mu);
  HENB_ASSIGN_OR_RETURN(FileLock file_lock, FileLock::Take(s.path + ".lock"));
  // Another process on the same file may have anchored further.
  std::optional<AuditCheckpoint> base = s.latest;
  HENB_ASSIGN_OR_RETURN(std::optional<AuditCheckpoint> on_file, LoadAuditCheckpoint(s.path));
  if (on_file) {
    auto st = VerifyAuditCheckpoint(*on_file, s.key.Public());
    if (!st.ok()) return std::move(st).error().WithContext(s.path);
    if (!base || on_file->seq > base->seq) base = std::move(on_file);
  }
  Bytes prev(kHashSize, 0);
  int64_t seq = 0;
  if (base) {
    HENB_TRY(CheckHeld(store, *base));
    prev = base->hash;
    seq = base->seq;
  }
  const int64_t anchored = seq;
  HENB_ASSIGN_OR_RETURN(seq, Walk(store, seq, prev, [](const AuditEntry&) {}));
  if (seq == anchored) {
    s.latest = std::move(base);
    return OkStatus();
  }
  HENB_ASSIGN_OR_RETURN(AuditCheckpoint next, SignAuditCheckpoint(seq, prev, UnixSeconds(), s.key));
  HENB_TRY(WriteFileAtomic(s.path, AsBytes(EncodeAuditCheckpoint(next))));
  s.latest = std::move(next);
  return OkStatus();
}

Result<AuditAnchor> OpenDirectoryAuditAnchor(const std::string& dir, bool* created_key) {
  if (created_key != nullptr) *created_key = false;
  auto key = LoadAuditKey(dir);
  if (!key.ok() && key.error().code() == ErrorCode::kNotFound) {
    auto created = CreateAuditKey(dir);
    if (created.ok() && created_key != nullptr) *created_key = true;
    // kInvalidArgument: another process created it meanwhile.
    if (!created.ok() && created.error().code() != ErrorCode::kInvalidArgument)
      return std::move(created).error();
    key = LoadAuditKey(dir);
  }
  if (!key.ok()) return std::move(key).error();
  // audit.pub is written after audit.key: a crash between leaves it missing.
  const std::string pub = dir + "/audit.pub";
  struct stat st {};
  if (::stat(pub.c_str(), &st) != 0 && errno == ENOENT)
    HENB_TRY(WriteFileAtomic(pub, AsBytes(key->Public().ToPem())));
  return AuditAnchor::Open(dir + "/audit.anchor", std::move(key).value());
}

Result<int64_t> VerifyAuditChain(Store& store, const AuditCheckpoint* anchor,
                                 const PublicKey* key) {
  if (anchor != nullptr) {
    if (key == nullptr)
      return Error(ErrorCode::kInvalidArgument, "an audit checkpoint needs the audit key");
    HENB_TRY(VerifyAuditCheckpoint(*anchor, *key));
  }
  Bytes prev(kHashSize, 0);
  std::optional<Bytes> at_anchor;
  HENB_ASSIGN_OR_RETURN(const int64_t seq, Walk(store, 0, prev, [&](const AuditEntry& e) {
                          if (anchor != nullptr && e.seq == anchor->seq) at_anchor = e.hash;
                        }));
  if (anchor == nullptr) return seq;
  if (seq < anchor->seq) {
    return Error(ErrorCode::kStoreAuditBroken, "entries after " + std::to_string(seq) +
                                                   " are missing: the log was truncated (" +
                                                   Describe(*anchor) + ")");
  }
  if (!Equal(*at_anchor, anchor->hash)) {
    return Error(ErrorCode::kStoreAuditBroken,
                 "audit entry " + std::to_string(anchor->seq) +
                     " does not match its checkpoint: the log was rewritten (" + Describe(*anchor) +
                     ")");
  }
  return seq;
}

}  // namespace henbtrust
