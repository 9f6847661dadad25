#include "henbtrust/tpm/quote_verifier.h"

#include <charconv>

#include "henbtrust/eventlog/replay.h"

namespace henbtrust {

namespace {

bool SameSelection(const std::vector<PcrSelection>& a, const std::vector<PcrSelection>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].bank != b[i].bank || a[i].pcrs != b[i].pcrs) return false;
  }
  return true;
}

size_t SelectionBytes(const std::vector<PcrSelection>& sel) {
  size_t n = 0;
  for (const auto& s : sel) n += s.pcrs.size() * DigestSize(s.bank);
  return n;
}

bool SchemeFitsKey(SignatureScheme scheme, KeyType key) {
  return (scheme == SignatureScheme::kEcdsa) == (key != KeyType::kRsa);
}

}  // namespace

Result<QuoteVerifier> QuoteVerifier::FromTpmPublic(ByteView tpm2b_public) {
  HENB_ASSIGN_OR_RETURN(TpmPublic pub, ParseTpmPublic(tpm2b_public));
  if (!pub.IsRestrictedSigningKey()) {
    return Error(ErrorCode::kQuoteKeyMismatch,
                 "the key is not a restricted signing key, so it cannot vouch for a quote");
  }
  QuoteVerifier verifier(std::move(pub.key));
  verifier.declared_ = pub.scheme;
  return verifier;
}

Result<QuoteVerifier> QuoteVerifier::FromAnyEncoding(ByteView data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  if (text.find("-----BEGIN") != std::string_view::npos) {
    HENB_ASSIGN_OR_RETURN(PublicKey key, PublicKey::FromPem(text));
    return QuoteVerifier(std::move(key));
  }
  if (!data.empty() && data[0] == 0x30) {  // DER SEQUENCE: SubjectPublicKeyInfo
    auto key = PublicKey::FromDer(data);
    if (key.ok()) return QuoteVerifier(std::move(key).value());
  }
  return FromTpmPublic(data);
}

