#include "henbtrust/net/pve_protocol.h"

#include <charconv>
#include <limits>

#include "henbtrust/core/json_fields.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/net/api.h"

namespace henbtrust {

namespace {

using Json = nlohmann::json;

// The answers a device or the OAM reads: a peer's fault is kNetStatus.
Error BadAnswer(const std::string& what) {
  return Error(ErrorCode::kNetStatus, "the PVE's answer: " + what);
}

template <typename T>
Result<T> AsAnswer(Result<T> read) {
  if (read.ok()) return read;
  return BadAnswer(read.error().message());
}

// An answer's text as a JSON object, within what an HTTP body may hold.
Result<Json> AnswerObject(std::string_view text) {
  return AsAnswer(json_fields::ParseObject(text, "the answer", kMaxPveAnswerBytes));
}

// An integer member that fits int64_t; nullopt when absent, null, of
// another type or out of range. Lenient, for the nonce's expires_at, which
// NonceFromText reads the same way (the differential tests hold them to it);
// everything else reads integers with RequiredInt.
std::optional<int64_t> IntMember(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}

// The optional "trustworthiness_vector" member (absent or null: no claims).
Result<TrustVector> VectorMember(const Json& body) {
  auto it = body.find("trustworthiness_vector");
  if (it == body.end() || it->is_null()) return TrustVector();
  return AsAnswer(TrustVectorFromJson(*it));
}

Result<int64_t> RequiredInt(const Json& body, const char* name) {
  return AsAnswer(json_fields::Int(body, name, INT64_MIN, INT64_MAX));
}

// Text of a JSON string as a sure scan gives it: between its quotes.
std::optional<std::string_view> ScannedString(const JsonMemberScan& m) {
  if (!m.found || m.value.size() < 2 || m.value.front() != '"') return std::nullopt;
  return m.value.substr(1, m.value.size() - 2);
}

// What both ways of reading a nonce answer agree on, once they have its members.
Result<NonceAnswer> FinishNonce(std::optional<std::string_view> nonce,
                                std::optional<std::string_view> selection, int64_t expires_at) {
  if (!nonce) return BadAnswer("'nonce' is missing or not a string");
  NonceAnswer out;
  out.expires_at = expires_at;
  auto decoded = Base64Decode(*nonce);
  if (!decoded.ok()) return BadAnswer("'nonce' is not base64");
  out.nonce = std::move(decoded).value();
  if (out.nonce.empty() || out.nonce.size() > kMaxNonceBytes)
    return BadAnswer("the nonce has a bad size");
  if (!selection) return BadAnswer("'pcr_selection' is missing or not a string");
  if (selection->size() > kMaxPcrSelectionBytes) return BadAnswer("'pcr_selection' is too long");
  out.pcr_selection = std::string(*selection);
  return out;
}

Result<NonceAnswer> NonceFromJson(const Json& n) {
  if (!n.is_object()) return BadAnswer("the nonce is not a JSON object");
  auto string_of = [&n](const char* name) -> std::optional<std::string_view> {
    auto it = n.find(name);
    if (it == n.end() || !it->is_string()) return std::nullopt;
    return it->get_ref<const std::string&>();
  };
  return FinishNonce(string_of("nonce"), string_of("pcr_selection"),
                     IntMember(n, "expires_at").value_or(0));
}

// NonceFromJson, read from the object's text without a document: nullopt
// where the scan is not sure of all three members, or expires_at is a
// number that is not an int64_t, for NonceFromJson to decide.
std::optional<Result<NonceAnswer>> NonceFromText(std::string_view text) {
  const JsonMemberScan nonce = ScanJsonMember(text, "nonce");
  const JsonMemberScan selection = ScanJsonMember(text, "pcr_selection");
  const JsonMemberScan expires = ScanJsonMember(text, "expires_at");
  if (!nonce.sure || !selection.sure || !expires.sure) return std::nullopt;
  int64_t expires_at = 0;
  if (expires.found && expires.value.front() != '"' && expires.value.front() != '{' &&
      expires.value.front() != '[') {
    const char* end = expires.value.data() + expires.value.size();
    const auto [at, ec] = std::from_chars(expires.value.data(), end, expires_at);
    if (ec != std::errc() || at != end) return std::nullopt;
  }
  return FinishNonce(ScannedString(nonce), ScannedString(selection), expires_at);
}

void PutEvidenceMembers(JsonObjectWriter& out, const EvidenceMessage& e,
                        std::string_view event_log_base64) {
  out.String("attest", Base64Encode(e.attest));
  if (!e.boot_stage_attest.empty()) {
    out.String("boot_stage_attest", Base64Encode(e.boot_stage_attest))
        .String("boot_stage_signature", Base64Encode(e.boot_stage_signature));
  }
  if (!e.device_id.empty()) out.String("device_id", e.device_id);
  if (!event_log_base64.empty()) out.String("event_log", event_log_base64);
  out.String("nonce", Base64Encode(e.nonce)).String("signature", Base64Encode(e.signature));
}

std::string Dump(const Json& body) {
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<std::string> AnswerText(const Json& body, const char* name, size_t max_size,
                               bool required = true) {
  return AsAnswer(json_fields::Text(body, name, max_size, required));
}

}  // namespace

// --- nonces ------------------------------------------------------------------

std::string EncodeNonceAnswer(const NonceAnswer& a) {
  std::string out;
  out.reserve(96 + a.pcr_selection.size());
  JsonObjectWriter n(out);
  n.Int("expires_at", a.expires_at)
      .String("nonce", Base64Encode(a.nonce))
      .String("pcr_selection", a.pcr_selection)
      .Close();
  return out;
}

Result<NonceAnswer> DecodeNonceAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json n, AnswerObject(text));
  return NonceFromJson(n);
}

