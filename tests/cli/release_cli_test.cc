// The release commands as external checks and operators drive them.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "henbtrust/core/file.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

class ReleaseCli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::Run(cli_ + " release example --out " + ex_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  testing::CommandResult Verify(const std::string& bundle, const std::string& extra = "") {
    return testing::Run(cli_ + " release verify " + bundle + " --trust " + ex_ + "/trust-root " +
                        extra);
  }
  testing::TempDir dir_;
  std::string cli_ = testing::CliPath();
  std::string ex_ = dir_.File("example");
};

TEST_F(ReleaseCli, TheWorkedExampleVerifies) {
  auto r = Verify(ex_ + "/release.bundle");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "valid\n");
  EXPECT_EQ(Verify(ex_ + "/release.bundle", "--hardware femto-a2 --floor 2").out, "valid\n");
  for (const char* f : {"README", "release.json", "trust-root", "keys/vendor-1.key",
                        "keys/vendor-3.pub", "components/kernel.img"}) {
    EXPECT_TRUE(ReadFile(ex_ + "/" + f).ok()) << f;
  }
}

TEST_F(ReleaseCli, InvalidBundlesPrintOneLineWithTheCode) {
  auto r = Verify(ex_ + "/release.bundle", "--floor 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: release.rollback: ", 0), 0u) << r.out;
  EXPECT_EQ(Verify(ex_ + "/release.bundle", "--hardware femto-z9")
                .out.rfind("invalid: release.wrong-hardware", 0),
            0u);
  Bytes b = *ReadFile(ex_ + "/release.bundle");
  b[b.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(dir_.File("tampered"), b).ok());
  r = Verify(dir_.File("tampered"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: release.digest-mismatch: component ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  EXPECT_EQ(Verify(dir_.File("absent")).exit_code, 2);
  EXPECT_EQ(testing::Run(cli_ + " release verify " + ex_ + "/release.bundle --trust /nonexistent")
                .exit_code,
            2);
  EXPECT_EQ(testing::Run(cli_ + " release verify").exit_code, 2);
}

TEST_F(ReleaseCli, CreateSignAndInspectFollowTheReadme) {
  const std::string out = dir_.File("rebuilt.bundle");
  auto c = testing::Run("cd " + ex_ + " && " + cli_ +
                        " release create --description release.json --out " + out +
                        " --sign keys/vendor-1.key");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(Verify(out).out.rfind("invalid: release.threshold-not-met", 0), 0u);
  ASSERT_EQ(testing::Run(cli_ + " release sign " + out + " --key " + ex_ + "/keys/vendor-3.key")
                .exit_code,
            0);
  EXPECT_EQ(Verify(out).out, "valid\n");
  auto inspect = testing::Run(cli_ + " release inspect " + out + " --json");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto j = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(j.at("version"), "2.0.0");
  EXPECT_EQ(j.at("components").size(), 5u);
  EXPECT_EQ(j.at("signatures").size(), 2u);
  EXPECT_EQ(j.at("pcr_selection"), "sha256:0,2,3,4");
  EXPECT_EQ(j.at("expected_tim").get<std::string>().size(), 64u);
  // The same release, rebuilt, has the same expected TIM.
  auto original = nlohmann::json::parse(
      testing::Run(cli_ + " release inspect " + ex_ + "/release.bundle --json").out);
  EXPECT_EQ(original.at("expected_tim"), j.at("expected_tim"));
}

TEST_F(ReleaseCli, TheTrustRootRotatesOnlyWithTheOldThreshold) {
  const std::string k = ex_ + "/keys/";
  ASSERT_EQ(testing::Run(cli_ + " keys generate --out " + k + "vendor-4").exit_code, 0);
  auto ok = testing::Run(cli_ + " release root rotate --current " + ex_ + "/trust-root --key " + k +
                         "vendor-2.pub --key " + k + "vendor-4.pub --threshold 2 --sign " + k +
                         "vendor-1.key --sign " + k + "vendor-2.key --sign " + k +
                         "vendor-4.key --out " + dir_.File("root.v2"));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(testing::Run(cli_ + " release root verify --current " + ex_ + "/trust-root " +
                         dir_.File("root.v2"))
                .out,
            "valid\n");
  auto bad = testing::Run(cli_ + " release root rotate --current " + ex_ + "/trust-root --key " +
                          k + "vendor-4.pub --threshold 1 --sign " + k + "vendor-4.key --out " +
                          dir_.File("root.bad"));
  EXPECT_EQ(bad.exit_code, 1) << bad.err;  // the rotation asked for is invalid
  EXPECT_EQ(bad.err.rfind("error: release.", 0), 0u) << bad.err;
  EXPECT_FALSE(ReadFile(dir_.File("root.bad")).ok());
}

// Verification streams: peak memory stays far below the bundle's size.
// A signed bundle with a 200 MiB component, for the memory bounds below.
std::string BigBundle(const testing::TempDir& dir, const std::string& cli,
                      const std::string& example) {
  const std::string img = dir.File("big.img");
  EXPECT_EQ(testing::Run("head -c 200M /dev/zero > " + img).exit_code, 0);
  const std::string desc = dir.File("big.json");
  testing::WriteBytes(desc, AsBytes(R"({"release_id": "big", "version": "1", "release_counter": 1,
    "hardware_models": ["femto-a1"], "expires": "2100-01-01T00:00:00Z",
    "components": [{"id": "rootfs", "version": "1", "file": "big.img", "pcr": 3}]})"));
  const std::string bundle = dir.File("big.bundle");
  EXPECT_EQ(
      testing::Run(cli + " release create --description " + desc + " --out " + bundle + " --sign " +
                   example + "/keys/vendor-1.key --sign " + example + "/keys/vendor-2.key")
          .exit_code,
      0);
  return bundle;
}

// Runs `cmd` through the shell; its exit status and peak resident KiB.
std::pair<int, long> RunMeasured(const std::string& cmd) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (wait4(pid, &status, 0, &usage) != pid) return {-1, 0};
  return {WEXITSTATUS(status), usage.ru_maxrss};
}

