#include <gtest/gtest.h>

#include "henbtrust/core/bytes.h"

namespace henbtrust {
namespace {

TEST(Hex, RoundTripsAndRejectsBadInput) {
  const Bytes b{0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "0001abff");
  EXPECT_EQ(*HexDecode("0001ABff"), b);
  EXPECT_EQ(*HexDecode("0x0001abff"), b);
  EXPECT_EQ(HexDecode("abc").error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(HexDecode("zz").error().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(HexDecode("")->empty());
}

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), enc);
    EXPECT_EQ(ToString(*Base64Decode(enc)), plain);
  }
  EXPECT_EQ(Base64UrlEncode(Bytes{0xfb, 0xff}), "-_8");
  EXPECT_EQ(Base64UrlEncode(Bytes{0xfb}), "-w");  // unpadded, one byte left
  EXPECT_EQ(*Base64UrlDecode("-_8"), (Bytes{0xfb, 0xff}));
  EXPECT_FALSE(Base64Decode("Zm9").ok());
  EXPECT_FALSE(Base64Decode("Zm9*").ok());
  EXPECT_FALSE(Base64Decode("Zh==").ok());  // non-zero padding bits
}

TEST(ByteReader, ChecksEveryReadAgainstTheRemainingLength) {
  const Bytes data{0x01, 0x02, 0x03, 0x04, 0x05};
  ByteReader r(data);
  EXPECT_EQ(*r.U16Be(), 0x0102);
  EXPECT_EQ(*r.U16Le(), 0x0403);
  auto fail = r.U32Le();
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error().code(), ErrorCode::kTruncated);
  EXPECT_EQ(r.position(), 4u);  // a failed read does not advance
  EXPECT_EQ(*r.U8(), 0x05);
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.Take(1).ok());
  EXPECT_FALSE(r.Skip(1).ok());
}

TEST(ByteWriters, AreInverseToReaders) {
  Bytes out;
  PutU16Le(out, 0xbeef);
  PutU32Le(out, 0xdeadbeef);
  PutU16Be(out, 0xcafe);
  PutU32Be(out, 0x01020304);
  PutU64Be(out, 0x1122334455667788ULL);
  ByteReader r(out);
  EXPECT_EQ(*r.U16Le(), 0xbeef);
  EXPECT_EQ(*r.U32Le(), 0xdeadbeefu);
  EXPECT_EQ(*r.U16Be(), 0xcafe);
  EXPECT_EQ(*r.U32Be(), 0x01020304u);
  EXPECT_EQ(*r.U64Be(), 0x1122334455667788ULL);
}

TEST(ConstantTimeEqual, ComparesContentAndSize) {
  EXPECT_TRUE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 2}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 3}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1}));
}

}  // namespace
}  // namespace henbtrust
