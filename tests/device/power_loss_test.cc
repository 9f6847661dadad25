// Power loss at every step of install, trial boot and commit that changes
// durable state: the device runs on a SimulatedEnv that fails its k-th file
// operation (or the TrE's k-th counter step) and drops every write not yet
// synced. Reopened on what survived, the device boots a valid slot, the
// journal resumes or rolls back, nothing is half-installed or lost, and the
// update can be driven to its end. Built once per TrE backend
// (HENB_POWER_LOSS_ON_SWTPM selects swtpm).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "device/device_harness.h"
#include "henbtrust/core/file.h"
#include "support/simulated_env.h"

namespace henbtrust {
namespace {

using testing::Backend;
using testing::DeviceHarness;
using testing::SimulatedEnv;

#ifdef HENB_POWER_LOSS_ON_SWTPM
constexpr Backend kBackend = Backend::kSwtpm;
#else
constexpr Backend kBackend = Backend::kSoft;
#endif

// A TrE on the same power supply as the device's files: each step of its NV
// counter is an operation the power can fail before.
class PoweredTre final : public Tre {
 public:
  PoweredTre(std::unique_ptr<Tre> tre, SimulatedEnv& power) : tre_(std::move(tre)), power_(power) {}

  std::string Kind() const override { return tre_->Kind(); }
  std::vector<HashAlg> Banks() const override { return tre_->Banks(); }
  Status Extend(Event event) override { return tre_->Extend(std::move(event)); }
  Result<std::map<uint32_t, Bytes>> ReadPcrs(const PcrSelection& selection) override {
    return tre_->ReadPcrs(selection);
  }
  Result<Quote> MakeQuote(ByteView nonce, const std::vector<PcrSelection>& selection) override {
    return tre_->MakeQuote(nonce, selection);
  }
  Bytes AkPublic() const override { return tre_->AkPublic(); }
  Bytes EkPublic() const override { return tre_->EkPublic(); }
  Result<Bytes> ActivateCredential(ByteView blob, ByteView secret) override {
    return tre_->ActivateCredential(blob, secret);
  }
  const EventLog& event_log() const override { return tre_->event_log(); }
  Result<uint64_t> ReadCounter() override { return tre_->ReadCounter(); }
  Result<uint64_t> IncrementCounter() override {
    HENB_TRY(power_.CheckPower("tre.increment-counter"));
    return tre_->IncrementCounter();
  }
  Result<ClockInfo> ReadClock() override { return tre_->ReadClock(); }
  Status Reboot() override { return tre_->Reboot(); }

