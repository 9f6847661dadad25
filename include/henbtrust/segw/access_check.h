// A security gateway's admission question to the PVE (docs/segw.md): ask
// GET /v1/devices/ID/access-decision with the gateway's own TLS role, and
// turn the answer, or the lack of one, into admit or refuse with one line
// that says why. `henbtrust segw-check` and `henbtrust segw-watch` use it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "henbtrust/core/result.h"
#include "henbtrust/net/http.h"

namespace henbtrust {

// A GET to the PVE: the target, to the answer (any HTTP status), or an
// Error when there was no exchange (HttpClient::Request's errors).
using PveGet = std::function<Result<HttpResponse>(const std::string& target)>;

// What a gateway does when the PVE does not answer the question: the PVE
// cannot be reached, timed out, or answered 5xx.
enum class UnreachablePolicy { kAdmit, kRefuse };
// "admit", "refuse" <-> the policy; kInvalidArgument otherwise.
Result<UnreachablePolicy> ParseUnreachablePolicy(const std::string& text);
std::string_view UnreachablePolicyName(UnreachablePolicy policy);

struct AccessQuestion {
  std::string device_id;
  // The oldest an affirming result may be (seconds); 0: the PVE's bound.
  // The PVE applies the smaller of this and its own.
  int64_t max_age = 0;
  // A tunnel that is up, asked about again on a period (the PVE audits
  // such a question only when it refuses).
  bool recheck = false;
  // The serial (hex) of the certificate the device presented, where the
  // gateway knows it: a certificate that no longer speaks for the device
  // is refused.
  std::string certificate_serial = {};
  UnreachablePolicy unreachable = UnreachablePolicy::kRefuse;
};

// The request target of `question`.
std::string AccessDecisionTarget(const AccessQuestion& question);

struct AccessVerdict {
  bool admit = false;
  bool answered = false;  // the PVE decided; otherwise the unreachable policy did
  // "admit|refuse DEVICE: why", one line.
  std::string line;
  bool reached = true;  // false: no exchange at all (no connection, a timeout), unlike a 5xx
};

// Asks through `get`. kInvalidArgument for a malformed question; the
// PVE's error (kNetForbidden, kNetBadRequest, ...) when it refused the
// question (4xx: the gateway is misconfigured); kNetStatus when it answered
// 200 with something that is not a decision. A PVE that cannot be reached
// or answers 5xx is not an error: the policy decides, and the line says so.
Result<AccessVerdict> CheckAccess(const PveGet& get, const AccessQuestion& question);

}  // namespace henbtrust
