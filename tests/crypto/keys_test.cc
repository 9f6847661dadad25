#include <gtest/gtest.h>

#include "henbtrust/crypto/keys.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

struct SchemeCase {
  KeyType type;
  SignatureScheme scheme;
};

class KeysTest : public ::testing::TestWithParam<SchemeCase> {};

TEST_P(KeysTest, SignsAndVerifiesAndRejectsTampering) {
  auto key = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  const Bytes msg = ToBytes("release manifest");
  auto sig = key->Sign(GetParam().scheme, HashAlg::kSha256, msg);
  ASSERT_TRUE(sig.ok()) << sig.error().ToString();
  const PublicKey pub = key->Public();
  EXPECT_TRUE(pub.Verify(GetParam().scheme, HashAlg::kSha256, msg, *sig).ok());

  Bytes bad_msg = msg;
  bad_msg[0] ^= 1;
  EXPECT_EQ(pub.Verify(GetParam().scheme, HashAlg::kSha256, bad_msg, *sig).error().code(),
            ErrorCode::kCryptoBadSignature);
  Bytes bad_sig = *sig;
  bad_sig[bad_sig.size() / 2] ^= 1;
  EXPECT_FALSE(pub.Verify(GetParam().scheme, HashAlg::kSha256, msg, bad_sig).ok());
  auto other = PrivateKey::Generate(GetParam().type);
  EXPECT_FALSE(other->Public().Verify(GetParam().scheme, HashAlg::kSha256, msg, *sig).ok());
}

TEST_P(KeysTest, RoundTripsPemAndDer) {
  auto key = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(key.ok());
  auto from_pem = PrivateKey::FromPem(key->ToPem());
  auto from_der = PrivateKey::FromDer(key->ToDer());
  ASSERT_TRUE(from_pem.ok() && from_der.ok());
  EXPECT_EQ(from_pem->Public().ToDer(), key->Public().ToDer());
  EXPECT_EQ(from_der->Public().ToDer(), key->Public().ToDer());
  auto pub_pem = PublicKey::FromPem(key->Public().ToPem());
  auto pub_der = PublicKey::FromDer(key->Public().ToDer());
  ASSERT_TRUE(pub_pem.ok() && pub_der.ok());
  EXPECT_EQ(pub_pem->type(), GetParam().type);
  const Bytes msg = ToBytes("x");
  auto sig = from_pem->Sign(GetParam().scheme, HashAlg::kSha256, msg);
  EXPECT_TRUE(pub_der->Verify(GetParam().scheme, HashAlg::kSha256, msg, *sig).ok());
}

