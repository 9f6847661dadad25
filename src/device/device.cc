#include "henbtrust/device/device.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "device/device_files.h"
#include "henbtrust/core/json_fields.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/crypto/digest.h"

namespace henbtrust {

using namespace device_files;  // NOLINT(google-build-using-namespace): this module's own helpers

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr size_t kMaxStateFileBytes = size_t{1} << 20;

Status WriteJson(Env& env, const fs::path& path, const Json& j) {
  return env.WriteFileAtomic(path.string(), AsBytes(j.dump(2) + "\n"));
}

Result<Json> ReadJson(Env& env, const fs::path& path) {
  HENB_ASSIGN_OR_RETURN(Bytes raw, env.ReadFile(path.string(), kMaxStateFileBytes));
  auto parsed = json_fields::ParseObject(ToString(raw), path.string(), kMaxStateFileBytes);
  if (!parsed.ok()) return StateError(parsed.error().message());
  return std::move(parsed).value();
}

UpdatePhase PhaseFromName(const std::string& s) {
  for (UpdatePhase p : {UpdatePhase::kNone, UpdatePhase::kInstalling, UpdatePhase::kInstalled,
                        UpdatePhase::kTrialGood}) {
    if (UpdatePhaseName(p) == s) return p;
  }
  return UpdatePhase::kNone;
}

// Receives a component's bytes from VerifyBundle into <slot>/.<id>.img.tmp,
// renamed to <id>.img once its digest matched.
class SlotWriter {
 public:
  SlotWriter(Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Status Write(const ReleaseComponent& c, ByteView chunk, bool last) {
    if (!file_) {
      tmp_ = dir_ + "/." + c.id + ".img.tmp";
      HENB_ASSIGN_OR_RETURN(file_, env_.NewWritableFile(tmp_));
    }
    HENB_TRY(file_->Append(chunk));
    if (!last) return OkStatus();
    HENB_TRY(file_->Sync());
    HENB_TRY(file_->Close());
    file_.reset();
    HENB_TRY(env_.RenameFile(tmp_, dir_ + "/" + c.id + ".img"));
    return env_.SyncDirectory(dir_);
  }

 private:
  Env& env_;
  std::string dir_;
  std::string tmp_;
  std::unique_ptr<WritableFile> file_;
};

}  // namespace

std::string_view UpdatePhaseName(UpdatePhase phase) {
  switch (phase) {
    case UpdatePhase::kNone:
      return "none";
    case UpdatePhase::kInstalling:
      return "installing";
    case UpdatePhase::kInstalled:
      return "installed";
    case UpdatePhase::kTrialGood:
      return "trial-good";
  }
  return "none";
}

std::string Device::SlotDir(const std::string& slot) const {
  return (fs::path(dir_) / "slots" / slot).string();
}

std::optional<ReleaseManifest> Device::SlotManifest(const std::string& slot) const {
  auto raw = env_->ReadFile(SlotDir(slot) + "/manifest", kMaxManifestBytes);
  if (!raw.ok()) return std::nullopt;
  auto m = ParseManifest(*raw);
  if (!m.ok()) return std::nullopt;
  return std::move(m).value();
}

Status Device::SaveBoot() {
  Json j = {{"active", boot_.active},
            {"trial", boot_.trial},
            {"attempts_left", boot_.attempts_left},
            {"booted", boot_.booted},
            {"last_fallback_reason", boot_.last_fallback_reason}};
  return WriteJson(*env_, fs::path(dir_) / "boot-control.json", j);
}

Status Device::SaveJournal() {
  Json j = {{"phase", std::string(UpdatePhaseName(journal_.phase))},
            {"target_slot", journal_.target_slot},
            {"release_version", journal_.release_version},
            {"release_counter", journal_.release_counter},
            {"expected_tim", HexEncode(journal_.expected_tim)},
            {"last_outcome", journal_.last_outcome},
            {"both_slots", journal_.both_slots}};
  return WriteJson(*env_, fs::path(dir_) / "journal.json", j);
}

Status Device::Load() {
  HENB_ASSIGN_OR_RETURN(Json id, ReadJson(*env_, fs::path(dir_) / "identity.json"));
  HENB_ASSIGN_OR_RETURN(Json boot, ReadJson(*env_, fs::path(dir_) / "boot-control.json"));
  HENB_ASSIGN_OR_RETURN(Json journal, ReadJson(*env_, fs::path(dir_) / "journal.json"));
  auto read = [&]() -> Status {
    namespace jf = json_fields;
    constexpr size_t kText = 4096;
    HENB_ASSIGN_OR_RETURN(hardware_model_, jf::Text(id, "hardware_model", kText));
    HENB_ASSIGN_OR_RETURN(boot_.active, jf::Text(boot, "active", kText));
    HENB_ASSIGN_OR_RETURN(boot_.trial, jf::Text(boot, "trial", kText));
    HENB_ASSIGN_OR_RETURN(int64_t attempts, jf::Int(boot, "attempts_left", 0, 1000));
    boot_.attempts_left = static_cast<int>(attempts);
    HENB_ASSIGN_OR_RETURN(boot_.booted, jf::Text(boot, "booted", kText));
    HENB_ASSIGN_OR_RETURN(boot_.last_fallback_reason,
                          jf::Text(boot, "last_fallback_reason", kText));
    HENB_ASSIGN_OR_RETURN(std::string phase, jf::Text(journal, "phase", kText));
    journal_.phase = PhaseFromName(phase);
    HENB_ASSIGN_OR_RETURN(journal_.target_slot, jf::Text(journal, "target_slot", kText));
    HENB_ASSIGN_OR_RETURN(journal_.release_version, jf::Text(journal, "release_version", kText));
    HENB_ASSIGN_OR_RETURN(int64_t counter, jf::Int(journal, "release_counter", 0, INT64_MAX));
    journal_.release_counter = static_cast<uint64_t>(counter);
    HENB_ASSIGN_OR_RETURN(journal_.expected_tim, jf::Hex(journal, "expected_tim", 64, true));
    HENB_ASSIGN_OR_RETURN(journal_.last_outcome, jf::Text(journal, "last_outcome", kText));
    // Absent from journals written before recovery existed: false.
    const auto both = journal.find("both_slots");
    journal_.both_slots = both != journal.end() && both->is_boolean() && both->get<bool>();
    return OkStatus();
  };
  if (auto st = read(); !st.ok()) return StateError("device state: " + st.error().message());
  for (const auto* slot : {&boot_.active, &boot_.trial}) {
    if (!slot->empty() && *slot != "a" && *slot != "b")
      return StateError("boot control names slot '" + *slot + "'");
  }
  return OkStatus();
}

Status Device::InvalidateSlot(const std::string& slot) {
  if (slot == kRecovery) return StateError("the recovery slot is immutable");
  const std::string dir = SlotDir(slot);
  auto remove = [&](const std::string& name) -> Status {
    Status st = env_->RemoveFile(dir + "/" + name);
    if (!st.ok() && st.error().code() != ErrorCode::kNotFound) return st;
    return OkStatus();
  };
  HENB_TRY(env_->CreateDirectories(dir));
  HENB_TRY(remove("manifest"));  // first: the slot is invalid from here on
  HENB_TRY(env_->SyncDirectory(dir));
  HENB_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDirectory(dir));
  for (const auto& name : names) HENB_TRY(remove(name));
  return env_->SyncDirectory(dir);
}

