#include "henbtrust/tpm/structures.h"

#include <tss2/tss2_mu.h>

#include <cstring>

#include "tpm/templates.h"

namespace henbtrust {

namespace {

Error MuError(const char* what, TSS2_RC rc) {
  char buf[32];
  std::snprintf(buf, sizeof buf, " (rc 0x%08x)", rc);
  return Error(ErrorCode::kTpmParse, std::string(what) + buf);
}

Result<std::vector<PcrSelection>> FromTpml(const TPML_PCR_SELECTION& tpml) {
  std::vector<PcrSelection> out;
  for (uint32_t i = 0; i < tpml.count; ++i) {
    const TPMS_PCR_SELECTION& s = tpml.pcrSelections[i];
    HENB_ASSIGN_OR_RETURN(HashAlg alg, HashAlgFromTpmId(s.hash));
    PcrSelection sel{alg, {}};
    for (uint32_t byte = 0; byte < s.sizeofSelect; ++byte) {
      for (uint32_t bit = 0; bit < 8; ++bit) {
        if (s.pcrSelect[byte] & (1u << bit)) sel.pcrs.push_back(byte * 8 + bit);
      }
    }
    out.push_back(std::move(sel));
  }
  return out;
}

Result<TPML_PCR_SELECTION> ToTpml(const std::vector<PcrSelection>& selection) {
  TPML_PCR_SELECTION tpml{};
  if (selection.size() > TPM2_NUM_PCR_BANKS)
    return Error(ErrorCode::kInvalidArgument, "too many PCR banks");
  tpml.count = static_cast<UINT32>(selection.size());
  for (size_t i = 0; i < selection.size(); ++i) {
    TPMS_PCR_SELECTION& s = tpml.pcrSelections[i];
    s.hash = static_cast<TPMI_ALG_HASH>(selection[i].bank);
    s.sizeofSelect = 3;
    for (uint32_t pcr : selection[i].pcrs) {
      if (pcr >= 24)
        return Error(ErrorCode::kInvalidArgument, "PCR " + std::to_string(pcr) + " out of range");
      s.pcrSelect[pcr / 8] |= static_cast<BYTE>(1u << (pcr % 8));
    }
  }
  return tpml;
}

template <typename T>
Bytes Tpm2bBytes(const T& b) {
  return Bytes(b.buffer, b.buffer + b.size);
}
Bytes Tpm2bBytes(const TPM2B_NAME& b) { return Bytes(b.name, b.name + b.size); }

template <typename T>
Status FillTpm2b(T& dst, ByteView src, const char* what) {
  if (src.size() > sizeof(dst.buffer)) {
    return Error(ErrorCode::kInvalidArgument, std::string(what) + " is too long for its TPM2B");
  }
  dst.size = static_cast<UINT16>(src.size());
  std::memcpy(dst.buffer, src.data(), src.size());
  return OkStatus();
}
Status FillTpm2b(TPM2B_NAME& dst, ByteView src, const char* what) {
  if (src.size() > sizeof(dst.name)) {
    return Error(ErrorCode::kInvalidArgument, std::string(what) + " is too long for its TPM2B");
  }
  dst.size = static_cast<UINT16>(src.size());
  std::memcpy(dst.name, src.data(), src.size());
  return OkStatus();
}

Result<SignatureScheme> SchemeFromAlg(uint16_t alg) {
  switch (alg) {
    case TPM2_ALG_ECDSA:
      return SignatureScheme::kEcdsa;
    case TPM2_ALG_RSASSA:
      return SignatureScheme::kRsaPkcs1;
    case TPM2_ALG_RSAPSS:
      return SignatureScheme::kRsaPss;
    default:
      break;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", alg);
  return Error(ErrorCode::kTpmUnsupported, std::string("unsupported signature algorithm ") + buf);
}

}  // namespace

Result<QuoteInfo> ParseQuoteAttest(ByteView tpms_attest) {
  // Check magic and type by hand first so their failures get their own codes.
  ByteReader r(tpms_attest);
  auto magic = r.U32Be();
  if (!magic.ok())
    return Error(ErrorCode::kTpmParse, "TPMS_ATTEST truncated: " + magic.error().message());
  if (*magic != kTpmGeneratedValue) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "magic is 0x%08x, expected 0x%08x", *magic, kTpmGeneratedValue);
    return Error(ErrorCode::kQuoteMagic, buf);
  }
  auto type = r.U16Be();
  if (!type.ok())
    return Error(ErrorCode::kTpmParse, "TPMS_ATTEST truncated: " + type.error().message());
  if (*type != kTpmStAttestQuote) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "attestation type is 0x%04x, expected 0x%04x (quote)", *type,
                  kTpmStAttestQuote);
    return Error(ErrorCode::kQuoteType, buf);
  }
  TPMS_ATTEST attest{};
  size_t offset = 0;
  const TSS2_RC rc =
      Tss2_MU_TPMS_ATTEST_Unmarshal(tpms_attest.data(), tpms_attest.size(), &offset, &attest);
  if (rc != TSS2_RC_SUCCESS) return MuError("TPMS_ATTEST does not unmarshal", rc);
  if (offset != tpms_attest.size()) {
    return Error(ErrorCode::kTpmTrailingBytes,
                 std::to_string(tpms_attest.size() - offset) + " bytes follow the TPMS_ATTEST");
  }
  QuoteInfo q;
  q.magic = attest.magic;
  q.type = attest.type;
  q.qualified_signer = Tpm2bBytes(attest.qualifiedSigner);
  q.extra_data = Tpm2bBytes(attest.extraData);
  q.clock = {attest.clockInfo.clock, attest.clockInfo.resetCount, attest.clockInfo.restartCount,
             attest.clockInfo.safe != 0};
  q.firmware_version = attest.firmwareVersion;
  auto sel = FromTpml(attest.attested.quote.pcrSelect);
  if (!sel.ok()) return Error(ErrorCode::kTpmParse, "PCR selection: " + sel.error().message());
  q.pcr_select = std::move(sel).value();
  q.pcr_digest = Tpm2bBytes(attest.attested.quote.pcrDigest);
  return q;
}

