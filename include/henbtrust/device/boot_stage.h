// The boot stage of an H(e)NB (docs/recovery.md): the immutable first code
// that runs at power-on, beside the read-only recovery slot. It holds the
// authenticated watchdog (a deadline on the TrE's clock, which the OS cannot
// set back), the key that verifies the OAM's deferral tickets, the last
// TIM the OAM affirmed, and the boot decision: the normal slots, or the
// recovery image.
//
// Modes:
//   normal    the slots boot; tickets move the deadline on
//   recovery  the recovery image boots (why: watchdog expired, ordered by
//             the OAM, both slots failed); only a ticket whose TIM the
//             normal slot still measures to, or a recovery, leaves it
//   minimal   the recovery image could not reach the OAM and the normal slot
//             measured to the last affirmed TIM: the femtocell serves,
//             updates are held; a ticket brings it back to normal. Its
//             deadline is kMinimalFirstBackoff periods away and doubles each
//             time it passes (up to kMaxMinimalBackoff periods), so that an
//             outage of up to four periods costs one reset, a longer one a
//             few, never a loop.
//
// The state lives in DIR/boot-stage/ and is written only by this class,
// with the same atomic writes as the device's (through Env). In a real
// H(e)NB it is boot ROM and a write-protected flash region; in this model
// the normal OS is the update agent and its hooks, which never touch it
// except through Challenge() and AcceptTicket(), whose inputs are verified.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "henbtrust/core/env.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/net/deferral_ticket.h"
#include "henbtrust/release/manifest.h"
#include "henbtrust/tpm/tre.h"

namespace henbtrust {

enum class DeviceMode { kNormal, kMinimal, kRecovery };
std::string_view DeviceModeName(DeviceMode mode);
std::optional<DeviceMode> ParseDeviceMode(std::string_view name);

// Why a device is in (or last entered) recovery.
inline constexpr char kRecoveryWatchdog[] = "watchdog expired";
inline constexpr char kRecoveryOrdered[] = "ordered by the OAM";
inline constexpr char kRecoveryBothSlotsFailed[] = "both slots failed";
inline constexpr char kRecoveryMinimalDeadline[] = "minimal-mode deadline passed";

// The boot stage measures itself into kBootStagePcr (net/deferral_ticket.h).
// When it boots the recovery image, the boot stage first extends an
// EV_ACTION event "<kRecoveryBootMarker>; ticket key sha256:<hex>" into the
// PCR of the recovery release's first component, so that a recovery boot's
// TIM (RecoveryBootTim) differs from a normal boot of the same release (no
// OS that booted normally can quote it) and names the key the watchdog
// trusts: a verified quote of a recovery boot shows which OAM the device
// answers to.
inline constexpr char kRecoveryBootMarker[] = "henbtrust boot stage: recovery image";
// `ticket_key_digest`: the SHA-256 of the ticket key's SubjectPublicKeyInfo.
Event RecoveryBootEvent(const ReleaseManifest& recovery, ByteView ticket_key_digest);
// The TIM of a boot of `recovery` as the recovery image of a boot stage
// holding that key: the marker, then every component, from reset, over
// PlanSelection(recovery).
Bytes RecoveryBootTim(const ReleaseManifest& recovery, ByteView ticket_key_digest);
// At a normal boot, the boot stage first extends this EV_SEPARATOR into
// every PCR of the recovery release's plan that the booted slot's own plan
// leaves out (none, for an honest manifest): an OS that rewrote its slot's
// manifest cannot keep those PCRs at their reset values and then replay a
// recovery boot into them.
inline constexpr char kNormalBootSeparator[] = "henbtrust boot stage: normal boot";
Event NormalBootEvent(uint32_t pcr);
// True if `log` holds the marker: a recovery boot's log.
bool IsRecoveryBootLog(const EventLog& log);

// A challenge is good for a ticket this long on the TrE's clock.
inline constexpr uint64_t kChallengeLifetimeMs = uint64_t{600} * 1000;
// How often the boot stage writes down the clock it saw (and so the most
// a clock that goes back at a power loss can take off the watchdog).
inline constexpr uint64_t kClockObservationMs = uint64_t{60} * 1000;
// The minimal-mode deadline: this many ticket periods at first, doubling
// to at most kMaxMinimalBackoff.
inline constexpr int kMinimalFirstBackoff = 4;
inline constexpr int kMaxMinimalBackoff = 32;

struct BootStageState {
  std::string ticket_key_pem;  // SubjectPublicKeyInfo, PEM
  int64_t period = 0;          // seconds; a ticket's own period replaces it
  DeviceMode mode = DeviceMode::kNormal;
  std::string reason;          // why recovery was last entered; empty if never
  uint64_t deadline_ms = 0;    // on the TrE clock
  uint64_t last_clock_ms = 0;  // the clock when last written down
  Bytes challenge;             // empty: none outstanding
  uint64_t challenge_at_ms = 0;
  // From the last deferral: the TIM the OAM affirmed for this device.
  Bytes affirmed_tim;
  int64_t affirmed_appraisal = 0;
  uint64_t resets = 0;                         // resets into recovery the boot stage has made
  int minimal_backoff = kMinimalFirstBackoff;  // periods until a minimal-mode device resets
  std::string last_ticket;  // "defer <appraisal>", "recover: <reason>", for people
  // A recovery the recovery image is carrying out: the slot it wrote and the
  // TIM that slot must measure to. In recovery mode the boot stage boots
  // that slot (and only while it measures so), else the recovery image; the
  // OS's own files (journal, boot control) do not decide it.
  std::string recovery_trial_slot;
  Bytes recovery_trial_tim;
  // A new recovery image is staged in slots/recovery.next and being moved
  // into the recovery slot (Device::UpdateRecoveryImage); power-on finishes it.
  bool recovery_update = false;
  // The SHA-256 of the staged manifest's bytes, as the recovery image
  // verified it: before the old image goes, the staged one must still be
  // that manifest and its images.
  Bytes recovery_update_manifest;
};

// What a ticket did.
enum class TicketEffect {
  kDeferred,      // deadline moved on (and minimal mode, if it was, left)
  kLeftRecovery,  // recovery left: the normal slot measured to the ticket's TIM
  kRecover,       // the OAM refused: recovery entered (or kept)
  kTimMismatch,   // in recovery: the normal slot does not measure to the TIM
};

class BootStage {
 public:
  // Factory provisioning (the device's first power-on): the ticket key and
  // the default period; the first deadline is one period from now.
  static Result<BootStage> Provision(Env& env, const std::string& device_dir,
                                     const std::string& ticket_key_pem, int64_t period, Tre& tre);
  // kNotFound when the device has no boot stage (provisioned without one).
  static Result<BootStage> Open(Env& env, const std::string& device_dir);

