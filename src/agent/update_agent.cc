#include "henbtrust/agent/update_agent.h"

#include "henbtrust/agent/agent.h"
#include "henbtrust/core/decimal.h"
#include "henbtrust/core/file.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/release/manifest.h"

namespace henbtrust {

namespace {

Error Refused(const std::string& what, const HttpResponse& r) {
  return Error(ErrorCode::kNetStatus,
               what + ": HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
}

// "bytes first-last/total" -> {first, total}; {0, 0} if absent or malformed.
std::pair<uint64_t, uint64_t> RangeOf(const HttpResponse& r) {
  constexpr std::string_view kPrefix = "bytes ";
  for (const auto& [name, value] : r.headers) {
    if (name != "Content-Range") continue;
    const size_t dash = value.find('-');
    const size_t slash = value.find('/');
    if (value.rfind(kPrefix, 0) != 0 || dash == std::string::npos || slash == std::string::npos ||
        dash > slash) {
      return {0, 0};
    }
    const auto first = ParseDecimal(value.substr(kPrefix.size(), dash - kPrefix.size()));
    const auto total = ParseDecimal(value.substr(slash + 1));
    if (!first || !total) return {0, 0};
    return {*first, *total};
  }
  return {0, 0};
}

// What a push came to: the result's status, or the HTTP status when the
// PVE answered with no result.
std::string AttestationStatusOf(const HttpResponse& r) {
  auto result = DecodeAttestationResult(r.body);
  return result.ok() ? result->status : std::to_string(r.status);
}

constexpr const char* kFinishedJobFile = "/finished-job";

}  // namespace

UpdateAgent::UpdateAgent(HttpChannel& oam, HttpChannel& pve, Device& device, PublicKey oam_key,
                         UpdateAgentConfig config)
    : oam_(oam),
      pve_(pve),
      device_(device),
      oam_key_(std::move(oam_key)),
      config_(std::move(config)) {
  if (!config_.now) config_.now = UnixSeconds;
}

std::string PollOutcome::ToString() const {
  const std::string name(AgentActionName(action));
  return outcome.empty() ? name : name + ": " + outcome;
}

Result<PollOutcome> UpdateAgent::PollOnce() {
  HENB_ASSIGN_OR_RETURN(
      HttpResponse answer,
      oam_.Request("POST", config_.recovery ? "/v1/recovery/poll" : "/v1/agent/poll",
                   "application/json", "{}"));
  if (answer.status != 200) return Refused("poll", answer);
  auto decoded = DecodePollAnswer(answer.body);
  if (!decoded.ok()) {
    return Error(ErrorCode::kNetStatus, "the OAM's poll answer: " + decoded.error().message());
  }
  const PollAnswer& poll = *decoded;
  PollOutcome out{poll.action, poll.job, {}};
  switch (poll.action) {
    case AgentAction::kNone:
    case AgentAction::kWait:
      return out;
    case AgentAction::kAttest: {
      HENB_ASSIGN_OR_RETURN(HttpResponse r, AttestOnce(pve_, device_.tre()));
      out.outcome = AttestationStatusOf(r);
      return out;
    }
    case AgentAction::kInstall:
    case AgentAction::kRecover:
    case AgentAction::kCommit:
    case AgentAction::kRollback:
      break;
  }
  // An order for a job this device has finished is a replay (of a token
  // still within its expiry): nothing is done and nothing reported.
  HENB_ASSIGN_OR_RETURN(int64_t finished, FinishedJob());
  if (poll.job <= finished) {
    out.outcome = "ignored the order of job " + std::to_string(poll.job) +
                  ": this device has finished every job up to " + std::to_string(finished) +
                  " (a replayed order)";
    return out;
  }
  if (poll.action == AgentAction::kInstall || poll.action == AgentAction::kRecover) {
    HENB_ASSIGN_OR_RETURN(out.outcome, Install(poll.job, poll.order, poll.action));
  } else if (poll.action == AgentAction::kCommit) {
    HENB_ASSIGN_OR_RETURN(out.outcome, Commit(poll.job, poll.order));
  } else {
    HENB_ASSIGN_OR_RETURN(out.outcome, Rollback(poll.job, poll.order));
  }
  return out;
}

Result<int64_t> UpdateAgent::FinishedJob() const {
  const std::string path = device_.dir() + kFinishedJobFile;
  auto text = device_.env()->ReadFile(path, 64);
  if (!text.ok()) {
    if (text.error().code() == ErrorCode::kNotFound) return int64_t{0};
    return Error(ErrorCode::kDeviceState, text.error().ToString());
  }
  // Written only by MarkFinished, atomically: anything else is refused
  // rather than read as 0, which would accept every replayed order.
  const auto job = ParseDecimal(ToString(*text));
  if (!job || *job > static_cast<uint64_t>(kMaxJobId)) {
    return Error(ErrorCode::kDeviceState, path + " does not hold a job id");
  }
  return static_cast<int64_t>(*job);
}

Status UpdateAgent::MarkFinished(int64_t job) {
  HENB_ASSIGN_OR_RETURN(int64_t finished, FinishedJob());
  if (job <= finished) return OkStatus();
  return device_.env()->WriteFileAtomic(device_.dir() + kFinishedJobFile,
                                        AsBytes(std::to_string(job)));
}

Result<DeploymentOrder> UpdateAgent::VerifyOrder(int64_t job, const std::string& token,
                                                 AgentAction action) {
  HENB_ASSIGN_OR_RETURN(DeploymentOrder order,
                        VerifyDeploymentOrder(token, oam_key_, config_.device_id, config_.now()));
  if (order.action != action || order.job != job) {
    return Error(ErrorCode::kPolicyOrder, "the order is not an '" +
                                              std::string(AgentActionName(action)) +
                                              "' order for job " + std::to_string(job));
  }
  // A device has one open job at a time and job ids grow, so every job below
  // this one is closed at the OAM: their orders are replays from now on.
  HENB_TRY(MarkFinished(job - 1));
  return order;
}

Result<std::string> UpdateAgent::Install(int64_t job, const std::string& token,
                                         AgentAction action) {
  auto order = VerifyOrder(job, token, action);
  if (!order.ok()) {
    // Nothing is installed without the OAM's signature; say why, once per poll.
    HENB_TRY(SendReport(job, ReportKind::kRejected, order.error().ToString(), {}));
    return "refused the order: " + order.error().ToString();
  }
  if (action == AgentAction::kRecover && device_.boot_stage() != nullptr &&
      device_.mode() != DeviceMode::kRecovery) {
    // Only the recovery image carries a recovery out; the OAM's signed
    // refusal of the next ticket (or the watchdog) takes the device there.
    return std::string("left to the recovery image");
  }
  const UpdateJournal& journal = device_.journal();
  // A pending install of the same version is this order's, carried out
  // before a crash, if it is of the same kind: a recovery is not resumed by
  // an install, nor an install by a recovery.
  const bool resumed =
      (journal.phase == UpdatePhase::kInstalled || journal.phase == UpdatePhase::kTrialGood) &&
      journal.release_version == order->version &&
      journal.both_slots == (action == AgentAction::kRecover);
  if (!resumed) {
    HENB_ASSIGN_OR_RETURN(std::string bundle, Download(order->release_id, order->version));
    auto installed = action == AgentAction::kRecover
                         ? device_.Recover(bundle, *config_.trust, config_.now())
                         : device_.Install(bundle, *config_.trust, config_.now());
    if (!installed.ok()) {
      // Step 6 refused it before a byte was written: fetch afresh next time.
      (void)device_.env()->RemoveFile(bundle);
      HENB_TRY(SendReport(job, ReportKind::kRejected, installed.error().ToString(), {}));
      return "rejected before install: " + installed.error().ToString();
    }
    if (installed->expected_tim != order->expected_tim) {
      HENB_TRY(device_.Rollback("the order's expected TIM differs from the device's"));
      HENB_TRY(SendReport(job, ReportKind::kRejected,
                          "the order's expected TIM " + HexEncode(order->expected_tim) +
                              " is not the device's own " + HexEncode(installed->expected_tim),
                          {}));
      return std::string("rejected: expected TIM disagrees");
    }
    if (config_.hooks) config_.hooks->Installed(device_, installed->target_slot);
  }
  // Step 7: reboot into the new slot on trial; a mismatch falls back.
  std::string outcome;
  if (device_.journal().phase == UpdatePhase::kInstalled) {
    HENB_ASSIGN_OR_RETURN(BootReport boot, device_.Boot());
    outcome = boot.fell_back ? "fell back: " + device_.boot_control().last_fallback_reason
                             : "trial boot matched the expected TIM";
  } else if (device_.journal().phase == UpdatePhase::kTrialGood) {
    outcome = "trial boot matched the expected TIM";
  } else {
    outcome = "fell back: " + device_.boot_control().last_fallback_reason;
  }
  const bool fell_back = device_.journal().phase != UpdatePhase::kTrialGood;
  // Step 8: a fresh quote over what runs, with the order's nonce.
  HENB_ASSIGN_OR_RETURN(ReportKind sent,
                        SendReport(job, fell_back ? ReportKind::kFellBack : ReportKind::kInstalled,
                                   outcome, order->nonce));
  // A fall back ends the job (the OAM verifies the previous release and
  // closes it); an install waits for the OAM's commit or rollback order.
  if (sent == ReportKind::kFellBack) HENB_TRY(MarkFinished(job));
  return outcome;
}

Result<std::string> UpdateAgent::Commit(int64_t job, const std::string& token) {
  HENB_ASSIGN_OR_RETURN(DeploymentOrder order, VerifyOrder(job, token, AgentAction::kCommit));
  if (device_.journal().phase == UpdatePhase::kTrialGood) {
    HENB_TRY(device_.Commit());
  } else {
    // Committed before a lost report? Only if the active slot runs the target.
    auto active = device_.SlotManifest(device_.boot_control().active);
    if (!active || active->version != order.version || !device_.boot_control().trial.empty()) {
      // The trial did not survive (power lost during it, attempts used up):
      // the device runs the previous release and says so, with a quote.
      const std::string why =
          "fell back before the commit: " + (device_.boot_control().last_fallback_reason.empty()
                                                 ? std::string("no trial pending")
                                                 : device_.boot_control().last_fallback_reason);
      HENB_TRY(SendReport(job, ReportKind::kRolledBack, why, order.nonce));
      HENB_TRY(MarkFinished(job));
      return why;
    }
  }
  HENB_TRY(SendReport(job, ReportKind::kCommitted,
                      "slot " + device_.boot_control().active + " marked good", {}));
  // Only once the OAM has the report: should it be lost, the OAM sends the
  // commit order again and the report is repeated.
  HENB_TRY(MarkFinished(job));
  return order.version;
}

Result<std::string> UpdateAgent::Rollback(int64_t job, const std::string& token) {
  HENB_ASSIGN_OR_RETURN(DeploymentOrder order, VerifyOrder(job, token, AgentAction::kRollback));
  if (device_.journal().phase != UpdatePhase::kNone) {
    HENB_TRY(device_.Rollback("rollback ordered by the OAM"));
  }
  // Reboot into what remains, so that the quote shows what really runs.
  HENB_ASSIGN_OR_RETURN(BootReport boot, device_.Boot());
  HENB_TRY(SendReport(job, ReportKind::kRolledBack,
                      "running " + boot.release_version + " from slot " + boot.slot, order.nonce));
  HENB_TRY(MarkFinished(job));
  return "running " + boot.release_version;
}

Result<ReleaseManifest> UpdateAgent::UpdateRecoveryImage(const std::string& release_id,
                                                         const std::string& version) {
  HENB_ASSIGN_OR_RETURN(std::string bundle, Download(release_id, version));
  auto updated = device_.UpdateRecoveryImage(bundle, *config_.trust, config_.now());
  // Refused: fetched afresh next time.
  if (!updated.ok()) (void)device_.env()->RemoveFile(bundle);
  return updated;
}

Result<std::string> UpdateAgent::Download(const std::string& release_id,
                                          const std::string& version) {
  // '@' is in neither a release id nor a version: one name per release.
  const std::string final_path =
      config_.download_dir + "/" + release_id + "@" + version + ".bundle";
  const std::string part = final_path + ".part";
  Env& env = *device_.env();
  if (env.FileExists(final_path)) return final_path;
  HENB_TRY(env.CreateDirectories(config_.download_dir));
  const std::string target = std::string(config_.recovery ? "/v1/recovery" : "/v1") + "/releases/" +
                             release_id + "/" + version + "/bundle";
  const std::string what = "download of " + release_id + " " + version;
  bool restarted = false;
  for (;;) {
    uint64_t have = 0;
    if (env.FileExists(part)) {
      HENB_ASSIGN_OR_RETURN(have, env.FileSize(part));
    }
    const std::string range =
        "bytes=" + std::to_string(have) + "-" + std::to_string(have + config_.download_chunk - 1);
    HENB_ASSIGN_OR_RETURN(HttpResponse r, oam_.Request("GET", target, "", "", {{"Range", range}}));
    if ((r.status == 400 || r.status == 416) && have > 0 && !restarted) {
      // A part left by a crash may be whole (the crash came before the
      // rename) or longer than the bundle; the OAM refuses to resume past
      // the end. It is fetched afresh, once. (Any other refusal, a busy
      // OAM's say, keeps what came so far.)
      restarted = true;
      HENB_TRY(env.RemoveFile(part));
      continue;
    }
    if (r.status != 206) return Refused(what, r);
    // The OAM may answer with less than was asked (it caps each answer):
    // what came is appended and the next request starts after it.
    const auto [first, total] = RangeOf(r);
    if (total == 0 || r.body.empty()) {
      return Error(ErrorCode::kNetStatus, "download: a range answer without Content-Range");
    }
    if (first != have || have + r.body.size() > total) {
      return Error(ErrorCode::kNetStatus, "download: asked for bytes from " + std::to_string(have) +
                                              ", got " + std::to_string(first) + " onwards");
    }
    // Not synced: step 6 verifies the whole bundle, so a part that a power
    // loss damaged is refused and fetched afresh.
    HENB_ASSIGN_OR_RETURN(auto out, env.NewAppendableFile(part));
    HENB_TRY(out->Append(AsBytes(r.body)));
    HENB_TRY(out->Close());
    if (have + r.body.size() >= total) break;
  }
  HENB_TRY(env.RenameFile(part, final_path));
  if (config_.hooks) config_.hooks->Downloaded(env, final_path);
  return final_path;
}

Result<ReportKind> UpdateAgent::SendReport(int64_t job, ReportKind kind, const std::string& detail,
                                           ByteView nonce) {
  AgentReport report{job, kind, detail.substr(0, kMaxReportDetailBytes), {}};
  if (!nonce.empty()) {
    const std::string slot = device_.boot_control().booted;
    auto manifest = device_.SlotManifest(slot);
    if (!manifest)
      return Error(ErrorCode::kDeviceState, "the booted slot " + slot + " has no manifest");
    HENB_ASSIGN_OR_RETURN(report.evidence,
                          EvidenceJson(device_.tre(), nonce, {PlanSelection(*manifest)}));
  }
  if (config_.hooks) config_.hooks->Reporting(report);
  HENB_ASSIGN_OR_RETURN(
      HttpResponse r,
      oam_.Request("POST", config_.recovery ? "/v1/recovery/reports" : "/v1/agent/reports",
                   "application/json", EncodeAgentReport(report)));
  if (r.status != 200) return Refused("report", r);
  return report.kind;
}

}  // namespace henbtrust