Result<std::optional<NonceAnswer>> DecodeNextNonce(std::string_view result_text) {
  // Most of the answer is the signed result, which the device does not read:
  // find the member without building a document of all of it.
  Json next_nonce;
  const JsonMemberScan scan = ScanJsonMember(result_text, "next_nonce");
  if (scan.sure) {
    if (!scan.found) return std::optional<NonceAnswer>();
    if (scan.value.front() != '{') return BadAnswer("'next_nonce' is not a JSON object");
    if (auto quick = NonceFromText(scan.value)) {
      HENB_ASSIGN_OR_RETURN(NonceAnswer n, std::move(*quick));
      return std::optional<NonceAnswer>(std::move(n));
    }
    next_nonce = api::ParseUntrustedJson(scan.value);
  } else {
    Json result = api::ParseUntrustedJson(result_text);
    if (!result.is_object()) return BadAnswer("not a JSON object");
    auto it = result.find("next_nonce");
    if (it == result.end()) return std::optional<NonceAnswer>();
    next_nonce = std::move(*it);
  }
  HENB_ASSIGN_OR_RETURN(NonceAnswer n, NonceFromJson(next_nonce));
  return std::optional<NonceAnswer>(std::move(n));
}

// --- evidence ----------------------------------------------------------------

std::string EncodeEvidence(const EvidenceMessage& e) {
  return EncodeEvidence(e, e.event_log.empty() ? std::string() : Base64Encode(e.event_log));
}

std::string EncodeEvidence(const EvidenceMessage& e, std::string_view event_log_base64) {
  // Written as text: the event log is most of it, and base64 needs no escapes.
  std::string body;
  body.reserve(event_log_base64.size() + 4 * (e.attest.size() + e.signature.size()) / 3 + 128);
  JsonObjectWriter out(body);
  PutEvidenceMembers(out, e, event_log_base64);
  out.Close();
  return body;
}