TEST_F(ReleaseCli, VerifyingALargeBundleKeepsMemoryBounded) {
  const std::string bundle = BigBundle(dir_, cli_, ex_);
  auto [exit_code, peak_kib] = RunMeasured(cli_ + " release verify " + bundle + " --trust " + ex_ +
                                           "/trust-root >/dev/null");
  EXPECT_EQ(exit_code, 0);
  if (!testing::kSanitizedBuild) {  // see kSanitizedBuild: the release build checks the bound
    EXPECT_LT(peak_kib, 64 * 1024) << "peak resident KiB";
  }
}

// The server's catalogue copies and verifies a bundle streaming too.
TEST_F(ReleaseCli, ImportingALargeBundleIntoTheServerKeepsMemoryBounded) {
  const std::string bundle = BigBundle(dir_, cli_, ex_);
  const std::string srv = dir_.File("srv");
  ASSERT_EQ(testing::Run(cli_ + " server init --dir " + srv).exit_code, 0);
  auto [exit_code, peak_kib] =
      RunMeasured(cli_ + " server import-release --dir " + srv + " --trust-root " + ex_ +
                  "/trust-root " + bundle + " >/dev/null");
  EXPECT_EQ(exit_code, 0);
  if (!testing::kSanitizedBuild) {  // see kSanitizedBuild: the release build checks the bound
    EXPECT_LT(peak_kib, 64 * 1024) << "peak resident KiB";
  }
  size_t kept = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(srv)) {
    if (e.is_regular_file() && e.file_size() == std::filesystem::file_size(bundle)) ++kept;
  }
  EXPECT_EQ(kept, 1u) << "the catalogue keeps one copy of the bundle";
}

// `server remediate` takes one of --reinstall and --recover, and names what
// is wrong: the flow itself is tested in tests/oam/flow_test.cc.
TEST_F(ReleaseCli, ServerRemediateSaysWhatIsWrong) {
  const std::string srv = dir_.File("srv");
  ASSERT_EQ(testing::Run(cli_ + " server init --dir " + srv).exit_code, 0);
  const std::string remediate = cli_ + " server remediate --dir " + srv + " --device henb-1";
  auto neither = testing::Run(remediate);
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("give one of --reinstall VERSION and --recover VERSION"),
            std::string::npos)
      << neither.err;
  EXPECT_EQ(testing::Run(remediate + " --reinstall 1.0 --recover 1.0").exit_code, 2);
  auto unknown = testing::Run(remediate + " --reinstall 1.0");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("policy.unknown-device: no enrolled device henb-1"), std::string::npos)
      << unknown.err;
  auto help = testing::Run(cli_ + " server remediate --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--recover"), std::string::npos);
}

