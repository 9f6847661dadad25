#include "henbtrust/eventlog/event_log.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace henbtrust {

namespace {

constexpr char kSpecIdSignature[] = "Spec ID Event03";  // 16 bytes with the NUL
constexpr size_t kSha1Size = 20;
constexpr char kComponentPrefix[] = "henbtrust:";

Error ParseError(size_t index, size_t offset, const std::string& what) {
  return Error(ErrorCode::kEventLogParse, "event " + std::to_string(index) + " at offset " +
                                              std::to_string(offset) + ": " + what);
}

// Event types whose digest is, by the PFP, the hash of the event data.
bool DigestCoversData(uint32_t type) {
  return type == event_type::kSeparator || type == event_type::kAction ||
         type == event_type::kEfiAction;
}

Result<SpecIdEvent> ParseSpecId(ByteView data, const EventLogLimits& limits) {
  ByteReader r(data);
  HENB_ASSIGN_OR_RETURN(ByteView sig, r.Take(16));
  if (std::memcmp(sig.data(), kSpecIdSignature, 16) != 0) {
    return Error(ErrorCode::kEventLogParse, "not a Spec ID Event03");
  }
  SpecIdEvent s;
  HENB_ASSIGN_OR_RETURN(s.platform_class, r.U32Le());
  HENB_ASSIGN_OR_RETURN(s.spec_version_minor, r.U8());
  HENB_ASSIGN_OR_RETURN(s.spec_version_major, r.U8());
  HENB_ASSIGN_OR_RETURN(s.spec_errata, r.U8());
  HENB_ASSIGN_OR_RETURN(s.uintn_size, r.U8());
  HENB_ASSIGN_OR_RETURN(uint32_t count, r.U32Le());
  if (count == 0 || count > limits.max_algorithms) {
    return Error(ErrorCode::kEventLogParse,
                 "Spec ID event declares " + std::to_string(count) + " algorithms");
  }
  for (uint32_t i = 0; i < count; ++i) {
    SpecIdAlgorithm a;
    HENB_ASSIGN_OR_RETURN(a.alg_id, r.U16Le());
    HENB_ASSIGN_OR_RETURN(a.digest_size, r.U16Le());
    if (a.digest_size == 0 || a.digest_size > 128) {
      return Error(ErrorCode::kEventLogParse,
                   "Spec ID event declares a digest size of " + std::to_string(a.digest_size));
    }
    for (const auto& prev : s.algorithms) {
      if (prev.alg_id == a.alg_id)
        return Error(ErrorCode::kEventLogParse, "Spec ID event repeats an algorithm");
    }
    s.algorithms.push_back(a);
  }
  HENB_ASSIGN_OR_RETURN(uint8_t vendor_size, r.U8());
  HENB_ASSIGN_OR_RETURN(ByteView vendor, r.Take(vendor_size));
  s.vendor_info.assign(vendor.begin(), vendor.end());
  return s;
}

Bytes SerializeSpecId(const SpecIdEvent& s) {
  Bytes out(kSpecIdSignature, kSpecIdSignature + 16);
  PutU32Le(out, s.platform_class);
  out.push_back(s.spec_version_minor);
  out.push_back(s.spec_version_major);
  out.push_back(s.spec_errata);
  out.push_back(s.uintn_size);
  PutU32Le(out, static_cast<uint32_t>(s.algorithms.size()));
  for (const auto& a : s.algorithms) {
    PutU16Le(out, a.alg_id);
    PutU16Le(out, a.digest_size);
  }
  out.push_back(static_cast<uint8_t>(s.vendor_info.size()));
  Append(out, s.vendor_info);
  return out;
}

bool AllZero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

// An event's data: its 32-bit size, within limits.max_event_data, then the
// bytes; errors name event `index` at offset `off`.
Status ReadEventData(ByteReader& r, size_t index, size_t off, const EventLogLimits& limits,
                     Bytes& out) {
  auto size = r.U32Le();
  if (!size.ok()) return ParseError(index, off, size.error().message());
  if (*size > limits.max_event_data) {
    return ParseError(index, off,
                      "event data of " + std::to_string(*size) + " bytes exceeds the limit");
  }
  auto payload = r.Take(*size);
  if (!payload.ok()) return ParseError(index, off, payload.error().message());
  out.assign(payload->begin(), payload->end());
  return OkStatus();
}

// One record in the legacy TCG_PCR_EVENT format (a SHA-1 digest only),
// the `index`th of the log.
Result<Event> ReadLegacyEvent(ByteReader& r, size_t index, const EventLogLimits& limits) {
  const size_t off = r.position();
  Event e;
  auto fail = [&](const Error& err) { return ParseError(index, off, err.message()); };
  auto pcr = r.U32Le();
  if (!pcr.ok()) return fail(pcr.error());
  auto type = r.U32Le();
  if (!type.ok()) return fail(type.error());
  auto digest = r.Take(kSha1Size);
  if (!digest.ok()) return fail(digest.error());
  HENB_TRY(ReadEventData(r, index, off, limits, e.data));
  e.pcr = *pcr;
  e.type = *type;
  e.digests.push_back(
      {static_cast<uint16_t>(HashAlg::kSha1), Bytes(digest->begin(), digest->end())});
  return e;
}

// One TCG_PCR_EVENT2 record, the `index`th of `log`, whose header declares
// the digests it may carry; one that carries fewer than declared is noted in
// `diagnostics`.
Result<Event> ReadAgileEvent(ByteReader& r, size_t index, const EventLog& log,
                             const EventLogLimits& limits,
                             std::vector<EventLogDiagnostic>& diagnostics) {
  const size_t off = r.position();
  const size_t declared = log.spec_id().algorithms.size();
  Event e;
  auto fail = [&](const Error& err) { return ParseError(index, off, err.message()); };
  auto pcr = r.U32Le();
  if (!pcr.ok()) return fail(pcr.error());
  auto type = r.U32Le();
  if (!type.ok()) return fail(type.error());
  auto count = r.U32Le();
  if (!count.ok()) return fail(count.error());
  if (*count > declared) {
    return ParseError(index, off,
                      "digest count " + std::to_string(*count) + " exceeds the " +
                          std::to_string(declared) + " algorithms of the header");
  }
  e.pcr = *pcr;
  e.type = *type;
  for (uint32_t i = 0; i < *count; ++i) {
    auto alg = r.U16Le();
    if (!alg.ok()) return fail(alg.error());
    const uint16_t size = log.DigestSizeOf(*alg);
    if (size == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%04x", *alg);
      return ParseError(index, off,
                        std::string("digest algorithm ") + buf + " is not declared in the header");
    }
    auto digest = r.Take(size);
    if (!digest.ok()) return fail(digest.error());
    e.digests.push_back({*alg, Bytes(digest->begin(), digest->end())});
  }
  HENB_TRY(ReadEventData(r, index, off, limits, e.data));
  if (*count < declared && e.type != event_type::kNoAction) {
    diagnostics.push_back({index, off,
                           "event carries " + std::to_string(*count) + " of " +
                               std::to_string(declared) + " declared digests"});
  }
  return e;
}

// Notes each event whose digest of a computable bank is not the digest of
// its data, where the digest covers the data (by event type).
void NoteDigestsNotOfTheirData(const std::vector<Event>& events,
                               std::vector<EventLogDiagnostic>& diagnostics) {
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (!DigestCoversData(e.type)) continue;
    for (const auto& d : e.digests) {
      auto alg = HashAlgFromTpmId(d.alg_id);
      if (alg.ok() && !Equal(Hash(*alg, e.data), d.digest)) {
        diagnostics.push_back(
            {i, 0, std::string(HashAlgName(*alg)) + " digest does not match the event data"});
        break;
      }
    }
  }
}

}  // namespace

