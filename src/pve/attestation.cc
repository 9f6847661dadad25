#include "pve/service_impl.h"

#include "henbtrust/core/json_text.h"

namespace henbtrust {

namespace {

using namespace api;

Result<AnswerText> ResultText(const AppraisalResult& r, const std::string& token,
                              const std::string& next_nonce) {
  AnswerText a;
  std::string& t = a.text;
  t.reserve(token.size() + next_nonce.size() + 512 + 96 * r.components.size());
  JsonObjectWriter out(t);
  out.Key("appraisal_id");
  a.id_at = t.size();
  out.String("attestation_result", token).Key("components");
  t += '[';
  for (size_t i = 0; i < r.components.size(); ++i) {
    const auto& c = r.components[i];
    if (i > 0) t += ',';
    JsonObjectWriter v(t);
    if (!c.detail.empty()) v.String("detail", c.detail);
    v.String("id", c.id).String("status", ArStatusName(c.status)).String("version", c.version);
    v.Close();
    if (!v.ok()) return Error(ErrorCode::kInternal, "component text is not UTF-8");
  }
  t += ']';
  if (!r.detail.empty()) out.String("detail", r.detail);
  out.String("device_id", r.device_id);
  if (r.evidence_error) {
    // The evidence did not verify: a client error, with the signed result kept.
    out.Key("error");
    JsonObjectWriter e(t);
    e.String("code", ErrorCodeName(*r.evidence_error)).String("message", r.detail).Close();
    if (!e.ok()) return Error(ErrorCode::kInternal, "result text is not UTF-8");
  }
  if (!next_nonce.empty()) {
    out.Key("next_nonce");
    t += next_nonce;
  }
  out.String("release", r.release_version).String("status", ArStatusName(r.status));
  out.Key("submods");
  {
    JsonObjectWriter submods(t);
    for (const auto& [name, status] : r.submodules) submods.String(name, ArStatusName(status));
    submods.Close();
    if (!submods.ok()) return Error(ErrorCode::kInternal, "submodule name is not UTF-8");
  }
  out.String("tim", HexEncode(r.tim)).Close();
  if (!out.ok()) return Error(ErrorCode::kInternal, "result text is not UTF-8");
  return a;
}

}  // namespace

Result<Evidence> PveService::Impl::EvidenceFrom(const Json& body, Bytes* nonce) {
  Evidence e;
  HENB_ASSIGN_OR_RETURN(*nonce, Base64Field(body, "nonce", 64));
  HENB_ASSIGN_OR_RETURN(e.attest, Base64Field(body, "attest", kMaxTpmStructure));
  HENB_ASSIGN_OR_RETURN(e.signature, Base64Field(body, "signature", kMaxTpmStructure));
  HENB_ASSIGN_OR_RETURN(e.event_log, Base64Field(body, "event_log", kMaxEventLog, false));
  return e;
}

Result<PveService::Impl::Prepared> PveService::Impl::PushEvidence(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(std::string claimed, TextField(body, "device_id", 64, false));
  if (!claimed.empty() && claimed != req.peer.common_name) {
    return Error(
        ErrorCode::kNetForbidden,
        "evidence for " + claimed + " sent with the certificate of " + req.peer.common_name);
  }
  Bytes nonce;
  HENB_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFrom(body, &nonce));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadCaller(req));
  // The nonce for the device's next push comes with this result, so that a
  // device attesting again within the nonce lifetime needs one request, not
  // two (the nonce is the same as one from POST /v1/nonces).
  return Appraise(device, evidence, nonce, /*nonce_checked=*/false, /*offer_next_nonce=*/true);
}

Result<PveService::Impl::Prepared> PveService::Impl::Appraise(const DeviceRecord& device,
                                                              const Evidence& evidence,
                                                              ByteView nonce, bool nonce_checked,
                                                              bool offer_next_nonce) {
  const int64_t now = config.now();
  int64_t nonce_expires_at = 0;
  if (!nonce_checked) {
    HENB_ASSIGN_OR_RETURN(nonce_expires_at, CheckNonce(device.device_id, nonce, now));
  }
  HENB_ASSIGN_OR_RETURN(auto ref, LoadReference(device));
  HENB_ASSIGN_OR_RETURN(AppraisalResult r, appraiser.Appraise(device, ref->manifest, ref->revoked,
                                                              evidence, nonce, now));
  HENB_ASSIGN_OR_RETURN(std::string token, EncodeEar(r, config.ear_key, config.verifier_id));
  std::string next_nonce;
  if (offer_next_nonce) {
    HENB_ASSIGN_OR_RETURN(next_nonce, NextNonce(device, *ref));
  }
  Prepared p;
  HENB_ASSIGN_OR_RETURN(p.answer, ResultText(r, token, next_nonce));
  p.status = r.evidence_error ? 422 : 200;
  p.verdict = r.status;
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
  switch (p.verdict) {
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
  return {p.status, "application/json", p.answer.With(*id), {}};
}

Result<HttpResponse> PveService::Impl::AppraiseAndRecord(const DeviceRecord& device,
                                                         const Evidence& evidence, ByteView nonce,
                                                         bool nonce_checked) {
  HENB_ASSIGN_OR_RETURN(Prepared p, Appraise(device, evidence, nonce, nonce_checked, false));
  return Answer(p, store.RecordAppraisal(p.record));
}

}  // namespace henbtrust
