#include "henbtrust/segw/access_check.h"

#include <algorithm>

#include "henbtrust/net/api.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

namespace {

AccessVerdict ByPolicy(const AccessQuestion& q, const std::string& why) {
  const bool admit = q.unreachable == UnreachablePolicy::kAdmit;
  return AccessVerdict{admit, false,
                       std::string(admit ? "admit " : "refuse ") + q.device_id + ": " + why +
                           "; policy --unreachable " +
                           std::string(UnreachablePolicyName(q.unreachable))};
}

bool IsHexSerial(std::string_view s) {
  if (s.empty() || s.size() > kMaxCertificateSerialBytes) return false;
  return std::ranges::all_of(s, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

}  // namespace

Result<UnreachablePolicy> ParseUnreachablePolicy(const std::string& text) {
  if (text == "admit") return UnreachablePolicy::kAdmit;
  if (text == "refuse") return UnreachablePolicy::kRefuse;
  return Error(ErrorCode::kInvalidArgument,
               "the unreachable policy is admit or refuse, not '" + text + "'");
}

std::string_view UnreachablePolicyName(UnreachablePolicy policy) {
  return policy == UnreachablePolicy::kAdmit ? "admit" : "refuse";
}

std::string AccessDecisionTarget(const AccessQuestion& q) {
  std::string target = "/v1/devices/" + q.device_id + "/access-decision?occasion=";
  target += q.recheck ? "recheck" : "connect";
  if (q.max_age > 0) target += "&max_age=" + std::to_string(q.max_age);
  if (!q.certificate_serial.empty()) target += "&certificate_serial=" + q.certificate_serial;
  return target;
}

Result<AccessVerdict> CheckAccess(const PveGet& get, const AccessQuestion& q) {
  if (!api::IsValidDeviceId(q.device_id)) {
    return Error(ErrorCode::kInvalidArgument, "'" + q.device_id + "' is not a device id");
  }
  if (q.max_age < 0) return Error(ErrorCode::kInvalidArgument, "max age below 0");
  if (!q.certificate_serial.empty() && !IsHexSerial(q.certificate_serial)) {
    return Error(ErrorCode::kInvalidArgument,
                 "certificate serial '" + q.certificate_serial + "' is not hex");
  }
  auto answer = get(AccessDecisionTarget(q));
  if (!answer.ok()) {
    // A PVE whose certificate does not verify is not unreachable: someone
    // else answered, or the gateway trusts the wrong CA.
    if (answer.error().code() == ErrorCode::kNetTls) return answer.error();
    AccessVerdict verdict =
        ByPolicy(q, "the PVE cannot be reached (" + answer.error().ToString() + ")");
    verdict.reached = false;
    return verdict;
  }
  if (answer->status >= 500) {
    std::string detail = "the PVE answered " + std::to_string(answer->status);
    if (auto e = DecodeErrorAnswer(answer->body))
      detail += " (" + e->code + ": " + e->message + ")";
    return ByPolicy(q, detail);
  }
  if (answer->status != 200) {
    std::string detail = "the PVE refused the question with " + std::to_string(answer->status);
    ErrorCode code = ErrorCode::kNetStatus;
    if (answer->status == 403) code = ErrorCode::kNetForbidden;
    if (answer->status == 400) code = ErrorCode::kNetBadRequest;
    if (auto e = DecodeErrorAnswer(answer->body)) detail += ": " + e->code + ": " + e->message;
    return Error(code, detail);
  }
  HENB_ASSIGN_OR_RETURN(AccessDecisionAnswer decision, DecodeAccessDecision(answer->body));
  if (decision.device_id != q.device_id) {
    return Error(ErrorCode::kNetStatus,
                 "the PVE answered about " + decision.device_id + ", not " + q.device_id);
  }
  const bool admit = decision.decision == "admit";
  std::string line =
      std::string(admit ? "admit " : "refuse ") + q.device_id + ": " + decision.reason;
  if (admit && decision.status)
    line += " (appraisal " + std::to_string(decision.appraisal_id) + ")";
  return AccessVerdict{admit, true, std::move(line)};
}

}  // namespace henbtrust