std::string EventTypeName(uint32_t type) {
  switch (type) {
    case 0x00000000:
      return "EV_PREBOOT_CERT";
    case 0x00000001:
      return "EV_POST_CODE";
    case 0x00000002:
      return "EV_UNUSED";
    case 0x00000003:
      return "EV_NO_ACTION";
    case 0x00000004:
      return "EV_SEPARATOR";
    case 0x00000005:
      return "EV_ACTION";
    case 0x00000006:
      return "EV_EVENT_TAG";
    case 0x00000007:
      return "EV_S_CRTM_CONTENTS";
    case 0x00000008:
      return "EV_S_CRTM_VERSION";
    case 0x00000009:
      return "EV_CPU_MICROCODE";
    case 0x0000000A:
      return "EV_PLATFORM_CONFIG_FLAGS";
    case 0x0000000B:
      return "EV_TABLE_OF_DEVICES";
    case 0x0000000C:
      return "EV_COMPACT_HASH";
    case 0x0000000D:
      return "EV_IPL";
    case 0x0000000E:
      return "EV_IPL_PARTITION_DATA";
    case 0x0000000F:
      return "EV_NONHOST_CODE";
    case 0x00000010:
      return "EV_NONHOST_CONFIG";
    case 0x00000011:
      return "EV_NONHOST_INFO";
    case 0x00000012:
      return "EV_OMIT_BOOT_DEVICE_EVENTS";
    case 0x80000001:
      return "EV_EFI_VARIABLE_DRIVER_CONFIG";
    case 0x80000002:
      return "EV_EFI_VARIABLE_BOOT";
    case 0x80000003:
      return "EV_EFI_BOOT_SERVICES_APPLICATION";
    case 0x80000004:
      return "EV_EFI_BOOT_SERVICES_DRIVER";
    case 0x80000005:
      return "EV_EFI_RUNTIME_SERVICES_DRIVER";
    case 0x80000006:
      return "EV_EFI_GPT_EVENT";
    case 0x80000007:
      return "EV_EFI_ACTION";
    case 0x80000008:
      return "EV_EFI_PLATFORM_FIRMWARE_BLOB";
    case 0x80000009:
      return "EV_EFI_HANDOFF_TABLES";
    case 0x8000000A:
      return "EV_EFI_PLATFORM_FIRMWARE_BLOB2";
    case 0x8000000B:
      return "EV_EFI_HANDOFF_TABLES2";
    case 0x8000000C:
      return "EV_EFI_VARIABLE_BOOT2";
    case 0x80000010:
      return "EV_EFI_HCRTM_EVENT";
    case 0x800000E0:
      return "EV_EFI_VARIABLE_AUTHORITY";
    case 0x800000E1:
      return "EV_EFI_SPDM_FIRMWARE_BLOB";
    case 0x800000E2:
      return "EV_EFI_SPDM_FIRMWARE_CONFIG";
    default:
      break;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "EV_0x%08x", type);
  return buf;
}

