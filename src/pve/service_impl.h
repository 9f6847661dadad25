// PveService::Impl: the PVE's state and request handlers, shared by the
// files of src/pve that implement them (routes and HTTP glue in service.cc;
// nonces.cc; attestation.cc, the push and the appraisal; pull.cc;
// update.cc, step 9's appraisal and configuration; results.cc, results and
// the access decision; revocation.cc; renewal.cc, certificate renewal;
// decommission.cc).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/net/router.h"
#include "henbtrust/net/worker_pool.h"
#include "henbtrust/pve/ear.h"
#include "henbtrust/pve/service.h"
#include "pve/enrollment.h"
#include "pve/known_results.h"

namespace henbtrust {

// Who asked, for the audit log: "operator:<CN>", or the OAM's own calls.
inline std::string Actor(const PeerIdentity& peer) {
  if (peer.organization == kRoleOperator) return "operator:" + peer.common_name;
  if (peer.organization == kRoleSegw) return "segw:" + peer.common_name;
  return "peer:" + peer.common_name;
}

// What a stored result says, read back from its signed EAR rather than from
// the row beside it: a store changed behind the PVE's back cannot make a
// device look better than this PVE found it (results.cc). The signature is
// checked unless `known` has the token as this PVE signed or checked it.
Result<EarClaims> StoredClaims(const AppraisalRecord& record, KnownResults& known);

struct PveService::Impl {
  Impl(Store& s, PveConfig c);

  // An appraisal made, ready for the store: its record, and its answer but
  // for the id the record gets.
  struct Prepared {
    int status = 200;  // or 422 when the evidence did not verify (the signed result is kept)
    ArStatus verdict = ArStatus::kContraindicated;
    AppraisalRecord record;
    AttestationResultText answer;
    std::string detail = {};  // why, when not affirming
  };

