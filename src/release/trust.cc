#include "henbtrust/release/trust.h"

#include <cstring>
#include <set>

namespace henbtrust {

namespace {

constexpr char kRootMagic[8] = {'H', 'E', 'N', 'B', 'R', 'O', 'O', 'T'};
constexpr uint16_t kRootFormat = 1;
constexpr size_t kMaxRootBody = size_t{64} * 1024;
constexpr size_t kMaxKeyDer = 2048;

Bytes SignedMessage(std::string_view domain, ByteView body) {
  Bytes msg(domain.begin(), domain.end());
  msg.push_back(0);
  Append(msg, body);
  return msg;
}

SignatureScheme SchemeFor(KeyType t) {
  return t == KeyType::kRsa ? SignatureScheme::kRsaPkcs1 : SignatureScheme::kEcdsa;
}

Error RootError(ErrorCode code, const std::string& what) {
  return Error(code, "trust root: " + what);
}

struct RootFile {
  Bytes body;
  std::vector<ReleaseSignature> sigs;
  TrustRoot root;
};

Result<TrustRoot> ParseBody(ByteView body) {
  ByteReader r(body);
  auto fail = [](const char* what) { return RootError(ErrorCode::kReleaseTruncated, what); };
  auto format = r.U16Be();
  if (!format.ok()) return fail("format");
  if (*format != kRootFormat) return RootError(ErrorCode::kReleaseMalformed, "unknown format");
  auto version = r.U64Be();
  auto threshold = r.U16Be();
  auto count = r.U16Be();
  if (!version.ok() || !threshold.ok() || !count.ok()) return fail("header");
  if (*count > kMaxRootKeys) return RootError(ErrorCode::kReleaseTooLarge, "too many keys");
  std::vector<PublicKey> keys;
  for (uint16_t i = 0; i < *count; ++i) {
    auto len = r.U16Be();
    if (!len.ok()) return fail("key length");
    if (*len > kMaxKeyDer) return RootError(ErrorCode::kReleaseTooLarge, "key too long");
    auto der = r.Take(*len);
    if (!der.ok()) return fail("key");
    auto key = PublicKey::FromDer(*der);
    if (!key.ok()) return RootError(ErrorCode::kReleaseMalformed, key.error().message());
    keys.push_back(std::move(key).value());
  }
  if (!r.empty()) return RootError(ErrorCode::kReleaseTrailing, "bytes after the keys");
  auto root = TrustRoot::Create(std::move(keys), *threshold, *version);
  if (!root.ok()) return RootError(ErrorCode::kReleaseMalformed, root.error().message());
  return root;
}

Result<RootFile> ParseRootFile(ByteView file) {
  ByteReader r(file);
  auto magic = r.Take(sizeof kRootMagic);
  if (!magic.ok() || std::memcmp(magic->data(), kRootMagic, sizeof kRootMagic) != 0) {
    return RootError(ErrorCode::kReleaseMalformed, "not a henbtrust trust root (bad magic)");
  }
  auto body_len = r.U32Be();
  if (!body_len.ok()) return RootError(ErrorCode::kReleaseTruncated, "body length");
  if (*body_len > kMaxRootBody) return RootError(ErrorCode::kReleaseTooLarge, "body too long");
  auto body = r.Take(*body_len);
  if (!body.ok()) return RootError(ErrorCode::kReleaseTruncated, "body");
  auto sig_len = r.U32Be();
  if (!sig_len.ok()) return RootError(ErrorCode::kReleaseTruncated, "signature block length");
  if (*sig_len > kMaxSignatures * (kMaxSignatureSize + 34) + 2) {
    return RootError(ErrorCode::kReleaseTooLarge, "signature block too long");
  }
  auto sig_bytes = r.Take(*sig_len);
  if (!sig_bytes.ok()) return RootError(ErrorCode::kReleaseTruncated, "signature block");
  if (!r.empty()) return RootError(ErrorCode::kReleaseTrailing, "bytes after the signatures");
  auto sigs = ParseSignatures(*sig_bytes);
  if (!sigs.ok()) return sigs.error().WithContext("trust root");
  HENB_ASSIGN_OR_RETURN(TrustRoot root, ParseBody(*body));
  return RootFile{Bytes(body->begin(), body->end()), std::move(sigs).value(), std::move(root)};
}

}  // namespace

Bytes KeyIdOf(const PublicKey& key) { return Sha256(key.ToDer()); }

Bytes EncodeSignatures(const std::vector<ReleaseSignature>& sigs) {
  Bytes out;
  PutU16Be(out, static_cast<uint16_t>(sigs.size()));
  for (const auto& s : sigs) {
    Append(out, s.key_id);
    PutU16Be(out, static_cast<uint16_t>(s.signature.size()));
    Append(out, s.signature);
  }
  return out;
}

Result<std::vector<ReleaseSignature>> ParseSignatures(ByteView bytes) {
  ByteReader r(bytes);
  auto count = r.U16Be();
  if (!count.ok()) return Error(ErrorCode::kReleaseTruncated, "signature count");
  if (*count > kMaxSignatures) {
    return Error(ErrorCode::kReleaseTooLarge, std::to_string(*count) + " signatures, more than " +
                                                  std::to_string(kMaxSignatures));
  }
  std::vector<ReleaseSignature> out;
  std::set<Bytes> seen;
  for (uint16_t i = 0; i < *count; ++i) {
    auto id = r.Take(32);
    auto len = r.U16Be();
    if (!id.ok() || !len.ok())
      return Error(ErrorCode::kReleaseTruncated, "signature " + std::to_string(i));
    if (*len > kMaxSignatureSize || *len == 0) {
      return Error(ErrorCode::kReleaseTooLarge,
                   "signature " + std::to_string(i) + " of " + std::to_string(*len) + " bytes");
    }
    auto sig = r.Take(*len);
    if (!sig.ok()) return Error(ErrorCode::kReleaseTruncated, "signature " + std::to_string(i));
    ReleaseSignature s{Bytes(id->begin(), id->end()), Bytes(sig->begin(), sig->end())};
    if (!seen.insert(s.key_id).second) {
      return Error(ErrorCode::kReleaseMalformed,
                   "two signatures by key " + HexEncode(s.key_id).substr(0, 16));
    }
    out.push_back(std::move(s));
  }
  if (!r.empty()) return Error(ErrorCode::kReleaseTrailing, "bytes after the signatures");
  return out;
}

Bytes EncodeSignedEnvelope(std::string_view magic, ByteView body,
                           const std::vector<ReleaseSignature>& sigs) {
  Bytes out(magic.begin(), magic.end());
  PutU32Be(out, static_cast<uint32_t>(body.size()));
  Append(out, body);
  const Bytes block = EncodeSignatures(sigs);
  PutU32Be(out, static_cast<uint32_t>(block.size()));
  Append(out, block);
  return out;
}

Result<ReleaseSignature> SignWithDomain(const PrivateKey& key, std::string_view domain,
                                        ByteView body) {
  HENB_ASSIGN_OR_RETURN(
      Bytes sig, key.Sign(SchemeFor(key.type()), HashAlg::kSha256, SignedMessage(domain, body)));
  return ReleaseSignature{KeyIdOf(key.Public()), std::move(sig)};
}

Result<TrustRoot> TrustRoot::Create(std::vector<PublicKey> keys, uint16_t threshold,
                                    uint64_t version) {
  if (keys.empty() || keys.size() > kMaxRootKeys) {
    return Error(ErrorCode::kInvalidArgument,
                 "a trust root holds 1 to " + std::to_string(kMaxRootKeys) + " keys");
  }
  if (threshold < 1 || threshold > keys.size()) {
    return Error(ErrorCode::kInvalidArgument, "threshold " + std::to_string(threshold) + " with " +
                                                  std::to_string(keys.size()) + " keys");
  }
  TrustRoot root;
  root.version_ = version;
  root.threshold_ = threshold;
  for (auto& k : keys) {
    Bytes id = KeyIdOf(k);
    for (const auto& prev : root.key_ids_) {
      if (prev == id)
        return Error(ErrorCode::kInvalidArgument, "a key appears twice in the trust root");
    }
    root.key_ids_.push_back(std::move(id));
    root.keys_.push_back(std::move(k));
  }
  return root;
}

Bytes TrustRoot::EncodeBody() const {
  Bytes out;
  PutU16Be(out, kRootFormat);
  PutU64Be(out, version_);
  PutU16Be(out, threshold_);
  PutU16Be(out, static_cast<uint16_t>(keys_.size()));
  for (const auto& k : keys_) {
    const Bytes der = k.ToDer();
    PutU16Be(out, static_cast<uint16_t>(der.size()));
    Append(out, der);
  }
  return out;
}

Result<Bytes> TrustRoot::Sign(const std::vector<PrivateKey>& signers) const {
  const Bytes body = EncodeBody();
  std::vector<ReleaseSignature> sigs;
  for (const auto& k : signers) {
    HENB_ASSIGN_OR_RETURN(ReleaseSignature s, SignWithDomain(k, kRootDomain, body));
    sigs.push_back(std::move(s));
  }
  return EncodeSignedEnvelope(std::string_view(kRootMagic, sizeof kRootMagic), body, sigs);
}

const PublicKey* TrustRoot::Find(ByteView key_id) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (Equal(key_ids_[i], key_id)) return &keys_[i];
  }
  return nullptr;
}

