#include "henbtrust/device/device.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "device/fault.h"
#include "henbtrust/core/file.h"
#include "henbtrust/core/json_text.h"

namespace henbtrust {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kRecovery[] = "recovery";

Error StateError(const std::string& what) { return Error(ErrorCode::kDeviceState, what); }

Status FsyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Error(ErrorCode::kIo, "cannot open " + dir.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Error(ErrorCode::kIo, "cannot fsync " + dir.string());
  return OkStatus();
}

Status WriteJson(const fs::path& path, const Json& j) {
  return WriteFileAtomic(path.string(), AsBytes(j.dump(2) + "\n"));
}

Result<Json> ReadJson(const fs::path& path) {
  HENB_ASSIGN_OR_RETURN(Bytes raw, ReadFile(path.string(), 1 << 20));
  const std::string text = ToString(raw);
  if (!JsonDepthWithin(text)) return StateError(path.string() + ": nested too deeply");
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return StateError(path.string() + ": " + e.what());
  }
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
  explicit SlotWriter(fs::path dir) : dir_(std::move(dir)) {}
  ~SlotWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Write(const ReleaseComponent& c, ByteView chunk, bool last) {
    if (fd_ < 0) {
      tmp_ = dir_ / ("." + c.id + ".img.tmp");
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd_ < 0)
        return Error(ErrorCode::kIo,
                     "cannot create " + tmp_.string() + ": " + std::strerror(errno));
    }
    size_t off = 0;
    while (off < chunk.size()) {
      const ssize_t n = ::write(fd_, chunk.data() + off, chunk.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return Error(ErrorCode::kIo, "cannot write " + tmp_.string() + ": " + std::strerror(errno));
      off += static_cast<size_t>(n);
    }
    if (!last) return OkStatus();
    const int fd = fd_;
    fd_ = -1;
    if (::fsync(fd) != 0 || ::close(fd) != 0)
      return Error(ErrorCode::kIo, "cannot flush " + tmp_.string());
    if (::rename(tmp_.c_str(), (dir_ / (c.id + ".img")).c_str()) != 0) {
      return Error(ErrorCode::kIo, "cannot rename " + tmp_.string());
    }
    HENB_TRY(FsyncDir(dir_));
    HENB_CRASH_POINT("install.component-written");
    return OkStatus();
  }

 private:
  fs::path dir_;
  fs::path tmp_;
  int fd_ = -1;
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
  auto raw = ReadFile(SlotDir(slot) + "/manifest", kMaxManifestBytes);
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
  return WriteJson(fs::path(dir_) / "boot-control.json", j);
}

Status Device::SaveJournal() {
  Json j = {{"phase", std::string(UpdatePhaseName(journal_.phase))},
            {"target_slot", journal_.target_slot},
            {"release_version", journal_.release_version},
            {"release_counter", journal_.release_counter},
            {"expected_tim", HexEncode(journal_.expected_tim)},
            {"last_outcome", journal_.last_outcome}};
  return WriteJson(fs::path(dir_) / "journal.json", j);
}

Status Device::Load() {
  HENB_ASSIGN_OR_RETURN(Json id, ReadJson(fs::path(dir_) / "identity.json"));
  HENB_ASSIGN_OR_RETURN(Json boot, ReadJson(fs::path(dir_) / "boot-control.json"));
  HENB_ASSIGN_OR_RETURN(Json journal, ReadJson(fs::path(dir_) / "journal.json"));
  try {
    hardware_model_ = id.at("hardware_model").get<std::string>();
    boot_.active = boot.at("active").get<std::string>();
    boot_.trial = boot.at("trial").get<std::string>();
    boot_.attempts_left = boot.at("attempts_left").get<int>();
    boot_.booted = boot.at("booted").get<std::string>();
    boot_.last_fallback_reason = boot.at("last_fallback_reason").get<std::string>();
    journal_.phase = PhaseFromName(journal.at("phase").get<std::string>());
    journal_.target_slot = journal.at("target_slot").get<std::string>();
    journal_.release_version = journal.at("release_version").get<std::string>();
    journal_.release_counter = journal.at("release_counter").get<uint64_t>();
    HENB_ASSIGN_OR_RETURN(journal_.expected_tim,
                          HexDecode(journal.at("expected_tim").get<std::string>()));
    journal_.last_outcome = journal.at("last_outcome").get<std::string>();
  } catch (const Json::exception& e) {
    return StateError(std::string("device state: ") + e.what());
  }
  for (const auto* slot : {&boot_.active, &boot_.trial}) {
    if (!slot->empty() && *slot != "a" && *slot != "b")
      return StateError("boot control names slot '" + *slot + "'");
  }
  return OkStatus();
}

