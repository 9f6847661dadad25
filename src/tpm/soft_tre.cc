#include "henbtrust/tpm/soft_tre.h"

#include <algorithm>
#include <cstring>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust {

namespace {

// firmwareVersion reported in quotes: "henb" and the format version.
constexpr uint64_t kSoftTreFirmwareVersion = 0x68656e6200000001ULL;
constexpr char kStateMagic[8] = {'H', 'E', 'N', 'B', 'S', 'T', 'R', '1'};
constexpr char kVolatileMagic[8] = {'H', 'E', 'N', 'B', 'S', 'T', 'V', '1'};
constexpr size_t kMaxNonce = 64;  // sizeof(TPMU_HA): the TPM2B_DATA bound

uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

template <size_t N>
void CopyTo(std::array<uint8_t, N>& dst, ByteView src) {
  std::memcpy(dst.data(), src.data(), N);
}

Bytes UncompressedPoint(const std::array<uint8_t, 64>& xy) {
  Bytes p(1 + xy.size());
  p[0] = 0x04;
  std::memcpy(p.data() + 1, xy.data(), xy.size());
  return p;
}

Result<PublicKey> PointKey(const std::array<uint8_t, 64>& xy) {
  return PublicKey::FromEcPoint(KeyType::kEcP256, ByteView(xy).first(32), ByteView(xy).subspan(32));
}

}  // namespace

Result<SoftTre> SoftTre::Create() {
  SoftTre t;
  for (auto* pair : {&t.ek_priv_, &t.ak_priv_}) {
    HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
    HENB_ASSIGN_OR_RETURN(Bytes scalar, key.EcScalar());
    HENB_ASSIGN_OR_RETURN(auto point, key.Public().EcPoint());
    CopyTo(*pair, scalar);
    auto& pub = pair == &t.ek_priv_ ? t.ek_pub_ : t.ak_pub_;
    std::memcpy(pub.data(), point.first.data(), 32);
    std::memcpy(pub.data() + 32, point.second.data(), 32);
  }
  t.clock_base_ms_ = SteadyMs();
  HENB_TRY(t.DeriveQualifiedSigner());
  return t;
}

Status SoftTre::DeriveQualifiedSigner() {
  HENB_ASSIGN_OR_RETURN(Bytes ek_name, TpmObjectName(EkPublic()));
  HENB_ASSIGN_OR_RETURN(Bytes ak_name, TpmObjectName(AkPublic()));
  const Bytes ek_qn =
      QualifiedName(HashAlg::kSha256, HierarchyQualifiedName(kTpmRhEndorsement), ek_name);
  CopyTo(qualified_signer_, QualifiedName(HashAlg::kSha256, ek_qn, ak_name));
  return OkStatus();
}

Bytes SoftTre::SaveState() const {
  Bytes out(kStateMagic, kStateMagic + sizeof kStateMagic);
  Append(out, ek_priv_);
  Append(out, ek_pub_);
  Append(out, ak_priv_);
  Append(out, ak_pub_);
  PutU64Be(out, counter_);
  PutU64Be(out, NowMs());
  PutU32Be(out, reset_count_);
  return out;
}

Bytes SoftTre::SaveVolatile() const {
  Bytes out(kVolatileMagic, kVolatileMagic + sizeof kVolatileMagic);
  PutU32Be(out, restart_count_);
  out.push_back(static_cast<uint8_t>(pcrs_.size()));
  for (const Pcr& p : pcrs_) {
    out.push_back(p.index);
    Append(out, p.value);
  }
  Append(out, log_.Serialize());
  return out;
}

Result<SoftTre> SoftTre::Resume(ByteView state, ByteView volatile_state) {
  HENB_ASSIGN_OR_RETURN(SoftTre t, Load(state, false));
  --t.reset_count_;  // Load counted a power cycle; there was none
  ByteReader r(volatile_state);
  auto fail = [](const std::string& what) {
    return Error(ErrorCode::kMalformed, "soft TrE volatile state: " + what);
  };
  auto magic = r.Take(sizeof kVolatileMagic);
  if (!magic.ok() || std::memcmp(magic->data(), kVolatileMagic, sizeof kVolatileMagic) != 0)
    return fail("bad magic");
  auto restarts = r.U32Be();
  auto count = r.U8();
  if (!restarts.ok() || !count.ok()) return fail("truncated");
  t.restart_count_ = *restarts;
  for (int i = 0; i < *count; ++i) {
    Pcr p{};
    auto index = r.U8();
    auto value = r.Take(p.value.size());
    if (!index.ok() || !value.ok()) return fail("truncated PCRs");
    if (*index > 23 || (!t.pcrs_.empty() && t.pcrs_.back().index >= *index))
      return fail("PCR indexes out of range or order");
    p.index = *index;
    CopyTo(p.value, *value);
    t.pcrs_.push_back(p);
  }
  auto log = EventLog::Parse(r.rest());
  if (!log.ok()) return fail(log.error().message());
  t.log_ = std::move(log).value();
  return t;
}

Result<SoftTre> SoftTre::Load(ByteView state) { return Load(state, true); }

