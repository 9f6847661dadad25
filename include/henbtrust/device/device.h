// The device side of an update (docs/design.md section 3, steps 6 and 7): A/B
// slots with an immutable recovery slot, boot control with trial boots,
// measured boot into the TrE, install with a crash-safe journal, the local
// TIM comparison with automatic fall back, and commit.
//
// Directory layout (docs/device.md):
//   DIR/slots/{a,b,recovery}/<component>.img and manifest (canonical bytes)
//   DIR/boot-control.json   active slot, trial slot, attempts left, last fall back
//   DIR/journal.json        the pending update and its phase
//   DIR/identity.json       hardware model
//   DIR/finished-job        written by the update agent: the highest OAM job
//                           id it has finished (docs/device.md)
// Every write is a temporary file, fsync, rename, fsync of the directory; all
// file I/O goes through DeviceOptions::env. A Device serves one caller at a
// time.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "henbtrust/core/env.h"
#include "henbtrust/device/boot_stage.h"
#include "henbtrust/device/recovery_identity.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/tpm/tre.h"

namespace henbtrust {

struct BootControl {
  std::string active = "a";
  std::string trial;  // empty: no trial pending
  int attempts_left = 0;
  std::string booted;  // slot of the current boot
  std::string last_fallback_reason;
};

enum class UpdatePhase { kNone, kInstalling, kInstalled, kTrialGood };
std::string_view UpdatePhaseName(UpdatePhase phase);

struct UpdateJournal {
  UpdatePhase phase = UpdatePhase::kNone;
  std::string target_slot;
  std::string release_version;
  uint64_t release_counter = 0;
  Bytes expected_tim;
  std::string last_outcome;  // "committed 2.0", "fell back: ...", "rolled back: ..."
  // A recovery (both slots written): an interrupted one leaves neither
  // valid, and its commit is never finished at power-on, only on Commit().
  bool both_slots = false;
};

// The boot stage a device is provisioned with (device/boot_stage.h): the
// OAM's ticket key and the default ticket period. No key: no boot stage
// (a device of before the watchdog, or a test of the slots alone).
struct BootStageSettings {
  std::string ticket_key_pem;
  int64_t period = 0;  // seconds
};

struct DeviceOptions {
  int trial_boot_attempts = 2;
  BootStageSettings boot_stage = {};
  // The device's files (DIR and below) are read and written through `env`,
  // which must outlive the Device. The bundle given to Provision or Install
  // is read from the real file system.
  Env* env = Env::Default();
};

struct BootReport {
  std::string slot;
  std::string release_version;
  Bytes tim;  // composite over the slot's plan selection, read from the TrE
  bool fell_back = false;
  DeviceMode mode = DeviceMode::kNormal;  // the boot stage's (normal without one)
};

class Device {
 public:
  // Factory provisioning: verifies `bundle` and installs it into slot a and
  // the read-only recovery slot.
  static Result<std::unique_ptr<Device>> Provision(const std::string& dir,
                                                   const std::string& hardware_model,
                                                   const std::string& bundle,
                                                   const TrustRoot& trust, int64_t now,
                                                   std::unique_ptr<Tre> tre,
                                                   const DeviceOptions& options = {});
  // Power-on: loads the state and resolves an interrupted journal (an
  // unfinished install is rolled back, an unfinished commit completed).
  // The caller then calls Boot().
  static Result<std::unique_ptr<Device>> Open(const std::string& dir, std::unique_ptr<Tre> tre,
                                              const DeviceOptions& options = {});

  // Measured boot: picks the slot (a pending trial while attempts remain,
  // else the active slot, else recovery), power-cycles the TrE and measures
  // each component in plan order. Booting the trial slot runs the step-7
  // comparison; a mismatch or exhausted attempts falls back to the active
  // slot and keeps the reason. With a boot stage in recovery mode the
  // recovery image boots (or the trial of a recovery it is carrying out);
  // a device whose slots both fail enters recovery.
  Result<BootReport> Boot();

  // The watchdog (docs/recovery.md): the boot stage's timer, which runs
  // whatever the OS does; the model's hardware calls it. When the deadline
  // has passed, the device resets into its recovery image: true. False
  // without a boot stage, in recovery, or before the deadline.
  Result<bool> Watchdog();
  // A challenge for a deferral ticket (kDeviceState without a boot stage).
  Result<Bytes> TicketChallenge();
  // Hands `token` to the boot stage. In recovery it first measures the
  // normal slot (the local check); a ticket that lets it leave reboots into
  // the normal slot, a refusal resets into the recovery image.
  Result<TicketEffect> AcceptTicket(std::string_view token, const std::string& device_id);
  // In recovery, with the OAM out of reach: the recovery image's local
  // check of the normal slot against the last affirmed TIM. True: minimal
  // mode, rebooted into the normal slot. False: recovery stays.
  Result<bool> EnterMinimalMode();
  // A new recovery image (docs/recovery.md): only the recovery image writes
  // the recovery slot, so only while it runs (recovery mode, booted from
  // the recovery slot; kDeviceState otherwise). `bundle` is verified as an
  // install's is (vendor signatures, hardware model, expiry, digests), with
  // the recovery image's own release counter as the floor: no older image.
  // Staged in slots/recovery.next, then moved in file by file, the manifest
  // last; a power loss in between is finished at power-on.
  Result<ReleaseManifest> UpdateRecoveryImage(const std::string& bundle, const TrustRoot& trust,
                                              int64_t now);

