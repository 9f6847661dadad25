// The state of an enrollment between its challenge and its answer, kept by
// the device instead of the store (docs/security.md): nothing is stored per
// pending enrollment, so none can be cancelled, replaced or piled up by
// someone else, and any instance sharing the nonce key can finish it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/net/enrollment.h"

namespace henbtrust {

struct EnrollmentChallengeState {
  EnrollmentFields request;  // validated when the challenge was made
  Bytes challenge;           // random; names the challenge and derives its secret
  int64_t expires_at = 0;    // Unix seconds
};

// "<base64url(payload)>.<base64url(HMAC-SHA-256(key, label || payload))>",
// the payload JSON of the state. Not secret: the secret is derived from the
// challenge with `key` (EnrollmentSecret).
std::string SealEnrollmentToken(const EnrollmentChallengeState& state, ByteView key);
// The state a token sealed with `key` holds; kPolicyEnrollment for a token
// that is not one (altered, from another key, malformed). Expiry is the
// caller's to check.
Result<EnrollmentChallengeState> OpenEnrollmentToken(std::string_view token, ByteView key);

// The 32-byte secret the challenge protects with TPM2_MakeCredential.
Bytes EnrollmentSecret(ByteView key, std::string_view device_id, ByteView challenge);

}  // namespace henbtrust