 private:
  std::unique_ptr<Tre> tre_;
  SimulatedEnv& power_;
};

// A provisioned, booted device whose files and TrE counter run on `env`.
std::unique_ptr<Device> ProvisionedAndBooted(DeviceHarness& h, SimulatedEnv& env) {
  h.options.env = &env;
  h.wrap_tre = [&env](std::unique_ptr<Tre> tre) -> std::unique_ptr<Tre> {
    return std::make_unique<PoweredTre>(std::move(tre), env);
  };
  auto d = h.Provision();
  EXPECT_TRUE(d.ok()) << d.error().ToString();
  if (!d.ok()) return nullptr;
  EXPECT_TRUE((*d)->Boot().ok());
  return std::move(d).value();
}

// Operations counted from the start of the update to the end of each step.
struct UpdateSteps {
  size_t installed = 0;
  size_t trial_booted = 0;
  size_t committed = 0;
  size_t rebooted = 0;
};

// Runs the update; on success fills `steps`.
Status RunUpdate(Device& d, DeviceHarness& h, SimulatedEnv& env, UpdateSteps* steps) {
  const size_t start = env.operations().size();
  UpdateSteps s;
  HENB_TRY(d.Install(h.v2, h.release.root, h.release.now));
  s.installed = env.operations().size() - start;
  HENB_TRY(d.Boot());
  s.trial_booted = env.operations().size() - start;
  HENB_TRY(d.Commit());
  s.committed = env.operations().size() - start;
  HENB_TRY(d.Boot());
  s.rebooted = env.operations().size() - start;
  if (steps) *steps = s;
  return OkStatus();
}

TEST(PowerLoss, EveryCrashPointLeavesABootableDeviceThatFinishesTheUpdate) {
  // A run without faults counts the operations the update performs.
  UpdateSteps steps;
  {
    DeviceHarness h(kBackend);
    SimulatedEnv env;
    auto d = ProvisionedAndBooted(h, env);
    ASSERT_TRUE(d);
    const size_t before = env.operations().size();
    ASSERT_TRUE(RunUpdate(*d, h, env, &steps).ok());
    const auto ops = env.operations();
    size_t counter_steps = 0;
    for (size_t i = before; i < ops.size(); ++i) counter_steps += ops[i] == "tre.increment-counter";
    // The factory set the floor to 1.0's counter; the commit of 2.0 raises it one step.
    EXPECT_EQ(counter_steps, 1u);
  }
  ASSERT_GE(steps.rebooted, 20u);
  std::cout << steps.rebooted << " crash points: install " << steps.installed << ", trial boot "
            << steps.trial_booted - steps.installed << ", commit "
            << steps.committed - steps.trial_booted << ", boot " << steps.rebooted - steps.committed
            << "\n";

  DeviceHarness h(kBackend);
  for (size_t k = 0; k < steps.rebooted; ++k) {
    SCOPED_TRACE("power lost at operation " + std::to_string(k));
    h.StartOver("device-" + std::to_string(k));
    SimulatedEnv env;
    auto d = ProvisionedAndBooted(h, env);
    ASSERT_TRUE(d);
    const size_t start = env.operations().size();
    env.CrashAtOperation(static_cast<int64_t>(k));
    auto st = RunUpdate(*d, h, env, nullptr);
    ASSERT_FALSE(st.ok());
    ASSERT_TRUE(env.power_lost()) << st.error().ToString();
    SCOPED_TRACE("which was " + env.operations().at(start + k));
    d.reset();  // everything in memory is gone
    env.PowerOn();

    auto reopened = h.Reopen();
    ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
    Device& dev = **reopened;
    // Nothing a finished step made durable is lost.
    if (k >= steps.committed) {
      EXPECT_EQ(dev.boot_control().active, "b");
      EXPECT_EQ(dev.journal().last_outcome, "committed 2.0");
    } else if (k >= steps.installed) {
      const bool pending = (dev.journal().phase == UpdatePhase::kInstalled ||
                            dev.journal().phase == UpdatePhase::kTrialGood) &&
                           dev.boot_control().trial == "b";
      EXPECT_TRUE(pending || dev.boot_control().active == "b")
          << "the installed update was lost: " << UpdatePhaseName(dev.journal().phase);
    }
    auto boot = dev.Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    // A valid slot boots and measures to its release's TIM.
    auto running = dev.SlotManifest(boot->slot);
    ASSERT_TRUE(running.has_value());
    EXPECT_EQ(boot->tim, ExpectedTim(*running));
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "a"));
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "b"));

    // Drive the update to its end: resume, or install again after a roll back.
    for (int step = 0; step < 4; ++step) {
      if (dev.boot_control().active == "b" && dev.journal().phase == UpdatePhase::kNone) break;
      if (dev.journal().phase == UpdatePhase::kNone) {
        auto j = dev.Install(h.v2, h.release.root, h.release.now);
        ASSERT_TRUE(j.ok()) << j.error().ToString();
      }
      auto b = dev.Boot();
      ASSERT_TRUE(b.ok()) << b.error().ToString();
      if (dev.journal().phase == UpdatePhase::kTrialGood) {
        ASSERT_TRUE(dev.Commit().ok());
      }
    }
    EXPECT_EQ(dev.boot_control().active, "b");
    EXPECT_EQ(*dev.tre().ReadCounter(), 2u);
    auto final_boot = dev.Boot();
    ASSERT_TRUE(final_boot.ok());
    EXPECT_EQ(final_boot->slot, "b");
    EXPECT_EQ(final_boot->tim, ExpectedTim(h.Manifest(h.v2)));
    EXPECT_EQ(dev.journal().last_outcome, "committed 2.0");
  }
}

// Runs a recovery to 2.0 and its commit; the number of operations it took.
Result<size_t> RunRecovery(Device& d, DeviceHarness& h, SimulatedEnv& env) {
  const size_t start = env.operations().size();
  HENB_TRY(d.Recover(h.v2, h.release.root, h.release.now));
  HENB_TRY(d.Boot());
  HENB_TRY(d.Commit());
  HENB_TRY(d.Boot());
  return env.operations().size() - start;
}