// One key object used in turn with other digests (and, for RSA, the other
// padding): each call is set up for its own scheme and digest, even where the
// key reuses a context that a call before it set up otherwise.
TEST_P(KeysTest, OneKeyServesEveryDigestInTurn) {
  auto key = PrivateKey::Generate(GetParam().type);
  ASSERT_TRUE(key.ok());
  const PublicKey pub = key->Public();
  const Bytes msg = ToBytes("measured boot");
  std::vector<SignatureScheme> schemes{GetParam().scheme};
  if (GetParam().type == KeyType::kRsa)
    schemes.push_back(GetParam().scheme == SignatureScheme::kRsaPss ? SignatureScheme::kRsaPkcs1
                                                                    : SignatureScheme::kRsaPss);
  for (int round = 0; round < 2; ++round) {
    for (SignatureScheme scheme : schemes) {
      for (HashAlg hash : {HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha1}) {
        auto sig = key->Sign(scheme, hash, msg);
        ASSERT_TRUE(sig.ok()) << sig.error().ToString();
        EXPECT_TRUE(pub.Verify(scheme, hash, msg, *sig).ok());
        // A signature over the same message with another digest does not verify.
        const HashAlg other = hash == HashAlg::kSha256 ? HashAlg::kSha384 : HashAlg::kSha256;
        EXPECT_FALSE(pub.Verify(scheme, other, msg, *sig).ok());
        if (schemes.size() > 1) {
          const SignatureScheme wrong = scheme == schemes[0] ? schemes[1] : schemes[0];
          EXPECT_FALSE(pub.Verify(wrong, hash, msg, *sig).ok());
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, KeysTest,
                         ::testing::Values(SchemeCase{KeyType::kEcP256, SignatureScheme::kEcdsa},
                                           SchemeCase{KeyType::kEcP384, SignatureScheme::kEcdsa},
                                           SchemeCase{KeyType::kRsa, SignatureScheme::kRsaPkcs1},
                                           SchemeCase{KeyType::kRsa, SignatureScheme::kRsaPss}));

TEST(Keys, RejectsGarbageAndMismatchedSchemes) {
  EXPECT_EQ(PublicKey::FromPem("not a key").error().code(), ErrorCode::kCryptoBadKey);
  EXPECT_EQ(PublicKey::FromDer(Bytes{0x30, 0x03, 0x02, 0x01, 0x00}).error().code(),
            ErrorCode::kCryptoBadKey);
  EXPECT_FALSE(PrivateKey::FromDer(Bytes(10, 0)).ok());
  auto ec = PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_EQ(ec->Sign(SignatureScheme::kRsaPkcs1, HashAlg::kSha256, AsBytes("x")).error().code(),
            ErrorCode::kCryptoUnsupported);
  EXPECT_EQ(ec->Public()
                .VerifyDigest(SignatureScheme::kEcdsa, HashAlg::kSha256, Bytes(31), Bytes(8))
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
}

TEST(Keys, EcPointAndScalarRoundTrip) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  auto point = key->Public().EcPoint();
  ASSERT_TRUE(point.ok());
  EXPECT_EQ(point->first.size(), 32u);
  auto rebuilt = PublicKey::FromEcPoint(KeyType::kEcP256, point->first, point->second);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->ToDer(), key->Public().ToDer());
  // A point off the curve is refused.
  Bytes y = point->second;
  y[31] ^= 1;
  EXPECT_EQ(PublicKey::FromEcPoint(KeyType::kEcP256, point->first, y).error().code(),
            ErrorCode::kCryptoBadKey);

  // Longer than the curve's coordinates: refused, even with a zero in front.
  Bytes long_x{0};
  Append(long_x, point->first);
  EXPECT_EQ(PublicKey::FromEcPoint(KeyType::kEcP256, long_x, point->second).error().code(),
            ErrorCode::kCryptoBadKey);

  auto scalar = key->EcScalar();
  auto from_scalar = PrivateKey::FromEcScalar(KeyType::kEcP256, *scalar);
  ASSERT_TRUE(from_scalar.ok());
  EXPECT_EQ(from_scalar->Public().ToDer(), key->Public().ToDer());
}

// A TPM2B_ECC_PARAMETER may leave out leading zero bytes (tpm2-tools writes
// them so): the coordinate means the same number.
TEST(Keys, EcCoordinatesWithoutTheirLeadingZerosAreTheSamePoint) {
  for (int tries = 0; tries < 20000; ++tries) {  // about one key in 128 qualifies
    auto key = PrivateKey::Generate(KeyType::kEcP256);
    auto point = key->Public().EcPoint();
    ASSERT_TRUE(point.ok());
    const Bytes& x = point->first;
    const Bytes& y = point->second;
    if (x[0] != 0 && y[0] != 0) continue;
    const ByteView short_x = x[0] == 0 ? ByteView(x).subspan(1) : ByteView(x);
    const ByteView short_y = y[0] == 0 ? ByteView(y).subspan(1) : ByteView(y);
    auto rebuilt = PublicKey::FromEcPoint(KeyType::kEcP256, short_x, short_y);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().ToString();
    EXPECT_EQ(rebuilt->ToDer(), key->Public().ToDer());
    EXPECT_EQ(rebuilt->EcPoint()->first, x);  // read back at full size
    return;
  }
  FAIL() << "no key with a leading zero coordinate in 20000";
}

TEST(Keys, RsaComponentsRoundTrip) {
  auto key = PrivateKey::Generate(KeyType::kRsa);
  auto n = key->Public().RsaModulus();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->size(), 256u);
  EXPECT_EQ(*key->Public().RsaExponent(), 65537u);
  auto rebuilt = PublicKey::FromRsa(*n, 65537);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->ToDer(), key->Public().ToDer());
}

TEST(Ecdsa, DerAndRsConvert) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  auto der = key->Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, AsBytes("m"));
  auto rs = EcdsaDerToRs(*der, 32);
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ(rs->first.size(), 32u);
  EXPECT_EQ(*EcdsaRsToDer(rs->first, rs->second), *der);
  EXPECT_FALSE(EcdsaDerToRs(Bytes{0x30, 0x00, 0x00}, 32).ok());
}