Status Device::InstallSlot(const std::string& slot, const std::string& bundle,
                           const BundlePolicy& policy, ReleaseManifest* manifest) {
  SlotWriter writer(*env_, SlotDir(slot));
  auto m = VerifyBundle(*env_, bundle, policy,
                        [&](const ReleaseComponent& c, ByteView chunk, bool last) {
                          return writer.Write(c, chunk, last);
                        });
  if (!m.ok()) return m.error();
  HENB_ASSIGN_OR_RETURN(Bytes bytes, EncodeManifest(*m));
  HENB_TRY(env_->WriteFileAtomic(SlotDir(slot) + "/manifest", bytes));
  if (manifest) *manifest = std::move(m).value();
  return OkStatus();
}

Result<std::unique_ptr<Device>> Device::Provision(const std::string& dir,
                                                  const std::string& hardware_model,
                                                  const std::string& bundle, const TrustRoot& trust,
                                                  int64_t now, std::unique_ptr<Tre> tre,
                                                  const DeviceOptions& options) {
  Env& env = *options.env;
  if (env.FileExists((fs::path(dir) / "identity.json").string()))
    return StateError(dir + " is already provisioned");
  for (const char* slot : {"a", "b", kRecovery})
    HENB_TRY(env.CreateDirectories((fs::path(dir) / "slots" / slot).string()));
  std::unique_ptr<Device> d(new Device(dir, std::move(tre), options));
  d->hardware_model_ = hardware_model;
  HENB_ASSIGN_OR_RETURN(uint64_t floor, d->tre_->ReadCounter());
  BundlePolicy policy{&trust, hardware_model, floor, now};
  ReleaseManifest factory;
  HENB_TRY(d->InstallSlot("a", bundle, policy, &factory));
  HENB_TRY(d->InstallSlot(kRecovery, bundle, policy, nullptr));
  // The factory sets the anti-rollback floor to the release it installs,
  // as a commit would: no older release installs on a new device either.
  for (;;) {
    HENB_ASSIGN_OR_RETURN(uint64_t counter, d->tre_->ReadCounter());
    if (counter >= factory.release_counter) break;
    HENB_TRY(d->tre_->IncrementCounter());
  }
  HENB_ASSIGN_OR_RETURN(std::vector<std::string> recovery,
                        env.ListDirectory(d->SlotDir(kRecovery)));
  for (const auto& name : recovery)
    HENB_TRY(env.SetFileMode(d->SlotDir(kRecovery) + "/" + name, 0444));
  HENB_TRY(d->SaveBoot());
  HENB_TRY(d->SaveJournal());
  if (!options.boot_stage.ticket_key_pem.empty()) {
    HENB_ASSIGN_OR_RETURN(BootStage stage,
                          BootStage::Provision(env, dir, options.boot_stage.ticket_key_pem,
                                               options.boot_stage.period, *d->tre_));
    d->stage_ = std::move(stage);
    HENB_TRY(RecoveryIdentity::Create(env, dir));
  }
  HENB_TRY(
      WriteJson(env, fs::path(dir) / "identity.json", Json{{"hardware_model", hardware_model}}));
  return d;
}

