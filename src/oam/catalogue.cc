// The OAM's release catalogue: importing vendor-signed bundles, and serving
// them to devices in ranges.

#include "henbtrust/core/decimal.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/net/api.h"
#include "henbtrust/release/bundle.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

using api::BadRequest;

// "bytes=N-" or "bytes=N-M" against a file of `size` bytes: [first, last].
Result<std::pair<uint64_t, uint64_t>> ParseRange(std::string_view range, uint64_t size) {
  constexpr std::string_view kPrefix = "bytes=";
  if (range.substr(0, kPrefix.size()) != kPrefix || range.find(',') != std::string_view::npos) {
    return BadRequest("only a single 'bytes=first-[last]' range is served");
  }
  range.remove_prefix(kPrefix.size());
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos || dash == 0) return BadRequest("malformed Range");
  const auto first = ParseDecimal(range.substr(0, dash));
  if (!first) return BadRequest("malformed Range");
  uint64_t last = size == 0 ? 0 : size - 1;
  if (dash + 1 < range.size()) {
    const auto tail = ParseDecimal(range.substr(dash + 1));
    if (!tail) return BadRequest("malformed Range");
    last = std::min(last, *tail);
  }
  if (*first >= size || *first > last) {
    return Error(ErrorCode::kNetBadRequest, "range starts beyond the end of the bundle");
  }
  return std::make_pair(*first, last);
}

}  // namespace

Result<std::string> OamService::ImportRelease(const std::string& bundle_path,
                                              const TrustRoot& trust, const std::string& actor) {
  Impl& m = *impl_;
  BundlePolicy policy;
  policy.trust = &trust;
  policy.now = m.config.now();
  // The bundle is copied into the catalogue first and the copy verified, so
  // that what was verified is exactly what is kept and served.
  HENB_ASSIGN_OR_RETURN(Bytes suffix, RandomBytes(8));
  const std::string tmp = m.config.catalogue_dir + "/.importing-" + HexEncode(suffix);
  Env& env = *m.config.env;
  HENB_TRY(env.CopyFileAtomic(bundle_path, tmp));
  auto verified = VerifyBundle(env, tmp, policy);
  if (verified.ok() && !IsValidRelease(verified->release_id, verified->version)) {
    verified = Error(ErrorCode::kInvalidArgument, "release id or version unusable as a file name");
  }
  Status kept = verified.ok()
                    ? env.RenameFile(tmp, m.BundlePath(verified->release_id, verified->version))
                    : OkStatus();
  if (!verified.ok() || !kept.ok()) (void)env.RemoveFile(tmp);
  if (!verified.ok()) return verified.error();
  if (!kept.ok()) return kept.error().WithContext("catalogue");
  // The rename is durable only once the directory is: before the manifest
  // is recorded (and the import answered), so that a power loss cannot keep
  // a recorded release without its bundle.
  HENB_TRY(env.SyncDirectory(m.config.catalogue_dir));
  const ReleaseManifest& again = *verified;
  HENB_ASSIGN_OR_RETURN(Bytes encoded, EncodeManifest(again));
  HENB_ASSIGN_OR_RETURN(auto existing, m.store.GetManifest(again.release_id, again.version));
  ManifestRecord record{again.release_id, again.version, encoded,
                        existing ? existing->revoked_reason : std::string()};
  HENB_TRY(m.store.PutManifest(record));
  const std::string name = again.release_id + " " + again.version;
  HENB_TRY(m.store.AppendAudit(AuditEntry{
      0,
      m.config.now(),
      actor,
      "release:" + again.release_id + "/" + again.version,
      "release imported",
      "vendor signatures verified; " + std::to_string(again.components.size()) + " components",
      {},
      {}}));
  return name;
}

Result<ReleaseManifest> OamService::Impl::LoadManifest(const std::string& release_id,
                                                       const std::string& version, bool* revoked) {
  HENB_ASSIGN_OR_RETURN(auto record, store.GetManifest(release_id, version));
  if (!record) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "release " + release_id + " " + version + " is not in the catalogue");
  }
  if (revoked) *revoked = !record->revoked_reason.empty();
  return ParseManifest(record->manifest);
}

