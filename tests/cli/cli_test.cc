// The command-line interface as external checks drive it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "henbtrust/core/file.h"
#include "henbtrust/store/store.h"
#include "support/test_support.h"
#include "support/tpm2_tools.h"

namespace henbtrust {
namespace {

class Cli : public ::testing::Test {
 protected:
  std::string vec_ = testing::TestVectorDir() + "/swtpm-quote/";
  std::string cli_ = testing::CliPath();
  std::string nonce_ = HexEncode(*ReadFile(vec_ + "nonce.bin"));

  testing::CommandResult Verify(const std::string& ak, const std::string& msg,
                                const std::string& extra = "", const std::string& nonce = "") {
    return testing::Run(cli_ + " quote verify --ak-pub " + ak + " --nonce " +
                        (nonce.empty() ? nonce_ : nonce) + " --message " + msg + " --signature " +
                        vec_ + "quote.sig " + extra);
  }
};

TEST_F(Cli, QuoteVerifyPrintsValid) {
  for (const char* ak : {"ak.pub.pem", "ak.pub.tss"}) {
    auto r = Verify(vec_ + ak, vec_ + "quote.msg",
                    "--pcr-values " + vec_ + "pcrs.values.bin --eventlog " + vec_ + "eventlog.bin");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "valid\n");
  }
}

TEST_F(Cli, QuoteVerifyPrintsOneInvalidLineWithTheCode) {
  auto r = Verify(vec_ + "ak.pub.pem", vec_ + "quote.msg", "", std::string(64, '0'));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: quote.nonce-mismatch: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);

  testing::TempDir dir;
  Bytes msg = *ReadFile(vec_ + "quote.msg");
  msg[100] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(dir.File("m"), msg).ok());
  r = Verify(vec_ + "ak.pub.pem", dir.File("m"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: quote.signature-invalid: ", 0), 0u) << r.out;

  Bytes pcrs = *ReadFile(vec_ + "pcrs.values.bin");
  pcrs[0] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(dir.File("p"), pcrs).ok());
  r = Verify(vec_ + "ak.pub.pem", vec_ + "quote.msg", "--pcr-values " + dir.File("p"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: quote.pcr-values: ", 0), 0u) << r.out;

  ASSERT_TRUE(WriteFileAtomic(dir.File("garbage"), AsBytes("not a key")).ok());
  r = Verify(dir.File("garbage"), vec_ + "quote.msg");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("invalid: ", 0), 0u) << r.out;
}

TEST_F(Cli, QuoteVerifyUsageAndIoErrorsExitTwo) {
  EXPECT_EQ(Verify(vec_ + "ak.pub.pem", "/nonexistent/quote.msg").exit_code, 2);
  EXPECT_EQ(Verify(vec_ + "ak.pub.pem", vec_ + "quote.msg", "", "xyz").exit_code, 2);
  EXPECT_EQ(testing::Run(cli_ + " quote verify --nonce 00").exit_code, 2);
  EXPECT_EQ(testing::Run(cli_ + " frobnicate").exit_code, 2);
  EXPECT_EQ(testing::Run(cli_).exit_code, 2);
  auto help = testing::Run(cli_ + " quote verify --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--ak-pub"), std::string::npos);
}

TEST_F(Cli, EventlogReplayJsonMatchesTpm2Eventlog) {
  const std::string dir = testing::TestVectorDir() + "/eventlogs";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin") continue;
    auto ours = testing::Run(cli_ + " eventlog replay " + entry.path().string() + " --json");
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    const auto json = nlohmann::json::parse(ours.out);
    std::map<std::string, std::map<int, std::string>> got;
    for (const auto& [bank, pcrs] : json.at("banks").items()) {
      for (const auto& [pcr, value] : pcrs.items())
        got[bank][std::stoi(pcr)] = value.get<std::string>();
    }
    auto theirs = testing::Run("tpm2_eventlog " + entry.path().string());
    EXPECT_EQ(got, testing::ParseEventlogPcrs(theirs.out)) << entry.path();
  }
}

TEST_F(Cli, EventlogShowPrintsOneLinePerEvent) {
  auto r = testing::Run(cli_ + " eventlog show " + vec_ + "eventlog.bin");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5);  // a header line and 4 events
  EXPECT_NE(r.out.find("EV_POST_CODE"), std::string::npos);
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.File("bad"), Bytes(7, 1)).ok());
  EXPECT_EQ(testing::Run(cli_ + " eventlog show " + dir.File("bad")).exit_code, 1);
  EXPECT_EQ(testing::Run(cli_ + " eventlog replay /nonexistent").exit_code, 2);
}