Status TrustRoot::VerifyThreshold(std::string_view domain, ByteView body,
                                  const std::vector<ReleaseSignature>& sigs) const {
  if (sigs.empty()) return Error(ErrorCode::kReleaseUnsigned, "no signature");
  const Bytes msg = SignedMessage(domain, body);
  size_t valid = 0;
  for (const auto& s : sigs) {
    const PublicKey* key = Find(s.key_id);
    if (key == nullptr) {
      return Error(ErrorCode::kReleaseUnknownKey, "signature by key " +
                                                      HexEncode(s.key_id).substr(0, 16) +
                                                      " which the trust root does not hold");
    }
    if (!key->Verify(SchemeFor(key->type()), HashAlg::kSha256, msg, s.signature).ok()) {
      return Error(ErrorCode::kReleaseBadSignature,
                   "signature by key " + HexEncode(s.key_id).substr(0, 16) + " does not verify");
    }
    ++valid;
  }
  if (valid < threshold_) {
    return Error(ErrorCode::kReleaseThreshold, std::to_string(valid) +
                                                   " valid signature(s), the trust root needs " +
                                                   std::to_string(threshold_));
  }
  return OkStatus();
}

Result<TrustRoot> TrustRoot::ParseSelfSigned(ByteView file) {
  HENB_ASSIGN_OR_RETURN(RootFile f, ParseRootFile(file));
  if (auto st = f.root.VerifyThreshold(kRootDomain, f.body, f.sigs); !st.ok()) {
    return st.error().WithContext("trust root");
  }
  return std::move(f.root);
}

