// The boot stage (docs/recovery.md): the authenticated watchdog on the TrE's
// own clock, deferral tickets and what each kind of bad ticket does
// (nothing), the recovery image, minimal mode when the OAM is out of reach,
// and the local check that keeps a modified slot in recovery. On the soft
// TrE in the unit suite and on swtpm (whose clock TPM2_ClockSet moves on)
// in the interop suite.
#include "henbtrust/device/boot_stage.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "device/device_harness.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/device/device.h"

namespace henbtrust {
namespace {

using testing::Backend;
using testing::DeviceHarness;

#ifdef HENB_BOOT_STAGE_ON_SWTPM
constexpr Backend kBackend = Backend::kSwtpm;
#else
constexpr Backend kBackend = Backend::kSoft;
#endif

constexpr int64_t kPeriod = 3600;  // seconds
constexpr uint64_t kPeriodMs = kPeriod * 1000;
constexpr char kDevice[] = "henb-0001";

class BootStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.soft_clock = std::make_shared<std::atomic<uint64_t>>(uint64_t{5000});
    h_.options.boot_stage = {oam_.Public().ToPem(), kPeriod};
    auto d = h_.Provision();
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    dev_ = std::move(d).value();
    auto boot = dev_->Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    ASSERT_EQ(boot->slot, "a");
    ASSERT_EQ(boot->mode, DeviceMode::kNormal);
  }

  uint64_t Clock() { return dev_->tre().ReadClock()->clock; }
  void Advance(uint64_t ms) {
    auto st = h_.AdvanceClock(dev_->tre(), ms);
    ASSERT_TRUE(st.ok()) << st.error().ToString();
  }

  // A ticket for the device's outstanding challenge (made now, unless
  // `nonce` is given), signed by `key` (the OAM's by default).
  std::string Ticket(TicketVerdict verdict, const Bytes& tim, std::optional<Bytes> nonce = {},
                     const std::string& device = kDevice, const PrivateKey* key = nullptr) {
    if (!nonce) {
      auto challenge = dev_->TicketChallenge();
      EXPECT_TRUE(challenge.ok()) << challenge.error().ToString();
      nonce = *challenge;
    }
    DeferralTicket t{device,
                     *nonce,
                     verdict,
                     7,
                     tim,
                     kPeriod,
                     verdict == TicketVerdict::kRecover ? "an open recover job" : "",
                     1700000000};
    auto token = SignDeferralTicket(t, key ? *key : oam_);
    EXPECT_TRUE(token.ok()) << token.error().ToString();
    return *token;
  }
  Bytes V1Tim() { return ExpectedTim(h_.Manifest(h_.v1)); }
  const BootStageState& Stage() { return dev_->boot_stage()->state(); }

  DeviceHarness h_{kBackend};
  PrivateKey oam_ = *PrivateKey::Generate(KeyType::kEcP256);
  std::unique_ptr<Device> dev_;
};

TEST_F(BootStageTest, MeasuresTheTicketKeyOutsideThePlanAndLeavesTheTimAsItWas) {
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->tim, V1Tim());
  const std::string expected =
      "henbtrust boot stage; ticket key sha256:" + HexEncode(Sha256(oam_.Public().ToDer()));
  bool found = false;
  for (const auto& e : dev_->tre().event_log().events()) {
    if (e.pcr != kBootStagePcr) continue;
    EXPECT_EQ(ToString(e.data), expected);
    found = true;
  }
  EXPECT_TRUE(found);
  auto pcr = dev_->tre().ReadPcrs({HashAlg::kSha256, {kBootStagePcr}});
  ASSERT_TRUE(pcr.ok());
  Bytes extended(32, 0);
  Append(extended, Sha256(AsBytes(expected)));
  EXPECT_EQ(pcr->at(kBootStagePcr), Sha256(extended));
}

TEST_F(BootStageTest, ADeferralMovesTheDeadlineOnTheTreClock) {
  EXPECT_FALSE(*dev_->Watchdog());
  Advance(kPeriodMs / 2);
  const uint64_t before = Clock();
  auto effect = dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice);
  ASSERT_TRUE(effect.ok()) << effect.error().ToString();
  EXPECT_EQ(*effect, TicketEffect::kDeferred);
  EXPECT_GE(Stage().deadline_ms, before + kPeriodMs);
  EXPECT_EQ(Stage().affirmed_tim, V1Tim());
  // The first deadline (one period after provisioning) has passed; the new one has not.
  Advance(kPeriodMs * 3 / 4);
  EXPECT_FALSE(*dev_->Watchdog());
  EXPECT_EQ(dev_->mode(), DeviceMode::kNormal);
}

