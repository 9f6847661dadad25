// Credential protection (TPM 2.0 Part 1, "Credential Protection"): the
// verifier's TPM2_MakeCredential, done in software, and the key derivation
// functions it uses. The TrE answers with TPM2_ActivateCredential, which
// succeeds only inside the TPM that holds the EK *and* the object whose name
// the credential is bound to: the proof that an AK lives beside an EK.
#pragma once

#include <string>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"

namespace henbtrust {

struct CredentialChallenge {
  Bytes credential_blob;   // TPM2B_ID_OBJECT contents: TPM2B_DIGEST(integrity HMAC) || encIdentity
  Bytes encrypted_secret;  // TPM2B_ENCRYPTED_SECRET contents (OAEP ciphertext, or a marshalled
                           // TPMS_ECC_POINT)
};

// Protects `secret` (1-32 bytes) for the EK given as TPM2B_PUBLIC, bound to
// the object name `ak_name` (nameAlg || digest).
Result<CredentialChallenge> MakeCredential(ByteView ek_public, ByteView ak_name, ByteView secret);

// KDFa (SP 800-108 counter mode with HMAC) and KDFe (SP 800-56A one-step
// hash) as the TPM specifies them; `label` excludes the terminating zero,
// which both add.
Bytes KdfA(HashAlg hash, ByteView key, std::string_view label, ByteView context_u,
           ByteView context_v, size_t bits);
Bytes KdfE(HashAlg hash, ByteView z, std::string_view label, ByteView party_u, ByteView party_v,
           size_t bits);

// The TrE side, for in-process TrEs: recovers the secret from a challenge
// given the derived `seed`. kQuoteKeyMismatch (via the integrity check) when
// the challenge was made for another object or EK.
Result<Bytes> OpenCredential(HashAlg name_alg, ByteView seed, ByteView ak_name,
                             ByteView credential_blob);

// An EK certificate as the TCG EK Credential Profile shapes it, for `ek`
// (the EK's public key), issued by a manufacturer CA: an end entity
// (basicConstraints CA:FALSE) whose key usage is keyEncipherment for an RSA
// EK and keyAgreement for an ECC EK. For simulated factories and tests.
Result<Certificate> IssueEkCertificate(const PublicKey& ek, const PrivateKey& manufacturer_key,
                                       const Certificate& manufacturer_ca,
                                       const std::string& common_name = "EK");

// The profile checks of an EK certificate that the chain does not make: it
// is not a CA, its key usage extension is present and allows what the EK
// does (keyEncipherment for RSA, keyAgreement for ECC), and its subject key
// is `ek`. kPolicyEnrollment naming the failed check.
Status CheckEkCertificate(const Certificate& certificate, const PublicKey& ek);

}  // namespace henbtrust