  std::vector<Route> Routes();
  // POST /v1/evidence: appraises, and answers once the store has recorded
  // the result (on the store's thread).
  void RecordPush(const HttpRequest& req, HttpResponder respond);
  Result<HttpResponse> RevokeDevice(const HttpRequest& req, const std::string& device_id);
  // POST /v1/devices/{id}/certificate-renewal (renewal.cc).
  Result<HttpResponse> RenewCertificate(const HttpRequest& req, const std::string& device_id);
  // POST /v1/devices/{id}/decommissioning (decommission.cc).
  Result<HttpResponse> Decommission(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> IssueNonce(const HttpRequest& req);
  Result<Prepared> PushEvidence(const HttpRequest& req);
  Result<HttpResponse> PullAppraisal(const std::string& device_id);
  Result<HttpResponse> UpdateAppraisal(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> SetConfiguration(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> LatestResult(const std::string& device_id);
  Result<HttpResponse> ListAppraisals(const HttpRequest& req);
  // Whether a security gateway admits the device (access_decision.cc).
  Result<HttpResponse> AccessDecision(const HttpRequest& req, const std::string& device_id);
  Result<HttpResponse> Revoke(const HttpRequest& req, const std::string& release_id,
                              const std::string& version);
  Result<HttpResponse> DeviceInfo(const std::string& device_id);
  HttpResponse Metrics() const;

  Result<DeviceRecord> LoadDevice(const std::string& device_id);
  // The record of the device that sent `req` with its certificate, if that
  // certificate is the device's current one and the device is not revoked;
  // kNetUnauthenticated otherwise.
  Result<DeviceRecord> LoadCaller(const HttpRequest& req);
  EnrollmentService Enrolling() { return {store, config, ca_pem}; }
  struct Reference {
    ReleaseManifest manifest;
    bool revoked = false;
    std::string pcr_selection;  // FormatPcrSelection of the manifest's plan
  };
  // Shared and immutable: the hot path copies no manifest.
  Result<std::shared_ptr<const Reference>> LoadReference(const DeviceRecord& device);
  Result<std::pair<Bytes, int64_t>> NewNonce(const std::string& device_id);
  // The expiry of a nonce this PVE issued to `device_id`, if it is one and
  // has not expired; kPolicyNonce otherwise.
  Result<int64_t> CheckNonce(const std::string& device_id, ByteView nonce, int64_t now) const;
  // The nonce must be one the PVE issued to this device, unused and unexpired,
  // unless `nonce_checked` (the OAM's order nonce, step 9). With
  // `offer_next_nonce`, the answer carries the device's next nonce. The
  // quote must be over `qualifying_data` when given (a renewal's), else over
  // the nonce itself.
  Result<Prepared> Appraise(const DeviceRecord& device, const Evidence& evidence, ByteView nonce,
                            bool nonce_checked, bool offer_next_nonce,
                            ByteView qualifying_data = {});
  // The answer once the store recorded (or refused) the appraisal.
  HttpResponse Answer(const Prepared& p, const Result<int64_t>& id);
  // Counts a recorded appraisal's verdict for the metrics.
  void CountVerdict(ArStatus verdict);
  Result<HttpResponse> AppraiseAndRecord(const DeviceRecord& device, const Evidence& evidence,
                                         ByteView nonce, bool nonce_checked = false);
  // {nonce, expires_at, pcr_selection} for the device's next push.
  Result<NonceAnswer> NextNonce(const DeviceRecord& device, const Reference& reference);
  void Count(const HttpResponse& response);
  // The appraiser's view of evidence from the wire.
  static Evidence EvidenceOf(EvidenceMessage message);
  void MaybePurge(int64_t now);

  Store& store;
  PveConfig config;
  Appraiser appraiser;
  std::string ca_pem;
  // The results this PVE signed or has checked (StoredClaims).
  KnownResults known_results{config.ear_key.Public()};

  Mutex cache_mu;
  struct CachedReference {
    std::shared_ptr<const Reference> reference;
    int64_t fetched_millis = 0;  // config.env's steady clock
  };
  std::map<std::pair<std::string, std::string>, CachedReference> references GUARDED_BY(cache_mu);

  std::atomic<int64_t> last_purge{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> affirming{0}, warning{0}, contraindicated{0};
  std::atomic<uint64_t> client_errors{0}, server_errors{0};
  // The SeGW's questions (access_decision.cc): decisions given, and
  // refusals given although the audit log could not record them.
  std::atomic<uint64_t> gateway_admits{0}, gateway_refusals{0}, gateway_audit_failures{0};

  // The last gateway decision audited per device: the same decision (same
  // gateway, event and detail) again within kGatewayAuditRepeat seconds is
  // not recorded again, so a device that reconnects in a loop cannot flood
  // the audit log (docs/segw.md).
  struct AuditedDecision {
    std::string actor;
    std::string event;
    std::string detail;
    int64_t at = 0;
  };
  Mutex gateway_audit_mu;
  std::map<std::string, AuditedDecision> gateway_audited GUARDED_BY(gateway_audit_mu);
  // Whether the same decision about the device was recorded less than
  // kGatewayAuditRepeat seconds ago.
  bool GatewayAuditRecent(const std::string& device_id, const AuditedDecision& decision)
      EXCLUDES(gateway_audit_mu);
  // Remembers the decision just recorded; nullopt forgets the device's.
  void RememberGatewayAudit(const std::string& device_id, std::optional<AuditedDecision> decision)
      EXCLUDES(gateway_audit_mu);

  // Pushes whose record the store has not committed yet: the service
  // outlives them (~Impl waits).
  Mutex pending_mu;
  std::condition_variable pending_cv;
  int pushes_pending GUARDED_BY(pending_mu) = 0;

  const Router router{Routes()};

  // Requests that may block; last, so that it finishes its work (and joins)
  // before anything that work uses goes.
  WorkerPool blocking{config.blocking_threads};

  // Whether the calling thread answers `req` (HandleAsync): health and
  // metrics; a device's push and nonce request, the hot path, when the store
  // is local (its reads wait on no other process, its commits on no thread
  // of ours). On a database server they are round trips: to the pool.
  bool AnswersOnCaller(const HttpRequest& req) const {
    const std::string_view t = req.target;
    if (t == "/healthz" || t == "/metrics") return true;
    return store.Local() && (t == "/v1/evidence" || t == "/v1/nonces");
  }
  void HandleNow(const HttpRequest& request, HttpResponder respond);

  ~Impl() {
    MutexLock lock(pending_mu);
    while (pushes_pending != 0) lock.Wait(pending_cv);
  }
};

}  // namespace henbtrust