Result<EvidenceMessage> DecodeEvidence(const Json& body) {
  EvidenceMessage e;
  HENB_ASSIGN_OR_RETURN(
      e.device_id, json_fields::Text(body, "device_id", kMaxDeviceIdBytes, /*required=*/false));
  HENB_ASSIGN_OR_RETURN(e.nonce, json_fields::Base64(body, "nonce", kMaxNonceBytes));
  HENB_ASSIGN_OR_RETURN(e.attest, json_fields::Base64(body, "attest", kMaxTpmStructureBytes));
  HENB_ASSIGN_OR_RETURN(e.signature, json_fields::Base64(body, "signature", kMaxTpmStructureBytes));
  HENB_ASSIGN_OR_RETURN(e.event_log,
                        json_fields::Base64(body, "event_log", kMaxEventLogBytes, false));
  HENB_ASSIGN_OR_RETURN(e.boot_stage_attest, json_fields::Base64(body, "boot_stage_attest",
                                                                 kMaxTpmStructureBytes, false));
  HENB_ASSIGN_OR_RETURN(e.boot_stage_signature, json_fields::Base64(body, "boot_stage_signature",
                                                                    kMaxTpmStructureBytes, false));
  if (e.boot_stage_attest.empty() != e.boot_stage_signature.empty()) {
    return api::BadRequest("boot_stage_attest and boot_stage_signature come together");
  }
  if (!e.boot_stage_attest.empty() && e.event_log.empty()) {
    return api::BadRequest("a boot stage quote needs the event log that explains it");
  }
  return e;
}

Result<EvidenceMessage> DecodeEvidenceAnswer(std::string_view text) {
  Json body = api::ParseUntrustedJson(text);
  if (!body.is_object()) {
    return Error(ErrorCode::kNetStatus,
                 "the device agent answered with something that is not JSON");
  }
  return DecodeEvidence(body);
}

// --- pull --------------------------------------------------------------------

std::string EncodeIntegrityRequest(const IntegrityRequest& r) {
  std::string out;
  JsonObjectWriter w(out);
  w.String("nonce", Base64Encode(r.nonce)).String("pcr_selection", r.pcr_selection).Close();
  return out;
}

Result<IntegrityRequest> DecodeIntegrityRequest(std::string_view text) {
  const Json body = api::ParseUntrustedJson(text);
  auto nonce = body.is_object() ? body.find("nonce") : body.end();
  auto selection = body.is_object() ? body.find("pcr_selection") : body.end();
  if (!body.is_object() || nonce == body.end() || !nonce->is_string() || selection == body.end() ||
      !selection->is_string()) {
    return api::BadRequest("expected {nonce, pcr_selection}");
  }
  IntegrityRequest r;
  auto decoded = Base64Decode(nonce->get_ref<const std::string&>());
  if (!decoded.ok() || decoded->empty() || decoded->size() > kMaxNonceBytes)
    return api::BadRequest("bad nonce");
  r.nonce = std::move(decoded).value();
  r.pcr_selection = selection->get<std::string>();
  if (r.pcr_selection.size() > kMaxPcrSelectionBytes)
    return api::BadRequest("pcr_selection is too long");
  return r;
}

// --- step 9 ------------------------------------------------------------------

std::string EncodeUpdateAppraisalRequest(const UpdateAppraisalRequest& r) {
  std::string body;
  JsonObjectWriter out(body);
  const std::string log = r.evidence.event_log.empty() ? "" : Base64Encode(r.evidence.event_log);
  PutEvidenceMembers(out, r.evidence, log);
  out.String("release_id", r.release_id).String("version", r.version).Close();
  if (out.ok()) return body;
  // A release name that is not UTF-8: written with U+FFFD, which the PVE refuses.
  Json j = api::ParseUntrustedJson(EncodeEvidence(r.evidence));
  j["release_id"] = r.release_id;
  j["version"] = r.version;
  return Dump(j);
}