// Differential: the SubjectPublicKeyInfo we write for an EC key (by hand,
// src/crypto/keys.cc) is byte for byte the one openssl writes, on both
// curves; and a key openssl wrote with a compressed point reads as the same
// key, whose coordinates read as they are and whose encoding keeps its form.
TEST(Keys, EcSubjectPublicKeyInfoMatchesOpenssl) {
  testing::TempDir dir;
  for (const auto& [type, curve] :
       {std::pair{KeyType::kEcP256, "P-256"}, std::pair{KeyType::kEcP384, "P-384"}}) {
    SCOPED_TRACE(curve);
    auto key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    testing::WriteBytes(dir.File("pub.pem"), AsBytes(key->Public().ToPem()));
    ASSERT_EQ(
        testing::Run("openssl pkey -pubin -in " + dir.File("pub.pem") + " -outform DER -out " +
                     dir.File("pub.der") + " && openssl ec -pubin -in " + dir.File("pub.pem") +
                     " -conv_form compressed -outform DER -out " + dir.File("packed.der") +
                     " 2>/dev/null")
            .exit_code,
        0);
    const Bytes theirs = testing::ReadBytes(dir.File("pub.der"));
    EXPECT_EQ(key->Public().ToDer(), theirs);
    auto read = PublicKey::FromDer(theirs);
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    EXPECT_EQ(read->EcPoint()->first, key->Public().EcPoint()->first);

    const Bytes packed = testing::ReadBytes(dir.File("packed.der"));
    ASSERT_LT(packed.size(), theirs.size());
    auto unpacked = PublicKey::FromDer(packed);
    ASSERT_TRUE(unpacked.ok()) << unpacked.error().ToString();
    EXPECT_EQ(unpacked->EcPoint()->second, key->Public().EcPoint()->second);
    EXPECT_EQ(unpacked->ToDer(), packed);  // it keeps the form it was read in
    const Bytes msg = ToBytes("either form");
    auto sig = key->Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, msg);
    EXPECT_TRUE(unpacked->Verify(SignatureScheme::kEcdsa, HashAlg::kSha256, msg, *sig).ok());
  }
  // A header that claims P-256 over a point that is not on it: refused.
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  Bytes bad = key->Public().ToDer();
  bad.back() ^= 1;
  EXPECT_EQ(PublicKey::FromDer(bad).error().code(), ErrorCode::kCryptoBadKey);
}

