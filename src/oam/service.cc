#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/oam/oam.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/release/manifest.h"

namespace henbtrust {

namespace {

using namespace api;

constexpr size_t kMaxReport = 1 << 20;
constexpr size_t kOrderNonceBytes = 32;
constexpr int kDriveBatch = 200;

bool IsValidReleasePart(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return s != "." && s != "..";
}

Json JobJson(const UpdateJob& j) {
  return {{"id", j.id},
          {"device_id", j.device_id},
          {"release_id", j.release_id},
          {"version", j.version},
          {"from_release_id", j.from_release_id},
          {"from_version", j.from_version},
          {"state", j.state},
          {"open", j.open},
          {"expected_tim", HexEncode(j.expected_tim)},
          {"deadline", j.deadline},
          {"attempts", j.attempts},
          {"detail", j.detail},
          {"created_at", j.created_at},
          {"updated_at", j.updated_at}};
}

// "bytes=N-" or "bytes=N-M" against a file of `size` bytes: [first, last].
Result<std::pair<uint64_t, uint64_t>> ParseRange(std::string_view range, uint64_t size) {
  constexpr std::string_view kPrefix = "bytes=";
  if (range.substr(0, kPrefix.size()) != kPrefix || range.find(',') != std::string_view::npos) {
    return BadRequest("only a single 'bytes=first-[last]' range is served");
  }
  range.remove_prefix(kPrefix.size());
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos || dash == 0) return BadRequest("malformed Range");
  uint64_t first = 0, last = size == 0 ? 0 : size - 1;
  try {
    size_t used = 0;
    first = std::stoull(std::string(range.substr(0, dash)), &used);
    if (used != dash) return BadRequest("malformed Range");
    if (dash + 1 < range.size()) {
      const std::string tail(range.substr(dash + 1));
      last = std::min<uint64_t>(last, std::stoull(tail, &used));
      if (used != tail.size()) return BadRequest("malformed Range");
    }
  } catch (const std::exception&) {
    return BadRequest("malformed Range");
  }
  if (first >= size || first > last) {
    return Error(ErrorCode::kNetBadRequest, "range starts beyond the end of the bundle");
  }
  return std::make_pair(first, last);
}

}  // namespace

bool IsOamTarget(std::string_view target) {
  const auto path = SplitPath(target);
  if (path.size() < 2 || path[0] != "v1") return false;
  if (path[1] == "agent" || path[1] == "jobs" || path[1] == "audit" || path[1] == "inventory")
    return true;
  return path.size() == 5 && path[1] == "releases" && path[4] == "bundle";
}

struct OamService::Impl {
  Impl(Store& s, PveLink p, OamConfig c) : store(s), pve(std::move(p)), config(std::move(c)) {
    if (!config.now) config.now = UnixSeconds;
  }

  Result<HttpResponse> Route(const HttpRequest& req);
  // A device's certificate is its current one and the device is not
  // revoked (CheckDeviceCertificate); kNetUnauthenticated otherwise.
  Status CheckDeviceCaller(const PeerIdentity& peer);
  Result<HttpResponse> Poll(const HttpRequest& req);
  Result<HttpResponse> Report(const HttpRequest& req);
  Result<HttpResponse> Bundle(const HttpRequest& req, const std::string& release_id,
                              const std::string& version);
  Result<HttpResponse> ListAuditJson(const HttpRequest& req);
  Result<UpdateJob> OpenJob(const std::string& device_id, const std::string& release_id,
                            const std::string& version, const std::string& actor);

  // '@' is in neither part (IsValidReleasePart), so no two releases share a name.
  std::string BundlePath(const std::string& release_id, const std::string& version) const {
    return config.catalogue_dir + "/" + release_id + "@" + version + ".bundle";
  }
  // The catalogue's file of `record`: BundlePath, or in a catalogue written
  // before it the older "<release_id>_<version>.bundle", which two releases
  // can share ("a_b" "1" and "a" "b_1"): that one only if the manifest in
  // it is exactly the record's. kPolicyUnknownRelease if there is none.
  Result<std::string> CataloguePath(const ManifestRecord& record) const;
  // Takes one of `client`'s download slots (max_downloads_per_client);
  // false if it holds them all. ReturnDownloadSlot gives it back.
  bool TakeDownloadSlot(const std::string& client);
  void ReturnDownloadSlot(const std::string& client);
  Result<ReleaseManifest> LoadManifest(const std::string& release_id, const std::string& version,
                                       bool* revoked = nullptr);