Status Device::InvalidateSlot(const std::string& slot) {
  if (slot == kRecovery) return StateError("the recovery slot is immutable");
  const fs::path dir = SlotDir(slot);
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::remove(dir / "manifest", ec);  // first: the slot is invalid from here on
  HENB_TRY(FsyncDir(dir));
  for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove(entry.path(), ec);
  return FsyncDir(dir);
}

Status Device::InstallSlot(const std::string& slot, const std::string& bundle,
                           const BundlePolicy& policy, ReleaseManifest* manifest) {
  SlotWriter writer{fs::path(SlotDir(slot))};
  auto m = VerifyBundle(bundle, policy, [&](const ReleaseComponent& c, ByteView chunk, bool last) {
    return writer.Write(c, chunk, last);
  });
  if (!m.ok()) return m.error();
  HENB_ASSIGN_OR_RETURN(Bytes bytes, EncodeManifest(*m));
  HENB_TRY(WriteFileAtomic(SlotDir(slot) + "/manifest", bytes));
  HENB_CRASH_POINT("install.slot-complete");
  if (manifest) *manifest = std::move(m).value();
  return OkStatus();
}

Result<std::unique_ptr<Device>> Device::Provision(const std::string& dir,
                                                  const std::string& hardware_model,
                                                  const std::string& bundle, const TrustRoot& trust,
                                                  int64_t now, std::unique_ptr<Tre> tre,
                                                  DeviceOptions options) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "identity.json", ec))
    return StateError(dir + " is already provisioned");
  for (const char* slot : {"a", "b", kRecovery})
    fs::create_directories(fs::path(dir) / "slots" / slot, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
  std::unique_ptr<Device> d(new Device(dir, std::move(tre), options));
  d->hardware_model_ = hardware_model;
  BundlePolicy policy{&trust, hardware_model, 0, now};
  HENB_TRY(d->InstallSlot("a", bundle, policy, nullptr));
  HENB_TRY(d->InstallSlot(kRecovery, bundle, policy, nullptr));
  for (const auto& entry : fs::directory_iterator(d->SlotDir(kRecovery))) {
    fs::permissions(entry.path(),
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read, ec);
  }
  HENB_TRY(d->SaveBoot());
  HENB_TRY(d->SaveJournal());
  HENB_TRY(WriteJson(fs::path(dir) / "identity.json", Json{{"hardware_model", hardware_model}}));
  return d;
}