const Bytes* Event::DigestFor(HashAlg alg) const {
  for (const auto& d : digests) {
    if (d.alg_id == static_cast<uint16_t>(alg)) return &d.digest;
  }
  return nullptr;
}

EventLog EventLog::NewCryptoAgile(const std::vector<HashAlg>& banks) {
  EventLog log;
  log.format_ = EventLogFormat::kCryptoAgile;
  for (HashAlg b : banks) {
    log.spec_id_.algorithms.push_back(
        {static_cast<uint16_t>(b), static_cast<uint16_t>(DigestSize(b))});
  }
  return log;
}

EventLog EventLog::NewSha1Legacy() {
  EventLog log;
  log.format_ = EventLogFormat::kSha1Legacy;
  log.spec_id_.algorithms.push_back({static_cast<uint16_t>(HashAlg::kSha1), kSha1Size});
  return log;
}

uint16_t EventLog::DigestSizeOf(uint16_t alg_id) const {
  for (const auto& a : spec_id_.algorithms) {
    if (a.alg_id == alg_id) return a.digest_size;
  }
  return 0;
}

std::vector<HashAlg> EventLog::Banks() const {
  std::vector<HashAlg> out;
  for (const auto& a : spec_id_.algorithms) {
    auto alg = HashAlgFromTpmId(a.alg_id);
    if (alg.ok() && DigestSize(*alg) == a.digest_size) out.push_back(*alg);
  }
  return out;
}