Result<std::unique_ptr<Device>> Device::Open(const std::string& dir, std::unique_ptr<Tre> tre,
                                             const DeviceOptions& options) {
  std::unique_ptr<Device> d(new Device(dir, std::move(tre), options));
  HENB_TRY(d->Load());
  auto stage = BootStage::Open(*options.env, dir);
  if (stage.ok()) {
    d->stage_ = std::move(stage).value();
    if (d->stage_->state().recovery_update) HENB_TRY(d->FinishRecoveryUpdate());
    // A boot stage provisioned before the recovery image had a TLS role of
    // its own makes its key now; the next enrollment certifies it.
    if (!RecoveryIdentity::Exists(*options.env, dir)) {
      HENB_TRY(RecoveryIdentity::Create(*options.env, dir));
    }
  } else if (stage.error().code() != ErrorCode::kNotFound) {
    return stage.error();
  }
  // Resolve what a power loss interrupted.
  switch (d->journal_.phase) {
    case UpdatePhase::kInstalling:
      HENB_TRY(d->InvalidateSlot(d->journal_.target_slot));
      if (d->journal_.both_slots) {
        // An interrupted recovery: the other slot may be half written too.
        // Neither boots, nor any trial armed before; the recovery image does,
        // and the order is carried out again.
        HENB_TRY(d->InvalidateSlot(d->journal_.target_slot == "a" ? "b" : "a"));
        d->boot_.trial.clear();
        d->boot_.attempts_left = 0;
      }
      if (d->boot_.trial == d->journal_.target_slot) d->boot_.trial.clear();
      HENB_TRY(d->SaveBoot());
      d->journal_.phase = UpdatePhase::kNone;
      d->journal_.last_outcome =
          std::string(d->journal_.both_slots ? "recovery to " : "rolled back: install of ") +
          d->journal_.release_version + " interrupted";
      d->journal_.both_slots = false;
      HENB_TRY(d->SaveJournal());
      break;
    case UpdatePhase::kInstalled:
      if (d->boot_.trial.empty() && d->boot_.active != d->journal_.target_slot) {
        // Installed, trial not yet armed: arm it.
        d->boot_.trial = d->journal_.target_slot;
        d->boot_.attempts_left = d->options_.trial_boot_attempts;
        HENB_TRY(d->SaveBoot());
      }
      break;
    case UpdatePhase::kTrialGood:
      // An install's commit switched slots before it raised the floor: finish
      // it. A recovery's target is the active slot from the start, so that
      // tells nothing: its commit waits for the OAM's order (step 9 first).
      if (d->boot_.active == d->journal_.target_slot && !d->journal_.both_slots) {
        HENB_TRY(d->FinishCommit());
      }
      break;
    case UpdatePhase::kNone:
      if (!d->boot_.trial.empty()) {  // a fall back or rollback stopped between its two writes
        d->boot_.trial.clear();
        d->boot_.attempts_left = 0;
        HENB_TRY(d->SaveBoot());
      }
      break;
  }
  return d;
}