// `server campaign` names what is wrong before anything is stored; the
// campaigns themselves are tested in tests/oam/flow_test.cc.
TEST_F(ReleaseCli, ServerCampaignSaysWhatIsWrong) {
  const std::string srv = dir_.File("srv");
  ASSERT_EQ(testing::Run(cli_ + " server init --dir " + srv).exit_code, 0);
  ASSERT_EQ(testing::Run(cli_ + " server import-release --dir " + srv + " --trust-root " + ex_ +
                         "/trust-root " + ex_ + "/release.bundle")
                .exit_code,
            0);
  const auto manifest = nlohmann::json::parse(
      testing::Run(cli_ + " release inspect " + ex_ + "/release.bundle --json").out, nullptr,
      false);
  ASSERT_TRUE(manifest.is_object());
  const std::string target = " --release-id " + manifest["release_id"].get<std::string>() +
                             " --version " + manifest["version"].get<std::string>();
  const std::string create = cli_ + " server campaign create --dir " + srv + target;
  auto nobody = testing::Run(create);
  EXPECT_EQ(nobody.exit_code, 2);
  EXPECT_NE(nobody.err.find("the selection 'all' takes no enrolled device"), std::string::npos)
      << nobody.err;
  auto group = testing::Run(create + " --select 'group=north'");
  EXPECT_EQ(group.exit_code, 2);
  EXPECT_NE(group.err.find("the selection 'group=north' takes no enrolled device"),
            std::string::npos)
      << group.err;
  EXPECT_EQ(testing::Run(create + " --max-failures 101").exit_code, 2);
  EXPECT_EQ(testing::Run(create + " --kind rebuild").exit_code, 2);
  auto unknown = testing::Run(cli_ + " server campaign status --dir " + srv + " 7 --json");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no campaign 7"), std::string::npos) << unknown.err;
  // A revocation names a safe version that exists, of at least the same counter.
  auto revoke = testing::Run(cli_ + " server revoke --dir " + srv + target +
                             " --safe-version 9.9.9 --reason test");
  EXPECT_EQ(revoke.exit_code, 1);
  EXPECT_NE(revoke.err.find("policy.unknown-release"), std::string::npos) << revoke.err;
  EXPECT_EQ(testing::Run(cli_ + " server revoke --dir " + srv + target).exit_code, 2);
  auto unrevoke = testing::Run(cli_ + " server unrevoke --dir " + srv + target);
  EXPECT_EQ(unrevoke.exit_code, 1) << unrevoke.err;
  EXPECT_NE(unrevoke.err.find("is not revoked"), std::string::npos) << unrevoke.err;
  auto help = testing::Run(cli_ + " server campaign --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* verb : {"create", "status", "pause", "resume", "abort"}) {
    EXPECT_NE(help.out.find(verb), std::string::npos) << verb;
  }
}

// The audit log's head, anchored by `server run`, checked by `server status`.
TEST_F(ReleaseCli, ServerStatusDetectsATruncatedAuditLogOnceAnchored) {
  const std::string srv = dir_.File("srv");
  ASSERT_EQ(testing::Run(cli_ + " server init --dir " + srv).exit_code, 0);
  EXPECT_TRUE(ReadFile(srv + "/audit.key").ok());
  EXPECT_TRUE(ReadFile(srv + "/audit.pub").ok());
  auto imported = testing::Run(cli_ + " server import-release --dir " + srv + " --trust-root " +
                               ex_ + "/trust-root " + ex_ + "/release.bundle");
  ASSERT_EQ(imported.exit_code, 0) << imported.err;  // one audit entry
  auto status = testing::Run(cli_ + " server status --dir " + srv);
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("audit log: 1 entries, hash chain verified; its head is not anchored"),
            std::string::npos)
      << status.out;

  {
    testing::Background server(cli_ + " server run --dir " + srv +
                                   " --listen 127.0.0.1:0 --port-file " + dir_.File("port"),
                               dir_.File("server.log"));
    ASSERT_NE(testing::WaitForPortFile(dir_.File("port")), 0);
    for (int i = 0; i < 100 && !ReadFile(srv + "/audit.anchor").ok(); ++i) usleep(100'000);
  }
  status = testing::Run(cli_ + " server status --dir " + srv);
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("audit log: 1 entries, hash chain verified, anchored at entry 1 "
                            "(signed checkpoint of 20"),
            std::string::npos)
      << status.out;

  // The database's owner deletes the newest entry: the chain alone would pass.
  ASSERT_EQ(testing::Run("sqlite3 " + srv + "/henbtrust.db 'DELETE FROM audit'").exit_code, 0);
  status = testing::Run(cli_ + " server status --dir " + srv);
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_NE(
      status.out.find("audit log: BROKEN: entries after 0 are missing: the log was truncated"),
      std::string::npos)
      << status.out;
}

}  // namespace
}  // namespace henbtrust

