// Power loss at every persisted step of install, trial boot and commit: the
// device then boots a valid slot, the journal resumes or rolls back, nothing
// is half-installed, and the update can be driven to its end. Built once per
// TrE backend (HENB_POWER_LOSS_ON_SWTPM selects swtpm).
#include <gtest/gtest.h>

#include <iostream>

#include "device/device_harness.h"
#include "device/fault.h"

namespace henbtrust {
namespace {

using testing::Backend;
using testing::DeviceHarness;

#ifdef HENB_POWER_LOSS_ON_SWTPM
constexpr Backend kBackend = Backend::kSwtpm;
#else
constexpr Backend kBackend = Backend::kSoft;
#endif

Status RunUpdate(Device& d, DeviceHarness& h) {
  HENB_TRY(d.Install(h.v2, h.release.root, h.release.now));
  HENB_TRY(d.Boot());
  HENB_TRY(d.Commit());
  HENB_TRY(d.Boot());
  return OkStatus();
}

std::unique_ptr<Device> ProvisionedAndBooted(DeviceHarness& h) {
  auto d = h.Provision();
  EXPECT_TRUE(d.ok()) << d.error().ToString();
  if (!d.ok()) return nullptr;
  EXPECT_TRUE((*d)->Boot().ok());
  return std::move(d).value();
}

TEST(PowerLoss, EveryCrashPointLeavesABootableDeviceThatFinishesTheUpdate) {
  // A run without faults lists the crash points the sequence passes.
  std::vector<std::string> points;
  {
    DeviceHarness h(kBackend);
    auto d = ProvisionedAndBooted(h);
    ASSERT_TRUE(d);
    fault::ResetForTest();
    ASSERT_TRUE(RunUpdate(*d, h).ok());
    points = fault::HitsForTest();
  }
  ASSERT_GE(points.size(), 8u);
  std::string listed;
  for (const auto& p : points) listed += p + " ";
  std::cout << points.size() << " crash points: " << listed << "\n";

  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE("power lost at crash point " + std::to_string(i) + ": " + points[i]);
    DeviceHarness h(kBackend);
    auto d = ProvisionedAndBooted(h);
    ASSERT_TRUE(d);
    fault::ResetForTest();
    fault::ArmCrashAt(static_cast<int>(i));
    auto st = RunUpdate(*d, h);
    ASSERT_FALSE(st.ok());
    ASSERT_EQ(st.error().code(), ErrorCode::kDeviceCrashForTest) << st.error().ToString();
    d.reset();  // power lost: everything in memory is gone

    auto reopened = h.Reopen();
    ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
    Device& dev = **reopened;
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
  fault::ResetForTest();
}

}  // namespace
}  // namespace henbtrust
