#include "henbtrust/device/device.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "device/device_harness.h"

namespace henbtrust {
namespace {

using testing::Backend;
using testing::DeviceHarness;

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = h_.Provision();
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    dev_ = std::move(d).value();
    auto boot = dev_->Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    ASSERT_EQ(boot->slot, "a");
  }
  DeviceHarness h_{Backend::kSoft};
  std::unique_ptr<Device> dev_;
};

TEST_F(DeviceTest, BootMeasuresTheActiveSlotIntoTheTre) {
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->release_version, "1.0");
  EXPECT_EQ(boot->tim, ExpectedTim(h_.Manifest(h_.v1)));
  EXPECT_EQ(dev_->tre().event_log().Serialize(), PlanEventLog(h_.Manifest(h_.v1)).Serialize());
  EXPECT_TRUE(h_.SlotIsWholeOrEmpty(*dev_, "a"));
  EXPECT_TRUE(h_.SlotIsWholeOrEmpty(*dev_, "recovery"));
}

TEST_F(DeviceTest, UpdateTrialBootCommitAndAntiRollback) {
  auto j = dev_->Install(h_.v2, h_.release.root, h_.release.now);
  ASSERT_TRUE(j.ok()) << j.error().ToString();
  EXPECT_EQ(j->phase, UpdatePhase::kInstalled);
  EXPECT_EQ(j->target_slot, "b");
  // Step 7: the substitution replay of the running log gives the new TIM.
  EXPECT_EQ(j->expected_tim, ExpectedTim(h_.Manifest(h_.v2)));
  EXPECT_NE(j->expected_tim, ExpectedTim(h_.Manifest(h_.v1)));
  EXPECT_EQ(dev_->Commit().error().code(),
            ErrorCode::kDeviceNoUpdate);  // not before the trial boot

  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  EXPECT_EQ(boot->slot, "b");
  EXPECT_EQ(boot->tim, j->expected_tim);
  EXPECT_EQ(dev_->journal().phase, UpdatePhase::kTrialGood);
  EXPECT_EQ(*dev_->tre().ReadCounter(),
            1u);  // the factory's floor: 1.0's counter, until the commit
  ASSERT_TRUE(dev_->Commit().ok());
  EXPECT_EQ(dev_->boot_control().active, "b");
  EXPECT_EQ(*dev_->tre().ReadCounter(), 2u);
  EXPECT_EQ(dev_->journal().last_outcome, "committed 2.0");
  EXPECT_EQ(dev_->Boot()->slot, "b");

  // The floor now refuses the old release, before anything is written.
  auto old = dev_->Install(h_.v1, h_.release.root, h_.release.now);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code(), ErrorCode::kReleaseRollback);
  EXPECT_TRUE(h_.SlotIsWholeOrEmpty(*dev_, "a"));
  EXPECT_EQ(dev_->SlotManifest("a")->version, "1.0");
}

// The factory sets the floor to the release it installs: a device made on
// 2.0 refuses 1.0 before its first commit too (the simulator's rollback
// scenario found a new device that took it).
TEST(DeviceFactory, ANewDeviceRefusesAReleaseOlderThanItsFactoryRelease) {
  DeviceHarness h(Backend::kSoft);
  auto tre = h.PowerOn();
  ASSERT_TRUE(tre.ok()) << tre.error().ToString();
  auto dev = Device::Provision(h.dir, "femto-a1", h.v2, h.release.root, h.release.now,
                               std::move(tre).value(), h.options);
  ASSERT_TRUE(dev.ok()) << dev.error().ToString();
  EXPECT_EQ(*(*dev)->tre().ReadCounter(), 2u);
  ASSERT_TRUE((*dev)->Boot().ok());
  auto older = (*dev)->Install(h.v1, h.release.root, h.release.now);
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().code(), ErrorCode::kReleaseRollback) << older.error().ToString();
  EXPECT_EQ((*dev)->journal().phase, UpdatePhase::kNone);
  EXPECT_FALSE((*dev)->SlotManifest("b").has_value());
  // The same release again (a reinstall) is no rollback.
  EXPECT_TRUE((*dev)->Install(h.v2, h.release.root, h.release.now).ok());
}

TEST_F(DeviceTest, AnImageThatDiffersFromItsRimFallsBackWithTheReason) {
  ASSERT_TRUE(dev_->Install(h_.v2, h_.release.root, h_.release.now).ok());
  testing::WriteBytes(dev_->SlotDir("b") + "/kernel.img", AsBytes("kernel v2 with an implant"));
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  EXPECT_TRUE(boot->fell_back);
  EXPECT_EQ(boot->slot, "a");
  EXPECT_EQ(boot->tim, ExpectedTim(h_.Manifest(h_.v1)));
  EXPECT_NE(dev_->boot_control().last_fallback_reason.find("TIM"), std::string::npos);
  EXPECT_EQ(dev_->journal().phase, UpdatePhase::kNone);
  EXPECT_EQ(dev_->journal().last_outcome.rfind("fell back: TIM", 0), 0u);
  EXPECT_EQ(dev_->Commit().error().code(), ErrorCode::kDeviceNoUpdate);
  EXPECT_EQ(*dev_->tre().ReadCounter(), 1u);  // still the factory's floor
}

TEST_F(DeviceTest, ATrialThatDoesNotComeUpFallsBackAfterItsAttempts) {
  ASSERT_TRUE(dev_->Install(h_.v2, h_.release.root, h_.release.now).ok());
  std::filesystem::remove(dev_->SlotDir("b") + "/femto.img");
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  EXPECT_TRUE(boot->fell_back);
  EXPECT_EQ(boot->slot, "a");
  EXPECT_NE(dev_->boot_control().last_fallback_reason.find("did not come up in 2 trial boots"),
            std::string::npos);
}

