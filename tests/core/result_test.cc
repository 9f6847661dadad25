#include "henbtrust/core/result.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>

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

TEST(Error, EveryCodeHasADistinctNameInItsLayer) {
  std::set<std::string_view> names;
  std::set<uint16_t> values;
  for (const auto& row : AllErrorCodes()) {
    EXPECT_EQ(ErrorCodeName(row.code), row.name);
    EXPECT_EQ(LayerOf(row.code), row.layer) << row.name;
    EXPECT_NE(LayerName(row.layer), "unknown") << row.name;
    // "<layer>.<what>"
    EXPECT_EQ(row.name.substr(0, row.name.find('.')), LayerName(row.layer)) << row.name;
    EXPECT_GT(row.name.size(), LayerName(row.layer).size() + 1) << row.name;
    EXPECT_TRUE(names.insert(row.name).second) << row.name;
    EXPECT_TRUE(values.insert(static_cast<uint16_t>(row.code)).second) << row.name;
  }
  EXPECT_EQ(names.size(), 72u);
}

TEST(Error, NamesRoundTrip) {
  for (const auto& row : AllErrorCodes()) {
    auto code = ErrorCodeFromName(row.name);
    ASSERT_TRUE(code.has_value()) << row.name;
    EXPECT_EQ(*code, row.code) << row.name;
  }
  EXPECT_FALSE(ErrorCodeFromName("core.unknown").has_value());
  EXPECT_FALSE(ErrorCodeFromName("quote").has_value());
  EXPECT_FALSE(ErrorCodeFromName("").has_value());
  EXPECT_EQ(ErrorCodeName(static_cast<ErrorCode>(9999)), "core.unknown");
}

TEST(Error, EveryCodeHasAnHttpStatusAndAnExitCode) {
  for (const auto& row : AllErrorCodes()) {
    EXPECT_GE(row.http_status, 400) << row.name;
    EXPECT_LE(row.http_status, 599) << row.name;
    EXPECT_TRUE(row.exit_code == kExitInvalid || row.exit_code == kExitUsage) << row.name;
    EXPECT_EQ(Error(row.code, "x").exit_code(), row.exit_code) << row.name;
  }
}

// The README's contract, stated apart from the table: 2 on usage errors and
// when the input could not be examined (I/O, the TPM's transport, the store,
// the network, an internal failure); 1 for everything that judges the input.
TEST(Error, ExitCodesFollowTheReadme) {
  const std::set<ErrorCode> cannot_examine = {ErrorCode::kInvalidArgument,
                                              ErrorCode::kIo,
                                              ErrorCode::kNotFound,
                                              ErrorCode::kInternal,
                                              ErrorCode::kCryptoFailure,
                                              ErrorCode::kTpmDevice,
                                              ErrorCode::kStore};
  for (const auto& row : AllErrorCodes()) {
    const bool usage = row.layer == ErrorLayer::kNet || cannot_examine.count(row.code) > 0;
    EXPECT_EQ(row.exit_code, usage ? kExitUsage : kExitInvalid) << row.name;
  }
}

TEST(Error, HttpStatusesOfTheApi) {
  const std::pair<ErrorCode, int> expected[] = {
      {ErrorCode::kNetBadRequest, 400},
      {ErrorCode::kReleaseMalformed, 400},
      {ErrorCode::kNetUnauthenticated, 401},
      {ErrorCode::kNetForbidden, 403},
      {ErrorCode::kPolicyEnrollment, 403},
      {ErrorCode::kPolicyRenewal, 403},
      {ErrorCode::kNetNotFound, 404},
      {ErrorCode::kPolicyUnknownDevice, 404},
      {ErrorCode::kPolicyState, 409},
      {ErrorCode::kPolicyNonce, 409},
      {ErrorCode::kNetTooLarge, 413},
      {ErrorCode::kNetContentType, 415},
      {ErrorCode::kQuoteNonce, 422},
      {ErrorCode::kEventLogParse, 422},
      {ErrorCode::kNetBusy, 429},
      {ErrorCode::kIo, 500},
      {ErrorCode::kNetTimeout, 502},
      {ErrorCode::kStore, 503},
  };
  for (const auto& [code, status] : expected) {
    EXPECT_EQ(InfoOf(code).http_status, status) << ErrorCodeName(code);
  }
}

// README.md's "Exit codes" table lists every code once, under its exit code.
TEST(Error, TheReadmeListsEveryCodeWithItsExitCode) {
  std::ifstream in(HENB_README);
  ASSERT_TRUE(in) << HENB_README;
  std::map<std::string, int> listed;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Exit codes";
    if (!in_section || line.rfind("| ", 0) != 0) continue;
    const int exit_code = line.rfind("| 1 |", 0) == 0 ? 1 : line.rfind("| 2 |", 0) == 0 ? 2 : 0;
    if (exit_code == 0) continue;
    for (size_t open = line.find('`'); open != std::string::npos;) {
      const size_t close = line.find('`', open + 1);
      ASSERT_NE(close, std::string::npos) << line;
      const std::string name = line.substr(open + 1, close - open - 1);
      EXPECT_TRUE(listed.emplace(name, exit_code).second) << name << " is listed twice";
      open = line.find('`', close + 1);
    }
  }
  for (const auto& row : AllErrorCodes()) {
    auto it = listed.find(std::string(row.name));
    if (it == listed.end()) {
      ADD_FAILURE() << row.name << " is missing from README.md's Exit codes";
      continue;
    }
    EXPECT_EQ(it->second, row.exit_code) << row.name;
    listed.erase(it);
  }
  for (const auto& [name, exit_code] : listed) ADD_FAILURE() << name << " is no error code";
}

}  // namespace
}  // namespace henbtrust
