// TCG PC Client event logs: the crypto-agile format (Spec ID Event03 header
// followed by TCG_PCR_EVENT2 records, any set of banks) and the legacy SHA-1
// format (TCG_PCR_EVENT records only). All integers are little-endian, as in
// the TCG PC Client Platform Firmware Profile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/digest.h"

namespace henbtrust {

// Event types (TCG PC Client PFP, section 10.4.1) that henbtrust names.
namespace event_type {
inline constexpr uint32_t kPostCode = 0x00000001;
inline constexpr uint32_t kNoAction = 0x00000003;
inline constexpr uint32_t kSeparator = 0x00000004;
inline constexpr uint32_t kAction = 0x00000005;
inline constexpr uint32_t kEventTag = 0x00000006;
inline constexpr uint32_t kSCrtmVersion = 0x00000008;
inline constexpr uint32_t kPlatformConfigFlags = 0x0000000A;
inline constexpr uint32_t kIpl = 0x0000000D;
inline constexpr uint32_t kEfiVariableDriverConfig = 0x80000001;
inline constexpr uint32_t kEfiAction = 0x80000007;
}  // namespace event_type

// "EV_POST_CODE", "EV_EFI_ACTION", ...; "EV_0x..." for unknown types.
std::string EventTypeName(uint32_t type);

struct EventDigest {
  uint16_t alg_id = 0;  // TPM_ALG_ID; may name an algorithm henbtrust cannot hash
  Bytes digest;
};

struct Event {
  uint32_t pcr = 0;
  uint32_t type = 0;
  std::vector<EventDigest> digests;
  Bytes data;

  // The digest for `alg`, or nullptr when the event has none.
  const Bytes* DigestFor(HashAlg alg) const;
};

enum class EventLogFormat : uint8_t { kCryptoAgile, kSha1Legacy };

struct SpecIdAlgorithm {
  uint16_t alg_id = 0;
  uint16_t digest_size = 0;
};

// The TCG_EfiSpecIdEvent of a crypto-agile log.
struct SpecIdEvent {
  uint32_t platform_class = 0;
  uint8_t spec_version_minor = 0;
  uint8_t spec_version_major = 2;
  uint8_t spec_errata = 2;
  uint8_t uintn_size = 2;  // 1: UINT32, 2: UINT64
  std::vector<SpecIdAlgorithm> algorithms;
  Bytes vendor_info;
};

// Something parsing noticed that does not make the log unusable.
struct EventLogDiagnostic {
  size_t event_index = 0;  // 0 is the first event after the header
  size_t offset = 0;       // byte offset in the input
  std::string message;
};

// Parsing bounds: every length and count in the input is checked against
// these before anything is allocated.
struct EventLogLimits {
  size_t max_events = 1 << 20;
  size_t max_event_data = 1 << 20;
  size_t max_algorithms = 16;
};

class EventLog {
 public:
  // An empty crypto-agile log with one bank per entry of `banks`.
  static EventLog NewCryptoAgile(const std::vector<HashAlg>& banks);
  static EventLog NewSha1Legacy();

  // Parses either format. Structural errors (truncation, a length past a
  // bound, a digest algorithm missing from the header) are kEventLogParse
  // naming the event and offset; quirks become diagnostics().
  static Result<EventLog> Parse(ByteView data, const EventLogLimits& limits = {});

  Bytes Serialize() const;

  EventLogFormat format() const { return format_; }
  const SpecIdEvent& spec_id() const { return spec_id_; }
  const std::vector<Event>& events() const { return events_; }
  const std::vector<EventLogDiagnostic>& diagnostics() const { return diagnostics_; }
  // Digest size for `alg_id` per the header (20 for SHA-1 in a legacy log);
  // 0 if the log does not declare it.
  uint16_t DigestSizeOf(uint16_t alg_id) const;
  // Banks declared by the header that henbtrust can compute.
  std::vector<HashAlg> Banks() const;

  // Appends `event`. kInvalidArgument if its digests do not fit the log's
  // banks (each declared bank once, with the declared size).
  Status Append(Event event);
  void Clear() { events_.clear(); }

 private:
  EventLogFormat format_ = EventLogFormat::kCryptoAgile;
  SpecIdEvent spec_id_;
  std::vector<Event> events_;
  std::vector<EventLogDiagnostic> diagnostics_;
};

// One readable line per event: index, PCR, type, digests, data.
std::string DescribeEvent(const Event& event, size_t index);

// ---- henbtrust software components ----
//
// A measured component is an EV_IPL event whose data is the UTF-8 text
// "henbtrust:<component-id>:<version>"; its digests are those of the image.
struct ComponentRef {
  std::string id;
  std::string version;
};

// Component ids and versions: 1-64 characters of [A-Za-z0-9._+-].
bool IsValidComponentName(std::string_view name);
Result<Event> MakeComponentEvent(uint32_t pcr, const ComponentRef& component,
                                 std::vector<EventDigest> digests);
std::optional<ComponentRef> ParseComponentEvent(const Event& event);

}  // namespace henbtrust