// PEM public keys of the common curves are read without OpenSSL's decoders:
// the same key as OpenSSL's reader gives, from the same text it accepts
// (text around the block, CRLF line ends), and the same refusals.
TEST(Keys, PemPublicKeysReadAsOpensslReadsThem) {
  auto rsa = PrivateKey::Generate(KeyType::kRsa);
  ASSERT_TRUE(rsa.ok());
  for (const KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa}) {
    auto key = type == KeyType::kRsa ? std::move(rsa) : PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    const std::string pem = key->Public().ToPem();
    std::string crlf;
    for (const char c : pem) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    for (const std::string& text :
         {pem, "a comment before the block\n" + pem + "and after", crlf}) {
      auto read = PublicKey::FromPem(text);
      ASSERT_TRUE(read.ok()) << read.error().ToString();
      EXPECT_EQ(read->type(), type);
      EXPECT_EQ(read->ToDer(), key->Public().ToDer());
      const Bytes msg = ToBytes("read either way");
      const auto scheme =
          type == KeyType::kRsa ? SignatureScheme::kRsaPss : SignatureScheme::kEcdsa;
      auto sig = key->Sign(scheme, HashAlg::kSha256, msg);
      ASSERT_TRUE(sig.ok());
      EXPECT_TRUE(read->Verify(scheme, HashAlg::kSha256, msg, *sig).ok());
    }
  }
  // A block OpenSSL does not read (its marker not on a line of its own)
  // before the one it does: the second key, as OpenSSL gives it.
  auto first = PrivateKey::Generate(KeyType::kEcP256);
  auto second = PrivateKey::Generate(KeyType::kEcP256);
  const std::string commented = "# " + first->Public().ToPem() + second->Public().ToPem();
  auto read = PublicKey::FromPem(commented);
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  EXPECT_EQ(read->ToDer(), second->Public().ToDer());
  // A P-256 point off the curve, a body that is not base64, a block cut off.
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  Bytes bad = key->Public().ToDer();
  bad.back() ^= 1;
  const std::string off_curve =
      "-----BEGIN PUBLIC KEY-----\n" + Base64Encode(bad) + "\n-----END PUBLIC KEY-----\n";
  EXPECT_EQ(PublicKey::FromPem(off_curve).error().code(), ErrorCode::kCryptoBadKey);
  EXPECT_EQ(PublicKey::FromPem("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n")
                .error()
                .code(),
            ErrorCode::kCryptoBadKey);
  const std::string pem = key->Public().ToPem();
  EXPECT_EQ(PublicKey::FromPem(pem.substr(0, pem.size() - 10)).error().code(),
            ErrorCode::kCryptoBadKey);
}