TEST_F(DeviceTest, ABundleTamperedInTransitWritesNothing) {
  Bytes bytes = testing::ReadBytes(h_.v2);
  bytes[bytes.size() - 3] ^= 1;
  const std::string bad = h_.release.dir.File("tampered.bundle");
  testing::WriteBytes(bad, bytes);
  auto r = dev_->Install(bad, h_.release.root, h_.release.now);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kReleaseDigest);
  EXPECT_EQ(dev_->journal().phase, UpdatePhase::kNone);
  EXPECT_TRUE(std::filesystem::is_empty(dev_->SlotDir("b")));
  EXPECT_TRUE(dev_->boot_control().trial.empty());
}

TEST_F(DeviceTest, WrongHardwareAndPendingUpdatesAreRefused) {
  ReleaseManifest m = h_.Manifest(h_.v2);
  m.hardware_models = {"femto-z9"};
  const std::string other = h_.release.dir.File("z9.bundle");
  ASSERT_TRUE(
      WriteBundle(other, m, h_.release.Sign(m), h_.release.WriteImages(h_.v2_images, "z9")).ok());
  EXPECT_EQ(dev_->Install(other, h_.release.root, h_.release.now).error().code(),
            ErrorCode::kReleaseHardware);
  ASSERT_TRUE(dev_->Install(h_.v2, h_.release.root, h_.release.now).ok());
  EXPECT_EQ(dev_->Install(h_.v2, h_.release.root, h_.release.now).error().code(),
            ErrorCode::kDeviceNoUpdate);
  ASSERT_TRUE(dev_->Rollback("operator order").ok());
  EXPECT_EQ(dev_->Boot()->slot, "a");
  EXPECT_EQ(dev_->journal().last_outcome, "rolled back: operator order");
}

TEST_F(DeviceTest, AnUnbootableActiveSlotBootsTheRecoveryImage) {
  std::filesystem::remove(dev_->SlotDir("a") + "/kernel.img");
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  EXPECT_EQ(boot->slot, "recovery");
  EXPECT_EQ(boot->tim, ExpectedTim(h_.Manifest(h_.v1)));
}

// A recover order: the recovery image boots (and is measured), writes the
// release into both slots, and arms a trial boot of the active slot; step 7
// and the commit follow as after an install. An implant in the running slot
// is gone from both.
TEST_F(DeviceTest, ARecoveryWritesBothSlotsFromTheRecoveryImage) {
  std::filesystem::resize_file(dev_->SlotDir("a") + "/kernel.img", 3);  // an altered image
  ASSERT_TRUE(dev_->Boot().ok());
  ASSERT_TRUE(dev_->Install(h_.v2, h_.release.root, h_.release.now).ok());  // a pending update
  auto j = dev_->Recover(h_.v2, h_.release.root, h_.release.now);
  ASSERT_TRUE(j.ok()) << j.error().ToString();
  EXPECT_EQ(dev_->boot_control().booted, "recovery");
  EXPECT_EQ(j->phase, UpdatePhase::kInstalled);
  EXPECT_EQ(j->target_slot, "a");
  EXPECT_EQ(j->expected_tim, ExpectedTim(h_.Manifest(h_.v2)));
  for (const char* slot : {"a", "b"}) {
    EXPECT_EQ(dev_->SlotManifest(slot)->version, "2.0") << slot;
    EXPECT_TRUE(h_.SlotIsWholeOrEmpty(*dev_, slot)) << slot;
  }
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  EXPECT_EQ(boot->slot, "a");
  EXPECT_EQ(boot->tim, j->expected_tim);
  ASSERT_TRUE(dev_->Commit().ok());
  EXPECT_EQ(*dev_->tre().ReadCounter(), 2u);
  EXPECT_EQ(dev_->journal().last_outcome, "committed 2.0");
  EXPECT_EQ(dev_->SlotManifest("recovery")->version, "1.0");  // the recovery image stays

  // The recovery image verifies what it installs as an install does.
  auto old = dev_->Recover(h_.v1, h_.release.root, h_.release.now);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code(), ErrorCode::kReleaseRollback);
  EXPECT_EQ(dev_->SlotManifest("a")->version, "2.0");
}

TEST_F(DeviceTest, StateSurvivesAPowerCycle) {
  ASSERT_TRUE(dev_->Install(h_.v2, h_.release.root, h_.release.now).ok());
  dev_.reset();
  auto d = h_.Reopen();
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ((*d)->journal().phase, UpdatePhase::kInstalled);
  EXPECT_EQ((*d)->Boot()->slot, "b");
  ASSERT_TRUE((*d)->Commit().ok());
  EXPECT_EQ(*(*d)->tre().ReadCounter(), 2u);
}

TEST(DeviceOpen, RejectsAMissingOrCorruptDirectory) {
  testing::TempDir dir;
  auto tre = SoftTre::Create();
  EXPECT_FALSE(Device::Open(dir.path(), std::make_unique<SoftTre>(std::move(tre).value())).ok());
  testing::WriteBytes(dir.File("identity.json"), AsBytes("{not json"));
  testing::WriteBytes(dir.File("boot-control.json"), AsBytes("{}"));
  testing::WriteBytes(dir.File("journal.json"), AsBytes("{}"));
  auto r = Device::Open(dir.path(), std::make_unique<SoftTre>(*SoftTre::Create()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kDeviceState);
}

}  // namespace
}  // namespace henbtrust