// The same for a recover order (the recovery image writes both slots): at
// every crash point the device boots a valid slot, or its recovery image,
// and carrying the order out again ends with 2.0 in both slots.
TEST(PowerLoss, EveryCrashPointOfARecoveryLeavesABootableDeviceThatFinishesIt) {
  size_t operations = 0;
  {
    DeviceHarness h(kBackend);
    SimulatedEnv env;
    auto d = ProvisionedAndBooted(h, env);
    ASSERT_TRUE(d);
    auto n = RunRecovery(*d, h, env);
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    operations = *n;
  }
  ASSERT_GE(operations, 20u);
  std::cout << operations << " crash points in a recovery\n";
  DeviceHarness h(kBackend);
  for (size_t k = 0; k < operations; ++k) {
    SCOPED_TRACE("power lost at operation " + std::to_string(k));
    h.StartOver("recovering-" + std::to_string(k));
    SimulatedEnv env;
    auto d = ProvisionedAndBooted(h, env);
    ASSERT_TRUE(d);
    env.CrashAtOperation(static_cast<int64_t>(k));
    ASSERT_FALSE(RunRecovery(*d, h, env).ok());
    ASSERT_TRUE(env.power_lost());
    d.reset();
    env.PowerOn();
    uint64_t floor_at_power_on = 0;
    {
      auto tre = h.OpenTre();
      ASSERT_TRUE(tre.ok()) << tre.error().ToString();
      floor_at_power_on = *(*tre)->ReadCounter();
    }

    auto reopened = h.Reopen();
    ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
    Device& dev = **reopened;
    // Power-on never commits a recovery: only Commit(), after step 9, does.
    EXPECT_EQ(*dev.tre().ReadCounter(), floor_at_power_on);
    auto boot = dev.Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    auto running = dev.SlotManifest(boot->slot);
    ASSERT_TRUE(running.has_value());
    EXPECT_EQ(boot->tim, ExpectedTim(*running));
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "a"));
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "b"));

    // The OAM's order is still out: the agent carries it out again unless
    // the device got as far as the trial boot.
    for (int step = 0; step < 4; ++step) {
      const bool done = dev.journal().phase == UpdatePhase::kNone &&
                        dev.journal().last_outcome == "committed 2.0";
      if (done) break;
      if (dev.journal().phase == UpdatePhase::kNone) {
        auto j = dev.Recover(h.v2, h.release.root, h.release.now);
        ASSERT_TRUE(j.ok()) << j.error().ToString();
      }
      auto b = dev.Boot();
      ASSERT_TRUE(b.ok()) << b.error().ToString();
      if (dev.journal().phase == UpdatePhase::kTrialGood) {
        ASSERT_TRUE(dev.Commit().ok());
      }
    }
    EXPECT_EQ(dev.SlotManifest("a")->version, "2.0");
    EXPECT_EQ(dev.SlotManifest("b")->version, "2.0");
    EXPECT_EQ(*dev.tre().ReadCounter(), 2u);
    auto final_boot = dev.Boot();
    ASSERT_TRUE(final_boot.ok());
    EXPECT_EQ(final_boot->tim, ExpectedTim(h.Manifest(h.v2)));
  }
}

// A device with a boot stage, in recovery (a signed refusal sent it there),
// which updates its recovery image to 2.0: the number of operations.
Result<size_t> UpdateRecoveryImage(Device& d, DeviceHarness& h, SimulatedEnv& env) {
  const size_t before = env.operations().size();
  HENB_TRY(d.UpdateRecoveryImage(h.v2, h.release.root, h.release.now));
  return env.operations().size() - before;
}

std::unique_ptr<Device> InRecovery(DeviceHarness& h, SimulatedEnv& env, const PrivateKey& oam) {
  h.options.boot_stage = {oam.Public().ToPem(), 3600};
  auto d = ProvisionedAndBooted(h, env);
  if (!d) return nullptr;
  auto challenge = d->TicketChallenge();
  EXPECT_TRUE(challenge.ok());
  DeferralTicket refusal{"henb-0001", *challenge, TicketVerdict::kRecover, 0, {}, 0,
                         "test",      1700000000};
  auto effect = d->AcceptTicket(*SignDeferralTicket(refusal, oam), "henb-0001");
  EXPECT_TRUE(effect.ok() && *effect == TicketEffect::kRecover);
  EXPECT_EQ(d->boot_control().booted, "recovery");
  return d;
}