  // Moves `job` from `from` with one audit entry; false if another writer
  // moved it first (the caller then leaves it alone).
  Result<bool> Move(UpdateJob& job, const std::string& from, const std::string& actor,
                    const std::string& event);
  // A fresh instruction token of `action` for `job`, valid for order_ttl.
  Status Instruct(UpdateJob& job, const std::string& action, bool new_nonce);
  // One due job: what Drive() does for it. True if it moved.
  Result<bool> Act(UpdateJob job);
  // Steps 2-5. From a device's poll (`quiet`), a job still waiting for its
  // appraisal is left as it is.
  Result<bool> CheckPreAppraisal(UpdateJob& job, bool quiet = false);
  Result<bool> CheckReport(UpdateJob& job);  // step 9
  // The PVE's recorded configuration of the device becomes release/version;
  // `which` ("new", "previous") names it in the error.
  Status SetPveConfiguration(const std::string& device_id, const std::string& release_id,
                             const std::string& version, const char* which);
  Result<bool> MissedDeadline(UpdateJob& job);
  // The PVE's appraisal of the reported evidence against release/version.
  Result<Json> AppraiseReport(const UpdateJob& job, const Json& evidence,
                              const std::string& release_id, const std::string& version);

  Store& store;
  PveLink pve;
  OamConfig config;
  std::atomic<uint64_t> transitions{0};
  std::mutex downloads_mu;
  std::map<std::string, int> downloads;  // client -> bundle requests being served
};

OamService::OamService(Store& store, PveLink pve, OamConfig config)
    : impl_(std::make_unique<Impl>(store, std::move(pve), std::move(config))) {}
OamService::~OamService() = default;

HttpResponse OamService::Handle(const HttpRequest& request) {
  Result<HttpResponse> out = impl_->Route(request);
  return out.ok() ? std::move(out).value() : ErrorResponse(out.error());
}

// --- catalogue and jobs -------------------------------------------------------

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
  HENB_TRY(CopyFileAtomic(bundle_path, tmp));
  auto verified = VerifyBundle(tmp, policy);
  if (verified.ok() &&
      (!IsValidReleasePart(verified->release_id) || !IsValidReleasePart(verified->version))) {
    verified = Error(ErrorCode::kInvalidArgument, "release id or version unusable as a file name");
  }
  std::error_code ec;
  if (verified.ok()) {
    std::filesystem::rename(tmp, m.BundlePath(verified->release_id, verified->version), ec);
  }
  if (!verified.ok() || ec) std::filesystem::remove(tmp);
  if (!verified.ok()) return verified.error();
  if (ec) return Error(ErrorCode::kIo, "catalogue: " + ec.message());
  // The rename is durable only once the directory is: before the manifest
  // is recorded (and the import answered), so that a power loss cannot keep
  // a recorded release without its bundle.
  HENB_TRY(SyncDirectory(m.config.catalogue_dir));
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

Result<UpdateJob> OamService::OpenJob(const std::string& device_id, const std::string& release_id,
                                      const std::string& version, const std::string& actor) {
  return impl_->OpenJob(device_id, release_id, version, actor);
}

