// What the simulator makes before a fleet exists: a vendor that signs
// releases (one key, a trust root of threshold 1, a bundle of two small
// components per version), and a TPM manufacturer that certifies EKs.
// Shared by the scenario runner (sim/scenario_run.h) and the compact fleet
// (sim/compact_fleet.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "henbtrust/core/result.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/release/trust.h"

namespace henbtrust::sim {

inline constexpr char kModel[] = "femto-a1";
inline constexpr char kReleaseId[] = "henb-firmware";

class SimVendor {
 public:
  static Result<SimVendor> Create();
  const TrustRoot& trust() const { return trust_; }
  // Writes DIR/VERSION.bundle (its components under DIR/VERSION/), signed,
  // for kModel, expiring at `expires_at` (Unix seconds); returns its path.
  Result<std::string> MakeRelease(const std::string& dir, const std::string& version,
                                  uint64_t counter, int64_t expires_at) const;

 private:
  SimVendor(PrivateKey key, TrustRoot trust) : key_(std::move(key)), trust_(std::move(trust)) {}
  PrivateKey key_;
  TrustRoot trust_;
};

// A simulated TPM manufacturer: a self-signed CA that issues EK certificates.
struct SimManufacturer {
  Certificate ca;
  PrivateKey key;
  static Result<SimManufacturer> Create();
};

}  // namespace henbtrust::sim
