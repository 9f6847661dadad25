// Compact JWS (RFC 7515) with ES256, the one signature form henbtrust's
// tokens use: attestation results (EAR) and deployment orders.
#pragma once

#include <string>
#include <string_view>

#include "henbtrust/crypto/keys.h"

namespace henbtrust {

// "<header>.<payload>.<signature>" with the header {"alg":"ES256","typ":"JWT"}
// and `payload` (JSON text) signed by the P-256 key `signer`.
Result<std::string> SignJwsEs256(std::string_view payload, const PrivateKey& signer);

// Checks the shape, the header and the ES256 signature; returns the payload
// text. kMalformed for a token that is not one, kCryptoBadSignature for a
// signature that does not verify.
Result<std::string> VerifyJwsEs256(std::string_view token, const PublicKey& signer);

// The payload text of a token whose signature has been checked before, byte
// for byte this token (its signature is not checked again): kMalformed for
// a token that is not a compact JWS with this header.
Result<std::string> VerifiedJwsPayload(std::string_view token);

}  // namespace henbtrust