Result<UpdateJob> OamService::Impl::OpenJob(const std::string& device_id,
                                            const std::string& release_id,
                                            const std::string& version, const std::string& actor) {
  Impl& m = *this;
  if (!IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(auto device, m.store.GetDevice(device_id));
  if (!device) return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + device_id);
  bool revoked = false;
  HENB_ASSIGN_OR_RETURN(ReleaseManifest target, m.LoadManifest(release_id, version, &revoked));
  if (revoked) {
    return Error(ErrorCode::kPolicy, "release " + release_id + " " + version + " is revoked");
  }
  if (std::find(target.hardware_models.begin(), target.hardware_models.end(),
                device->hardware_model) == target.hardware_models.end()) {
    return Error(ErrorCode::kPolicy, "release " + release_id + " " + version +
                                         " is not for hardware model " + device->hardware_model);
  }
  if (device->release_id == release_id && device->release_version == version) {
    return Error(ErrorCode::kPolicy, "device " + device_id + " already runs " + version);
  }
  // No downgrade orders: a target whose release counter is below that of the
  // device's recorded release is refused here, not only by the device's
  // anti-rollback floor. An equal counter passes (the floor accepts it: a
  // re-issue of the same level).
  auto current = m.LoadManifest(device->release_id, device->release_version);
  if (!current.ok() && current.error().code() == ErrorCode::kPolicyUnknownRelease) {
    return Error(ErrorCode::kPolicy, "device " + device_id + " runs " + device->release_id + " " +
                                         device->release_version +
                                         ", which is not in the catalogue: its release counter "
                                         "is unknown, so a downgrade cannot be ruled out");
  }
  if (!current.ok()) return current.error();
  if (target.release_counter < current->release_counter) {
    return Error(ErrorCode::kPolicy,
                 "release " + release_id + " " + version + " (release counter " +
                     std::to_string(target.release_counter) + ") is a downgrade for device " +
                     device_id + ", which runs " + device->release_id + " " +
                     device->release_version + " (release counter " +
                     std::to_string(current->release_counter) + ")");
  }
  const int64_t now = m.config.now();
  UpdateJob job;
  job.device_id = device_id;
  job.release_id = release_id;
  job.version = version;
  job.from_release_id = device->release_id;
  job.from_version = device->release_version;
  job.state = kJobOpened;
  job.expected_tim = ExpectedTim(target);  // step 5's value, fixed at step 1 from the manifest
  job.deadline = now + m.config.order_ttl;
  job.next_action_at = now;
  job.detail = "waiting for an affirming appraisal (steps 2-4)";
  job.created_at = job.updated_at = now;
  HENB_ASSIGN_OR_RETURN(
      job.id,
      m.store.CreateJob(job, AuditEntry{0,
                                        now,
                                        actor,
                                        "",
                                        "opened",
                                        device_id + ": " + job.from_version + " -> " + version,
                                        {},
                                        {}}));
  return job;
}

Result<bool> OamService::Impl::Move(UpdateJob& job, const std::string& from,
                                    const std::string& actor, const std::string& event) {
  job.updated_at = config.now();
  job.open = job.state != kJobCommitted && job.state != kJobRolledBack &&
             job.state != kJobRefused && job.state != kJobFailed;
  HENB_ASSIGN_OR_RETURN(bool moved,
                        store.TransitionJob(job, from,
                                            AuditEntry{0,
                                                       job.updated_at,
                                                       actor,
                                                       "job:" + std::to_string(job.id),
                                                       event,
                                                       job.device_id + ": " + job.detail,
                                                       {},
                                                       {}}));
  if (moved) transitions.fetch_add(1, std::memory_order_relaxed);
  return moved;
}

Status OamService::Impl::Instruct(UpdateJob& job, const std::string& action, bool new_nonce) {
  const int64_t now = config.now();
  if (new_nonce || job.order_nonce.empty()) {
    HENB_ASSIGN_OR_RETURN(job.order_nonce, RandomBytes(kOrderNonceBytes));
  }
  DeploymentOrder order{job.id,          action,      job.device_id,
                        job.release_id,  job.version, job.expected_tim,
                        job.order_nonce, now,         now + config.order_ttl};
  HENB_ASSIGN_OR_RETURN(job.order, SignDeploymentOrder(order, config.order_key));
  job.deadline = now + config.order_ttl;
  job.next_action_at = job.deadline;
  return OkStatus();
}

// --- the driver ---------------------------------------------------------------

Result<int> OamService::Drive() {
  Impl& m = *impl_;
  HENB_ASSIGN_OR_RETURN(auto due, m.store.ListJobs(true, m.config.now(), kDriveBatch));
  int moved = 0;
  for (auto& job : due) {
    auto r = m.Act(std::move(job));
    if (!r.ok()) return r.error();
    if (*r) ++moved;
  }
  return moved;
}