Result<TrustRoot> TrustRoot::VerifyRotation(ByteView next_file) const {
  HENB_ASSIGN_OR_RETURN(RootFile f, ParseRootFile(next_file));
  if (f.root.version_ != version_ + 1) {
    return RootError(ErrorCode::kReleaseRoot, "new root has version " +
                                                  std::to_string(f.root.version_) + ", expected " +
                                                  std::to_string(version_ + 1));
  }
  // Each signature is by an old key, a new key or both; the old threshold
  // and the new threshold must each be met.
  std::vector<ReleaseSignature> by_old;
  std::vector<ReleaseSignature> by_new;
  for (const auto& s : f.sigs) {
    const bool old_key = Find(s.key_id) != nullptr;
    const bool new_key = f.root.Find(s.key_id) != nullptr;
    if (!old_key && !new_key) {
      return RootError(ErrorCode::kReleaseUnknownKey, "signature by a key of neither root");
    }
    if (old_key) by_old.push_back(s);
    if (new_key) by_new.push_back(s);
  }
  if (auto st = VerifyThreshold(kRootDomain, f.body, by_old); !st.ok()) {
    return st.error().WithContext("rotation, signatures of the current root");
  }
  if (auto st = f.root.VerifyThreshold(kRootDomain, f.body, by_new); !st.ok()) {
    return st.error().WithContext("rotation, signatures of the new root");
  }
  return std::move(f.root);
}

}  // namespace henbtrust