Result<UpdateAppraisalRequest> DecodeUpdateAppraisalRequest(const Json& body) {
  UpdateAppraisalRequest r;
  HENB_ASSIGN_OR_RETURN(r.release_id, json_fields::Text(body, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(r.version, json_fields::Text(body, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.evidence, DecodeEvidence(body));
  if (r.evidence.nonce.size() < kMinOrderNonceBytes) {
    return api::BadRequest("an order nonce has at least " + std::to_string(kMinOrderNonceBytes) +
                           " bytes");
  }
  return r;
}

std::string EncodeConfiguration(const ConfigurationMessage& m) {
  Json body = {{"release_id", m.release_id}, {"version", m.version}};
  if (!m.device_id.empty()) body["device_id"] = m.device_id;
  return Dump(body);
}

Result<ConfigurationMessage> DecodeConfiguration(const Json& body) {
  ConfigurationMessage m;
  HENB_ASSIGN_OR_RETURN(m.device_id,
                        json_fields::Text(body, "device_id", kMaxDeviceIdBytes, false));
  HENB_ASSIGN_OR_RETURN(m.release_id, json_fields::Text(body, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(m.version, json_fields::Text(body, "version", kMaxReleaseVersionBytes));
  return m;
}

std::string EncodeRevocationRequest(const RevocationRequest& r) {
  return Dump({{"reason", r.reason}});
}

Result<RevocationRequest> DecodeRevocationRequest(const Json& body) {
  RevocationRequest r;
  HENB_ASSIGN_OR_RETURN(r.reason, json_fields::Text(body, "reason", kMaxReasonBytes));
  if (r.reason.empty()) return api::BadRequest("a revocation needs a reason");
  return r;
}

// --- results -----------------------------------------------------------------

std::string AttestationResultText::With(int64_t appraisal_id) const {
  const std::string number = std::to_string(appraisal_id);
  std::string out;
  out.reserve(text.size() + number.size());
  out.append(text, 0, id_at).append(number).append(text, id_at);
  return out;
}

Result<AttestationResultText> EncodeAttestationResult(const AttestationResultAnswer& r) {
  AttestationResultText a;
  std::string& t = a.text;
  t.reserve(r.attestation_result.size() + 512 + 96 * r.components.size());
  JsonObjectWriter out(t);
  out.Key("appraisal_id");
  a.id_at = t.size();
  out.String("attestation_result", r.attestation_result).Key("components");
  t += '[';
  for (size_t i = 0; i < r.components.size(); ++i) {
    const auto& c = r.components[i];
    if (i > 0) t += ',';
    JsonObjectWriter v(t);
    if (!c.detail.empty()) v.String("detail", c.detail);
    v.String("id", c.id).String("status", c.status).String("version", c.version);
    v.Close();
    if (!v.ok()) return Error(ErrorCode::kInternal, "component text is not UTF-8");
  }
  t += ']';
  if (!r.detail.empty()) out.String("detail", r.detail);
  out.String("device_id", r.device_id);
  if (!r.error_code.empty()) {
    out.Key("error");
    JsonObjectWriter e(t);
    e.String("code", r.error_code).String("message", r.error_message).Close();
    if (!e.ok()) return Error(ErrorCode::kInternal, "result text is not UTF-8");
  }
  if (r.next_nonce) {
    out.Key("next_nonce");
    t += EncodeNonceAnswer(*r.next_nonce);
  }
  out.String("release", r.release).String("status", r.status);
  out.Key("submods");
  {
    JsonObjectWriter submods(t);
    for (const auto& [name, status] : r.submods) submods.String(name, status);
    submods.Close();
    if (!submods.ok()) return Error(ErrorCode::kInternal, "submodule name is not UTF-8");
  }
  out.String("tim", r.tim).Key("trustworthiness_vector");
  AppendTrustVectorJson(r.vector, t, ClaimOrder::kNames);
  out.Close();
  if (!out.ok()) return Error(ErrorCode::kInternal, "result text is not UTF-8");
  return a;
}

Result<AttestationResultAnswer> DecodeAttestationResult(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json body, AnswerObject(text));
  AttestationResultAnswer r;
  HENB_ASSIGN_OR_RETURN(r.appraisal_id, RequiredInt(body, "appraisal_id"));
  HENB_ASSIGN_OR_RETURN(r.attestation_result,
                        AnswerText(body, "attestation_result", kMaxAttestationTokenBytes));
  HENB_ASSIGN_OR_RETURN(r.detail, AnswerText(body, "detail", kMaxDetailBytes, false));
  HENB_ASSIGN_OR_RETURN(r.device_id, AnswerText(body, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(r.release, AnswerText(body, "release", kMaxReleaseVersionBytes, false));
  HENB_ASSIGN_OR_RETURN(r.status, AnswerText(body, "status", kMaxStatusBytes));
  HENB_ASSIGN_OR_RETURN(r.tim, AnswerText(body, "tim", size_t{2} * 64));
  HENB_ASSIGN_OR_RETURN(r.vector, VectorMember(body));
  if (auto it = body.find("components"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return BadAnswer("'components' is not an array");
    for (const Json& c : *it) {
      if (!c.is_object()) return BadAnswer("a component is not an object");
      ComponentAnswer v;
      HENB_ASSIGN_OR_RETURN(v.id, AnswerText(c, "id", kMaxReleaseIdBytes));
      HENB_ASSIGN_OR_RETURN(v.status, AnswerText(c, "status", kMaxStatusBytes));
      HENB_ASSIGN_OR_RETURN(v.version, AnswerText(c, "version", kMaxReleaseVersionBytes));
      HENB_ASSIGN_OR_RETURN(v.detail, AnswerText(c, "detail", kMaxDetailBytes, false));
      r.components.push_back(std::move(v));
    }
  }
  if (auto it = body.find("submods"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return BadAnswer("'submods' is not an object");
    for (const auto& [name, status] : it->items()) {
      if (!status.is_string() || status.get_ref<const std::string&>().size() > kMaxStatusBytes)
        return BadAnswer("submodule " + name + " has no status");
      r.submods.emplace_back(name, status.get<std::string>());
    }
  }
  if (auto it = body.find("error"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return BadAnswer("'error' is not an object");
    HENB_ASSIGN_OR_RETURN(r.error_code, AnswerText(*it, "code", kMaxStatusBytes * 2));
    HENB_ASSIGN_OR_RETURN(r.error_message, AnswerText(*it, "message", kMaxDetailBytes, false));
  }
  if (auto it = body.find("next_nonce"); it != body.end() && !it->is_null()) {
    HENB_ASSIGN_OR_RETURN(NonceAnswer n, NonceFromJson(*it));
    r.next_nonce = std::move(n);
  }
  return r;
}

namespace {

Json LatestResultJson(const LatestResultAnswer& a) {
  Json out = {{"device_id", a.device_id},
              {"appraisal_id", a.appraisal_id},
              {"status", a.status},
              {"appraised_at", a.appraised_at},
              {"attestation_result", a.attestation_result},
              {"trustworthiness_vector", TrustVectorToJson(a.vector)}};
  if (!a.tim.empty()) out["tim"] = a.tim;
  if (!a.ticket_key.empty()) out["ticket_key"] = a.ticket_key;
  return out;
}

Result<LatestResultAnswer> LatestResultFromJson(const Json& body) {
  if (!body.is_object()) return BadAnswer("a result is not an object");
  LatestResultAnswer a;
  HENB_ASSIGN_OR_RETURN(a.device_id, AnswerText(body, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(a.appraisal_id, RequiredInt(body, "appraisal_id"));
  HENB_ASSIGN_OR_RETURN(a.status, AnswerText(body, "status", kMaxStatusBytes));
  HENB_ASSIGN_OR_RETURN(a.appraised_at, RequiredInt(body, "appraised_at"));
  HENB_ASSIGN_OR_RETURN(a.attestation_result,
                        AnswerText(body, "attestation_result", kMaxAttestationTokenBytes));
  HENB_ASSIGN_OR_RETURN(a.vector, VectorMember(body));
  HENB_ASSIGN_OR_RETURN(a.tim, AsAnswer(json_fields::Text(body, "tim", 64, false)));
  HENB_ASSIGN_OR_RETURN(a.ticket_key, AsAnswer(json_fields::Text(body, "ticket_key", 64, false)));
  return a;
}

}  // namespace

std::string EncodeLatestResult(const LatestResultAnswer& a) { return Dump(LatestResultJson(a)); }

Result<LatestResultAnswer> DecodeLatestResult(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json body, AnswerObject(text));
  return LatestResultFromJson(body);
}

std::string EncodeAppraisalList(const Page<LatestResultAnswer>& page) {
  Json list = Json::array();
  for (const auto& a : page.items) list.push_back(LatestResultJson(a));
  return Dump(
      {{"appraisals", std::move(list)}, {"next", page.next.empty() ? Json() : Json(page.next)}});
}

Result<Page<LatestResultAnswer>> DecodeAppraisalList(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(
      Json body, AsAnswer(json_fields::ParseObject(text, "the answer", kMaxAppraisalListBytes)));
  HENB_ASSIGN_OR_RETURN(const Json* list,
                        AsAnswer(json_fields::Array(body, "appraisals", kMaxPageSize)));
  Page<LatestResultAnswer> out;
  for (const Json& item : *list) {
    HENB_ASSIGN_OR_RETURN(LatestResultAnswer a, LatestResultFromJson(item));
    out.items.push_back(std::move(a));
  }
  HENB_ASSIGN_OR_RETURN(out.next,
                        AsAnswer(json_fields::Text(body, "next", kMaxCursorBytes, false)));
  return out;
}

std::string EncodeAccessDecision(const AccessDecisionAnswer& a) {
  Json out = {{"device_id", a.device_id}, {"decision", a.decision}, {"reason", a.reason}};
  if (a.certificate_serial) out["certificate_serial"] = *a.certificate_serial;
  if (a.max_age > 0) out["max_age"] = a.max_age;
  if (a.status) {
    out["status"] = *a.status;
    out["appraised_at"] = a.appraised_at;
    out["appraisal_id"] = a.appraisal_id;
    out["trustworthiness_vector"] = TrustVectorToJson(a.vector);
  }
  return Dump(out);
}

Result<AccessDecisionAnswer> DecodeAccessDecision(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json body, AnswerObject(text));
  AccessDecisionAnswer a;
  HENB_ASSIGN_OR_RETURN(a.device_id, AnswerText(body, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(a.decision, AnswerText(body, "decision", kMaxStatusBytes));
  if (a.decision != "admit" && a.decision != "quarantine")
    return BadAnswer("'decision' is neither admit nor quarantine");
  HENB_ASSIGN_OR_RETURN(a.reason, AnswerText(body, "reason", kMaxDetailBytes));
  if (auto it = body.find("certificate_serial"); it != body.end() && !it->is_null()) {
    HENB_ASSIGN_OR_RETURN(a.certificate_serial,
                          AnswerText(body, "certificate_serial", kMaxCertificateSerialBytes));
  }
  HENB_ASSIGN_OR_RETURN(a.max_age,
                        AsAnswer(json_fields::Int(body, "max_age", 0, INT64_MAX, false)));
  HENB_ASSIGN_OR_RETURN(std::string status, AnswerText(body, "status", kMaxStatusBytes, false));
  if (!status.empty()) {
    a.status = std::move(status);
    HENB_ASSIGN_OR_RETURN(a.appraised_at, RequiredInt(body, "appraised_at"));
    HENB_ASSIGN_OR_RETURN(a.appraisal_id, RequiredInt(body, "appraisal_id"));
    HENB_ASSIGN_OR_RETURN(a.vector, VectorMember(body));
  }
  return a;
}

std::optional<ErrorAnswer> DecodeErrorAnswer(std::string_view text) {
  const Json body = api::ParseUntrustedJson(text);
  if (!body.is_object()) return std::nullopt;
  auto it = body.find("error");
  if (it == body.end() || !it->is_object()) return std::nullopt;
  auto code = json_fields::Text(*it, "code", kMaxDetailBytes, false);
  auto message = json_fields::Text(*it, "message", kMaxDetailBytes * 4, false);
  if (!code.ok() || !message.ok()) return std::nullopt;
  return ErrorAnswer{std::move(code).value(), std::move(message).value()};
}

}  // namespace henbtrust
