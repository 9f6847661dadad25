// The device's side of the boot stage (docs/recovery.md): the watchdog's
// entry points, tickets, minimal mode, the boot in recovery mode, the local
// check, and the recovery image's update of itself.
#include <algorithm>

#include "device/device_files.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/device/device.h"

namespace henbtrust {

namespace device_files {

std::string PathIn(const std::string& dir, const std::string& name) {
  std::string path = dir;
  path += '/';
  path += name;
  return path;
}

Result<Bytes> Sha256OfFile(Env& env, const std::string& path) {
  constexpr size_t kImageReadChunk = size_t{1} << 16;
  HENB_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file, env.NewSequentialFile(path));
  Hasher hasher(HashAlg::kSha256);
  for (;;) {
    HENB_ASSIGN_OR_RETURN(Bytes chunk, file->Read(kImageReadChunk));
    if (chunk.empty()) return hasher.Finish();
    hasher.Update(chunk);
  }
}

}  // namespace device_files

using namespace device_files;  // NOLINT(google-build-using-namespace): this module's own helpers

Result<BootReport> Device::BootInRecovery() {
  // The boot stage decides, from its own state: the slot a recovery wrote,
  // while it measures to the TIM the recovery image computed; else the
  // recovery image.
  const BootStageState& st = stage_->state();
  if (!st.recovery_trial_slot.empty()) {
    const std::string slot = st.recovery_trial_slot;
    auto report = MeasureSlot(slot);
    if (report.ok() && Equal(report->tim, st.recovery_trial_tim)) {
      boot_.booted = slot;
      HENB_TRY(SaveBoot());
      if (journal_.both_slots && journal_.target_slot == slot &&
          journal_.phase == UpdatePhase::kInstalled) {
        journal_.phase = UpdatePhase::kTrialGood;
        HENB_TRY(SaveJournal());
      }
      report->mode = mode();
      return report;
    }
    if (!report.ok() && report.error().code() != ErrorCode::kDeviceBoot) return report.error();
    HENB_TRY(stage_->SetRecoveryTrial("", {}));
  }
  HENB_ASSIGN_OR_RETURN(BootReport report, MeasureSlot(kRecovery));
  boot_.booted = kRecovery;
  HENB_TRY(SaveBoot());
  report.mode = mode();
  return report;
}

Status Device::AbandonArmedTrial(const std::string& why) {
  if (journal_.phase != UpdatePhase::kNone) {
    journal_.phase = UpdatePhase::kNone;
    journal_.both_slots = false;
    journal_.last_outcome = "abandoned: " + why;
    HENB_TRY(SaveJournal());
  }
  if (!boot_.trial.empty() || boot_.attempts_left != 0) {
    boot_.trial.clear();
    boot_.attempts_left = 0;
    HENB_TRY(SaveBoot());
  }
  return OkStatus();
}

Result<bool> Device::Watchdog() {
  if (!stage_) return false;
  HENB_ASSIGN_OR_RETURN(bool expired, stage_->Expired(*tre_));
  if (!expired) return false;
  const bool minimal = mode() == DeviceMode::kMinimal;
  HENB_TRY(stage_->EnterRecovery(minimal ? kRecoveryMinimalDeadline : kRecoveryWatchdog, *tre_));
  HENB_TRY(Boot());
  return true;
}

Result<Bytes> Device::TicketChallenge() {
  if (!stage_) return StateError("this device has no boot stage");
  return stage_->Challenge(*tre_);
}

Result<TicketEffect> Device::AcceptTicket(std::string_view token, const std::string& device_id) {
  if (!stage_) return StateError("this device has no boot stage");
  const bool recovering = mode() == DeviceMode::kRecovery;
  std::optional<Bytes> normal_tim;
  if (recovering) {
    auto tim = LocalTim(boot_.active);
    if (tim.ok()) normal_tim = std::move(tim).value();
  }
  HENB_ASSIGN_OR_RETURN(TicketEffect effect,
                        stage_->AcceptTicket(token, device_id, *tre_, normal_tim));
  if (effect == TicketEffect::kLeftRecovery) {
    // The slot the recovery image checked boots, not a trial armed meanwhile.
    HENB_TRY(AbandonArmedTrial("the device left recovery on its checked slot"));
  }
  if (effect == TicketEffect::kLeftRecovery || (effect == TicketEffect::kRecover && !recovering)) {
    HENB_TRY(Boot());
  }
  return effect;
}

