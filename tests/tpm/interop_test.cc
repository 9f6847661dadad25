// Quotes made by swtpm through tpm2-tools verify in henbtrust's verifier.
#include <gtest/gtest.h>

#include "henbtrust/tpm/quote_verifier.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

struct AkKind {
  const char* name;
  const char* createak_args;
};

class Tpm2ToolsQuote : public ::testing::TestWithParam<AkKind> {};

TEST_P(Tpm2ToolsQuote, VerifiesInOursAndTamperingIsCaught) {
  testing::Swtpm swtpm;
  ASSERT_TRUE(swtpm.ok());
  testing::TempDir d;
  const std::string env = swtpm.ToolsEnv();
  const Bytes nonce = *HexDecode("0123456789abcdef0123456789abcdef");
  auto run = [&](const std::string& cmd) {
    auto r = testing::Run(cmd + " && tpm2_flushcontext -t", env);
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
    return r.exit_code == 0;
  };
  ASSERT_TRUE(run("tpm2_createek -c " + d.File("ek.ctx") + " -G ecc -u " + d.File("ek.pub")));
  ASSERT_TRUE(run("tpm2_createak -C " + d.File("ek.ctx") + " -c " + d.File("ak.ctx") + " " +
                  GetParam().createak_args + " -u " + d.File("ak.pub") + " -n " +
                  d.File("ak.name")));
  ASSERT_TRUE(run("tpm2_pcrextend 0:sha256=" + HexEncode(Sha256(AsBytes("firmware"))) +
                  " && tpm2_pcrextend 4:sha256=" + HexEncode(Sha256(AsBytes("bootloader")))));
  ASSERT_TRUE(run("tpm2_quote -c " + d.File("ak.ctx") + " -l sha256:0,1,4 -q " + HexEncode(nonce) +
                  " -m " + d.File("q.msg") + " -s " + d.File("q.sig") + " -g sha256"));
  ASSERT_TRUE(run("tpm2_pcrread sha256:0,1,4 -o " + d.File("pcrs")));

  auto verifier = QuoteVerifier::FromTpmPublic(testing::ReadBytes(d.File("ak.pub")));
  ASSERT_TRUE(verifier.ok()) << verifier.error().ToString();
  const Bytes msg = testing::ReadBytes(d.File("q.msg"));
  const Bytes sig = testing::ReadBytes(d.File("q.sig"));
  QuoteExpectations e;
  e.nonce = nonce;
  e.pcr_selection = std::vector<PcrSelection>{{HashAlg::kSha256, {0, 1, 4}}};
  e.pcr_values = testing::ReadBytes(d.File("pcrs"));
  auto r = verifier->Verify(msg, sig, e);
  ASSERT_TRUE(r.ok()) << r.error().ToString();

  Bytes bad_msg = msg;
  bad_msg[bad_msg.size() - 1] ^= 1;
  EXPECT_EQ(verifier->Verify(bad_msg, sig, e).error().code(), ErrorCode::kQuoteSignature);
  auto wrong_nonce = e;
  wrong_nonce.nonce[3] ^= 1;
  EXPECT_EQ(verifier->Verify(msg, sig, wrong_nonce).error().code(), ErrorCode::kQuoteNonce);
  auto wrong_pcrs = e;
  (*wrong_pcrs.pcr_values)[40] ^= 1;
  EXPECT_EQ(verifier->Verify(msg, sig, wrong_pcrs).error().code(), ErrorCode::kQuotePcrValues);
}

INSTANTIATE_TEST_SUITE_P(EcdsaAndRsassa, Tpm2ToolsQuote,
                         ::testing::Values(AkKind{"ecdsa", "-G ecc -g sha256 -s ecdsa"},
                                           AkKind{"rsassa", "-G rsa -g sha256 -s rsassa"}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace henbtrust
