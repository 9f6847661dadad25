#include "henbtrust/tpm/credential.h"

#include "henbtrust/crypto/random.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust {

namespace {

constexpr size_t kSymKeyBits = 128;  // the EK templates' AES-128-CFB

Bytes Counter(uint32_t v) {
  Bytes b;
  PutU32Be(b, v);
  return b;
}

Bytes Truncate(Bytes out, size_t bits) {
  out.resize((bits + 7) / 8);
  if (bits % 8 != 0) out[0] &= static_cast<uint8_t>(0xff >> (8 - bits % 8));
  return out;
}

}  // namespace

Bytes KdfA(HashAlg hash, ByteView key, std::string_view label, ByteView context_u,
           ByteView context_v, size_t bits) {
  Bytes out;
  for (uint32_t i = 1; out.size() * 8 < bits; ++i) {
    Bytes msg = Counter(i);
    Append(msg, AsBytes(label));
    msg.push_back(0);
    Append(msg, context_u);
    Append(msg, context_v);
    Append(msg, Counter(static_cast<uint32_t>(bits)));
    Append(out, Hmac(hash, key, msg));
  }
  return Truncate(std::move(out), bits);
}

Bytes KdfE(HashAlg hash, ByteView z, std::string_view label, ByteView party_u, ByteView party_v,
           size_t bits) {
  Bytes out;
  for (uint32_t i = 1; out.size() * 8 < bits; ++i) {
    Hasher h(hash);
    h.Update(Counter(i));
    h.Update(z);
    h.Update(AsBytes(label));
    const uint8_t zero = 0;
    h.Update(ByteView(&zero, 1));
    h.Update(party_u);
    h.Update(party_v);
    Append(out, h.Finish());
  }
  return Truncate(std::move(out), bits);
}

Result<CredentialChallenge> MakeCredential(ByteView ek_public, ByteView ak_name, ByteView secret) {
  if (secret.empty() || secret.size() > 32)
    return Error(ErrorCode::kInvalidArgument, "credential secret of 1-32 bytes");
  HENB_ASSIGN_OR_RETURN(TpmPublic ek, ParseTpmPublic(ek_public));
  if ((ek.object_attributes & (kTpmaRestricted | kTpmaDecrypt)) !=
      (kTpmaRestricted | kTpmaDecrypt)) {
    return Error(ErrorCode::kInvalidArgument, "the EK is not a restricted decryption key");
  }
  const HashAlg name_alg = ek.name_alg;
  const size_t seed_bits = DigestSize(name_alg) * 8;
  CredentialChallenge out;
  Bytes seed;
  if (ek.key.type() == KeyType::kRsa) {
    HENB_ASSIGN_OR_RETURN(seed, RandomBytes(DigestSize(name_alg)));
    const std::string label("IDENTITY\0", 9);
    HENB_ASSIGN_OR_RETURN(out.encrypted_secret,
                          ek.key.RsaOaepEncrypt(name_alg, AsBytes(label), seed));
  } else {
    HENB_ASSIGN_OR_RETURN(PrivateKey ephemeral, PrivateKey::Generate(ek.key.type()));
    HENB_ASSIGN_OR_RETURN(Bytes z, ephemeral.EcdhSharedX(ek.key));
    HENB_ASSIGN_OR_RETURN(auto eph_point, ephemeral.Public().EcPoint());
    seed = KdfE(name_alg, z, "IDENTITY", eph_point.first, ek.ecc_x, seed_bits);
    PutU16Be(out.encrypted_secret, static_cast<uint16_t>(eph_point.first.size()));
    Append(out.encrypted_secret, eph_point.first);
    PutU16Be(out.encrypted_secret, static_cast<uint16_t>(eph_point.second.size()));
    Append(out.encrypted_secret, eph_point.second);
  }
  const Bytes sym_key = KdfA(name_alg, seed, "STORAGE", ak_name, {}, kSymKeyBits);
  Bytes identity;  // TPM2B_DIGEST of the secret
  PutU16Be(identity, static_cast<uint16_t>(secret.size()));
  Append(identity, secret);
  HENB_ASSIGN_OR_RETURN(Bytes enc_identity,
                        AesCfb(sym_key, Bytes(16, 0), identity, /*encrypt=*/true));
  const Bytes hmac_key = KdfA(name_alg, seed, "INTEGRITY", {}, {}, seed_bits);
  Bytes hmac_input = enc_identity;
  Append(hmac_input, ak_name);
  const Bytes integrity = Hmac(name_alg, hmac_key, hmac_input);
  PutU16Be(out.credential_blob, static_cast<uint16_t>(integrity.size()));
  Append(out.credential_blob, integrity);
  Append(out.credential_blob, enc_identity);
  return out;
}