TEST_F(BootStageTest, ForgedReplayedLateAndForeignTicketsDeferNothing) {
  EXPECT_FALSE(*dev_->Watchdog());
  const uint64_t deadline = Stage().deadline_ms;
  auto refused = [&](const std::string& token, const char* what) {
    auto effect = dev_->AcceptTicket(token, kDevice);
    ASSERT_FALSE(effect.ok()) << what;
    EXPECT_EQ(effect.error().code(), ErrorCode::kPolicyTicket)
        << what << ": " << effect.error().ToString();
    EXPECT_EQ(Stage().deadline_ms, deadline) << what;
    EXPECT_EQ(dev_->mode(), DeviceMode::kNormal) << what;
  };
  const PrivateKey other = *PrivateKey::Generate(KeyType::kEcP256);
  refused(Ticket(TicketVerdict::kDefer, V1Tim(), {}, kDevice, &other), "forged");
  refused(Ticket(TicketVerdict::kDefer, V1Tim(), {}, "henb-0002"), "another device's");
  refused(Ticket(TicketVerdict::kDefer, V1Tim(), Bytes(32, 7)), "another challenge's");
  // Late: more than the challenge's lifetime after it, on the TrE clock.
  const std::string late = Ticket(TicketVerdict::kDefer, V1Tim());
  Advance(kChallengeLifetimeMs + 1000);
  refused(late, "late");
  // Replayed: accepted once, then its challenge is spent.
  const std::string good = Ticket(TicketVerdict::kDefer, V1Tim());
  ASSERT_TRUE(dev_->AcceptTicket(good, kDevice).ok());
  const uint64_t moved = Stage().deadline_ms;
  EXPECT_GT(moved, deadline);
  auto again = dev_->AcceptTicket(good, kDevice);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kPolicyTicket);
  EXPECT_EQ(Stage().deadline_ms, moved);
  // A deployment order's JWS is not a ticket, though the same key signs it.
  auto not_ticket = dev_->AcceptTicket("e30.e30.e30", kDevice);
  EXPECT_FALSE(not_ticket.ok());
}

TEST_F(BootStageTest, TheWatchdogResetsIntoRecoveryOnceAndNotAgain) {
  Advance(kPeriodMs + 1);
  auto fired = dev_->Watchdog();
  ASSERT_TRUE(fired.ok()) << fired.error().ToString();
  EXPECT_TRUE(*fired);
  EXPECT_EQ(dev_->mode(), DeviceMode::kRecovery);
  EXPECT_EQ(Stage().reason, kRecoveryWatchdog);
  EXPECT_EQ(dev_->boot_control().booted, "recovery");
  EXPECT_EQ(Stage().resets, 1u);
  // In recovery the watchdog does not fire again, however long it waits;
  // a power cycle boots the recovery image again.
  Advance(10 * kPeriodMs);
  EXPECT_FALSE(*dev_->Watchdog());
  EXPECT_EQ(Stage().resets, 1u);
  dev_.reset();
  auto reopened = h_.Reopen();
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  dev_ = std::move(reopened).value();
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->slot, "recovery");
  EXPECT_EQ(boot->mode, DeviceMode::kRecovery);
  // A recovery boot quotes to its own TIM, which no normal boot of the same
  // release reaches.
  EXPECT_EQ(boot->tim, RecoveryBootTim(h_.Manifest(h_.v1), Sha256(oam_.Public().ToDer())));
  EXPECT_NE(boot->tim, V1Tim());
  EXPECT_TRUE(IsRecoveryBootLog(dev_->tre().event_log()));
}

TEST_F(BootStageTest, AClockThatGoesBackKeepsTheTimeLeft) {
  if (kBackend != Backend::kSoft) GTEST_SKIP() << "sets the soft TrE's clock back";
  Advance(kPeriodMs / 2);
  EXPECT_FALSE(*dev_->Watchdog());  // seen, and written down
  // A power loss: the clock resumes from an older value.
  h_.soft_clock->fetch_sub(kPeriodMs / 4);
  EXPECT_FALSE(*dev_->Watchdog());
  // Half a period was left; a clock that went back is charged with the most
  // that may have passed unseen (kClockObservationMs) on top.
  Advance(kPeriodMs / 2 - 2 * kClockObservationMs);
  EXPECT_FALSE(*dev_->Watchdog());
  Advance(kClockObservationMs + 1);
  EXPECT_TRUE(*dev_->Watchdog()) << "the time left was kept across the clock going back";
}