Result<BootReport> Device::MeasureSlot(const std::string& slot) {
  auto manifest = SlotManifest(slot);
  if (!manifest)
    return Error(ErrorCode::kDeviceBoot, "slot " + slot + " holds no complete release");
  HENB_TRY(tre_->Reboot());
  if (stage_) {
    HENB_TRY(stage_->Measure(*tre_));
    if (slot == kRecovery) {
      HENB_TRY(tre_->Extend(RecoveryBootEvent(*manifest, stage_->ticket_key_digest())));
    } else if (const auto recovery = SlotManifest(kRecovery)) {
      const PcrSelection own = PlanSelection(*manifest);
      for (uint32_t pcr : PlanSelection(*recovery).pcrs) {
        if (std::find(own.pcrs.begin(), own.pcrs.end(), pcr) == own.pcrs.end()) {
          HENB_TRY(tre_->Extend(NormalBootEvent(pcr)));
        }
      }
    }
  }
  for (const auto& c : manifest->components) {
    // What is on the disk is measured, whatever the manifest says.
    auto digest = Sha256OfFile(*env_, SlotDir(slot) + "/" + c.id + ".img");
    if (!digest.ok())
      return Error(ErrorCode::kDeviceBoot, "slot " + slot + ": " + digest.error().message());
    HENB_TRY(tre_->MeasureComponent(c.pcr, {c.id, c.version}, *digest));
  }
  const PcrSelection sel = PlanSelection(*manifest);
  HENB_ASSIGN_OR_RETURN(auto values, tre_->ReadPcrs(sel));
  return BootReport{slot, manifest->version, CompositeDigest(values, sel), false};
}

Status Device::FallBack(const std::string& reason) {
  // Journal first: a crash between the two writes leaves a stale trial that
  // Open() clears, never a trial without its journal entry being checked.
  journal_.phase = UpdatePhase::kNone;
  journal_.both_slots = false;
  journal_.last_outcome = "fell back: " + reason;
  HENB_TRY(SaveJournal());
  boot_.trial.clear();
  boot_.attempts_left = 0;
  boot_.last_fallback_reason = reason;
  return SaveBoot();
}

Result<BootReport> Device::Boot() {
  if (mode() == DeviceMode::kRecovery) return BootInRecovery();
  bool fell_back = false;
  bool active_failed = false;
  for (int round = 0; round < 2 * options_.trial_boot_attempts + 4; ++round) {
    std::string slot;
    bool trial = false;
    if (!boot_.trial.empty() && boot_.attempts_left > 0) {
      --boot_.attempts_left;  // counted before booting, as a bootloader does
      HENB_TRY(SaveBoot());
      slot = boot_.trial;
      trial = true;
    } else if (!boot_.trial.empty()) {
      HENB_TRY(FallBack("slot " + boot_.trial + " did not come up in " +
                        std::to_string(options_.trial_boot_attempts) + " trial boots"));
      fell_back = true;
      continue;
    } else {
      slot = (!active_failed && SlotManifest(boot_.active)) ? boot_.active : kRecovery;
      if (slot == kRecovery && stage_) {
        // Neither slot boots: the boot stage's recovery, not a plain boot
        // of the image.
        HENB_TRY(stage_->EnterRecovery(kRecoveryBothSlotsFailed, *tre_));
        return BootInRecovery();
      }
    }
    auto report = MeasureSlot(slot);
    if (!report.ok()) {
      if (report.error().code() != ErrorCode::kDeviceBoot) return report.error();
      if (slot == kRecovery) return report.error();
      if (!trial) active_failed = true;
      continue;
    }
    boot_.booted = slot;
    HENB_TRY(SaveBoot());
    if (trial && journal_.target_slot == slot &&
        (journal_.phase == UpdatePhase::kInstalled || journal_.phase == UpdatePhase::kTrialGood)) {
      if (!Equal(report->tim, journal_.expected_tim)) {
        HENB_TRY(FallBack("TIM after the trial boot of slot " + slot + " is " +
                          HexEncode(report->tim) + ", expected " +
                          HexEncode(journal_.expected_tim)));
        fell_back = true;
        continue;
      }
      journal_.phase = UpdatePhase::kTrialGood;
      HENB_TRY(SaveJournal());
    }
    report->fell_back = fell_back;
    report->mode = mode();
    return report;
  }
  return Error(ErrorCode::kDeviceBoot, "no slot boots");
}