Result<bool> Device::EnterMinimalMode() {
  if (mode() != DeviceMode::kRecovery) return StateError("the device is not in recovery");
  auto tim = LocalTim(boot_.active);
  if (!tim.ok()) {
    if (tim.error().code() == ErrorCode::kDeviceBoot) return false;
    return tim.error();
  }
  HENB_ASSIGN_OR_RETURN(bool minimal, stage_->EnterMinimal(*tim, *tre_));
  if (minimal) {
    HENB_TRY(AbandonArmedTrial("minimal mode runs the checked slot"));
    HENB_TRY(Boot());
  }
  return minimal;
}

Result<RecoveryIdentity> Device::RecoveryIdentityForEnrollment() {
  return RecoveryIdentity::Open(*env_, dir_);
}

Result<Device::RecoveryTlsPems> Device::RecoveryTls() {
  // The recovery image, or the slot its recovery wrote while it completes
  // the recover job (the boot stage boots it only if it measured to the
  // TIM the recovery image computed).
  if (!stage_ || mode() != DeviceMode::kRecovery) {
    return StateError("the recovery image's TLS key is for the recovery image alone");
  }
  const std::string& trial = stage_->state().recovery_trial_slot;
  if (boot_.booted != kRecovery && (trial.empty() || boot_.booted != trial)) {
    return StateError("the recovery image's TLS key is for the recovery image alone");
  }
  HENB_ASSIGN_OR_RETURN(RecoveryIdentity identity, RecoveryIdentity::Open(*env_, dir_));
  HENB_ASSIGN_OR_RETURN(std::string certificate, identity.CertificatePem());
  return RecoveryTlsPems{std::move(certificate), identity.PrivateKeyPem()};
}

Result<ReleaseManifest> Device::UpdateRecoveryImage(const std::string& bundle,
                                                    const TrustRoot& trust, int64_t now) {
  if (!stage_ || mode() != DeviceMode::kRecovery || boot_.booted != kRecovery) {
    return StateError("the recovery slot is written only by the recovery image, in recovery mode");
  }
  const auto current = SlotManifest(kRecovery);
  BundlePolicy policy{&trust, hardware_model_, current ? current->release_counter : 0, now};
  // Everything is checked before a byte is written, then again as it is.
  HENB_ASSIGN_OR_RETURN(ReleaseManifest next, VerifyBundle(*env_, bundle, policy));
  const std::string staging = kRecoveryStaging;
  HENB_TRY(InvalidateSlot(staging));
  if (auto st = InstallSlot(staging, bundle, policy, nullptr); !st.ok()) {
    HENB_TRY(InvalidateSlot(staging));
    return st.error();
  }
  HENB_ASSIGN_OR_RETURN(Bytes staged_manifest,
                        env_->ReadFile(SlotDir(staging) + "/manifest", kMaxManifestBytes));
  HENB_TRY(stage_->SetRecoveryUpdate(true, Sha256(staged_manifest)));
  HENB_ASSIGN_OR_RETURN(bool moved, FinishRecoveryUpdate());
  if (!moved) {
    return Error(ErrorCode::kDeviceBoot,
                 "the staged recovery image changed before it was moved in; the old one stays");
  }
  return next;
}

bool Device::OldRecoveryImageInPlace() {
  // Its manifest goes first, and the staged one takes its place last: while
  // a manifest is there, the move has not begun or has ended (and the
  // check then fails on images already moved, which leaves the whole new
  // image in place).
  return env_->FileExists(SlotDir(kRecovery) + "/manifest");
}