TEST_F(BootStageTest, OutOfReachOfTheOamAnIntactSlotServesInMinimalModeWithBackoff) {
  ASSERT_TRUE(dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice).ok());
  Advance(kPeriodMs + 1);
  ASSERT_TRUE(*dev_->Watchdog());
  auto minimal = dev_->EnterMinimalMode();
  ASSERT_TRUE(minimal.ok()) << minimal.error().ToString();
  EXPECT_TRUE(*minimal);
  EXPECT_EQ(dev_->mode(), DeviceMode::kMinimal);
  EXPECT_EQ(dev_->boot_control().booted, "a");
  EXPECT_EQ(dev_->Boot()->tim, V1Tim());
  // Still out of reach: the next reset is four periods away, then eight.
  Advance(4 * kPeriodMs - 1000);
  EXPECT_FALSE(*dev_->Watchdog());
  Advance(2000);
  ASSERT_TRUE(*dev_->Watchdog());
  EXPECT_EQ(Stage().reason, kRecoveryMinimalDeadline);
  ASSERT_TRUE(*dev_->EnterMinimalMode());
  Advance(4 * kPeriodMs + 1000);
  EXPECT_FALSE(*dev_->Watchdog()) << "the second minimal deadline is twice as far";
  Advance(4 * kPeriodMs);
  EXPECT_TRUE(*dev_->Watchdog());
  EXPECT_EQ(Stage().resets, 3u);
  // The OAM is back: a ticket for the intact slot returns the device to normal.
  auto effect = dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice);
  ASSERT_TRUE(effect.ok()) << effect.error().ToString();
  EXPECT_EQ(*effect, TicketEffect::kLeftRecovery);
  EXPECT_EQ(dev_->mode(), DeviceMode::kNormal);
  EXPECT_EQ(dev_->boot_control().booted, "a");
  EXPECT_EQ(Stage().minimal_backoff, kMinimalFirstBackoff);
}

TEST_F(BootStageTest, AModifiedSlotStaysInRecoveryWhateverTicketComes) {
  ASSERT_TRUE(dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice).ok());
  // The compromised OS changes a component in the active slot.
  const auto manifest = dev_->SlotManifest("a");
  ASSERT_TRUE(manifest);
  const std::string image = dev_->SlotDir("a") + "/" + manifest->components.back().id + ".img";
  std::filesystem::permissions(image, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream(image, std::ios::app) << "implant";
  Advance(kPeriodMs + 1);
  ASSERT_TRUE(*dev_->Watchdog());
  EXPECT_FALSE(*dev_->EnterMinimalMode());
  EXPECT_EQ(dev_->mode(), DeviceMode::kRecovery);
  EXPECT_EQ(dev_->boot_control().booted, "recovery");
  // A deferral for the TIM the slot had does not let the recovery image go.
  auto effect = dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice);
  ASSERT_TRUE(effect.ok());
  EXPECT_EQ(*effect, TicketEffect::kTimMismatch);
  EXPECT_EQ(dev_->mode(), DeviceMode::kRecovery);
  // The recovery image installs a signed release into both slots; its trial
  // boot runs though the device is in recovery, and a ticket for the new
  // TIM returns it to service.
  auto recovered = dev_->Recover(h_.v2, h_.release.root, h_.release.now);
  ASSERT_TRUE(recovered.ok()) << recovered.error().ToString();
  auto trial = dev_->Boot();
  ASSERT_TRUE(trial.ok());
  EXPECT_EQ(trial->slot, "a");
  EXPECT_EQ(dev_->journal().phase, UpdatePhase::kTrialGood);
  ASSERT_TRUE(dev_->Commit().ok());
  const Bytes v2_tim = ExpectedTim(h_.Manifest(h_.v2));
  effect = dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, v2_tim), kDevice);
  ASSERT_TRUE(effect.ok());
  EXPECT_EQ(*effect, TicketEffect::kLeftRecovery);
  EXPECT_EQ(dev_->mode(), DeviceMode::kNormal);
  EXPECT_EQ(dev_->Boot()->tim, v2_tim);
}