Result<bool> OamService::Impl::Act(UpdateJob job) {
  if (job.state == kJobOpened) return CheckPreAppraisal(job);
  if (job.state == kJobReported) return CheckReport(job);
  return MissedDeadline(job);
}

// Steps 2-4 ask for an affirming appraisal made since the job opened (the
// device pushes one when its poll says "attest"); step 5 then signs the order.
Result<bool> OamService::Impl::CheckPreAppraisal(UpdateJob& job, bool quiet) {
  const std::string from = job.state;
  const int64_t now = config.now();
  auto answer = pve("GET", "/v1/devices/" + job.device_id + "/attestation-result", "");
  Json result = answer.ok() ? api::ParseUntrustedJson(answer->body) : Json();
  if (answer.ok() && answer->status == 200 && result.is_object() &&
      result.value("appraised_at", int64_t{0}) >= job.created_at) {
    const std::string status = result.value("status", "");
    if (status == "affirming") {
      HENB_TRY(Instruct(job, "install", true));
      job.state = kJobOrdered;
      job.attempts = 0;
      job.detail = "appraisal " + std::to_string(result.value("appraisal_id", int64_t{0})) +
                   " affirming; order signed, expected TIM " + HexEncode(job.expected_tim);
      return Move(job, from, "oam", "ordered");
    }
    job.state = kJobRefused;
    job.detail = "the PVE's appraisal before the update is " + status +
                 ": no order for a device that does not verify (quarantine, docs/design.md 5)";
    return Move(job, from, "oam", "refused");
  }
  if (answer.ok() && answer->status != 200 && answer->status != 404) {
    job.detail = "PVE answered " + std::to_string(answer->status) + "; asking again";
  } else if (!answer.ok()) {
    job.detail = "PVE unreachable: " + answer.error().message();
  }
  if (quiet) return false;
  if (now >= job.deadline) return MissedDeadline(job);
  // Not yet appraised: look again soon, without an audit entry per look (a
  // fleet waiting for its devices would fill the log with them); the job's
  // detail says why it waits.
  job.next_action_at = now + config.pve_retry;
  job.updated_at = now;
  HENB_ASSIGN_OR_RETURN(bool moved, store.TransitionJob(job, from, std::nullopt));
  (void)moved;
  return false;
}

Result<Json> OamService::Impl::AppraiseReport(const UpdateJob& job, const Json& evidence,
                                              const std::string& release_id,
                                              const std::string& version) {
  Json body = evidence;
  body["release_id"] = release_id;
  body["version"] = version;
  body["nonce"] = Base64Encode(job.order_nonce);  // the quote must carry the order's nonce
  HENB_ASSIGN_OR_RETURN(
      HttpResponse answer,
      pve("POST", "/v1/devices/" + job.device_id + "/update-appraisals", body.dump()));
  Json out = api::ParseUntrustedJson(answer.body);
  if ((answer.status == 200 || answer.status == 422) && out.is_object()) return out;
  if (answer.status >= 400 && answer.status < 500) {
    // The report's evidence is unusable (malformed, unknown release ...):
    // as good as evidence that does not verify, and asking again will not help.
    return Json{{"status", "contraindicated"},
                {"detail", "the PVE refused the reported evidence: HTTP " +
                               std::to_string(answer.status) + " " + answer.body.substr(0, 200)}};
  }
  return Error(ErrorCode::kNetStatus,
               "PVE answered " + std::to_string(answer.status) + ": " + answer.body.substr(0, 200));
}

Status OamService::Impl::SetPveConfiguration(const std::string& device_id,
                                             const std::string& release_id,
                                             const std::string& version, const char* which) {
  const Json body = {{"release_id", release_id}, {"version", version}};
  HENB_ASSIGN_OR_RETURN(HttpResponse set,
                        pve("PUT", "/v1/devices/" + device_id + "/configuration", body.dump()));
  if (set.status != 200) {
    return Error(ErrorCode::kNetStatus,
                 std::string("PVE refused the ") + which + " configuration: " + set.body);
  }
  return OkStatus();
}

