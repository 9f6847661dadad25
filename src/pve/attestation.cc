#include "pve/service_impl.h"

#include <optional>

namespace henbtrust {

namespace {

using namespace api;

// The wire form of an appraisal's answer; `next_nonce` only for a push.
AttestationResultAnswer AnswerOf(const AppraisalResult& r, std::string token,
                                 std::optional<NonceAnswer> next_nonce) {
  AttestationResultAnswer a;
  a.attestation_result = std::move(token);
  a.components.reserve(r.components.size());
  for (const auto& c : r.components) {
    a.components.push_back({c.id, std::string(ArStatusName(c.status)), c.version, c.detail});
  }
  a.detail = r.detail;
  a.device_id = r.device_id;
  if (r.evidence_error) {
    // The evidence did not verify: a client error, with the signed result kept.
    a.error_code = std::string(ErrorCodeName(*r.evidence_error));
    a.error_message = r.detail;
  }
  a.next_nonce = std::move(next_nonce);
  a.release = r.release_version;
  a.status = std::string(ArStatusName(r.status));
  for (const auto& [name, status] : r.submodules) {
    a.submods.emplace_back(name, std::string(ArStatusName(status)));
  }
  a.tim = HexEncode(r.tim);
  a.vector = r.vector;
  return a;
}

}  // namespace

Evidence PveService::Impl::EvidenceOf(EvidenceMessage message) {
  Evidence e;
  e.attest = std::move(message.attest);
  e.signature = std::move(message.signature);
  e.event_log = std::move(message.event_log);
  e.boot_stage_attest = std::move(message.boot_stage_attest);
  e.boot_stage_signature = std::move(message.boot_stage_signature);
  return e;
}

Result<PveService::Impl::Prepared> PveService::Impl::PushEvidence(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(EvidenceMessage message, DecodeEvidence(body));
  if (!message.device_id.empty() && message.device_id != req.peer.common_name) {
    return Error(ErrorCode::kNetForbidden, "evidence for " + message.device_id +
                                               " sent with the certificate of " +
                                               req.peer.common_name);
  }
  const Bytes nonce = message.nonce;
  const Evidence evidence = EvidenceOf(std::move(message));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadCaller(req));
  // The nonce for the device's next push comes with this result, so that a
  // device attesting again within the nonce lifetime needs one request, not
  // two (the nonce is the same as one from POST /v1/nonces).
  return Appraise(device, evidence, nonce, /*nonce_checked=*/false, /*offer_next_nonce=*/true);
}

Result<PveService::Impl::Prepared> PveService::Impl::Appraise(const DeviceRecord& device,
                                                              const Evidence& evidence,
                                                              ByteView nonce, bool nonce_checked,
                                                              bool offer_next_nonce,
                                                              ByteView qualifying_data) {
  const int64_t now = config.now();
  int64_t nonce_expires_at = 0;
  if (!nonce_checked) {
    HENB_ASSIGN_OR_RETURN(nonce_expires_at, CheckNonce(device.device_id, nonce, now));
  }
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(AppraisalResult r,
                        appraiser.Appraise(device, ref->manifest, ref->revoked, evidence,
                                           qualifying_data.empty() ? nonce : qualifying_data, now));
  HENB_ASSIGN_OR_RETURN(std::string token, EncodeEar(r, config.ear_key, config.verifier_id));
  known_results.Remember(token);
  std::optional<NonceAnswer> next_nonce;
  if (offer_next_nonce) {
    HENB_ASSIGN_OR_RETURN(next_nonce, NextNonce(device, *ref));
  }
  Prepared p;
  HENB_ASSIGN_OR_RETURN(p.answer,
                        EncodeAttestationResult(AnswerOf(r, token, std::move(next_nonce))));
  p.status = r.evidence_error ? 422 : 200;
  p.verdict = r.status;
  p.detail = r.detail;
  p.record = {0, device.device_id, std::string(ArStatusName(r.status)), std::move(token), now};
  // Spent together with the record: of two instances racing with one
  // nonce, exactly one records a result.
  if (!nonce_checked) p.record.spent_nonce.assign(nonce.begin(), nonce.end());
  p.record.nonce_expires_at = nonce_expires_at;
  if (!r.evidence_error) {
    p.record.advance_clock = true;
    p.record.reset_count = r.clock.reset_count;
    p.record.clock = r.clock.clock;
  }
  return p;
}

HttpResponse PveService::Impl::Answer(const Prepared& p, const Result<int64_t>& id) {
  if (!id.ok()) return ErrorResponse(id.error());
  CountVerdict(p.verdict);
  return {p.status, "application/json", p.answer.With(*id), {}};
}

void PveService::Impl::CountVerdict(ArStatus verdict) {
  switch (verdict) {
    case ArStatus::kAffirming:
      affirming.fetch_add(1, std::memory_order_relaxed);
      break;
    case ArStatus::kWarning:
      warning.fetch_add(1, std::memory_order_relaxed);
      break;
    case ArStatus::kContraindicated:
      contraindicated.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

Result<HttpResponse> PveService::Impl::AppraiseAndRecord(const DeviceRecord& device,
                                                         const Evidence& evidence, ByteView nonce,
                                                         bool nonce_checked) {
  HENB_ASSIGN_OR_RETURN(Prepared p, Appraise(device, evidence, nonce, nonce_checked, false));
  return Answer(p, store.RecordAppraisal(p.record));
}

}  // namespace henbtrust