// What the OS writes (journal, boot control) does not make the boot stage
// boot a normal slot in recovery mode, and leaving recovery boots the slot
// the recovery image checked, not a trial the OS armed.
TEST_F(BootStageTest, TheOsFilesDoNotChooseTheBootInRecovery) {
  ASSERT_TRUE(dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice).ok());
  // A recovery only the recovery image carries out.
  auto from_os = dev_->Recover(h_.v2, h_.release.root, h_.release.now);
  ASSERT_FALSE(from_os.ok());
  EXPECT_EQ(from_os.error().code(), ErrorCode::kDeviceState);
  // The OS arms a trial of 2.0 in slot b, then the watchdog fires.
  ASSERT_TRUE(dev_->Install(h_.v2, h_.release.root, h_.release.now).ok());
  ASSERT_EQ(dev_->boot_control().trial, "b");
  Advance(kPeriodMs + 1);
  ASSERT_TRUE(*dev_->Watchdog());
  EXPECT_EQ(dev_->boot_control().booted, "recovery");
  // The OS's files claim a recovery under way in slot b: power cycle.
  namespace fs = std::filesystem;
  const std::string journal = dev_->dir() + "/journal.json";
  std::string text;
  {
    std::ifstream in(journal);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = text.find("\"both_slots\": false");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 19, "\"both_slots\": true");
  std::ofstream(journal, std::ios::trunc) << text;
  dev_.reset();
  auto reopened = h_.Reopen();
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  dev_ = std::move(reopened).value();
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->slot, "recovery");
  // Back to service on the checked slot a; the armed trial is dropped.
  auto effect = dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice);
  ASSERT_TRUE(effect.ok()) << effect.error().ToString();
  EXPECT_EQ(*effect, TicketEffect::kLeftRecovery);
  EXPECT_EQ(dev_->boot_control().booted, "a");
  EXPECT_TRUE(dev_->boot_control().trial.empty());
  EXPECT_EQ(dev_->journal().phase, UpdatePhase::kNone);
  EXPECT_EQ(dev_->Boot()->tim, V1Tim());
}

// An OS that rewrites its slot's manifest (which it can) cannot make the TrE
// quote a recovery boot: not by a component file that hashes to the
// marker's digest, nor by leaving the recovery PCRs out of its plan and
// replaying a recovery boot into them itself.
TEST_F(BootStageTest, AnOsThatRewritesItsManifestCannotQuoteARecoveryBoot) {
  const ReleaseManifest recovery = *dev_->SlotManifest("recovery");
  const Bytes key_digest = Sha256(oam_.Public().ToDer());
  const Bytes wanted = RecoveryBootTim(recovery, key_digest);
  const std::string slot = dev_->SlotDir("a");
  auto write = [](const std::string& path, ByteView bytes) {
    std::filesystem::remove(path);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  };
  auto forge = [&](ReleaseManifest m) {
    auto bytes = EncodeManifest(m);
    ASSERT_TRUE(bytes.ok()) << bytes.error().ToString();
    write(slot + "/manifest", *bytes);
    for (const auto& c : recovery.components) {
      std::filesystem::copy_file(dev_->SlotDir("recovery") + "/" + c.id + ".img",
                                 slot + "/" + c.id + ".img",
                                 std::filesystem::copy_options::overwrite_existing);
    }
  };
  auto quoted = [&] {
    const PcrSelection sel = PlanSelection(recovery);
    auto values = dev_->tre().ReadPcrs(sel);
    EXPECT_TRUE(values.ok());
    return CompositeDigest(*values, sel);
  };
  // 1. A first component whose bytes are the marker's text.
  {
    const std::string text =
        std::string(kRecoveryBootMarker) + "; ticket key sha256:" + HexEncode(key_digest);
    write(slot + "/marker.img", AsBytes(text));
    ReleaseManifest m = recovery;
    m.components.insert(m.components.begin(),
                        ReleaseComponent{"marker", "1", text.size(), Sha256(AsBytes(text)),
                                         recovery.components.front().pcr});
    forge(m);
    auto boot = dev_->Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    ASSERT_EQ(boot->slot, "a");
    EXPECT_NE(quoted(), wanted);
  }
  // 2. A plan that leaves the recovery PCRs out; then the recovery boot,
  // replayed by hand.
  {
    ReleaseManifest m = recovery;
    m.components = {recovery.components.front()};
    m.components.front().pcr = 14;  // not one of the recovery release's
    forge(m);
    auto boot = dev_->Boot();
    ASSERT_TRUE(boot.ok()) << boot.error().ToString();
    ASSERT_EQ(boot->slot, "a");
    ASSERT_TRUE(dev_->tre().Extend(RecoveryBootEvent(recovery, key_digest)).ok());
    for (const auto& c : recovery.components) {
      ASSERT_TRUE(dev_->tre().MeasureComponent(c.pcr, {c.id, c.version}, c.sha256).ok());
    }
    EXPECT_NE(quoted(), wanted);
  }
  // The real thing, for contrast.
  Advance(kPeriodMs + 1);
  ASSERT_TRUE(*dev_->Watchdog());
  EXPECT_EQ(quoted(), wanted);
}