Result<SoftTre> SoftTre::LoadUnchecked(ByteView state) { return Load(state, false); }

Result<SoftTre> SoftTre::Load(ByteView state, bool check_keys) {
  ByteReader r(state);
  auto fail = [](const std::string& what) {
    return Error(ErrorCode::kMalformed, "soft TrE state: " + what);
  };
  auto magic = r.Take(sizeof kStateMagic);
  if (!magic.ok() || std::memcmp(magic->data(), kStateMagic, sizeof kStateMagic) != 0)
    return fail("bad magic");
  SoftTre t;
  auto take = [&](auto& arr) -> Status {
    HENB_ASSIGN_OR_RETURN(ByteView b, r.Take(arr.size()));
    CopyTo(arr, b);
    return OkStatus();
  };
  if (!take(t.ek_priv_).ok() || !take(t.ek_pub_).ok() || !take(t.ak_priv_).ok() ||
      !take(t.ak_pub_).ok()) {
    return fail("truncated keys");
  }
  auto counter = r.U64Be();
  auto clock = r.U64Be();
  auto resets = r.U32Be();
  if (!counter.ok() || !clock.ok() || !resets.ok()) return fail("truncated");
  if (!r.empty()) return fail("trailing bytes");
  // Both keys must be valid points that match their scalars.
  for (const auto* pair : {&t.ek_priv_, &t.ak_priv_}) {
    if (!check_keys) break;
    const auto& pub = pair == &t.ek_priv_ ? t.ek_pub_ : t.ak_pub_;
    auto check = PrivateKey::FromEcScalar(KeyType::kEcP256, *pair);
    if (!check.ok()) return fail(check.error().message());
    auto point = check->Public().EcPoint();
    if (!point.ok() || !Equal(point->first, ByteView(pub).first(32)) ||
        !Equal(point->second, ByteView(pub).subspan(32))) {
      return fail("public key does not match its private key");
    }
  }
  t.counter_ = *counter;
  t.clock_base_ms_ = SteadyMs() - *clock;
  // A power cycle happened while the state was stored.
  t.reset_count_ = *resets + 1;
  HENB_TRY(t.DeriveQualifiedSigner());
  return t;
}

Result<SoftTre> SoftTre::OpenStateFile(const std::string& path) {
  auto raw = ReadFile(path, 4096);
  Result<SoftTre> tre = Error(ErrorCode::kInternal, "");
  if (raw.ok()) {
    tre = Load(*raw);
  } else if (raw.error().code() == ErrorCode::kNotFound) {
    tre = Create();
  } else {
    return raw.error();
  }
  if (!tre.ok()) return tre.error().WithContext(path);
  HENB_TRY(WriteFileAtomic(path, tre->SaveState(), 0600));
  tre->state_file_ = path;
  return tre;
}

Result<uint64_t> SoftTre::IncrementCounter() {
  ++counter_;
  if (!state_file_.empty()) {
    if (auto st = WriteFileAtomic(state_file_, SaveState(), 0600); !st.ok()) {
      --counter_;
      return st.error();
    }
  }
  return counter_;
}

uint64_t SoftTre::NowMs() const { return clock_ms_ ? clock_ms_() : SteadyMs() - clock_base_ms_; }

Status SoftTre::Extend(Event event) {
  if (event.pcr > 23)
    return Error(ErrorCode::kInvalidArgument, "PCR " + std::to_string(event.pcr) + " out of range");
  if (event.pcr >= 17 && event.pcr <= 22) {
    return Error(ErrorCode::kTpmUnsupported, "dynamic PCRs 17-22 cannot be extended at locality 0");
  }
  const Bytes* digest = event.DigestFor(HashAlg::kSha256);
  if (digest == nullptr || event.digests.size() != 1 || digest->size() != 32) {
    return Error(ErrorCode::kInvalidArgument,
                 "the soft TrE measures exactly one sha256 digest per event");
  }
  auto it = std::lower_bound(pcrs_.begin(), pcrs_.end(), event.pcr,
                             [](const Pcr& p, uint32_t idx) { return p.index < idx; });
  if (it == pcrs_.end() || it->index != event.pcr) {
    it = pcrs_.insert(it, Pcr{static_cast<uint8_t>(event.pcr), {}});
  }
  Hasher h(HashAlg::kSha256);
  h.Update(it->value);
  h.Update(*digest);
  h.FinishInto(it->value.data());
  return log_.Append(std::move(event));
}

Result<std::map<uint32_t, Bytes>> SoftTre::ReadPcrs(const PcrSelection& selection) {
  if (selection.bank != HashAlg::kSha256) {
    return Error(ErrorCode::kTpmUnsupported, "the soft TrE has only the sha256 bank");
  }
  std::map<uint32_t, Bytes> out;
  for (uint32_t idx : selection.pcrs) {
    if (idx > 23)
      return Error(ErrorCode::kInvalidArgument, "PCR " + std::to_string(idx) + " out of range");
    auto it =
        std::find_if(pcrs_.begin(), pcrs_.end(), [&](const Pcr& p) { return p.index == idx; });
    out[idx] = it == pcrs_.end() ? PcrResetValue(idx, HashAlg::kSha256)
                                 : Bytes(it->value.begin(), it->value.end());
  }
  return out;
}

