// The signed attestation result, in the form of IETF EAR
// (draft-ietf-rats-ear): a JWT signed with ES256 whose claims say the
// result's status, why (the AR4SI trustworthiness vector), for which device,
// release and nonce, and which policy made it. The PVE writes one per
// appraisal; the PVE's access decision, the OAM and operators read it back.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "henbtrust/crypto/keys.h"
#include "henbtrust/pve/appraisal.h"

namespace henbtrust {

// The claims of an EAR token, as EncodeEar writes them.
struct EarClaims {
  int64_t issued_at = 0;                         // iat
  std::string verifier_build;                    // ear.verifier-id.build
  ArStatus status = ArStatus::kContraindicated;  // ear.status
  TrustVector vector = {};                       // ear.trustworthiness-vector
  Bytes nonce = {};                              // eat_nonce
  std::string policy_id;                         // ear.appraisal-policy-id
  std::map<std::string, ArStatus> submods;       // name -> ear.status
  std::string device_id;                         // henbtrust.device-id
  std::string release_version;                   // henbtrust.release
  std::string tim_hex;                           // henbtrust.tim
  std::string ticket_key_hex = {};               // henbtrust.ticket-key, with a boot stage
  std::string detail = {};                       // henbtrust.detail, when not affirming
};

// "affirming", "warning", "contraindicated"; nullopt for anything else.
std::optional<ArStatus> ParseArStatus(std::string_view name);

// The result as a JWT signed with ES256 (EAR claims: eat_profile, iat,
// ear.verifier-id, ear.status, ear.trustworthiness-vector, submods,
// eat_nonce, ear.appraisal-policy-id, and henbtrust.* for the device,
// release, TIM, components and detail).
Result<std::string> EncodeEar(const AppraisalResult& result, const PrivateKey& signer,
                              const std::string& verifier_id);
// Verifies an EAR token's ES256 signature, then reads its claims: a bad
// signature is kCryptoBadSignature (or the JWS error), claims that are not
// EAR as EncodeEar writes them are kMalformed naming the claim. A status
// more trusting than its vector's worst tier is refused as malformed.
Result<EarClaims> VerifyEar(std::string_view token, const PublicKey& verifier_key);
// Reads the claims of an already verified token's payload (JSON text).
Result<EarClaims> DecodeEarClaims(std::string_view claims_json);

}  // namespace henbtrust
