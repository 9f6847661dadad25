#include "henbtrust/core/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace henbtrust {
namespace {

// nlohmann::json is the independent reference: the same text for every
// string it accepts, and a refusal for every string it refuses.
TEST(JsonText, StringsAreWhatNlohmannWrites) {
  std::vector<std::string> cases = {"",
                                    "plain",
                                    "quote \" and backslash \\",
                                    "tab\tnew\nline\r",
                                    "\b\f",
                                    std::string("nul\0byte", 8),
                                    "\x7f del",
                                    "é ü",
                                    "€ and 𝄞",
                                    "</script>"};
  for (int c = 0; c < 0x20; ++c) cases.push_back(std::string(1, static_cast<char>(c)));
  for (const std::string& s : cases) {
    std::string out = "x";
    ASSERT_TRUE(AppendJsonString(out, s)) << s;
    EXPECT_EQ(out, "x" + nlohmann::json(s).dump()) << s;
  }
}

TEST(JsonText, InvalidUtf8IsRefusedLikeNlohmannRefusesIt) {
  for (const std::string& s :
       {std::string("\xc0\x80"), std::string("\xed\xa0\x80"), std::string("\xf5\x80\x80\x80"),
        std::string("\xe2\x82"), std::string("ok \xff"), std::string("\x80"),
        std::string("\xf4\x90\x80\x80")}) {
    std::string out = "kept";
    EXPECT_FALSE(AppendJsonString(out, s));
    EXPECT_EQ(out, "kept");  // nothing appended
    EXPECT_THROW((void)nlohmann::json(s).dump(), nlohmann::json::type_error);
  }
}

TEST(JsonText, ObjectsNestAndLeaveOutWhatIsNotUtf8) {
  std::string out;
  JsonObjectWriter w(out);
  w.String("a", "1").Int("n", -42);
  w.Key("inner");
  {
    JsonObjectWriter inner(out);
    inner.String("k", "v").Close();
    EXPECT_TRUE(inner.ok());
  }
  w.Close();
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(out, R"({"a":"1","n":-42,"inner":{"k":"v"}})");
  EXPECT_EQ(nlohmann::json::parse(out)["inner"]["k"], "v");

  std::string bad;
  JsonObjectWriter b(bad);
  b.String("bad", "\xff").String("good", "yes").Close();
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(bad, R"({"good":"yes"})");
}

}  // namespace
}  // namespace henbtrust