Result<Bytes> MarshalQuoteAttest(const QuoteInfo& info) {
  TPMS_ATTEST attest{};
  attest.magic = info.magic;
  attest.type = info.type;
  HENB_TRY(FillTpm2b(attest.qualifiedSigner, info.qualified_signer, "qualifiedSigner"));
  HENB_TRY(FillTpm2b(attest.extraData, info.extra_data, "extraData"));
  attest.clockInfo.clock = info.clock.clock;
  attest.clockInfo.resetCount = info.clock.reset_count;
  attest.clockInfo.restartCount = info.clock.restart_count;
  attest.clockInfo.safe = info.clock.safe ? 1 : 0;
  attest.firmwareVersion = info.firmware_version;
  HENB_ASSIGN_OR_RETURN(attest.attested.quote.pcrSelect, ToTpml(info.pcr_select));
  HENB_TRY(FillTpm2b(attest.attested.quote.pcrDigest, info.pcr_digest, "pcrDigest"));
  Bytes out(sizeof(TPMS_ATTEST));
  size_t offset = 0;
  const TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Marshal(&attest, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return MuError("cannot marshal TPMS_ATTEST", rc);
  out.resize(offset);
  return out;
}

Result<TpmSignature> ParseTpmSignature(ByteView tpmt_signature) {
  TPMT_SIGNATURE sig{};
  size_t offset = 0;
  const TSS2_RC rc =
      Tss2_MU_TPMT_SIGNATURE_Unmarshal(tpmt_signature.data(), tpmt_signature.size(), &offset, &sig);
  if (rc != TSS2_RC_SUCCESS) return MuError("TPMT_SIGNATURE does not unmarshal", rc);
  if (offset != tpmt_signature.size()) {
    return Error(ErrorCode::kTpmTrailingBytes, std::to_string(tpmt_signature.size() - offset) +
                                                   " bytes follow the TPMT_SIGNATURE");
  }
  TpmSignature out;
  HENB_ASSIGN_OR_RETURN(out.scheme, SchemeFromAlg(sig.sigAlg));
  if (out.scheme == SignatureScheme::kEcdsa) {
    HENB_ASSIGN_OR_RETURN(out.hash, HashAlgFromTpmId(sig.signature.ecdsa.hash));
    out.r = Tpm2bBytes(sig.signature.ecdsa.signatureR);
    out.s = Tpm2bBytes(sig.signature.ecdsa.signatureS);
  } else {
    // rsassa and rsapss share one layout.
    HENB_ASSIGN_OR_RETURN(out.hash, HashAlgFromTpmId(sig.signature.rsassa.hash));
    out.rsa_sig = Tpm2bBytes(sig.signature.rsassa.sig);
  }
  return out;
}

Result<Bytes> MarshalTpmSignature(const TpmSignature& sig) {
  TPMT_SIGNATURE tpmt{};
  switch (sig.scheme) {
    case SignatureScheme::kEcdsa:
      tpmt.sigAlg = TPM2_ALG_ECDSA;
      tpmt.signature.ecdsa.hash = static_cast<TPMI_ALG_HASH>(sig.hash);
      HENB_TRY(FillTpm2b(tpmt.signature.ecdsa.signatureR, sig.r, "signatureR"));
      HENB_TRY(FillTpm2b(tpmt.signature.ecdsa.signatureS, sig.s, "signatureS"));
      break;
    case SignatureScheme::kRsaPkcs1:
    case SignatureScheme::kRsaPss:
      tpmt.sigAlg = sig.scheme == SignatureScheme::kRsaPkcs1 ? TPM2_ALG_RSASSA : TPM2_ALG_RSAPSS;
      tpmt.signature.rsassa.hash = static_cast<TPMI_ALG_HASH>(sig.hash);
      HENB_TRY(FillTpm2b(tpmt.signature.rsassa.sig, sig.rsa_sig, "RSA signature"));
      break;
  }
  Bytes out(sizeof(TPMT_SIGNATURE));
  size_t offset = 0;
  const TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&tpmt, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return MuError("cannot marshal TPMT_SIGNATURE", rc);
  out.resize(offset);
  return out;
}

Result<Bytes> SignatureForVerify(const TpmSignature& sig) {
  if (sig.scheme == SignatureScheme::kEcdsa) return EcdsaRsToDer(sig.r, sig.s);
  return sig.rsa_sig;
}

bool TpmPublic::IsRestrictedSigningKey() const {
  return (object_attributes & kTpmaRestricted) && (object_attributes & kTpmaSign) &&
         !(object_attributes & kTpmaDecrypt);
}

Result<TpmPublic> ParseTpmPublic(ByteView tpm2b_public) {
  TPM2B_PUBLIC pub{};
  size_t offset = 0;
  const TSS2_RC rc =
      Tss2_MU_TPM2B_PUBLIC_Unmarshal(tpm2b_public.data(), tpm2b_public.size(), &offset, &pub);
  if (rc != TSS2_RC_SUCCESS) return MuError("TPM2B_PUBLIC does not unmarshal", rc);
  if (offset != tpm2b_public.size()) {
    return Error(ErrorCode::kTpmTrailingBytes,
                 std::to_string(tpm2b_public.size() - offset) + " bytes follow the TPM2B_PUBLIC");
  }
  const TPMT_PUBLIC& t = pub.publicArea;
  auto name_alg = HashAlgFromTpmId(t.nameAlg);
  if (!name_alg.ok()) return name_alg.error();
  std::optional<PublicKey> key;
  std::optional<std::pair<SignatureScheme, HashAlg>> scheme;
  Bytes ecc_x;
  if (t.type == TPM2_ALG_ECC) {
    const auto& d = t.parameters.eccDetail;
    KeyType curve;
    if (d.curveID == TPM2_ECC_NIST_P256) {
      curve = KeyType::kEcP256;
    } else if (d.curveID == TPM2_ECC_NIST_P384) {
      curve = KeyType::kEcP384;
    } else {
      return Error(ErrorCode::kTpmUnsupported,
                   "unsupported ECC curve " + std::to_string(d.curveID));
    }
    HENB_ASSIGN_OR_RETURN(
        key, PublicKey::FromEcPoint(curve, Tpm2bBytes(t.unique.ecc.x), Tpm2bBytes(t.unique.ecc.y)));
    ecc_x = Tpm2bBytes(t.unique.ecc.x);
    if (d.scheme.scheme != TPM2_ALG_NULL) {
      HENB_ASSIGN_OR_RETURN(SignatureScheme s, SchemeFromAlg(d.scheme.scheme));
      HENB_ASSIGN_OR_RETURN(HashAlg h, HashAlgFromTpmId(d.scheme.details.anySig.hashAlg));
      scheme = std::make_pair(s, h);
    }
  } else if (t.type == TPM2_ALG_RSA) {
    const auto& d = t.parameters.rsaDetail;
    HENB_ASSIGN_OR_RETURN(key, PublicKey::FromRsa(Tpm2bBytes(t.unique.rsa), d.exponent));
    if (d.scheme.scheme != TPM2_ALG_NULL && d.scheme.scheme != TPM2_ALG_OAEP &&
        d.scheme.scheme != TPM2_ALG_RSAES) {
      HENB_ASSIGN_OR_RETURN(SignatureScheme s, SchemeFromAlg(d.scheme.scheme));
      HENB_ASSIGN_OR_RETURN(HashAlg h, HashAlgFromTpmId(d.scheme.details.anySig.hashAlg));
      scheme = std::make_pair(s, h);
    }
  } else {
    return Error(ErrorCode::kTpmUnsupported, "public area is not an ECC or RSA key");
  }
  Bytes name;
  PutU16Be(name, t.nameAlg);
  Append(name, Hash(*name_alg, tpm2b_public.subspan(2)));
  return TpmPublic{std::move(*key), *name_alg, t.objectAttributes,
                   std::move(name), scheme,    std::move(ecc_x)};
}

Result<Bytes> TpmObjectName(ByteView tpm2b_public) {
  HENB_ASSIGN_OR_RETURN(TpmPublic pub, ParseTpmPublic(tpm2b_public));
  return pub.name;
}

namespace tpm_internal {

namespace {
// Policy digest of PolicySecret(TPM_RH_ENDORSEMENT): the EK authPolicy.
constexpr uint8_t kEkPolicy[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC,
                                   0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52,
                                   0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};
}  // namespace

TPMT_PUBLIC Template(KeyTemplate tmpl) {
  TPMT_PUBLIC t{};
  t.nameAlg = TPM2_ALG_SHA256;
  if (tmpl == KeyTemplate::kAkEccP256) {
    t.type = TPM2_ALG_ECC;
    t.objectAttributes = kTpmaFixedTpm | kTpmaFixedParent | kTpmaSensitiveDataOrigin |
                         kTpmaUserWithAuth | kTpmaRestricted | kTpmaSign;
    t.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    t.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    t.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    t.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    t.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    return t;
  }
  t.objectAttributes = kTpmaFixedTpm | kTpmaFixedParent | kTpmaSensitiveDataOrigin |
                       kTpmaAdminWithPolicy | kTpmaRestricted | kTpmaDecrypt;
  t.authPolicy.size = sizeof kEkPolicy;
  std::memcpy(t.authPolicy.buffer, kEkPolicy, sizeof kEkPolicy);
  if (tmpl == KeyTemplate::kEkEccP256) {
    t.type = TPM2_ALG_ECC;
    t.parameters.eccDetail.symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
    t.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    t.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    t.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  } else {
    t.type = TPM2_ALG_RSA;
    t.parameters.rsaDetail.symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
    t.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    t.parameters.rsaDetail.keyBits = 2048;
    t.parameters.rsaDetail.exponent = 0;
  }
  return t;
}

void ZeroUnique(TPMT_PUBLIC& t) {
  if (t.type == TPM2_ALG_ECC) {
    t.unique.ecc.x.size = 32;
    t.unique.ecc.y.size = 32;
    std::memset(t.unique.ecc.x.buffer, 0, 32);
    std::memset(t.unique.ecc.y.buffer, 0, 32);
  } else {
    t.unique.rsa.size = 256;
    std::memset(t.unique.rsa.buffer, 0, 256);
  }
}

}  // namespace tpm_internal

Result<Bytes> MarshalTpmPublic(KeyTemplate tmpl, const PublicKey& key) {
  const bool want_rsa = tmpl == KeyTemplate::kEkRsa2048;
  if (want_rsa ? (key.type() != KeyType::kRsa || key.bits() != 2048)
               : key.type() != KeyType::kEcP256) {
    return Error(ErrorCode::kInvalidArgument, "the key does not fit the template");
  }
  TPM2B_PUBLIC pub{};
  TPMT_PUBLIC& t = pub.publicArea;
  t = tpm_internal::Template(tmpl);
  if (t.type == TPM2_ALG_ECC) {
    HENB_ASSIGN_OR_RETURN(auto point, key.EcPoint());
    HENB_TRY(FillTpm2b(t.unique.ecc.x, point.first, "x"));
    HENB_TRY(FillTpm2b(t.unique.ecc.y, point.second, "y"));
  } else {
    HENB_ASSIGN_OR_RETURN(Bytes n, key.RsaModulus());
    HENB_ASSIGN_OR_RETURN(uint32_t e, key.RsaExponent());
    if (e != 65537) return Error(ErrorCode::kInvalidArgument, "EK template needs exponent 65537");
    HENB_TRY(FillTpm2b(t.unique.rsa, n, "modulus"));
  }
  Bytes out(sizeof(TPM2B_PUBLIC) + 2);
  size_t offset = 0;
  const TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return MuError("cannot marshal TPM2B_PUBLIC", rc);
  out.resize(offset);
  return out;
}

Result<Bytes> MarshalPcrSelection(const std::vector<PcrSelection>& selection) {
  HENB_ASSIGN_OR_RETURN(TPML_PCR_SELECTION tpml, ToTpml(selection));
  Bytes out(sizeof(TPML_PCR_SELECTION));
  size_t offset = 0;
  const TSS2_RC rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(&tpml, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return MuError("cannot marshal TPML_PCR_SELECTION", rc);
  out.resize(offset);
  return out;
}

Bytes QualifiedName(HashAlg name_alg, ByteView parent_qualified_name, ByteView name) {
  Hasher h(name_alg);
  h.Update(parent_qualified_name);
  h.Update(name);
  Bytes out;
  PutU16Be(out, static_cast<uint16_t>(name_alg));
  Append(out, h.Finish());
  return out;
}

Bytes HierarchyQualifiedName(uint32_t hierarchy_handle) {
  Bytes out;
  PutU32Be(out, hierarchy_handle);
  return out;
}

}  // namespace henbtrust
