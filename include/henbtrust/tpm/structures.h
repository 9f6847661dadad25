// TPM 2.0 structures that evidence is made of, marshalled through tss2-mu.
// No tss2 type appears here: callers see plain C++ values.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/eventlog/replay.h"

namespace henbtrust {

inline constexpr uint32_t kTpmGeneratedValue = 0xff544347;  // TPM_GENERATED_VALUE
inline constexpr uint16_t kTpmStAttestQuote = 0x8018;       // TPM_ST_ATTEST_QUOTE

struct ClockInfo {
  uint64_t clock = 0;  // milliseconds the TPM has been powered
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = true;
};

// A TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE.
struct QuoteInfo {
  uint32_t magic = kTpmGeneratedValue;
  uint16_t type = kTpmStAttestQuote;
  Bytes qualified_signer;  // TPM2B_NAME contents
  Bytes extra_data;        // the verifier's nonce
  ClockInfo clock;
  uint64_t firmware_version = 0;
  std::vector<PcrSelection> pcr_select;
  Bytes pcr_digest;  // the TIM
};

// Parses a TPMS_ATTEST exactly as signed (no TPM2B size prefix), as
// `tpm2_quote -m` writes it. kQuoteMagic / kQuoteType for a wrong magic or
// type, kTpmParse for anything else that does not unmarshal, and
// kTpmTrailingBytes if bytes follow the structure.
Result<QuoteInfo> ParseQuoteAttest(ByteView tpms_attest);
Result<Bytes> MarshalQuoteAttest(const QuoteInfo& info);

// A TPMT_SIGNATURE (ECDSA or RSASSA / RSAPSS).
struct TpmSignature {
  SignatureScheme scheme = SignatureScheme::kEcdsa;
  HashAlg hash = HashAlg::kSha256;
  Bytes r, s;     // ECDSA: fixed-size big-endian
  Bytes rsa_sig;  // RSA: the signature
};

Result<TpmSignature> ParseTpmSignature(ByteView tpmt_signature);
Result<Bytes> MarshalTpmSignature(const TpmSignature& sig);
// The signature in the form PublicKey::VerifyDigest takes (DER for ECDSA).
Result<Bytes> SignatureForVerify(const TpmSignature& sig);

// What henbtrust needs from a TPM2B_PUBLIC of an asymmetric key.
struct TpmPublic {
  PublicKey key;
  HashAlg name_alg;
  uint32_t object_attributes;
  Bytes name;  // nameAlg (2 bytes, big-endian) || H_nameAlg(TPMT_PUBLIC)
  // Signing scheme of the key's template; nullopt when it is TPM_ALG_NULL.
  std::optional<std::pair<SignatureScheme, HashAlg>> scheme;
  // ECC keys: unique.ecc.x exactly as its TPM2B carries it, which is what a
  // TPM feeds KDFe as partyVInfo (it may be shorter than the curve size).
  Bytes ecc_x;
  bool IsRestrictedSigningKey() const;
};

inline constexpr uint32_t kTpmaFixedTpm = 0x00000002;
inline constexpr uint32_t kTpmaFixedParent = 0x00000010;
inline constexpr uint32_t kTpmaSensitiveDataOrigin = 0x00000020;
inline constexpr uint32_t kTpmaUserWithAuth = 0x00000040;
inline constexpr uint32_t kTpmaAdminWithPolicy = 0x00000080;
inline constexpr uint32_t kTpmaRestricted = 0x00010000;
inline constexpr uint32_t kTpmaDecrypt = 0x00020000;
inline constexpr uint32_t kTpmaSign = 0x00040000;

// Parses a TPM2B_PUBLIC (with its 2-byte size) as `tpm2_createak -u` writes it.
Result<TpmPublic> ParseTpmPublic(ByteView tpm2b_public);

// Templates henbtrust creates keys from (TCG EK Credential Profile 2.0 for
// the EKs; the attestation key of `tpm2_createak -G ecc -s ecdsa`).
enum class KeyTemplate : uint8_t { kEkEccP256, kEkRsa2048, kAkEccP256 };

// The TPM2B_PUBLIC a TPM would report for `key` created from `tmpl`.
Result<Bytes> MarshalTpmPublic(KeyTemplate tmpl, const PublicKey& key);

// Name of an object from its TPM2B_PUBLIC bytes.
Result<Bytes> TpmObjectName(ByteView tpm2b_public);

// TPML_PCR_SELECTION encoding (3-byte bitmaps, as TPMs produce).
Result<Bytes> MarshalPcrSelection(const std::vector<PcrSelection>& selection);

}  // namespace henbtrust

namespace henbtrust {
inline constexpr uint32_t kTpmRhEndorsement = 0x4000000B;
// Qualified Name of a child (TPM 2.0 Part 1, 16.6): nameAlg || H(parent QN ||
// child Name). The QN of a hierarchy is its 4-byte handle.
Bytes QualifiedName(HashAlg name_alg, ByteView parent_qualified_name, ByteView name);
Bytes HierarchyQualifiedName(uint32_t hierarchy_handle);
}  // namespace henbtrust