// Step 9: the PVE verifies the reported quote; the OAM compares its TIM
// with the expected TIM of step 5. A fall back or a rollback must show,
// verified, the release the device ran before.
Result<bool> OamService::Impl::CheckReport(UpdateJob& job) {
  const std::string from = job.state;
  const int64_t now = config.now();
  const Json report = api::ParseUntrustedJson(job.report);
  const std::string kind = report.is_object() ? report.value("kind", "") : "";
  const Json evidence = report.is_object() ? report.value("evidence", Json::object()) : Json();
  const bool installed = kind == "installed";
  auto appraisal = AppraiseReport(job, evidence, installed ? job.release_id : job.from_release_id,
                                  installed ? job.version : job.from_version);
  if (!appraisal.ok()) {
    // Recorded when the job starts waiting for the PVE, not at every retry:
    // an outage then costs one audit entry per waiting job, however long.
    constexpr std::string_view kWaits = "step 9 waits for the PVE: ";
    const bool already_waiting = job.detail.rfind(kWaits, 0) == 0;
    job.detail = std::string(kWaits) + appraisal.error().message();
    job.next_action_at = now + config.pve_retry;
    job.updated_at = now;
    std::optional<AuditEntry> audit;
    if (!already_waiting) {
      audit = AuditEntry{0,          now, "oam", "job:" + std::to_string(job.id), "PVE unavailable",
                         job.detail, {},  {}};
    }
    HENB_ASSIGN_OR_RETURN(bool moved, store.TransitionJob(job, from, audit));
    (void)moved;
    return false;
  }
  const std::string status = appraisal->value("status", "");
  const std::string tim = appraisal->value("tim", "");
  std::string why = appraisal->value("detail", "");
  if (appraisal->contains("error")) why = (*appraisal)["error"].value("message", why);

  if (installed) {
    if (status == "affirming" && tim == HexEncode(job.expected_tim)) {
      HENB_TRY(SetPveConfiguration(job.device_id, job.release_id, job.version, "new"));
      HENB_TRY(Instruct(job, "commit", false));
      job.state = kJobCommitting;
      job.attempts = 0;
      job.detail = "step 9 passed: PVE affirms the quote and its TIM equals the expected TIM";
      return Move(job, from, "oam", "verified");
    }
    HENB_TRY(Instruct(job, "rollback", true));
    job.state = kJobRollingBack;
    job.attempts = 0;
    job.detail = status == "affirming"
                     ? "step 9 failed: TIM " + tim + " is not the expected TIM"
                     : "step 9 failed: the device reported an install, the PVE says " + status +
                           (why.empty() ? "" : " (" + why + ")");
    return Move(job, from, "oam", "step 9 failed");
  }
  if (status == "affirming") {
    // Step 9 may have passed before the device fell back (its trial did not
    // survive until the commit): the PVE's reference goes back as well.
    HENB_TRY(SetPveConfiguration(job.device_id, job.from_release_id, job.from_version, "previous"));
    job.state = kJobRolledBack;
    job.detail = "device runs " + job.from_version + ", verified by the PVE (" + kind +
                 (report.value("detail", "").empty() ? "" : ": " + report.value("detail", "")) +
                 ")";
    return Move(job, from, "oam", "rolled back");
  }
  job.state = kJobFailed;
  job.detail = "after " + kind + " the device runs neither release as verified (PVE: " + status +
               (why.empty() ? "" : ", " + why) + "): it needs recovery";
  return Move(job, from, "oam", "failed");
}

Result<bool> OamService::Impl::MissedDeadline(UpdateJob& job) {
  const std::string from = job.state;
  const int64_t now = config.now();
  if (now < job.deadline) {
    job.next_action_at = job.deadline;
    return false;
  }
  ++job.attempts;
  if (job.attempts >= config.max_attempts) {
    job.state = kJobFailed;
    job.detail =
        "the device did not act in " + std::to_string(job.attempts) + " periods; state was " + from;
    return Move(job, from, "oam", "failed");
  }
  // Retry with a longer period each time; the instruction is re-signed with
  // a new expiry but keeps its nonce, so a late report still matches.
  const std::string action = from == kJobOrdered       ? "install"
                             : from == kJobCommitting  ? "commit"
                             : from == kJobRollingBack ? "rollback"
                                                       : "";
  if (!action.empty()) HENB_TRY(Instruct(job, action, false));
  job.deadline = now + (config.order_ttl << job.attempts);
  job.next_action_at = job.deadline;
  job.detail = "deadline passed in state " + from + "; retry " + std::to_string(job.attempts);
  return Move(job, from, "oam", "deadline missed");
}

