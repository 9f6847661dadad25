// Credential protection (TPM 2.0 Part 1, "Credential Protection"): the
// verifier's TPM2_MakeCredential, done in software, and the key derivation
// functions it uses. The TrE answers with TPM2_ActivateCredential, which
// succeeds only inside the TPM that holds the EK *and* the object whose name
// the credential is bound to: the proof that an AK lives beside an EK.
#pragma once

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/digest.h"

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

}  // namespace henbtrust