TEST_F(Cli, SoftTreEvidencePassesTpm2Checkquote) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.File("kernel"), AsBytes("kernel image")).ok());
  auto r = testing::Run(cli_ + " tre attest --backend soft --state " + dir.File("tre.state") +
                        " --measure kernel:1.0:" + dir.File("kernel") +
                        "@2 --pcrs sha256:0,2 --nonce 00112233 --out " + dir.File("ev"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto check = testing::Run("tpm2_checkquote -u " + dir.File("ev/ak.pub") + " -m " +
                            dir.File("ev/quote.msg") + " -s " + dir.File("ev/quote.sig") + " -f " +
                            dir.File("ev/pcrs.bin") + " -l sha256:0,2 -g sha256 -q 00112233");
  EXPECT_EQ(check.exit_code, 0) << check.err;
  auto ours = testing::Run(
      cli_ + " quote verify --ak-pub " + dir.File("ev/ak.pem") + " --nonce 00112233 --message " +
      dir.File("ev/quote.msg") + " --signature " + dir.File("ev/quote.sig") + " --eventlog " +
      dir.File("ev/eventlog.bin") + " --pcr-values " + dir.File("ev/pcrs.bin"));
  EXPECT_EQ(ours.out, "valid\n") << ours.err;
}

// README "Exit codes": 2 when the input could not be read or written or the
// command was used wrongly, 1 when what was read is invalid.
TEST_F(Cli, TreAttestExitsAsTheReadmeSays) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.File("kernel"), AsBytes("kernel image")).ok());
  const std::string attest = cli_ + " tre attest --backend soft --nonce 00112233 ";
  auto r = testing::Run(attest + "--measure kernel:1.0:" + dir.File("absent") + "@2 --out " +
                        dir.File("ev"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: core.not-found: ", 0), 0u) << r.err;
  // The evidence cannot be written below a regular file.
  r = testing::Run(attest + "--measure kernel:1.0:" + dir.File("kernel") + "@2 --out " +
                   dir.File("kernel") + "/ev");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: core.io: ", 0), 0u) << r.err;
  r = testing::Run(attest + "--measure kernel-without-pcr --out " + dir.File("ev"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: core.invalid-argument: ", 0), 0u) << r.err;
  EXPECT_EQ(testing::Run(attest + "--backend hsm --out " + dir.File("ev")).exit_code, 2);
  // A soft TrE state that is not one: the input is invalid.
  ASSERT_TRUE(WriteFileAtomic(dir.File("bad.state"), AsBytes("not a state")).ok());
  r = testing::Run(attest + "--state " + dir.File("bad.state") + " --out " + dir.File("ev"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: core.malformed: ", 0), 0u) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("ev")));
  r = testing::Run(attest + "--measure kernel:1.0:" + dir.File("kernel") + "@2 --out " +
                   dir.File("ev"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Cli, QuoteVerifyExitsTwoOnUsageAndIoErrors) {
  auto r = Verify(vec_ + "ak.pub.pem", vec_ + "quote.msg", "--pcrs sha256:zero");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: core.invalid-argument: --pcrs: ", 0), 0u) << r.err;
  EXPECT_EQ(r.out, "");
  r = Verify(vec_ + "ak.pub.pem", vec_ + "quote.msg", "--eventlog " + vec_);  // a directory
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("error: core.io: ", 0), 0u) << r.err;
  EXPECT_EQ(r.out, "");
}

// server decommission: on the server's store, audited, once; the exit
// codes of a refusal are the README's.
TEST_F(Cli, ServerDecommissionTakesADeviceOutOfServiceOnce) {
  testing::TempDir dir;
  const std::string server = dir.File("server");
  auto init = testing::Run(cli_ + " server init --dir " + server + " --host 127.0.0.1");
  ASSERT_EQ(init.exit_code, 0) << init.err;
  {
    auto store = OpenSqliteStore(server + "/henbtrust.db");
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    DeviceRecord d;
    d.device_id = "henb-1";
    d.ek_public = Bytes{1};
    d.state = kDeviceEnrolled;
    d.certificate_serial = "4A1B";
    ASSERT_TRUE((*store)->PutDevice(d).ok());
  }
  auto done = testing::Run(cli_ + " server decommission --dir " + server +
                           " --device henb-1 --reason 'site closed'");
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_NE(done.out.find("decommissioned henb-1: certificate 4A1B refused"), std::string::npos)
      << done.out;
  {
    auto store = OpenSqliteStore(server + "/henbtrust.db");
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*(*store)->GetDevice("henb-1"))->state, kDeviceDecommissioned);
    EXPECT_EQ(*(*store)->RefusedCertificateSerials(), std::vector<std::string>{"4A1B"});
    auto audit = *(*store)->ListAudit(0, 10);
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0].event, "device decommissioned");
    EXPECT_EQ(audit[0].actor, "operator:cli");
    EXPECT_NE(audit[0].detail.find("site closed"), std::string::npos) << audit[0].detail;
  }
  auto twice = testing::Run(cli_ + " server decommission --dir " + server + " --device henb-1");
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("policy.state"), std::string::npos) << twice.err;
  auto unknown = testing::Run(cli_ + " server decommission --dir " + server + " --device nobody");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("policy.unknown-device"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace henbtrust
