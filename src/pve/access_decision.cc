// The security gateway's question (docs/segw.md): may this device have a
// tunnel now? The answer reads the device's record, its latest signed
// attestation result (status, trustworthiness vector, age) and whether the
// release it runs is revoked; a gateway's decisions are audited.
#include <optional>

#include "henbtrust/core/decimal.h"
#include "henbtrust/net/paging.h"
#include "pve/service_impl.h"

namespace henbtrust {

using namespace api;

namespace {

// A bound of more than ten years is a typing error, not a policy.
constexpr int64_t kMaxAgeBound = int64_t{10} * 365 * 86'400;
// The same gateway decision about a device is audited at most once in this
// many seconds.
constexpr int64_t kGatewayAuditRepeat = 60;
// Devices remembered for that; past it the memory starts again.
constexpr size_t kGatewayAuditMemory = 100'000;

struct DecisionQuery {
  std::string certificate_serial;  // "" : the gateway does not say
  int64_t max_age = 0;             // 0: the PVE's own bound only
  bool recheck = false;            // a tunnel already up, asked again on a period
};

Result<DecisionQuery> ParseDecisionQuery(std::string_view target) {
  DecisionQuery q;
  q.certificate_serial = QueryValue(target, "certificate_serial");
  if (q.certificate_serial.size() > kMaxCertificateSerialBytes) {
    return BadRequest("certificate_serial is too long");
  }
  // Serials are recorded as upper-case hex; a gateway may write either case.
  for (char& c : q.certificate_serial) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  if (const std::string text = QueryValue(target, "max_age"); !text.empty()) {
    const auto value = ParseDecimal(text);
    if (!value || *value == 0 || *value > static_cast<uint64_t>(kMaxAgeBound)) {
      return BadRequest("max_age must be a number of seconds from 1 to " +
                        std::to_string(kMaxAgeBound));
    }
    q.max_age = static_cast<int64_t>(*value);
  }
  const std::string occasion = QueryValue(target, "occasion");
  if (occasion == "recheck") {
    q.recheck = true;
  } else if (!occasion.empty() && occasion != "connect") {
    return BadRequest("occasion must be connect or recheck");
  }
  return q;
}

// The audit event of a gateway's decision, or "" for none: a recheck that
// keeps a tunnel up changes nothing and is not recorded (docs/segw.md).
std::string AuditEvent(const DecisionQuery& q, bool admit) {
  if (!q.recheck) return admit ? "access admitted" : "access refused";
  return admit ? "" : "access withdrawn";
}

}  // namespace

bool PveService::Impl::GatewayAuditRecent(const std::string& device_id,
                                          const AuditedDecision& decision) {
  MutexLock lock(gateway_audit_mu);
  auto it = gateway_audited.find(device_id);
  return it != gateway_audited.end() && it->second.actor == decision.actor &&
         it->second.event == decision.event && it->second.detail == decision.detail &&
         decision.at >= it->second.at && decision.at - it->second.at < kGatewayAuditRepeat;
}

void PveService::Impl::RememberGatewayAudit(const std::string& device_id,
                                            std::optional<AuditedDecision> decision) {
  MutexLock lock(gateway_audit_mu);
  if (!decision) {
    gateway_audited.erase(device_id);
    return;
  }
  if (gateway_audited.size() >= kGatewayAuditMemory) gateway_audited.clear();
  gateway_audited[device_id] = std::move(*decision);
}

Result<HttpResponse> PveService::Impl::AccessDecision(const HttpRequest& req,
                                                      const std::string& device_id) {
  if (!IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(DecisionQuery query, ParseDecisionQuery(req.target));
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(device_id));
  const int64_t now = config.now();
  // A tunnel lives as long as the device would be admitted: connect and
  // recheck bound the age alike.
  const int64_t max_age =
      query.max_age > 0 ? std::min(query.max_age, config.result_max_age) : config.result_max_age;
  std::string reason;
  AccessDecisionAnswer out;
  out.device_id = device_id;
  out.max_age = max_age;
  if (device) out.certificate_serial = device->certificate_serial;
  if (!device) {
    reason = "not enrolled";
  } else if (device->state != "enrolled") {
    reason = "device state is " + device->state;
  } else if (!query.certificate_serial.empty() &&
             !CheckDeviceCertificate(*device, query.certificate_serial).ok()) {
    reason = "certificate " + query.certificate_serial + " no longer speaks for the device";
  } else {
    HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device_id));
    // Read now, not from the appraiser's cache: a revocation quarantines at once.
    HENB_ASSIGN_OR_RETURN(auto manifest,
                          store.GetManifest(device->release_id, device->release_version));
    if (!latest) {
      reason = "never appraised";
    } else if (auto claims = StoredClaims(*latest, known_results); !claims.ok()) {
      reason = claims.error().message();
    } else if (claims->device_id != device_id) {
      // Signed by this PVE, but for another device: copied in the store.
      reason = "the latest attestation result is " + claims->device_id + "'s, not this device's";
    } else {
      out.status = std::string(ArStatusName(claims->status));
      out.appraised_at = claims->issued_at;  // signed, unlike the row's time
      out.appraisal_id = latest->id;
      out.vector = claims->vector;
      if (manifest && !manifest->revoked_reason.empty()) {
        reason =
            "release " + device->release_version + " is revoked (" + manifest->revoked_reason + ")";
      } else if (claims->status != ArStatus::kAffirming) {
        reason = "latest attestation result is " + *out.status + ": " +
                 DescribeTrustVector(claims->vector);
      } else if (claims->release_version != device->release_version) {
        reason = "the latest attestation result is of release " + claims->release_version +
                 ", the device is recorded on " + device->release_version;
      } else if (now - claims->issued_at > max_age) {
        reason = "latest attestation result is " + std::to_string(now - claims->issued_at) +
                 " s old, more than " + std::to_string(max_age) + " s";
      }
    }
  }
  const bool admit = reason.empty();
  out.decision = admit ? "admit" : "quarantine";
  out.reason = admit ? "affirming attestation result" : reason;
  // A gateway's admission is given only once it is in the audit log (or
  // the same one, less than a minute ago); a refusal is given even when the
  // log cannot take it (refusing is the safe side), and counted.
  if (req.peer.organization == kRoleSegw) {
    (admit ? gateway_admits : gateway_refusals).fetch_add(1, std::memory_order_relaxed);
    const std::string event = AuditEvent(query, admit);
    if (event.empty()) {
      // A recheck that keeps the tunnel: a refusal after it is news.
      RememberGatewayAudit(device_id, std::nullopt);
    } else {
      std::string detail =
          device_id + ": " + out.reason + "; max age " + std::to_string(max_age) + " s";
      if (!query.certificate_serial.empty()) detail += "; certificate " + query.certificate_serial;
      AuditedDecision decision{Actor(req.peer), event, detail, now};
      if (!GatewayAuditRecent(device_id, decision)) {
        auto recorded = store.AppendAudit(
            AuditEntry{0, now, decision.actor, "device:" + device_id, event, detail, {}, {}});
        if (recorded.ok()) {
          RememberGatewayAudit(device_id, std::move(decision));
        } else if (admit) {
          return recorded.error();
        } else {
          gateway_audit_failures.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  }
  return JsonText(200, EncodeAccessDecision(out));
}

}  // namespace henbtrust