Result<Bytes> Device::ComputeExpectedTim(const ReleaseManifest& next) {
  const EventLog& log = tre_->event_log();
  HENB_ASSIGN_OR_RETURN(PcrValues replayed, Replay(log));
  auto& bank = replayed[HashAlg::kSha256];
  // The log is trusted only as far as the TrE's PCRs vouch for it.
  PcrSelection logged{HashAlg::kSha256, {}};
  for (const auto& [pcr, value] : bank) logged.pcrs.push_back(pcr);
  if (!logged.pcrs.empty()) {
    HENB_ASSIGN_OR_RETURN(auto live, tre_->ReadPcrs(logged));
    if (live != bank) return StateError("the event log does not replay to the TrE's PCRs");
  }
  // Same plan (components, PCRs, order): substitute the new RIMs into this
  // boot's log (docs/design.md section 2). A different plan: replay the manifest's.
  std::vector<std::pair<std::string, uint32_t>> current;
  std::vector<std::pair<std::string, uint32_t>> planned;
  for (const auto& e : log.events()) {
    if (auto ref = ParseComponentEvent(e)) current.emplace_back(ref->id, e.pcr);
  }
  std::map<std::string, Bytes> substitutions;
  for (const auto& c : next.components) {
    planned.emplace_back(c.id, c.pcr);
    substitutions[c.id] = c.sha256;
  }
  // A recovery boot's log begins with the boot stage's marker, which no
  // normal boot of `next` has: replay the manifest.
  if (current != planned || IsRecoveryBootLog(log)) return ExpectedTim(next);
  HENB_ASSIGN_OR_RETURN(auto values, ReplayWithSubstitutions(log, HashAlg::kSha256, substitutions));
  return CompositeDigest(values, PlanSelection(next));
}

Result<UpdateJournal> Device::Install(const std::string& bundle, const TrustRoot& trust,
                                      int64_t now) {
  if (journal_.phase != UpdatePhase::kNone) {
    return Error(
        ErrorCode::kDeviceNoUpdate,
        "an update is already pending (" + std::string(UpdatePhaseName(journal_.phase)) + ")");
  }
  HENB_ASSIGN_OR_RETURN(uint64_t floor, tre_->ReadCounter());
  BundlePolicy policy{&trust, hardware_model_, floor, now};
  // Pass 1: everything is checked before a byte is written.
  HENB_ASSIGN_OR_RETURN(ReleaseManifest next, VerifyBundle(*env_, bundle, policy));
  HENB_ASSIGN_OR_RETURN(Bytes expected, ComputeExpectedTim(next));
  const std::string target = boot_.active == "a" ? "b" : "a";
  journal_ = UpdateJournal{UpdatePhase::kInstalling, target,   next.version,
                           next.release_counter,     expected, journal_.last_outcome};
  HENB_TRY(SaveJournal());
  HENB_TRY(InvalidateSlot(target));
  // Pass 2 writes while re-checking, in case the file changed in between.
  if (auto st = InstallSlot(target, bundle, policy, nullptr); !st.ok()) {
    HENB_TRY(InvalidateSlot(target));
    journal_.phase = UpdatePhase::kNone;
    journal_.last_outcome = "install of " + next.version + " failed: " + st.error().ToString();
    HENB_TRY(SaveJournal());
    return st.error();
  }
  journal_.phase = UpdatePhase::kInstalled;
  HENB_TRY(SaveJournal());
  boot_.trial = target;
  boot_.attempts_left = options_.trial_boot_attempts;
  HENB_TRY(SaveBoot());
  return journal_;
}