// EC private keys are written and read without OpenSSL's encoders and
// decoders (PKCS#8 of a fixed layout): byte for byte what OpenSSL writes,
// read as OpenSSL reads its own, and other encodings still read by it.
TEST(Keys, EcPrivateKeysWrittenAndReadAsOpensslDoes) {
  testing::TempDir dir;
  for (const auto& [type, curve] :
       {std::pair{KeyType::kEcP256, "P-256"}, std::pair{KeyType::kEcP384, "P-384"}}) {
    SCOPED_TRACE(curve);
    // Ours, rewritten by OpenSSL: the same text and the same DER.
    auto key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    testing::WriteBytes(dir.File("ours.pem"), AsBytes(key->ToPem()));
    ASSERT_EQ(testing::Run("openssl pkey -in " + dir.File("ours.pem") + " -out " +
                           dir.File("theirs.pem") + " && openssl pkcs8 -topk8 -nocrypt -in " +
                           dir.File("ours.pem") + " -outform DER -out " + dir.File("theirs.der"))
                  .exit_code,
              0);
    EXPECT_EQ(testing::ReadBytes(dir.File("theirs.pem")), ToBytes(key->ToPem()));
    EXPECT_EQ(testing::ReadBytes(dir.File("theirs.der")), key->ToDer());

    // Theirs, read by us: the same scalar and point, and written back the same.
    ASSERT_EQ(
        testing::Run(std::string("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:") +
                     curve + " -out " + dir.File("gen.pem") + " && openssl ec -in " +
                     dir.File("gen.pem") + " -out " + dir.File("sec1.pem") + " 2>/dev/null")
            .exit_code,
        0);
    const Bytes gen = testing::ReadBytes(dir.File("gen.pem"));
    const std::string gen_text(gen.begin(), gen.end());
    auto read = PrivateKey::FromPem(gen_text);
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    EXPECT_EQ(read->type(), type);
    EXPECT_EQ(read->ToPem(), gen_text);
    auto from_der = PrivateKey::FromDer(read->ToDer());
    ASSERT_TRUE(from_der.ok()) << from_der.error().ToString();
    EXPECT_EQ(*from_der->EcScalar(), *read->EcScalar());
    // The SEC1 form ("EC PRIVATE KEY") goes to OpenSSL's reader: the same key.
    const Bytes sec1 = testing::ReadBytes(dir.File("sec1.pem"));
    auto sec1_key = PrivateKey::FromPem(std::string(sec1.begin(), sec1.end()));
    ASSERT_TRUE(sec1_key.ok()) << sec1_key.error().ToString();
    EXPECT_EQ(*sec1_key->EcScalar(), *read->EcScalar());
    // A key in another form (its point compressed) is written back in that
    // form, as OpenSSL writes it.
    ASSERT_EQ(
        testing::Run("openssl ec -in " + dir.File("gen.pem") +
                     " -conv_form compressed 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out " +
                     dir.File("packed.pem"))
            .exit_code,
        0);
    const Bytes packed = testing::ReadBytes(dir.File("packed.pem"));
    auto packed_key = PrivateKey::FromPem(std::string(packed.begin(), packed.end()));
    ASSERT_TRUE(packed_key.ok()) << packed_key.error().ToString();
    EXPECT_EQ(*packed_key->EcScalar(), *read->EcScalar());
    EXPECT_EQ(packed_key->ToPem(), std::string(packed.begin(), packed.end()));
    EXPECT_NE(packed_key->ToPem(), gen_text);
    const Bytes msg = ToBytes("signed with the key read back");
    auto sig = read->Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, msg);
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(
        sec1_key->Public().Verify(SignatureScheme::kEcdsa, HashAlg::kSha256, msg, *sig).ok());
  }
  // The layout with a point off the curve: refused, as OpenSSL refuses it.
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  Bytes bad = key->ToDer();
  bad.back() ^= 1;
  EXPECT_EQ(PrivateKey::FromDer(bad).error().code(), ErrorCode::kCryptoBadKey);
  const std::string bad_pem =
      "-----BEGIN PRIVATE KEY-----\n" + Base64Encode(bad) + "\n-----END PRIVATE KEY-----\n";
  EXPECT_EQ(PrivateKey::FromPem(bad_pem).error().code(), ErrorCode::kCryptoBadKey);
  // Cut short: not the layout, and not a key for OpenSSL either.
  bad = key->ToDer();
  bad.pop_back();
  EXPECT_EQ(PrivateKey::FromDer(bad).error().code(), ErrorCode::kCryptoBadKey);
}

// Differential: OpenSSL's command line accepts our signatures and keys.
TEST(Keys, OpensslCliVerifiesOurEcdsaSignature) {
  testing::TempDir dir;
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  const Bytes msg = ToBytes("cross-check");
  auto sig = key->Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, msg);
  testing::WriteBytes(dir.File("pub.pem"), AsBytes(key->Public().ToPem()));
  testing::WriteBytes(dir.File("msg"), msg);
  testing::WriteBytes(dir.File("sig"), *sig);
  auto r = testing::Run("openssl dgst -sha256 -verify " + dir.File("pub.pem") + " -signature " +
                        dir.File("sig") + " " + dir.File("msg"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Verified OK"), std::string::npos);
  // And we accept a key and signature made by openssl.
  ASSERT_EQ(testing::Run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                         dir.File("k.pem") + " && openssl dgst -sha256 -sign " + dir.File("k.pem") +
                         " -out " + dir.File("sig2") + " " + dir.File("msg"))
                .exit_code,
            0);
  auto theirs = PrivateKey::FromPem(ToString(testing::ReadBytes(dir.File("k.pem"))));
  ASSERT_TRUE(theirs.ok());
  EXPECT_TRUE(theirs->Public()
                  .Verify(SignatureScheme::kEcdsa, HashAlg::kSha256, msg,
                          testing::ReadBytes(dir.File("sig2")))
                  .ok());
}

}  // namespace
}  // namespace henbtrust
