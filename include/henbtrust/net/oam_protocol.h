// The messages between a device's agent and the OAM, and between an
// operator and the OAM (docs/oam.md, docs/api/oam.yaml): one codec per
// message, used by the side that writes it and the side that reads it.
//
// Decoding never throws: any text (not JSON, a field missing, null, of the
// wrong type, too long) gives kNetBadRequest naming the field, for the OAM
// reading a device, and for a device or an operator reading the OAM alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/result.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/net/paging.h"
#include "henbtrust/store/job_state.h"

namespace henbtrust {

// What the OAM tells a polling device to do.
enum class AgentAction {
  kNone,      // no open job
  kWait,      // the OAM is at step 9; ask again later
  kAttest,    // push evidence to the PVE (steps 2-4)
  kInstall,   // carry out the signed install order (steps 6-8)
  kCommit,    // mark the trial slot good (after step 9)
  kRollback,  // abandon the update and report what runs
  kRecover,   // boot the recovery image, which installs the order's release into both slots
};
std::string_view AgentActionName(AgentAction action);
// Actions a device carries out only on a signed deployment order.
constexpr bool ActionCarriesOrder(AgentAction action) {
  return action == AgentAction::kInstall || action == AgentAction::kCommit ||
         action == AgentAction::kRollback || action == AgentAction::kRecover;
}
std::optional<AgentAction> ParseAgentAction(std::string_view name);

// What a device reports about a job.
enum class ReportKind {
  kInstalled,   // the trial boot matched the expected TIM; quote attached
  kFellBack,    // the trial boot did not match and the device fell back; quote attached
  kRejected,    // the bundle or the order was refused before anything was installed
  kRolledBack,  // the device runs its previous release; quote attached
  kCommitted,   // the slot is marked good and the anti-rollback floor raised
};
std::string_view ReportKindName(ReportKind kind);
std::optional<ReportKind> ParseReportKind(std::string_view name);
// Reports of these kinds carry the evidence of step 8.
constexpr bool ReportCarriesEvidence(ReportKind kind) {
  return kind == ReportKind::kInstalled || kind == ReportKind::kFellBack ||
         kind == ReportKind::kRolledBack;
}

// Field limits of the OAM's messages.
inline constexpr size_t kMaxReportBytes = size_t{1} << 20;  // a report with its evidence
inline constexpr size_t kMaxReportDetailBytes = 1024;
inline constexpr size_t kMaxOrderBytes = size_t{16} * 1024;  // a signed deployment order (JWS)
inline constexpr size_t kMaxOamNoteBytes = 1024;
inline constexpr size_t kMaxJobDetailBytes = size_t{64} * 1024;
inline constexpr int64_t kMaxJobId = int64_t{1} << 53;  // exact in every JSON reader

// POST /v1/agent/poll, the answer. `job` and `order` are set for the
// actions that concern a job (not kNone); `order` for install, commit and
// rollback.
struct PollAnswer {
  AgentAction action = AgentAction::kNone;
  int64_t job = 0;
  std::string order = {};
};
std::string EncodePollAnswer(const PollAnswer& answer);
Result<PollAnswer> DecodePollAnswer(std::string_view text);

// POST /v1/agent/reports. `evidence` is the JSON text of the evidence object
// (net/pve_protocol.h) for the kinds that carry it, empty for the others;
// the OAM passes it on to the PVE unread.
struct AgentReport {
  int64_t job = 0;
  ReportKind kind = ReportKind::kRejected;
  std::string detail = {};
  std::string evidence = {};
};
std::string EncodeAgentReport(const AgentReport& report);
// Also refuses a report of a kind that carries evidence without it.
Result<AgentReport> DecodeAgentReport(std::string_view text);

// The answer to a report: where the job is now.
struct ReportAnswer {
  int64_t job = 0;
  JobState state = JobState::kOpened;
  std::string note = {};
};
std::string EncodeReportAnswer(const ReportAnswer& answer);
Result<ReportAnswer> DecodeReportAnswer(std::string_view text);

// POST /v1/jobs: an operator opens a job (step 1); `kind` is "update" when
// absent.
struct OpenJobRequest {
  std::string device_id;
  std::string release_id;
  std::string version;
  JobKind kind = JobKind::kUpdate;
};
std::string EncodeOpenJobRequest(const OpenJobRequest& request);
Result<OpenJobRequest> DecodeOpenJobRequest(std::string_view text);

// A job as the OAM shows it (GET /v1/jobs, /v1/jobs/{id}, POST /v1/jobs).
struct JobView {
  int64_t id = 0;
  std::string device_id;
  std::string release_id;
  std::string version;
  std::string from_release_id;
  std::string from_version;
  JobKind kind = JobKind::kUpdate;
  JobState state = JobState::kOpened;
  bool open = true;
  Bytes expected_tim = {};
  int64_t deadline = 0;
  int attempts = 0;
  std::string detail = {};
  int64_t created_at = 0;
  int64_t updated_at = 0;
};
std::string EncodeJobView(const JobView& job);
Result<JobView> DecodeJobView(std::string_view text);
// GET /v1/jobs?after=ID&limit=N: {"jobs": [...], "next": "ID" or null},
// by job id (net/paging.h).
std::string EncodeJobList(const Page<JobView>& jobs);
Result<Page<JobView>> DecodeJobList(std::string_view text);

// GET /v1/inventory?after=DEVICE&limit=N: {"devices": [...], "next"}, by
// device id, each device with its open job.
struct InventoryEntry {
  std::string device_id;
  std::string hardware_model;
  std::string release_id;
  std::string version;
  std::string state;
  std::optional<JobView> open_job = std::nullopt;
  // The watchdog (docs/recovery.md): the boot stage's mode as the device
  // last said, the OAM's reckoning of its deadline (Unix seconds; 0: no
  // ticket yet), and the last ticket, in words.
  std::string mode = "normal";
  int64_t watchdog_deadline = 0;
  std::string last_ticket = {};
};
std::string EncodeInventory(const Page<InventoryEntry>& devices);
Result<Page<InventoryEntry>> DecodeInventory(std::string_view text);

// GET /v1/audit?after=SEQ&limit=N: {"entries": [...], "next"}.
struct AuditView {
  int64_t seq = 0;
  int64_t at = 0;
  std::string actor;
  std::string subject;
  std::string event;
  std::string detail;
  Bytes hash = {};
};
std::string EncodeAuditList(const Page<AuditView>& entries);
Result<Page<AuditView>> DecodeAuditList(std::string_view text);

}  // namespace henbtrust