Status Device::CheckStagedRecoveryImage() {
  const std::string dir = SlotDir(kRecoveryStaging);
  HENB_ASSIGN_OR_RETURN(Bytes raw, env_->ReadFile(dir + "/manifest", kMaxManifestBytes));
  const Bytes& kept = stage_->state().recovery_update_manifest;
  if (!kept.empty() && !Equal(Sha256(raw), kept)) {
    return Error(ErrorCode::kDeviceBoot, "the staged manifest is not the one verified");
  }
  HENB_ASSIGN_OR_RETURN(ReleaseManifest manifest, ParseManifest(raw));
  HENB_ASSIGN_OR_RETURN(Bytes tim, LocalTim(kRecoveryStaging));
  if (!Equal(tim, ExpectedTim(manifest))) {
    return Error(ErrorCode::kDeviceBoot, "a staged image is not its manifest's");
  }
  return OkStatus();
}

Result<bool> Device::FinishRecoveryUpdate() {
  const std::string from = SlotDir(kRecoveryStaging);
  const std::string to = SlotDir(kRecovery);
  // Before the old image goes (its manifest still in place), the staged one
  // is checked once more: the manifest the recovery image verified, and
  // images that hash to it. Once the move has begun it was checked.
  if (env_->FileExists(from + "/manifest") && OldRecoveryImageInPlace() &&
      !CheckStagedRecoveryImage().ok()) {
    HENB_TRY(InvalidateSlot(kRecoveryStaging));
    HENB_TRY(stage_->SetRecoveryUpdate(false));
    return false;
  }
  if (env_->FileExists(from + "/manifest")) {
    // The old image is invalid from the moment its manifest goes; then the
    // staged images move in, the manifest last. Each step may be repeated.
    Status st = env_->RemoveFile(to + "/manifest");
    if (!st.ok() && st.error().code() != ErrorCode::kNotFound) return st.error();
    HENB_TRY(env_->SyncDirectory(to));
    HENB_ASSIGN_OR_RETURN(std::vector<std::string> staged, env_->ListDirectory(from));
    for (const auto& name : staged) {
      if (name == "manifest") continue;
      HENB_TRY(env_->SetFileMode(PathIn(from, name), 0444));
      HENB_TRY(env_->RenameFile(PathIn(from, name), PathIn(to, name)));
    }
    HENB_TRY(env_->SetFileMode(from + "/manifest", 0444));
    HENB_TRY(env_->RenameFile(from + "/manifest", to + "/manifest"));
    HENB_TRY(env_->SyncDirectory(to));
    HENB_TRY(env_->SyncDirectory(from));
  }
  // Images of the old release that the new one does not have.
  if (const auto manifest = SlotManifest(kRecovery)) {
    HENB_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDirectory(to));
    for (const auto& name : names) {
      const bool kept = name == "manifest" ||
                        std::any_of(manifest->components.begin(), manifest->components.end(),
                                    [&](const ReleaseComponent& c) {
                                      return name.size() == c.id.size() + 4 &&
                                             name.starts_with(c.id) && name.ends_with(".img");
                                    });
      if (!kept) HENB_TRY(env_->RemoveFile(PathIn(to, name)));
    }
    HENB_TRY(env_->SyncDirectory(to));
  }
  HENB_TRY(stage_->SetRecoveryUpdate(false));
  return true;
}

Result<Bytes> Device::LocalTim(const std::string& slot) {
  auto manifest = SlotManifest(slot);
  if (!manifest) {
    return Error(ErrorCode::kDeviceBoot, "slot " + slot + " holds no complete release");
  }
  for (auto& c : manifest->components) {
    auto digest = Sha256OfFile(*env_, SlotDir(slot) + "/" + c.id + ".img");
    if (!digest.ok()) {
      return Error(ErrorCode::kDeviceBoot, "slot " + slot + ": " + digest.error().message());
    }
    c.sha256 = std::move(digest).value();
  }
  return ExpectedTim(*manifest);
}

}  // namespace henbtrust
