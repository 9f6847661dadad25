#include "henbtrust/release/manifest.h"

#include <algorithm>
#include <set>

namespace henbtrust {

namespace {

constexpr uint16_t kManifestFormat = 1;

Error Malformed(const std::string& what) {
  return Error(ErrorCode::kReleaseMalformed, "manifest: " + what);
}

// A component's PCR: 0 to 14. PCR 15 is the boot stage's (device/boot_stage.h);
// 16 and 23 can be reset from locality 0, so an OS could reset them and
// replay any measurement (a TIM over them proves nothing); 17 to 22 belong
// to a dynamic launch.
bool ValidPcr(uint32_t pcr) { return pcr <= 14; }

Status CheckManifest(const ReleaseManifest& m) {
  if (!IsValidComponentName(m.release_id))
    return Malformed("invalid release id '" + m.release_id + "'");
  if (!IsValidComponentName(m.version))
    return Malformed("invalid release version '" + m.version + "'");
  if (m.hardware_models.empty()) return Malformed("no hardware model");
  if (m.hardware_models.size() > kMaxHardwareModels) {
    return Error(ErrorCode::kReleaseTooLarge,
                 "manifest: more than " + std::to_string(kMaxHardwareModels) + " hardware models");
  }
  for (size_t i = 0; i < m.hardware_models.size(); ++i) {
    if (!IsValidComponentName(m.hardware_models[i])) {
      return Malformed("invalid hardware model '" + m.hardware_models[i] + "'");
    }
    if (i > 0 && m.hardware_models[i - 1] >= m.hardware_models[i]) {
      return Malformed("hardware models must be sorted and unique");
    }
  }
  if (m.components.empty()) return Malformed("no component");
  if (m.components.size() > kMaxComponents) {
    return Error(ErrorCode::kReleaseTooLarge,
                 "manifest: more than " + std::to_string(kMaxComponents) + " components");
  }
  std::set<std::string> ids;
  for (const auto& c : m.components) {
    if (!IsValidComponentName(c.id) || !IsValidComponentName(c.version)) {
      return Malformed("invalid component id or version '" + c.id + "', '" + c.version + "'");
    }
    if (!ids.insert(c.id).second) return Malformed("component " + c.id + " appears twice");
    if (c.size > kMaxComponentSize)
      return Error(ErrorCode::kReleaseTooLarge, "component " + c.id + " too large");
    if (c.sha256.size() != 32) return Malformed("component " + c.id + " digest is not SHA-256");
    if (!ValidPcr(c.pcr))
      return Malformed("component " + c.id + " names PCR " + std::to_string(c.pcr));
  }
  return OkStatus();
}

void PutString(Bytes& out, const std::string& s) {
  PutU16Be(out, static_cast<uint16_t>(s.size()));
  Append(out, AsBytes(s));
}

Result<std::string> ReadString(ByteReader& r, const char* what) {
  auto len = r.U16Be();
  if (!len.ok()) return Error(ErrorCode::kReleaseTruncated, std::string("manifest: ") + what);
  if (*len > 64)
    return Error(ErrorCode::kReleaseTooLarge, std::string("manifest: ") + what + " longer than 64");
  auto bytes = r.Take(*len);
  if (!bytes.ok()) return Error(ErrorCode::kReleaseTruncated, std::string("manifest: ") + what);
  return ToString(*bytes);
}

template <typename T>
Result<T> ReadInt(Result<T> v, const char* what) {
  if (!v.ok()) return Error(ErrorCode::kReleaseTruncated, std::string("manifest: ") + what);
  return v;
}

}  // namespace

const ReleaseComponent* ReleaseManifest::Find(std::string_view id) const {
  for (const auto& c : components) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

Result<Bytes> EncodeManifest(const ReleaseManifest& m) {
  if (auto st = CheckManifest(m); !st.ok())
    return Error(ErrorCode::kInvalidArgument, st.error().message());
  Bytes out;
  PutU16Be(out, kManifestFormat);
  PutString(out, m.release_id);
  PutString(out, m.version);
  PutU64Be(out, m.release_counter);
  PutU16Be(out, static_cast<uint16_t>(m.hardware_models.size()));
  for (const auto& hw : m.hardware_models) PutString(out, hw);
  PutU64Be(out, static_cast<uint64_t>(m.expires_at));
  PutU16Be(out, static_cast<uint16_t>(m.components.size()));
  for (const auto& c : m.components) {
    PutString(out, c.id);
    PutString(out, c.version);
    PutU64Be(out, c.size);
    Append(out, c.sha256);
    out.push_back(static_cast<uint8_t>(c.pcr));
  }
  return out;
}

Result<ReleaseManifest> ParseManifest(ByteView bytes) {
  ByteReader r(bytes);
  ReleaseManifest m;
  HENB_ASSIGN_OR_RETURN(uint16_t format, ReadInt(r.U16Be(), "format"));
  if (format != kManifestFormat) return Malformed("unknown format " + std::to_string(format));
  HENB_ASSIGN_OR_RETURN(m.release_id, ReadString(r, "release id"));
  HENB_ASSIGN_OR_RETURN(m.version, ReadString(r, "version"));
  HENB_ASSIGN_OR_RETURN(m.release_counter, ReadInt(r.U64Be(), "release counter"));
  HENB_ASSIGN_OR_RETURN(uint16_t n_models, ReadInt(r.U16Be(), "hardware model count"));
  if (n_models > kMaxHardwareModels)
    return Error(ErrorCode::kReleaseTooLarge, "manifest: too many hardware models");
  for (uint16_t i = 0; i < n_models; ++i) {
    HENB_ASSIGN_OR_RETURN(std::string hw, ReadString(r, "hardware model"));
    m.hardware_models.push_back(std::move(hw));
  }
  HENB_ASSIGN_OR_RETURN(uint64_t expires, ReadInt(r.U64Be(), "expiry"));
  m.expires_at = static_cast<int64_t>(expires);
  HENB_ASSIGN_OR_RETURN(uint16_t n_components, ReadInt(r.U16Be(), "component count"));
  if (n_components > kMaxComponents)
    return Error(ErrorCode::kReleaseTooLarge, "manifest: too many components");
  for (uint16_t i = 0; i < n_components; ++i) {
    ReleaseComponent c;
    HENB_ASSIGN_OR_RETURN(c.id, ReadString(r, "component id"));
    HENB_ASSIGN_OR_RETURN(c.version, ReadString(r, "component version"));
    HENB_ASSIGN_OR_RETURN(c.size, ReadInt(r.U64Be(), "component size"));
    auto digest = r.Take(32);
    if (!digest.ok()) return Error(ErrorCode::kReleaseTruncated, "manifest: component digest");
    c.sha256.assign(digest->begin(), digest->end());
    HENB_ASSIGN_OR_RETURN(uint8_t pcr, ReadInt(r.U8(), "component PCR"));
    c.pcr = pcr;
    m.components.push_back(std::move(c));
  }
  if (!r.empty()) {
    return Error(ErrorCode::kReleaseTrailing,
                 "manifest: " + std::to_string(r.remaining()) + " trailing bytes");
  }
  HENB_TRY(CheckManifest(m));
  return m;
}

PcrSelection PlanSelection(const ReleaseManifest& manifest) {
  std::set<uint32_t> pcrs;
  for (const auto& c : manifest.components) pcrs.insert(c.pcr);
  return PcrSelection{HashAlg::kSha256, std::vector<uint32_t>(pcrs.begin(), pcrs.end())};
}

EventLog PlanEventLog(const ReleaseManifest& manifest) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha256});
  for (const auto& c : manifest.components) {
    auto e = MakeComponentEvent(c.pcr, {c.id, c.version},
                                {{static_cast<uint16_t>(HashAlg::kSha256), c.sha256}});
    if (e.ok()) (void)log.Append(std::move(e).value());
  }
  return log;
}

Bytes ExpectedTim(const ReleaseManifest& manifest) {
  auto values = Replay(PlanEventLog(manifest));
  return CompositeDigest(values.ok() ? (*values)[HashAlg::kSha256] : std::map<uint32_t, Bytes>{},
                         PlanSelection(manifest));
}

}  // namespace henbtrust