Status EventLog::Append(Event event) {
  if (event.data.size() > UINT32_MAX)
    return Error(ErrorCode::kInvalidArgument, "event data too large");
  if (format_ == EventLogFormat::kSha1Legacy) {
    if (event.digests.size() != 1 ||
        event.digests[0].alg_id != static_cast<uint16_t>(HashAlg::kSha1) ||
        event.digests[0].digest.size() != kSha1Size) {
      return Error(ErrorCode::kInvalidArgument,
                   "a legacy log event carries exactly one SHA-1 digest");
    }
  } else {
    if (event.digests.empty() || event.digests.size() > spec_id_.algorithms.size()) {
      return Error(ErrorCode::kInvalidArgument,
                   "event has " + std::to_string(event.digests.size()) + " digests for " +
                       std::to_string(spec_id_.algorithms.size()) + " banks");
    }
    for (size_t i = 0; i < event.digests.size(); ++i) {
      const auto& d = event.digests[i];
      if (DigestSizeOf(d.alg_id) != d.digest.size()) {
        return Error(ErrorCode::kInvalidArgument, "event digest does not fit the log's banks");
      }
      for (size_t j = 0; j < i; ++j) {
        if (event.digests[j].alg_id == d.alg_id) {
          return Error(ErrorCode::kInvalidArgument, "event repeats a digest algorithm");
        }
      }
    }
  }
  events_.push_back(std::move(event));
  return OkStatus();
}

Result<EventLog> EventLog::Parse(ByteView data, const EventLogLimits& limits) {
  EventLog log;
  ByteReader r(data);

  // The first record is always in the legacy TCG_PCR_EVENT format.
  if (r.empty()) return Error(ErrorCode::kEventLogParse, "empty event log");
  HENB_ASSIGN_OR_RETURN(Event first, ReadLegacyEvent(r, 0, limits));
  const bool agile = first.type == event_type::kNoAction && first.pcr == 0 &&
                     first.data.size() >= 16 &&
                     std::memcmp(first.data.data(), kSpecIdSignature, 16) == 0;
  if (agile) {
    log.format_ = EventLogFormat::kCryptoAgile;
    auto spec = ParseSpecId(first.data, limits);
    if (!spec.ok()) return ParseError(0, 0, "Spec ID header: " + spec.error().message());
    log.spec_id_ = std::move(spec).value();
  } else {
    log.format_ = EventLogFormat::kSha1Legacy;
    log.spec_id_.algorithms.push_back({static_cast<uint16_t>(HashAlg::kSha1), kSha1Size});
    log.events_.push_back(std::move(first));
  }

  while (!r.empty()) {
    const size_t index = log.events_.size();
    const size_t off = r.position();
    if (AllZero(r.rest())) {
      log.diagnostics_.push_back(
          {index, off, std::to_string(r.remaining()) + " trailing zero bytes ignored"});
      break;
    }
    if (log.events_.size() >= limits.max_events) {
      return ParseError(index, off, "more than " + std::to_string(limits.max_events) + " events");
    }
    HENB_ASSIGN_OR_RETURN(Event e, agile ? ReadAgileEvent(r, index, log, limits, log.diagnostics_)
                                         : ReadLegacyEvent(r, index, limits));
    log.events_.push_back(std::move(e));
  }
  NoteDigestsNotOfTheirData(log.events_, log.diagnostics_);
  return log;
}

