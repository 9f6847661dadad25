// The compact fleet (sim/compact_fleet.h): devices of a few hundred bytes
// each that enroll and are appraised by the real PVE over a real store.
#include "henbtrust/sim/compact_fleet.h"

#include <gtest/gtest.h>

#include "henbtrust/store/store.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

TEST(CompactFleet, EveryDeviceEnrollsAndIsAppraisedAffirmingByThePve) {
  testing::TempDir dir;
  CompactFleetOptions options;
  options.work_dir = dir.path() + "/fleet";
  options.devices = 40;
  options.threads = 2;
  int progress = 0;
  options.progress = [&progress](const std::string&) { ++progress; };
  auto fleet = CompactFleet::Create(options);
  ASSERT_TRUE(fleet.ok()) << fleet.error().ToString();
  auto enrolled = (*fleet)->Enroll();
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().ToString();
  EXPECT_EQ(enrolled->succeeded, 40) << enrolled->first_failure;
  EXPECT_EQ(enrolled->failed, 0);
  auto first = (*fleet)->Revalidate();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->succeeded, 40) << first->first_failure;
  EXPECT_GT(first->pve_cpu_us, 0);
  auto second = (*fleet)->Revalidate();  // fresh nonces, fresh quotes: again affirming
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->succeeded, 40) << second->first_failure;
  EXPECT_EQ(progress, 30);  // a line per tenth of each of the three passes

  // Each device is the TrE's state and a serial: far under 2 KiB.
  EXPECT_LE((*fleet)->TableBytesPerDevice(), 512);
  EXPECT_GT((*fleet)->StoreBytesPerDevice(), 0);

  // The appraisals are the PVE's, in its store: one per pass and device,
  // each affirming.
  fleet->reset();
  auto store = OpenStore("sqlite:" + options.work_dir + "/server/henbtrust.db");
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  auto devices = (*store)->ListDevices("", 100);
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ(devices->size(), 40u);
  auto appraisals = (*store)->ListAppraisals("henb-0000007", 0, 10);
  ASSERT_TRUE(appraisals.ok());
  ASSERT_EQ(appraisals->size(), 2u);
  for (const auto& a : *appraisals) EXPECT_EQ(a.status, "affirming");
}

TEST(CompactFleet, RefusesAnEmptyFleet) {
  testing::TempDir dir;
  CompactFleetOptions options;
  options.work_dir = dir.path() + "/fleet";
  options.devices = 0;
  auto fleet = CompactFleet::Create(options);
  ASSERT_FALSE(fleet.ok());
  EXPECT_EQ(fleet.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace henbtrust