Result<VerifiedQuote> QuoteVerifier::Verify(ByteView attest, ByteView signature,
                                            const QuoteExpectations& expect) const {
  HENB_ASSIGN_OR_RETURN(QuoteInfo info, ParseQuoteAttest(attest));
  HENB_ASSIGN_OR_RETURN(TpmSignature sig, ParseTpmSignature(signature));
  if (!SchemeFitsKey(sig.scheme, ak_.type())) {
    return Error(
        ErrorCode::kQuoteSignatureScheme,
        "signature algorithm does not fit the " + std::string(KeyTypeName(ak_.type())) + " key");
  }
  if (declared_ && (sig.scheme != declared_->first || sig.hash != declared_->second)) {
    return Error(ErrorCode::kQuoteSignatureScheme,
                 "the signature's scheme or hash (" + std::string(HashAlgName(sig.hash)) +
                     ") is not the one the attestation key declares (" +
                     std::string(HashAlgName(declared_->second)) + ")");
  }
  HENB_ASSIGN_OR_RETURN(Bytes sig_bytes, SignatureForVerify(sig));
  const Bytes digest = Hash(sig.hash, attest);
  if (auto st = ak_.VerifyDigest(sig.scheme, sig.hash, digest, sig_bytes); !st.ok()) {
    return Error(ErrorCode::kQuoteSignature,
                 "the quote's signature does not verify with the attestation key");
  }

  if (!ConstantTimeEqual(info.extra_data, expect.nonce)) {
    return Error(ErrorCode::kQuoteNonce, "extraData " + HexEncode(info.extra_data) +
                                             " is not the nonce " + HexEncode(expect.nonce));
  }
  if (info.pcr_select.empty())
    return Error(ErrorCode::kQuotePcrSelection, "the quote selects no PCRs");
  if (expect.pcr_selection && !SameSelection(*expect.pcr_selection, info.pcr_select)) {
    return Error(ErrorCode::kQuotePcrSelection,
                 "the quote selects " + FormatPcrSelection(info.pcr_select) + ", expected " +
                     FormatPcrSelection(*expect.pcr_selection));
  }
  if (info.pcr_digest.size() != DigestSize(sig.hash)) {
    return Error(ErrorCode::kQuotePcrDigest,
                 "pcrDigest is " + std::to_string(info.pcr_digest.size()) + " bytes, not a " +
                     std::string(HashAlgName(sig.hash)) + " digest");
  }
  if (expect.pcr_values) {
    const size_t want = SelectionBytes(info.pcr_select);
    if (expect.pcr_values->size() != want) {
      return Error(ErrorCode::kQuotePcrValues,
                   "PCR values are " + std::to_string(expect.pcr_values->size()) +
                       " bytes; the selection " + FormatPcrSelection(info.pcr_select) + " needs " +
                       std::to_string(want));
    }
    const Bytes composite = Hash(sig.hash, *expect.pcr_values);
    if (!Equal(composite, info.pcr_digest)) {
      return Error(ErrorCode::kQuotePcrValues, "the PCR values hash to " + HexEncode(composite) +
                                                   ", the quote's pcrDigest is " +
                                                   HexEncode(info.pcr_digest));
    }
  }
  if (expect.event_log) {
    HENB_ASSIGN_OR_RETURN(PcrValues replayed, Replay(*expect.event_log));
    Bytes concat;
    for (const auto& sel : info.pcr_select)
      Append(concat, SelectedPcrValues(replayed[sel.bank], sel));
    const Bytes composite = Hash(sig.hash, concat);
    if (!Equal(composite, info.pcr_digest)) {
      std::string detail = "the event log replays to " + HexEncode(composite) +
                           ", the quote's pcrDigest is " + HexEncode(info.pcr_digest);
      if (expect.pcr_values) {
        // Name the PCRs whose values differ from those the caller gave.
        size_t off = 0;
        std::string differing;
        for (const auto& sel : info.pcr_select) {
          const size_t n = DigestSize(sel.bank);
          const Bytes mine = SelectedPcrValues(replayed[sel.bank], sel);
          for (size_t i = 0; i < sel.pcrs.size(); ++i) {
            if (!Equal(ByteView(mine).subspan(i * n, n),
                       ByteView(*expect.pcr_values).subspan(off + i * n, n))) {
              differing += (differing.empty() ? "" : ",") + std::string(HashAlgName(sel.bank)) +
                           ":" + std::to_string(sel.pcrs[i]);
            }
          }
          off += mine.size();
        }
        if (!differing.empty()) detail += " (PCRs differing: " + differing + ")";
      }
      return Error(ErrorCode::kQuoteEventLog, detail);
    }
  }
  return VerifiedQuote{std::move(info), sig.hash};
}

Result<std::vector<PcrSelection>> ParsePcrSelectionSpec(std::string_view spec) {
  std::vector<PcrSelection> out;
  while (!spec.empty()) {
    const size_t plus = spec.find('+');
    std::string_view part = spec.substr(0, plus);
    spec = plus == std::string_view::npos ? std::string_view() : spec.substr(plus + 1);
    const size_t colon = part.find(':');
    if (colon == std::string_view::npos) {
      return Error(ErrorCode::kInvalidArgument,
                   "PCR selection '" + std::string(part) + "' lacks 'bank:'");
    }
    HENB_ASSIGN_OR_RETURN(HashAlg bank, HashAlgFromName(part.substr(0, colon)));
    PcrSelection sel{bank, {}};
    std::string_view list = part.substr(colon + 1);
    uint32_t mask = 0;
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view num = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      uint32_t pcr = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), pcr);
      if (ec != std::errc() || p != num.data() + num.size() || pcr > 23) {
        return Error(ErrorCode::kInvalidArgument, "bad PCR index '" + std::string(num) + "'");
      }
      mask |= 1u << pcr;
    }
    for (uint32_t i = 0; i < 24; ++i) {
      if (mask & (1u << i)) sel.pcrs.push_back(i);
    }
    if (sel.pcrs.empty()) return Error(ErrorCode::kInvalidArgument, "empty PCR list for a bank");
    out.push_back(std::move(sel));
  }
  if (out.empty()) return Error(ErrorCode::kInvalidArgument, "empty PCR selection");
  return out;
}

std::string FormatPcrSelection(const std::vector<PcrSelection>& selection) {
  std::string out;
  for (const auto& s : selection) {
    if (!out.empty()) out += '+';
    out += HashAlgName(s.bank);
    out += ':';
    for (size_t i = 0; i < s.pcrs.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(s.pcrs[i]);
    }
  }
  return out;
}

}  // namespace henbtrust