  const BootStageState& state() const { return state_; }
  // The SHA-256 of the ticket key's SubjectPublicKeyInfo (DER).
  const Bytes& ticket_key_digest() const { return key_digest_; }

  // At each boot, after the TrE's reset: reads the clock (keeping the time
  // left if it went back) and measures the ticket key's digest into
  // kBootStagePcr.
  Status Measure(Tre& tre);

  // A fresh challenge for a ticket; replaces any outstanding one.
  Result<Bytes> Challenge(Tre& tre);

  // Verifies `token` (the OAM key, this device, the outstanding challenge,
  // within kChallengeLifetimeMs of it) and spends the challenge.
  // `normal_tim` measures the normal slot when the device is in recovery
  // (the recovery image's local check); unused otherwise. kPolicyTicket for
  // a ticket that does nothing (forged, replayed, late, another device's).
  Result<TicketEffect> AcceptTicket(std::string_view token, const std::string& device_id, Tre& tre,
                                    const std::optional<Bytes>& normal_tim);

  // True when the deadline has passed on the TrE clock: the watchdog
  // fires. Never in recovery. A clock that went back (power loss, a
  // cleared TrE) moves the deadline back with it: the time left is kept.
  Result<bool> Expired(Tre& tre);

  // The watchdog fired, the OAM ordered it, or no slot boots: the next boot
  // is the recovery image. Counts a reset.
  Status EnterRecovery(const std::string& reason, Tre& tre);
  // From recovery, with the OAM out of reach: the normal slot measured to
  // `normal_tim`. Minimal mode if it equals the affirmed TIM (true), else
  // recovery stays (false).
  Result<bool> EnterMinimal(const Bytes& normal_tim, Tre& tre);
  // Marks a staged recovery image, whose manifest's bytes hash to
  // `manifest_digest`, as being moved in (true) or done (false).
  Status SetRecoveryUpdate(bool staged, const Bytes& manifest_digest = {});
  // The recovery image's trial (empty slot: none).
  Status SetRecoveryTrial(const std::string& slot, const Bytes& tim);

 private:
  BootStage(Env& env, std::string dir) : env_(&env), dir_(std::move(dir)) {}
  std::string StateFile() const;
  Status Save();
  Result<uint64_t> Now(Tre& tre);
  Status LoadKey();

  Env* env_;
  std::string dir_;
  BootStageState state_;
  std::optional<PublicKey> key_;
  Bytes key_digest_;
};

}  // namespace henbtrust