Result<Quote> SoftTre::MakeQuote(ByteView nonce, const std::vector<PcrSelection>& selection) {
  if (nonce.size() > kMaxNonce) {
    return Error(ErrorCode::kInvalidArgument,
                 "qualifying data longer than " + std::to_string(kMaxNonce) + " bytes");
  }
  if (selection.empty()) return Error(ErrorCode::kInvalidArgument, "empty PCR selection");
  QuoteInfo info;
  Bytes concat;
  for (const auto& sel : selection) {
    HENB_ASSIGN_OR_RETURN(auto values, ReadPcrs(sel));
    Append(concat, SelectedPcrValues(values, sel));
  }
  info.pcr_select = selection;
  info.pcr_digest = Sha256(concat);
  info.extra_data.assign(nonce.begin(), nonce.end());
  info.clock = {NowMs(), reset_count_, restart_count_, true};
  info.firmware_version = kSoftTreFirmwareVersion;
  info.qualified_signer.assign(qualified_signer_.begin(), qualified_signer_.end());
  HENB_ASSIGN_OR_RETURN(Bytes attest, MarshalQuoteAttest(info));

  if (!ak_key_) {
    HENB_ASSIGN_OR_RETURN(PrivateKey ak, PrivateKey::FromEcScalar(KeyType::kEcP256, ak_priv_,
                                                                  UncompressedPoint(ak_pub_)));
    ak_key_ = std::make_shared<const PrivateKey>(std::move(ak));
  }
  HENB_ASSIGN_OR_RETURN(
      Bytes der, ak_key_->SignDigest(SignatureScheme::kEcdsa, HashAlg::kSha256, Sha256(attest)));
  HENB_ASSIGN_OR_RETURN(auto rs, EcdsaDerToRs(der, 32));
  TpmSignature sig{
      SignatureScheme::kEcdsa, HashAlg::kSha256, std::move(rs.first), std::move(rs.second), {}};
  HENB_ASSIGN_OR_RETURN(Bytes sig_bytes, MarshalTpmSignature(sig));
  return Quote{std::move(attest), std::move(sig_bytes)};
}

Bytes SoftTre::AkPublic() const {
  auto key = PointKey(ak_pub_);
  auto out =
      key.ok() ? MarshalTpmPublic(KeyTemplate::kAkEccP256, *key) : Result<Bytes>(key.error());
  return out.ok() ? std::move(out).value() : Bytes{};
}

Bytes SoftTre::EkPublic() const {
  auto key = PointKey(ek_pub_);
  auto out =
      key.ok() ? MarshalTpmPublic(KeyTemplate::kEkEccP256, *key) : Result<Bytes>(key.error());
  return out.ok() ? std::move(out).value() : Bytes{};
}

Result<Bytes> SoftTre::ActivateCredential(ByteView credential_blob, ByteView encrypted_secret) {
  // The encrypted secret of an ECC EK is the verifier's ephemeral point.
  ByteReader r(encrypted_secret);
  auto xlen = r.U16Be();
  auto x = xlen.ok() ? r.Take(*xlen) : Result<ByteView>(xlen.error());
  auto ylen = r.U16Be();
  auto y = ylen.ok() ? r.Take(*ylen) : Result<ByteView>(ylen.error());
  if (!x.ok() || !y.ok() || !r.empty())
    return Error(ErrorCode::kTpmParse, "encrypted secret is not a TPMS_ECC_POINT");
  HENB_ASSIGN_OR_RETURN(PublicKey ephemeral, PublicKey::FromEcPoint(KeyType::kEcP256, *x, *y));
  HENB_ASSIGN_OR_RETURN(PrivateKey ek, EkPrivateKey());
  HENB_ASSIGN_OR_RETURN(Bytes z, ek.EcdhSharedX(ephemeral));
  const Bytes seed = KdfE(HashAlg::kSha256, z, "IDENTITY", *x, ByteView(ek_pub_).first(32), 256);
  HENB_ASSIGN_OR_RETURN(Bytes ak_name, TpmObjectName(AkPublic()));
  return OpenCredential(HashAlg::kSha256, seed, ak_name, credential_blob);
}

Result<PrivateKey> SoftTre::EkPrivateKey() const {
  return PrivateKey::FromEcScalar(KeyType::kEcP256, ek_priv_, UncompressedPoint(ek_pub_));
}

Status SoftTre::Reboot() {
  pcrs_.clear();
  pcrs_.shrink_to_fit();
  log_.Clear();
  ++reset_count_;
  restart_count_ = 0;
  // A TPM keeps resetCount in NV memory: a verifier must never see it go
  // back after a power cycle (which Load() counts as one more reset).
  if (!state_file_.empty()) HENB_TRY(WriteFileAtomic(state_file_, SaveState(), 0600));
  return OkStatus();
}

size_t SoftTre::StateSizeBytes() const {
  return sizeof(SoftTre) - sizeof(EventLog) + pcrs_.capacity() * sizeof(Pcr);
}

}  // namespace henbtrust