  // The recovery image's TLS identity (device/recovery_identity.h), as
  // the normal OS may use it: name its key and have it sign an
  // enrollment's activation context, and hand in its certificate.
  // kNotFound for a device provisioned without one.
  Result<RecoveryIdentity> RecoveryIdentityForEnrollment();
  // The recovery image's certificate and key (PEM), for its TLS client:
  // only while the recovery image runs, or the slot its recover job wrote
  // and the boot stage checked (kDeviceState otherwise), and
  // kNotFound before the device enrolled a recovery certificate.
  struct RecoveryTlsPems {
    std::string certificate_pem;
    std::string private_key_pem;
  };
  Result<RecoveryTlsPems> RecoveryTls();

  // The TIM the slot's files measure to now (no TrE involved), as the
  // recovery image computes it for the local check.
  Result<Bytes> LocalTim(const std::string& slot);
  DeviceMode mode() const { return stage_ ? stage_->state().mode : DeviceMode::kNormal; }
  // The boot stage, or nullptr without one.
  const BootStage* boot_stage() const { return stage_ ? &*stage_ : nullptr; }

  // Step 6: verifies `bundle` completely (signatures, hardware model,
  // expiry, anti-rollback floor from the TrE counter, every digest) before
  // writing a byte, installs it into the inactive slot, computes the
  // expected TIM, and arms a trial boot. Step 7 happens at the next Boot().
  Result<UpdateJournal> Install(const std::string& bundle, const TrustRoot& trust, int64_t now);

  // A recover order (docs/device.md, "Recovery"): the device boots its
  // recovery image, which verifies `bundle` as Install does, writes it into
  // both slots (the inactive one first) and arms a trial boot of the active
  // slot; the next Boot() runs the step-7 comparison, and Commit() follows
  // step 9 as after an install. Whatever ran before, and any pending
  // update, is gone from both slots. A power loss in the middle leaves the
  // active slot invalid: the device boots its recovery image and the order
  // is carried out again.
  Result<UpdateJournal> Recover(const std::string& bundle, const TrustRoot& trust, int64_t now);

  // Marks the trial slot good and raises the TrE's anti-rollback floor to the
  // release counter. Only after the trial boot matched (kDeviceNoUpdate
  // otherwise); later issues call it once the PVE has verified the quote.
  Status Commit();

  // Abandons a pending update (an OAM rollback order): back to the active slot.
  Status Rollback(const std::string& reason);

  const BootControl& boot_control() const { return boot_; }
  const std::string& hardware_model() const { return hardware_model_; }
  const UpdateJournal& journal() const { return journal_; }
  Tre& tre() { return *tre_; }
  // The manifest installed in `slot`, if the slot holds a complete release.
  std::optional<ReleaseManifest> SlotManifest(const std::string& slot) const;
  std::string SlotDir(const std::string& slot) const;
  // The device's directory, for the agent's own state (DIR/finished-job),
  // and the Env its files are read and written through.
  const std::string& dir() const { return dir_; }
  Env* env() const { return env_; }

 private:
  Device(std::string dir, std::unique_ptr<Tre> tre, const DeviceOptions& options)
      : dir_(std::move(dir)), tre_(std::move(tre)), options_(options), env_(options.env) {}
  Status Load();
  Status SaveBoot();
  Status SaveJournal();
  Status InstallSlot(const std::string& slot, const std::string& bundle, const BundlePolicy& policy,
                     ReleaseManifest* manifest);
  Status InvalidateSlot(const std::string& slot);
  Result<BootReport> MeasureSlot(const std::string& slot);
  Result<Bytes> ComputeExpectedTim(const ReleaseManifest& next);
  Status FallBack(const std::string& reason);
  Status FinishCommit();
  // True when the staged image moved in (or had); false when it no longer
  // verified before the old image went, and was dropped.
  Result<bool> FinishRecoveryUpdate();
  Status CheckStagedRecoveryImage();
  // The recovery slot still holds the image a staged update replaces.
  bool OldRecoveryImageInPlace();
  // Boot in recovery mode (the boot stage's decision).
  Result<BootReport> BootInRecovery();
  // Drops a pending update and its armed trial (the journal's phase to none).
  Status AbandonArmedTrial(const std::string& why);

  std::string dir_;
  std::unique_ptr<Tre> tre_;
  DeviceOptions options_;
  Env* env_;
  std::string hardware_model_;
  BootControl boot_;
  UpdateJournal journal_;
  std::optional<BootStage> stage_;
};

}  // namespace henbtrust
