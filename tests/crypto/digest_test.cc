#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/random.h"

namespace henbtrust {
namespace {

TEST(Digest, MatchesFips180Vectors) {
  EXPECT_EQ(HexEncode(Hash(HashAlg::kSha1, AsBytes("abc"))),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Hash(HashAlg::kSha384, AsBytes("abc"))),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baec"
            "a134c825a7");
}

TEST(Hasher, StreamingEqualsOneShotForAnySplit) {
  Bytes data(10000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31);
  const Bytes expected = Sha256(data);
  for (size_t split : {0u, 1u, 63u, 64u, 65u, 4096u, 9999u, 10000u}) {
    Hasher h(HashAlg::kSha256);
    h.Update(ByteView(data).first(split));
    h.Update(ByteView(data).subspan(split));
    EXPECT_EQ(h.Finish(), expected) << split;
  }
  Hasher h(HashAlg::kSha256);
  h.Update(AsBytes("abc"));
  (void)h.Finish();
  h.Update(AsBytes("abc"));  // Finish resets
  EXPECT_EQ(h.Finish(), Sha256(AsBytes("abc")));
}

TEST(Hmac, MatchesRfc4231Case2) {
  EXPECT_EQ(
      HexEncode(Hmac(HashAlg::kSha256, AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// Cross-checked against OpenSSL's own HMAC over keys shorter than, as long
// as and longer than each digest's block.
TEST(Hmac, MatchesOpensslForEveryDigestAndKeySize) {
  for (HashAlg a : {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512}) {
    const EVP_MD* md = EVP_get_digestbyname(std::string(HashAlgName(a)).c_str());
    ASSERT_NE(md, nullptr);
    for (size_t key_size : {0, 1, 20, 63, 64, 65, 127, 128, 129, 300}) {
      for (size_t data_size : {0, 1, 55, 64, 200}) {
        Bytes key(key_size), data(data_size);
        for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
        for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + 5);
        Bytes expected(EVP_MAX_MD_SIZE);
        unsigned int len = 0;
        static const uint8_t kNothing = 0;  // OpenSSL refuses a null key, even empty
        ASSERT_NE(HMAC(md, key.empty() ? &kNothing : key.data(), static_cast<int>(key.size()),
                       data.data(), data.size(), expected.data(), &len),
                  nullptr);
        expected.resize(len);
        EXPECT_EQ(Hmac(a, key, data), expected) << HashAlgName(a) << " " << key_size;
      }
    }
  }
}

TEST(HashAlg, NamesAndTpmIdsRoundTrip) {
  for (HashAlg a : {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512}) {
    EXPECT_EQ(*HashAlgFromName(HashAlgName(a)), a);
    EXPECT_EQ(*HashAlgFromTpmId(static_cast<uint16_t>(a)), a);
  }
  EXPECT_EQ(HashAlgFromTpmId(0x0012).error().code(), ErrorCode::kTpmUnsupported);  // SM3
  EXPECT_FALSE(HashAlgFromName("md5").ok());
}

TEST(Random, ProducesDistinctNonces) {
  CsprngNonceSource source;
  const Bytes a = *source.Next();
  const Bytes b = *source.Next();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace henbtrust