std::string OamService::Impl::BundlePath(const std::string& release_id,
                                         const std::string& version) const {
  return config.catalogue_dir + "/" + release_id + "@" + version + ".bundle";
}

Result<HttpResponse> OamService::Impl::Bundle(const HttpRequest& req, const std::string& release_id,
                                              const std::string& version) {
  if (!IsValidRelease(release_id, version)) {
    return BadRequest("malformed release id or version");
  }
  HENB_ASSIGN_OR_RETURN(auto record, store.GetManifest(release_id, version));
  if (!record) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "release " + release_id + " " + version + " is not in the catalogue");
  }
  HENB_ASSIGN_OR_RETURN(const std::string path, CataloguePath(*record));
  const auto sized = config.env->FileSize(path);
  if (!sized.ok()) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "release " + release_id + " " + version + " is not in the catalogue");
  }
  const uint64_t size = *sized;
  // Each answer holds its bytes in memory: at most max_answer_bytes, and at
  // most max_downloads_per_client of them being read at once per client.
  const std::string client = req.peer.organization + "/" + req.peer.common_name;
  if (!TakeDownloadSlot(client)) {
    return Error(ErrorCode::kNetBusy, "already " + std::to_string(config.max_downloads_per_client) +
                                          " bundle downloads in progress for " +
                                          req.peer.common_name +
                                          "; try again when one has finished");
  }
  struct SlotReturn {
    Impl* impl;
    const std::string& client;
    ~SlotReturn() { impl->ReturnDownloadSlot(client); }
  } slot_return{this, client};
  if (config.while_downloading) config.while_downloading(client);
  uint64_t first = 0;
  uint64_t last = size == 0 ? 0 : size - 1;
  bool partial = false;
  if (!req.range.empty()) {
    HENB_ASSIGN_OR_RETURN(auto r, ParseRange(req.range, size));
    first = r.first;
    last = r.second;
    partial = true;
  }
  const uint64_t cap = std::max<uint64_t>(config.max_answer_bytes, 1);
  if (size != 0 && last - first + 1 > cap) {
    last = first + cap - 1;  // the first `cap` bytes of what was asked; the client asks on
    partial = true;
  }
  const int status = partial ? 206 : 200;
  const uint64_t length = size == 0 ? 0 : last - first + 1;
  std::string body;
  if (auto read = config.env->ReadRange(path, first, length, body); !read.ok()) {
    return Error(ErrorCode::kIo, "cannot read the catalogue's bundle: " + read.error().message());
  }
  HttpResponse out{status, "application/octet-stream", std::move(body), {}};
  out.headers.emplace_back("Accept-Ranges", "bytes");
  if (status == 206) {
    out.headers.emplace_back(
        "Content-Range",
        "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
  }
  return out;
}

Result<std::string> OamService::Impl::CataloguePath(const ManifestRecord& record) const {
  const std::string path = BundlePath(record.release_id, record.version);
  if (config.env->FileExists(path)) return path;
  const std::string legacy =
      config.catalogue_dir + "/" + record.release_id + "_" + record.version + ".bundle";
  if (config.env->FileExists(legacy)) {
    auto header = ReadBundleHeader(*config.env, legacy);
    if (header.ok() && header->manifest_bytes == record.manifest) return legacy;
  }
  return Error(ErrorCode::kPolicyUnknownRelease,
               "release " + record.release_id + " " + record.version + " is not in the catalogue");
}

bool OamService::Impl::TakeDownloadSlot(const std::string& client) {
  MutexLock lock(downloads_mu);
  int& held = downloads[client];
  if (held >= config.max_downloads_per_client) {
    if (held == 0) downloads.erase(client);
    return false;
  }
  ++held;
  return true;
}

void OamService::Impl::ReturnDownloadSlot(const std::string& client) {
  MutexLock lock(downloads_mu);
  auto it = downloads.find(client);
  if (it != downloads.end() && --it->second <= 0) downloads.erase(it);
}

}  // namespace henbtrust