namespace henbtrust {
namespace {

TEST_F(ReleaseCli, DeviceCommandsRunStepsSixAndSeven) {
  const std::string dev = dir_.File("device");
  const std::string trust = " --trust " + ex_ + "/trust-root";
  auto p = testing::Run(cli_ + " device provision --dir " + dev + " --hardware femto-a1 --bundle " +
                        ex_ + "/release.bundle" + trust);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out.rfind("booted slot a release 2.0.0", 0), 0u) << p.out;
  // Reinstalling the running release is allowed (counter 2 >= floor 0): install, trial boot,
  // commit.
  auto i = testing::Run(cli_ + " device install --dir " + dev + " --bundle " + ex_ +
                        "/release.bundle" + trust);
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_NE(i.out.find("into slot b"), std::string::npos);
  EXPECT_EQ(testing::Run(cli_ + " device install --dir " + dev + " --bundle " + ex_ +
                         "/release.bundle" + trust)
                .exit_code,
            1);  // one update at a time
  auto b = testing::Run(cli_ + " device boot --dir " + dev);
  EXPECT_EQ(b.out.rfind("booted slot b", 0), 0u) << b.out << b.err;
  auto c = testing::Run(cli_ + " device commit --dir " + dev);
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("anti-rollback floor 2"), std::string::npos) << c.out;
  auto s = testing::Run(cli_ + " device status --dir " + dev);
  EXPECT_NE(s.out.find("active b"), std::string::npos) << s.out;
  EXPECT_EQ(testing::Run(cli_ + " device commit --dir " + dev).exit_code, 1);
  EXPECT_EQ(testing::Run(cli_ + " device status --dir " + dir_.File("nothing")).exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("nothing")));  // a wrong directory is left alone
}

// README "Exit codes": a bundle that cannot be read exits 2, one that was
// read and is invalid exits 1.
TEST_F(ReleaseCli, InspectAndKeysExitAsTheReadmeSays) {
  auto r = testing::Run(cli_ + " release inspect " + ex_);  // a directory
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: core.io: ", 0), 0u) << r.err;
  EXPECT_EQ(testing::Run(cli_ + " release inspect " + dir_.File("absent")).exit_code, 2);
  Bytes b = *ReadFile(ex_ + "/release.bundle");
  b.resize(40);
  ASSERT_TRUE(WriteFileAtomic(dir_.File("short.bundle"), b).ok());
  r = testing::Run(cli_ + " release inspect " + dir_.File("short.bundle"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: release.", 0), 0u) << r.err;
  r = testing::Run(cli_ + " keys generate --type dsa --out " + dir_.File("k"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: core.invalid-argument: --type must be ecc-p256 or rsa\n");
  // The root to verify could not be read: 2; it was read and is no successor: 1.
  r = testing::Run(cli_ + " release root verify --current " + ex_ + "/trust-root " +
                   dir_.File("absent"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  ASSERT_TRUE(WriteFileAtomic(dir_.File("not-a-root"), AsBytes("{}")).ok());
  r = testing::Run(cli_ + " release root verify --current " + ex_ + "/trust-root " +
                   dir_.File("not-a-root"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: release.", 0), 0u) << r.out;
}

}  // namespace
}  // namespace henbtrust