Result<std::unique_ptr<Device>> Device::Open(const std::string& dir, std::unique_ptr<Tre> tre,
                                             DeviceOptions options) {
  std::unique_ptr<Device> d(new Device(dir, std::move(tre), options));
  HENB_TRY(d->Load());
  // Resolve what a power loss interrupted.
  switch (d->journal_.phase) {
    case UpdatePhase::kInstalling:
      HENB_TRY(d->InvalidateSlot(d->journal_.target_slot));
      if (d->boot_.trial == d->journal_.target_slot) d->boot_.trial.clear();
      HENB_TRY(d->SaveBoot());
      d->journal_.phase = UpdatePhase::kNone;
      d->journal_.last_outcome =
          "rolled back: install of " + d->journal_.release_version + " interrupted";
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
      if (d->boot_.active == d->journal_.target_slot) HENB_TRY(d->FinishCommit());
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
  for (const auto& c : manifest->components) {
    // What is on the disk is measured, whatever the manifest says.
    auto image = DescribeComponentFile(c.id, c.version, c.pcr, SlotDir(slot) + "/" + c.id + ".img");
    if (!image.ok())
      return Error(ErrorCode::kDeviceBoot, "slot " + slot + ": " + image.error().message());
    HENB_TRY(tre_->MeasureComponent(c.pcr, {c.id, c.version}, image->sha256));
  }
  const PcrSelection sel = PlanSelection(*manifest);
  HENB_ASSIGN_OR_RETURN(auto values, tre_->ReadPcrs(sel));
  return BootReport{slot, manifest->version, CompositeDigest(values, sel), false};
}

Status Device::FallBack(const std::string& reason) {
  // Journal first: a crash between the two writes leaves a stale trial that
  // Open() clears, never a trial without its journal entry being checked.
  journal_.phase = UpdatePhase::kNone;
  journal_.last_outcome = "fell back: " + reason;
  HENB_TRY(SaveJournal());
  HENB_CRASH_POINT("fallback.journal-written");
  boot_.trial.clear();
  boot_.attempts_left = 0;
  boot_.last_fallback_reason = reason;
  return SaveBoot();
}

Result<BootReport> Device::Boot() {
  bool fell_back = false;
  bool active_failed = false;
  for (int round = 0; round < 2 * options_.trial_boot_attempts + 4; ++round) {
    std::string slot;
    bool trial = false;
    if (!boot_.trial.empty() && boot_.attempts_left > 0) {
      --boot_.attempts_left;  // counted before booting, as a bootloader does
      HENB_TRY(SaveBoot());
      HENB_CRASH_POINT("boot.attempt-counted");
      slot = boot_.trial;
      trial = true;
    } else if (!boot_.trial.empty()) {
      HENB_TRY(FallBack("slot " + boot_.trial + " did not come up in " +
                        std::to_string(options_.trial_boot_attempts) + " trial boots"));
      fell_back = true;
      continue;
    } else {
      slot = (!active_failed && SlotManifest(boot_.active)) ? boot_.active : kRecovery;
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
      HENB_CRASH_POINT("boot.trial-verified");
    }
    report->fell_back = fell_back;
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
  std::vector<std::pair<std::string, uint32_t>> current, planned;
  for (const auto& e : log.events()) {
    if (auto ref = ParseComponentEvent(e)) current.emplace_back(ref->id, e.pcr);
  }
  std::map<std::string, Bytes> substitutions;
  for (const auto& c : next.components) {
    planned.emplace_back(c.id, c.pcr);
    substitutions[c.id] = c.sha256;
  }
  if (current != planned) return ExpectedTim(next);
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
  HENB_ASSIGN_OR_RETURN(ReleaseManifest next, VerifyBundle(bundle, policy));
  HENB_ASSIGN_OR_RETURN(Bytes expected, ComputeExpectedTim(next));
  const std::string target = boot_.active == "a" ? "b" : "a";
  journal_ = UpdateJournal{UpdatePhase::kInstalling, target,   next.version,
                           next.release_counter,     expected, journal_.last_outcome};
  HENB_TRY(SaveJournal());
  HENB_CRASH_POINT("install.journal-written");
  HENB_TRY(InvalidateSlot(target));
  HENB_CRASH_POINT("install.slot-invalidated");
  // Pass 2 writes while re-checking, in case the file changed in between.
  if (auto st = InstallSlot(target, bundle, policy, nullptr); !st.ok()) {
    if (st.error().code() == ErrorCode::kDeviceCrashForTest) return st.error();
    HENB_TRY(InvalidateSlot(target));
    journal_.phase = UpdatePhase::kNone;
    journal_.last_outcome = "install of " + next.version + " failed: " + st.error().ToString();
    HENB_TRY(SaveJournal());
    return st.error();
  }
  journal_.phase = UpdatePhase::kInstalled;
  HENB_TRY(SaveJournal());
  HENB_CRASH_POINT("install.journal-installed");
  boot_.trial = target;
  boot_.attempts_left = options_.trial_boot_attempts;
  HENB_TRY(SaveBoot());
  HENB_CRASH_POINT("install.trial-armed");
  return journal_;
}

Status Device::FinishCommit() {
  for (;;) {
    HENB_ASSIGN_OR_RETURN(uint64_t counter, tre_->ReadCounter());
    if (counter >= journal_.release_counter) break;
    HENB_TRY(tre_->IncrementCounter());
    HENB_CRASH_POINT("commit.floor-step");
  }
  journal_.phase = UpdatePhase::kNone;
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
  HENB_CRASH_POINT("commit.active-switched");
  return FinishCommit();
}

Status Device::Rollback(const std::string& reason) {
  if (journal_.phase == UpdatePhase::kNone)
    return Error(ErrorCode::kDeviceNoUpdate, "no update to roll back");
  journal_.phase = UpdatePhase::kNone;
  journal_.last_outcome = "rolled back: " + reason;
  HENB_TRY(SaveJournal());
  boot_.trial.clear();
  boot_.attempts_left = 0;
  return SaveBoot();
}

}  // namespace henbtrust