// --- HTTP ---------------------------------------------------------------------

Result<HttpResponse> OamService::Impl::Route(const HttpRequest& req) {
  const auto path = SplitPath(req.target);
  const std::string& m = req.method;
  auto is = [&](std::initializer_list<std::string_view> want) { return PathMatches(path, want); };
  auto allow = [&](std::string_view method) { return RequireMethod(req, method); };
  if (is({"v1", "agent", "poll"})) {
    HENB_TRY(allow("POST"));
    HENB_TRY(RequireRole(req.peer, {kRoleDevice}));
    HENB_TRY(CheckDeviceCaller(req.peer));
    return Poll(req);
  }
  if (is({"v1", "agent", "reports"})) {
    HENB_TRY(allow("POST"));
    HENB_TRY(RequireRole(req.peer, {kRoleDevice}));
    HENB_TRY(CheckDeviceCaller(req.peer));
    return Report(req);
  }
  if (is({"v1", "releases", "*", "*", "bundle"})) {
    HENB_TRY(allow("GET"));
    HENB_TRY(RequireRole(req.peer, {kRoleDevice, kRoleOperator}));
    if (req.peer.organization == kRoleDevice) HENB_TRY(CheckDeviceCaller(req.peer));
    return Bundle(req, path[2], path[3]);
  }
  if (is({"v1", "jobs"})) {
    HENB_TRY(RequireRole(req.peer, {kRoleOperator}));
    if (m == "GET") {
      HENB_ASSIGN_OR_RETURN(auto jobs, store.ListJobs(false, 0, 100000));
      Json out = Json::array();
      for (const auto& j : jobs) out.push_back(JobJson(j));
      return JsonResponse(200, {{"jobs", out}});
    }
    HENB_TRY(allow("POST"));
    HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
    HENB_ASSIGN_OR_RETURN(std::string device, TextField(body, "device_id", 64));
    HENB_ASSIGN_OR_RETURN(std::string release, TextField(body, "release_id", 128));
    HENB_ASSIGN_OR_RETURN(std::string version, TextField(body, "version", 64));
    HENB_ASSIGN_OR_RETURN(UpdateJob job,
                          OpenJob(device, release, version, "operator:" + req.peer.common_name));
    return JsonResponse(201, JobJson(job));
  }
  if (is({"v1", "jobs", "*"})) {
    HENB_TRY(allow("GET"));
    HENB_TRY(RequireRole(req.peer, {kRoleOperator}));
    int64_t id = 0;
    try {
      id = std::stoll(path[2]);
    } catch (const std::exception&) {
      return BadRequest("malformed job id");
    }
    HENB_ASSIGN_OR_RETURN(auto job, store.GetJob(id));
    if (!job) return Error(ErrorCode::kNotFound, "no job " + path[2]);
    return JsonResponse(200, JobJson(*job));
  }
  if (is({"v1", "inventory"})) {
    HENB_TRY(allow("GET"));
    HENB_TRY(RequireRole(req.peer, {kRoleOperator}));
    Json out = Json::array();
    std::string after;
    for (;;) {
      HENB_ASSIGN_OR_RETURN(auto page, store.ListDevices(after, 1000));
      if (page.empty()) break;
      for (const auto& d : page) {
        HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(d.device_id));
        out.push_back({{"device_id", d.device_id},
                       {"hardware_model", d.hardware_model},
                       {"release_id", d.release_id},
                       {"version", d.release_version},
                       {"state", d.state},
                       {"open_job", job ? Json(JobJson(*job)) : Json()}});
      }
      after = page.back().device_id;
    }
    return JsonResponse(200, {{"devices", out}});
  }
  if (is({"v1", "audit"})) {
    HENB_TRY(allow("GET"));
    HENB_TRY(RequireRole(req.peer, {kRoleOperator}));
    return ListAuditJson(req);
  }
  return Error(ErrorCode::kNetNotFound, "no endpoint " + m + " " + req.target);
}