TEST_F(BootStageTest, ASignedRefusalResetsIntoRecovery) {
  auto effect = dev_->AcceptTicket(Ticket(TicketVerdict::kRecover, {}), kDevice);
  ASSERT_TRUE(effect.ok()) << effect.error().ToString();
  EXPECT_EQ(*effect, TicketEffect::kRecover);
  EXPECT_EQ(dev_->mode(), DeviceMode::kRecovery);
  EXPECT_EQ(Stage().reason, kRecoveryOrdered);
  EXPECT_EQ(dev_->boot_control().booted, "recovery");
  // Without an affirmed TIM there is nothing to check the slot against.
  EXPECT_FALSE(*dev_->EnterMinimalMode());
}

TEST_F(BootStageTest, BothSlotsFailingEntersRecovery) {
  std::filesystem::remove(dev_->SlotDir("a") + "/manifest");
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok()) << boot.error().ToString();
  EXPECT_EQ(boot->slot, "recovery");
  EXPECT_EQ(dev_->mode(), DeviceMode::kRecovery);
  EXPECT_EQ(Stage().reason, kRecoveryBothSlotsFailed);
}

TEST_F(BootStageTest, OnlyTheRecoveryImageUpdatesItselfAndOnlyToASignedNewerRelease) {
  auto version = [&] {
    auto m = dev_->SlotManifest("recovery");
    return m ? m->version : std::string("none");
  };
  // The normal OS cannot write the recovery slot.
  auto from_os = dev_->UpdateRecoveryImage(h_.v2, h_.release.root, h_.release.now);
  ASSERT_FALSE(from_os.ok());
  EXPECT_EQ(from_os.error().code(), ErrorCode::kDeviceState);
  EXPECT_EQ(version(), "1.0");
  Advance(kPeriodMs + 1);
  ASSERT_TRUE(*dev_->Watchdog());
  // A bundle altered by one byte: refused, the image as it was.
  const std::string altered = h_.release.dir.File("altered.bundle");
  std::filesystem::copy_file(h_.v2, altered);
  {
    std::fstream f(altered, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  EXPECT_FALSE(dev_->UpdateRecoveryImage(altered, h_.release.root, h_.release.now).ok());
  EXPECT_EQ(version(), "1.0");
  EXPECT_TRUE(h_.SlotIsWholeOrEmpty(*dev_, "recovery"));
  // A signed, newer release: the recovery image is now 2.0, read-only, and
  // its boot quotes to 2.0's recovery-boot TIM.
  auto updated = dev_->UpdateRecoveryImage(h_.v2, h_.release.root, h_.release.now);
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(version(), "2.0");
  EXPECT_TRUE(h_.SlotIsWholeOrEmpty(*dev_, "recovery"));
  for (const auto& e : std::filesystem::directory_iterator(dev_->SlotDir("recovery"))) {
    EXPECT_EQ(e.status().permissions() & std::filesystem::perms::owner_write,
              std::filesystem::perms::none)
        << e.path();
  }
  auto boot = dev_->Boot();
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->slot, "recovery");
  EXPECT_EQ(boot->tim, RecoveryBootTim(h_.Manifest(h_.v2), Sha256(oam_.Public().ToDer())));
  // An older release does not replace it (its own anti-rollback floor).
  auto older = dev_->UpdateRecoveryImage(h_.v1, h_.release.root, h_.release.now);
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().code(), ErrorCode::kReleaseRollback);
  dev_.reset();
  auto reopened = h_.Reopen();
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  dev_ = std::move(reopened).value();
  EXPECT_EQ(version(), "2.0");
}

TEST_F(BootStageTest, TheStateIsReadOnlyToTheOsAndSurvivesPowerCycles) {
  namespace fs = std::filesystem;
  const fs::path state = fs::path(dev_->dir()) / "boot-stage" / "state.json";
  EXPECT_EQ(fs::status(state).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  ASSERT_TRUE(dev_->AcceptTicket(Ticket(TicketVerdict::kDefer, V1Tim()), kDevice).ok());
  const uint64_t deadline = Stage().deadline_ms;
  dev_.reset();
  auto reopened = h_.Reopen();
  ASSERT_TRUE(reopened.ok());
  dev_ = std::move(reopened).value();
  EXPECT_EQ(Stage().deadline_ms, deadline);
  EXPECT_EQ(Stage().affirmed_tim, V1Tim());
  // A state file that does not parse stops the device from opening rather
  // than disarming the watchdog.
  dev_.reset();
  fs::permissions(state, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(state, std::ios::trunc) << "{";
  auto broken = h_.Reopen();
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code(), ErrorCode::kDeviceState);
}

}  // namespace
}  // namespace henbtrust
