#include "henbtrust/core/result.h"

#include <gtest/gtest.h>

#include <set>

namespace henbtrust {
namespace {

Result<int> Parse(bool ok) {
  if (!ok) return Error(ErrorCode::kMalformed, "bad");
  return 7;
}

Result<int> Doubled(bool ok) {
  HENB_ASSIGN_OR_RETURN(int v, Parse(ok));
  return v * 2;
}

Status Check(bool ok) {
  HENB_TRY(Parse(ok));
  return OkStatus();
}

TEST(Result, PropagatesValueAndError) {
  EXPECT_EQ(*Doubled(true), 14);
  auto r = Doubled(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  EXPECT_TRUE(Check(true).ok());
  EXPECT_EQ(Check(false).error().message(), "bad");
}

TEST(Error, NamesCodeAndLayer) {
  Error e(ErrorCode::kQuoteNonce, "differs");
  EXPECT_EQ(e.ToString(), "quote.nonce-mismatch: differs");
  EXPECT_EQ(e.layer(), ErrorLayer::kQuote);
  EXPECT_EQ(LayerOf(ErrorCode::kCryptoBadKey), ErrorLayer::kCrypto);
  EXPECT_EQ(LayerOf(ErrorCode::kEventLogParse), ErrorLayer::kEventLog);
  EXPECT_EQ(LayerName(LayerOf(ErrorCode::kTpmDevice)), "tpm");
  EXPECT_EQ(e.WithContext("quote").message(), "quote: differs");
}

TEST(Error, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  const ErrorCode codes[] = {ErrorCode::kInvalidArgument,   ErrorCode::kIo,
                             ErrorCode::kNotFound,          ErrorCode::kTruncated,
                             ErrorCode::kTooLarge,          ErrorCode::kMalformed,
                             ErrorCode::kInternal,          ErrorCode::kCryptoFailure,
                             ErrorCode::kCryptoBadKey,      ErrorCode::kCryptoBadSignature,
                             ErrorCode::kCryptoUnsupported, ErrorCode::kCryptoCertificate,
                             ErrorCode::kTpmParse,          ErrorCode::kTpmUnsupported,
                             ErrorCode::kTpmDevice,         ErrorCode::kTpmTrailingBytes,
                             ErrorCode::kQuoteMagic,        ErrorCode::kQuoteType,
                             ErrorCode::kQuoteNonce,        ErrorCode::kQuoteSignatureScheme,
                             ErrorCode::kQuoteSignature,    ErrorCode::kQuotePcrSelection,
                             ErrorCode::kQuotePcrValues,    ErrorCode::kQuotePcrDigest,
                             ErrorCode::kQuoteEventLog,     ErrorCode::kQuoteKeyMismatch,
                             ErrorCode::kEventLogParse,     ErrorCode::kEventLogComponent};
  for (ErrorCode c : codes) {
    const auto name = ErrorCodeName(c);
    EXPECT_EQ(name.substr(0, LayerName(LayerOf(c)).size()), LayerName(LayerOf(c))) << name;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

}  // namespace
}  // namespace henbtrust