Result<Bytes> OpenCredential(HashAlg name_alg, ByteView seed, ByteView ak_name,
                             ByteView credential_blob) {
  ByteReader r(credential_blob);
  auto len = r.U16Be();
  if (!len.ok() || *len != DigestSize(name_alg))
    return Error(ErrorCode::kTpmParse, "credential blob integrity size");
  HENB_ASSIGN_OR_RETURN(ByteView integrity, r.Take(*len));
  const ByteView enc_identity = r.rest();
  const Bytes hmac_key = KdfA(name_alg, seed, "INTEGRITY", {}, {}, DigestSize(name_alg) * 8);
  Bytes hmac_input(enc_identity.begin(), enc_identity.end());
  Append(hmac_input, ak_name);
  if (!ConstantTimeEqual(Hmac(name_alg, hmac_key, hmac_input), integrity)) {
    return Error(ErrorCode::kQuoteKeyMismatch,
                 "the credential was not made for this EK and object");
  }
  const Bytes sym_key = KdfA(name_alg, seed, "STORAGE", ak_name, {}, kSymKeyBits);
  HENB_ASSIGN_OR_RETURN(Bytes identity,
                        AesCfb(sym_key, Bytes(16, 0), enc_identity, /*encrypt=*/false));
  ByteReader ir(identity);
  auto size = ir.U16Be();
  if (!size.ok() || *size != ir.remaining())
    return Error(ErrorCode::kTpmParse, "credential identity");
  return Bytes(ir.rest().begin(), ir.rest().end());
}

Result<Certificate> IssueEkCertificate(const PublicKey& ek, const PrivateKey& manufacturer_key,
                                       const Certificate& manufacturer_ca,
                                       const std::string& common_name) {
  CertificateSpec spec;
  spec.common_name = common_name;
  spec.key_usage =
      ek.type() == KeyType::kRsa ? "critical,keyEncipherment" : "critical,keyAgreement";
  spec.validity = std::chrono::hours(24 * 365 * 20);
  return IssueCertificate(spec, ek, manufacturer_key, &manufacturer_ca);
}

Status CheckEkCertificate(const Certificate& certificate, const PublicKey& ek) {
  auto refuse = [](const std::string& why) {
    return Error(ErrorCode::kPolicyEnrollment, "EK certificate: " + why);
  };
  if (certificate.IsCa()) return refuse("a CA certificate is not an EK certificate");
  const std::optional<uint32_t> usage = certificate.KeyUsage();
  if (!usage) return refuse("no key usage extension (the EK profile requires one)");
  const bool rsa = ek.type() == KeyType::kRsa;
  const uint32_t needed = rsa ? kKeyUsageKeyEncipherment : kKeyUsageKeyAgreement;
  if ((*usage & needed) == 0) {
    return refuse(std::string("key usage lacks ") + (rsa ? "keyEncipherment" : "keyAgreement"));
  }
  if ((*usage & kKeyUsageKeyCertSign) != 0) return refuse("key usage allows keyCertSign");
  auto key = certificate.SubjectKey();
  if (!key.ok() || key->ToDer() != ek.ToDer()) return refuse("it certifies another key");
  return OkStatus();
}

}  // namespace henbtrust