Status OamService::Impl::CheckDeviceCaller(const PeerIdentity& peer) {
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(peer.common_name));
  if (!device) {
    return Error(ErrorCode::kNetUnauthenticated, "no enrolled device " + peer.common_name);
  }
  return CheckDeviceCertificate(*device, peer.serial);
}

Result<HttpResponse> OamService::Impl::Poll(const HttpRequest& req) {
  const std::string& device = req.peer.common_name;
  HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(device));
  if (!job) return JsonResponse(200, {{"action", "none"}});
  if (job->state == kJobOpened) {
    // The device may have pushed its evidence since the last poll: order now.
    UpdateJob copy = *job;
    HENB_ASSIGN_OR_RETURN(bool moved, CheckPreAppraisal(copy, true));
    if (moved) {
      HENB_ASSIGN_OR_RETURN(job, store.OpenJobFor(device));
      if (!job) return JsonResponse(200, {{"action", "none"}});
    }
  }
  Json out = {{"job", job->id}};
  if (job->state == kJobOpened) {
    out["action"] = "attest";
  } else if (job->state == kJobOrdered || job->state == kJobCommitting ||
             job->state == kJobRollingBack) {
    out["action"] = job->state == kJobOrdered      ? "install"
                    : job->state == kJobCommitting ? "commit"
                                                   : "rollback";
    out["order"] = job->order;
  } else {
    out["action"] = "wait";
  }
  return JsonResponse(200, out);
}

// A device's report. Idempotent: the same report again, or one for a job
// that has moved on, changes nothing and says where the job is.
Result<HttpResponse> OamService::Impl::Report(const HttpRequest& req) {
  if (req.body.size() > kMaxReport) return Error(ErrorCode::kNetTooLarge, "report too large");
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  const std::string& device = req.peer.common_name;
  if (!body.contains("job") || !body["job"].is_number_integer()) {
    return BadRequest("missing integer field 'job'");
  }
  const int64_t id = body["job"].get<int64_t>();
  HENB_ASSIGN_OR_RETURN(std::string kind, TextField(body, "kind", 32));
  HENB_ASSIGN_OR_RETURN(std::string detail, TextField(body, "detail", 1024, false));
  HENB_ASSIGN_OR_RETURN(auto stored, store.GetJob(id));
  if (!stored || stored->device_id != device) {
    return Error(ErrorCode::kNotFound, "device " + device + " has no job " + std::to_string(id));
  }
  UpdateJob job = *stored;
  const std::string from = job.state;
  auto unchanged = [&](const std::string& note) {
    return JsonResponse(200, {{"job", job.id}, {"state", job.state}, {"note", note}});
  };
  const bool with_evidence = kind == "installed" || kind == "fell-back" || kind == "rolled-back";
  if (with_evidence && (!body.contains("evidence") || !body["evidence"].is_object())) {
    return BadRequest("a '" + kind + "' report carries the evidence of step 8");
  }
  const bool expected =
      (from == kJobOrdered && (kind == "installed" || kind == "fell-back" || kind == "rejected")) ||
      ((from == kJobRollingBack || from == kJobCommitting) && kind == "rolled-back") ||
      (from == kJobCommitting && kind == "committed");
  if (!expected) {
    // A repeat of a report already taken, or one that is late: no change.
    if (!job.open || from == kJobReported) return unchanged("report already recorded");
    return Error(ErrorCode::kPolicyState, "job " + std::to_string(id) + " is " + from + "; a '" +
                                              kind + "' report does not apply");
  }
  const std::string actor = "device:" + device;
  if (kind == "rejected") {
    ++job.attempts;
    job.detail = "device refused the update before installing: " + detail;
    if (job.attempts >= config.max_attempts) {
      job.state = kJobFailed;
      job.detail += " (" + std::to_string(job.attempts) + " times; nothing installed)";
    }
    HENB_ASSIGN_OR_RETURN(bool moved, Move(job, from, actor, "rejected"));
    return moved ? unchanged("recorded") : unchanged("job moved meanwhile");
  }
  if (kind == "committed") {
    job.state = kJobCommitted;
    job.detail = "committed: device marked the slot good and raised its anti-rollback floor";
    HENB_ASSIGN_OR_RETURN(bool moved, Move(job, from, actor, "committed"));
    return moved ? unchanged("recorded") : unchanged("job moved meanwhile");
  }
  job.report = Json({{"kind", kind}, {"detail", detail}, {"evidence", body["evidence"]}}).dump();
  job.state = kJobReported;
  job.next_action_at = config.now();
  job.detail = "device reports " + kind + (detail.empty() ? "" : ": " + detail);
  HENB_ASSIGN_OR_RETURN(bool moved, Move(job, from, actor, "reported " + kind));
  if (!moved) return unchanged("job moved meanwhile");
  // Step 9 right away; should this fail or the process stop, Drive() does it.
  HENB_ASSIGN_OR_RETURN(auto latest, store.GetJob(id));
  if (latest && latest->state == kJobReported) {
    auto acted = CheckReport(*latest);
    if (!acted.ok()) return acted.error();
    job = *latest;
  }
  return unchanged("recorded");
}