Bytes EventLog::Serialize() const {
  Bytes out;
  if (format_ == EventLogFormat::kCryptoAgile) {
    const Bytes spec = SerializeSpecId(spec_id_);
    PutU32Le(out, 0);
    PutU32Le(out, event_type::kNoAction);
    out.insert(out.end(), kSha1Size, 0);
    PutU32Le(out, static_cast<uint32_t>(spec.size()));
    henbtrust::Append(out, spec);
  }
  for (const Event& e : events_) {
    PutU32Le(out, e.pcr);
    PutU32Le(out, e.type);
    if (format_ == EventLogFormat::kSha1Legacy) {
      henbtrust::Append(out, e.digests.at(0).digest);
    } else {
      PutU32Le(out, static_cast<uint32_t>(e.digests.size()));
      for (const auto& d : e.digests) {
        PutU16Le(out, d.alg_id);
        henbtrust::Append(out, d.digest);
      }
    }
    PutU32Le(out, static_cast<uint32_t>(e.data.size()));
    henbtrust::Append(out, e.data);
  }
  return out;
}

std::string DescribeEvent(const Event& event, size_t index) {
  std::string line = "#" + std::to_string(index) + " pcr=" + std::to_string(event.pcr) + " " +
                     EventTypeName(event.type);
  for (const auto& d : event.digests) {
    auto alg = HashAlgFromTpmId(d.alg_id);
    char name[16];
    if (alg.ok()) {
      std::snprintf(name, sizeof name, "%s", std::string(HashAlgName(*alg)).c_str());
    } else {
      std::snprintf(name, sizeof name, "alg0x%04x", d.alg_id);
    }
    line += std::string(" ") + name + "=" + HexEncode(d.digest);
  }
  const bool printable = !event.data.empty() &&
                         std::all_of(event.data.begin(), event.data.end(),
                                     [](uint8_t c) { return (c >= 0x20 && c < 0x7f) || c == 0; });
  constexpr size_t kMaxShown = 48;
  if (printable) {
    std::string text;
    for (uint8_t c : event.data) {
      if (c == 0) break;
      text += static_cast<char>(c);
    }
    if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
    line += " data=\"" + text + "\"";
  } else {
    const size_t n = std::min(event.data.size(), kMaxShown / 2);
    line += " data=" + std::to_string(event.data.size()) +
            "B:" + HexEncode(ByteView(event.data).first(n));
    if (n < event.data.size()) line += "...";
  }
  return line;
}

bool IsValidComponentName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+';
  });
}

Result<Event> MakeComponentEvent(uint32_t pcr, const ComponentRef& component,
                                 std::vector<EventDigest> digests) {
  if (!IsValidComponentName(component.id) || !IsValidComponentName(component.version)) {
    return Error(ErrorCode::kInvalidArgument, "invalid component id or version '" + component.id +
                                                  "', '" + component.version + "'");
  }
  if (pcr > 23)
    return Error(ErrorCode::kInvalidArgument, "PCR index " + std::to_string(pcr) + " out of range");
  Event e;
  e.pcr = pcr;
  e.type = event_type::kIpl;
  e.digests = std::move(digests);
  e.data = ToBytes(kComponentPrefix + component.id + ":" + component.version);
  return e;
}

std::optional<ComponentRef> ParseComponentEvent(const Event& event) {
  if (event.type != event_type::kIpl) return std::nullopt;
  const std::string text = ToString(event.data);
  const std::string prefix = kComponentPrefix;
  if (text.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const size_t colon = text.find(':', prefix.size());
  if (colon == std::string::npos) return std::nullopt;
  ComponentRef ref{text.substr(prefix.size(), colon - prefix.size()), text.substr(colon + 1)};
  if (!IsValidComponentName(ref.id) || !IsValidComponentName(ref.version)) return std::nullopt;
  return ref;
}

}  // namespace henbtrust
