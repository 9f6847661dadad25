// Verification of a TPM 2.0 quote: the one function the PVE calls on
// evidence.
#pragma once

#include <optional>
#include <vector>

#include "henbtrust/eventlog/event_log.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust {

// What the verifier expects of a quote.
struct QuoteExpectations {
  // The nonce the verifier issued; must equal extraData.
  Bytes nonce;
  // If set, the quote must select exactly these PCRs in this order.
  std::optional<std::vector<PcrSelection>> pcr_selection;
  // If set, the raw concatenation of the selected PCR values in selection
  // order (as `tpm2_pcrread -o` writes them); must hash to pcrDigest.
  std::optional<Bytes> pcr_values;
  // If set, the log's replay must give the quoted pcrDigest.
  const EventLog* event_log = nullptr;
};

struct VerifiedQuote {
  QuoteInfo info;
  HashAlg digest_alg;  // the algorithm of pcrDigest (the signing hash)
};

// Verifies quotes signed by one attestation key. The key is parsed once;
// Verify() is const and safe to call from several threads at once.
class QuoteVerifier {
 public:
  explicit QuoteVerifier(PublicKey ak) : ak_(std::move(ak)) {}
  // From a TPM2B_PUBLIC. The key must be a restricted signing key (only those
  // guarantee that what they sign as TPMS_ATTEST came from the TPM);
  // kQuoteKeyMismatch otherwise. When its template names a signing scheme
  // and hash, quotes must be signed with exactly those.
  static Result<QuoteVerifier> FromTpmPublic(ByteView tpm2b_public);
  // From PEM SubjectPublicKeyInfo or TPM2B_PUBLIC, whichever `data` is.
  static Result<QuoteVerifier> FromAnyEncoding(ByteView data);

  const PublicKey& ak() const { return ak_; }

  // Checks, in this order, each with its own code: TPMS_ATTEST magic
  // (kQuoteMagic) and type (kQuoteType), structure (kTpmParse,
  // kTpmTrailingBytes), the signature scheme fits the key
  // and is the one the key declares, if any (kQuoteSignatureScheme), the
  // signature (kQuoteSignature), the nonce
  // (kQuoteNonce), the PCR selection (kQuotePcrSelection), the PCR values
  // (kQuotePcrValues) and the event log (kQuoteEventLog) against pcrDigest.
  Result<VerifiedQuote> Verify(ByteView attest, ByteView signature,
                               const QuoteExpectations& expect) const;

 private:
  PublicKey ak_;
  std::optional<std::pair<SignatureScheme, HashAlg>> declared_;
};

// "sha256:0,1,2" and "sha256:0,1+sha1:7" (tpm2-tools syntax).
Result<std::vector<PcrSelection>> ParsePcrSelectionSpec(std::string_view spec);
std::string FormatPcrSelection(const std::vector<PcrSelection>& selection);

}  // namespace henbtrust