Result<HttpResponse> OamService::Impl::Bundle(const HttpRequest& req, const std::string& release_id,
                                              const std::string& version) {
  if (!IsValidReleasePart(release_id) || !IsValidReleasePart(version)) {
    return BadRequest("malformed release id or version");
  }
  HENB_ASSIGN_OR_RETURN(auto record, store.GetManifest(release_id, version));
  if (!record) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "release " + release_id + " " + version + " is not in the catalogue");
  }
  HENB_ASSIGN_OR_RETURN(const std::string path, CataloguePath(*record));
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "release " + release_id + " " + version + " is not in the catalogue");
  }
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
  uint64_t first = 0, last = size == 0 ? 0 : size - 1;
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
  std::ifstream in(path, std::ios::binary);
  std::string body(length, '\0');
  in.seekg(static_cast<std::streamoff>(first));
  in.read(body.data(), static_cast<std::streamsize>(length));
  if (!in) return Error(ErrorCode::kIo, "cannot read the catalogue's bundle");
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
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  const std::string legacy =
      config.catalogue_dir + "/" + record.release_id + "_" + record.version + ".bundle";
  if (std::filesystem::exists(legacy, ec)) {
    auto header = ReadBundleHeader(legacy);
    if (header.ok() && header->manifest_bytes == record.manifest) return legacy;
  }
  return Error(ErrorCode::kPolicyUnknownRelease,
               "release " + record.release_id + " " + record.version + " is not in the catalogue");
}

bool OamService::Impl::TakeDownloadSlot(const std::string& client) {
  std::lock_guard<std::mutex> lock(downloads_mu);
  int& held = downloads[client];
  if (held >= config.max_downloads_per_client) {
    if (held == 0) downloads.erase(client);
    return false;
  }
  ++held;
  return true;
}

void OamService::Impl::ReturnDownloadSlot(const std::string& client) {
  std::lock_guard<std::mutex> lock(downloads_mu);
  auto it = downloads.find(client);
  if (it != downloads.end() && --it->second <= 0) downloads.erase(it);
}

Result<HttpResponse> OamService::Impl::ListAuditJson(const HttpRequest& req) {
  int64_t after = 0;
  const size_t q = req.target.find("after=");
  if (q != std::string::npos) {
    try {
      after = std::stoll(req.target.substr(q + 6));
    } catch (const std::exception&) {
      return BadRequest("malformed 'after'");
    }
  }
  HENB_ASSIGN_OR_RETURN(auto entries, store.ListAudit(after, 1000));
  Json out = Json::array();
  for (const auto& e : entries) {
    out.push_back({{"seq", e.seq},
                   {"at", e.at},
                   {"actor", e.actor},
                   {"subject", e.subject},
                   {"event", e.event},
                   {"detail", e.detail},
                   {"hash", HexEncode(e.hash)}});
  }
  return JsonResponse(200, {{"entries", out}});
}

}  // namespace henbtrust
