// The release manifest: what a vendor signs. Its encoding is canonical by
// construction (one binary form, checked strictly on parse), so signatures
// cover exactly one byte string. Layout: docs/release-bundle.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/eventlog/replay.h"

namespace henbtrust {

inline constexpr size_t kMaxComponents = 64;
inline constexpr size_t kMaxHardwareModels = 32;
inline constexpr uint64_t kMaxComponentSize = uint64_t{1} << 40;  // 1 TiB

struct ReleaseComponent {
  std::string id;       // IsValidComponentName
  std::string version;  // IsValidComponentName
  uint64_t size = 0;
  Bytes sha256;      // the component's RIM
  uint32_t pcr = 0;  // PCR of the measurement plan (0-16 or 23)
};

struct ReleaseManifest {
  std::string release_id;        // IsValidComponentName
  std::string version;           // IsValidComponentName
  uint64_t release_counter = 0;  // monotonic; the anti-rollback floor compares against it
  std::vector<std::string> hardware_models;  // sorted, unique
  int64_t expires_at = 0;                    // Unix seconds
  // In measurement-plan order: measured boot extends them in this order.
  std::vector<ReleaseComponent> components;

  const ReleaseComponent* Find(std::string_view id) const;
};

// Canonical bytes. kInvalidArgument if the manifest breaks a rule that Parse
// enforces (names, sizes, bounds, order, uniqueness).
Result<Bytes> EncodeManifest(const ReleaseManifest& manifest);
// Strict: anything but the canonical encoding of a valid manifest is
// kReleaseMalformed, kReleaseTruncated, kReleaseTooLarge or kReleaseTrailing.
Result<ReleaseManifest> ParseManifest(ByteView bytes);

// The measurement plan's PCR selection: the PCRs the components use, ascending.
PcrSelection PlanSelection(const ReleaseManifest& manifest);
// The event log a boot of this release produces on a fresh TrE.
EventLog PlanEventLog(const ReleaseManifest& manifest);
// The expected TIM of the release under its measurement plan: the composite
// digest of PlanSelection() after measuring every component from reset.
Bytes ExpectedTim(const ReleaseManifest& manifest);

}  // namespace henbtrust