Result<UpdateJournal> Device::Recover(const std::string& bundle, const TrustRoot& trust,
                                      int64_t now) {
  // With a boot stage, only the recovery image, running, carries a recovery
  // out: the OS cannot make the TrE measure a recovery boot under it.
  if (stage_ && (mode() != DeviceMode::kRecovery || boot_.booted != kRecovery)) {
    return StateError("a recovery is carried out by the recovery image, which is not running");
  }
  // The recovery image runs: it measures itself into the TrE, and what it
  // installs is computed against that boot, not against the slots.
  HENB_ASSIGN_OR_RETURN(BootReport recovery, MeasureSlot(kRecovery));
  boot_.booted = recovery.slot;
  HENB_TRY(SaveBoot());
  HENB_ASSIGN_OR_RETURN(uint64_t floor, tre_->ReadCounter());
  BundlePolicy policy{&trust, hardware_model_, floor, now};
  HENB_ASSIGN_OR_RETURN(ReleaseManifest next, VerifyBundle(*env_, bundle, policy));
  HENB_ASSIGN_OR_RETURN(Bytes expected, ComputeExpectedTim(next));
  const std::string target = boot_.active;
  const std::string other = target == "a" ? "b" : "a";
  journal_ =
      UpdateJournal{UpdatePhase::kInstalling, target, next.version, next.release_counter, expected,
                    journal_.last_outcome,    true};
  HENB_TRY(SaveJournal());
  boot_.trial.clear();
  boot_.attempts_left = 0;
  HENB_TRY(SaveBoot());
  for (const std::string& slot : {other, target}) {
    HENB_TRY(InvalidateSlot(slot));
    if (auto st = InstallSlot(slot, bundle, policy, nullptr); !st.ok()) {
      // Left as a power loss would leave it: the active slot is invalid, the
      // recovery image boots, and the order may be carried out again.
      HENB_TRY(InvalidateSlot(other));
      HENB_TRY(InvalidateSlot(target));
      journal_.phase = UpdatePhase::kNone;
      journal_.both_slots = false;
      journal_.last_outcome = "recovery to " + next.version + " failed: " + st.error().ToString();
      HENB_TRY(SaveJournal());
      return st.error();
    }
  }
  // The trial first, then the phase: a power loss between the two leaves an
  // install in progress, which Open() undoes.
  boot_.trial = target;
  boot_.attempts_left = options_.trial_boot_attempts;
  HENB_TRY(SaveBoot());
  journal_.phase = UpdatePhase::kInstalled;
  HENB_TRY(SaveJournal());
  // The boot stage boots the trial in recovery mode only on its own record.
  if (stage_) HENB_TRY(stage_->SetRecoveryTrial(target, expected));
  return journal_;
}

Status Device::FinishCommit() {
  for (;;) {
    HENB_ASSIGN_OR_RETURN(uint64_t counter, tre_->ReadCounter());
    if (counter >= journal_.release_counter) break;
    HENB_TRY(tre_->IncrementCounter());
  }
  journal_.phase = UpdatePhase::kNone;
  journal_.both_slots = false;
  journal_.last_outcome = "committed " + journal_.release_version;
  return SaveJournal();
}

Status Device::Commit() {
  if (journal_.phase != UpdatePhase::kTrialGood || boot_.booted != journal_.target_slot) {
    return Error(ErrorCode::kDeviceNoUpdate,
                 "nothing to commit: no trial boot has matched its expected TIM");
  }
  boot_.active = journal_.target_slot;
  boot_.trial.clear();
  boot_.attempts_left = 0;
  HENB_TRY(SaveBoot());
  HENB_TRY(FinishCommit());
  // A recovery's trial ends with its commit: the device boots its recovery
  // image again until a ticket lets it go (docs/recovery.md).
  if (stage_ && !stage_->state().recovery_trial_slot.empty()) {
    HENB_TRY(stage_->SetRecoveryTrial("", {}));
  }
  return OkStatus();
}

Status Device::Rollback(const std::string& reason) {
  if (journal_.phase == UpdatePhase::kNone)
    return Error(ErrorCode::kDeviceNoUpdate, "no update to roll back");
  journal_.phase = UpdatePhase::kNone;
  journal_.both_slots = false;
  journal_.last_outcome = "rolled back: " + reason;
  HENB_TRY(SaveJournal());
  boot_.trial.clear();
  boot_.attempts_left = 0;
  return SaveBoot();
}

}  // namespace henbtrust