// Power lost at every step of a recovery image's update: power-on finishes
// a staged update or leaves the old image whole; the device boots its
// recovery image either way, and the update can be made again.
TEST(PowerLoss, EveryCrashPointOfARecoveryImageUpdateLeavesOneWholeImage) {
  const PrivateKey oam = *PrivateKey::Generate(KeyType::kEcP256);
  size_t operations = 0;
  {
    DeviceHarness h(kBackend);
    SimulatedEnv env;
    auto d = InRecovery(h, env, oam);
    ASSERT_TRUE(d);
    auto n = UpdateRecoveryImage(*d, h, env);
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    operations = *n;
  }
  ASSERT_GE(operations, 10u);
  std::cout << operations << " crash points in a recovery image update\n";
  DeviceHarness h(kBackend);
  for (size_t k = 0; k < operations; ++k) {
    SCOPED_TRACE("power lost at operation " + std::to_string(k));
    h.StartOver("recovery-image-" + std::to_string(k));
    SimulatedEnv env;
    auto d = InRecovery(h, env, oam);
    ASSERT_TRUE(d);
    env.CrashAtOperation(static_cast<int64_t>(k));
    ASSERT_FALSE(UpdateRecoveryImage(*d, h, env).ok());
    ASSERT_TRUE(env.power_lost());
    d.reset();
    env.PowerOn();
    auto reopened = h.Reopen();
    ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
    Device& dev = **reopened;
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "recovery"));
    auto boot = dev.Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    EXPECT_EQ(boot->slot, "recovery");
    const auto image = dev.SlotManifest("recovery");
    ASSERT_TRUE(image.has_value());
    EXPECT_EQ(boot->tim, RecoveryBootTim(*image, Sha256(oam.Public().ToDer())));
    if (image->version != "2.0") {
      EXPECT_EQ(image->version, "1.0");
      auto again = dev.UpdateRecoveryImage(h.v2, h.release.root, h.release.now);
      ASSERT_TRUE(again.ok()) << again.error().ToString();
    }
    EXPECT_EQ(dev.SlotManifest("recovery")->version, "2.0");
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "recovery"));
  }
}

// A staged recovery image that changed while the power was off (before the
// move began) is not moved in: the old image stays whole, the staged one is
// dropped, and the update can be made again.
TEST(PowerLoss, AStagedRecoveryImageThatChangedIsNotMovedIn) {
  namespace fs = std::filesystem;
  const PrivateKey oam = *PrivateKey::Generate(KeyType::kEcP256);
  DeviceHarness h(kBackend);
  int altered = 0;
  for (size_t k = 0; k < 64; ++k) {
    SCOPED_TRACE("power lost at operation " + std::to_string(k));
    h.StartOver("staged-" + std::to_string(k));
    SimulatedEnv env;
    auto d = InRecovery(h, env, oam);
    ASSERT_TRUE(d);
    env.CrashAtOperation(static_cast<int64_t>(k));
    if (UpdateRecoveryImage(*d, h, env).ok()) break;  // past the last crash point
    d.reset();
    env.PowerOn();
    const fs::path staged = fs::path(h.dir) / "slots" / "recovery.next";
    auto state = ReadTextFile(h.dir + "/boot-stage/state.json");
    ASSERT_TRUE(state.ok()) << state.error().ToString();
    const fs::path old_manifest = fs::path(h.dir) / "slots" / "recovery" / "manifest";
    if (!fs::exists(staged / "manifest") || !fs::exists(old_manifest) ||
        ReadTextFile(old_manifest).value() == ReadTextFile(staged / "manifest").value() ||
        state->find("\"recovery_update\": true") == std::string::npos) {
      continue;  // not between staging and the move
    }
    ++altered;
    for (const auto& e : fs::directory_iterator(staged)) {
      if (e.path().extension() != ".img") continue;
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
      std::ofstream(e.path(), std::ios::app) << "x";
      break;
    }
    auto reopened = h.Reopen();
    ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
    Device& dev = **reopened;
    EXPECT_EQ(dev.SlotManifest("recovery")->version, "1.0");
    EXPECT_TRUE(h.SlotIsWholeOrEmpty(dev, "recovery"));
    EXPECT_FALSE(fs::exists(staged / "manifest"));
    EXPECT_FALSE(dev.boot_stage()->state().recovery_update);
    auto again = dev.UpdateRecoveryImage(h.v2, h.release.root, h.release.now);
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    EXPECT_EQ(dev.SlotManifest("recovery")->version, "2.0");
  }
  EXPECT_GE(altered, 1) << "no crash point fell between staging and the move";
}

}  // namespace
}  // namespace henbtrust
