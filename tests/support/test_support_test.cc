#include "support/test_support.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace henbtrust::testing {
namespace {

TEST(ParseTestSeed, TakesDecimalNumbersBelowTwoToThe32) {
  EXPECT_EQ(ParseTestSeed("0"), std::optional<uint32_t>(0));
  EXPECT_EQ(ParseTestSeed("20261129"), std::optional<uint32_t>(20261129));
  EXPECT_EQ(ParseTestSeed("4294967295"), std::optional<uint32_t>(4294967295U));
}

TEST(ParseTestSeed, RefusesAnythingElse) {
  for (const char* bad : {"", "4294967296", "-1", "12x", " 12", "0x10", "1e3"}) {
    EXPECT_EQ(ParseTestSeed(bad), std::nullopt) << "'" << bad << "'";
  }
}

// Sets HENB_TEST_SEED for one test and restores what was there.
class SeedEnv {
 public:
  explicit SeedEnv(const char* value) {
    if (const char* old = std::getenv("HENB_TEST_SEED")) old_ = old;
    if (value != nullptr) {
      ::setenv("HENB_TEST_SEED", value, 1);
    } else {
      ::unsetenv("HENB_TEST_SEED");
    }
  }
  ~SeedEnv() {
    if (old_) {
      ::setenv("HENB_TEST_SEED", old_->c_str(), 1);
    } else {
      ::unsetenv("HENB_TEST_SEED");
    }
  }
  SeedEnv(const SeedEnv&) = delete;
  SeedEnv& operator=(const SeedEnv&) = delete;

 private:
  std::optional<std::string> old_;
};

TEST(TestSeed, ComesFromTheEnvironmentAndIsPrinted) {
  SeedEnv env("1234567");
  ::testing::internal::CaptureStdout();
  const uint32_t seed = TestSeed();
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(seed, 1234567U);
  EXPECT_EQ(out, "seed: 1234567; rerun with HENB_TEST_SEED=1234567\n");
}

TEST(TestSeed, WithoutTheEnvironmentIsFreshAndPrinted) {
  SeedEnv env(nullptr);
  ::testing::internal::CaptureStdout();
  const uint32_t first = TestSeed();
  const uint32_t second = TestSeed();
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "seed: " + std::to_string(first) + "; rerun with HENB_TEST_SEED=" +
                     std::to_string(first) + "\nseed: " + std::to_string(second) +
                     "; rerun with HENB_TEST_SEED=" + std::to_string(second) + "\n");
  // Two draws of 32 bits agree once in four billion runs.
  EXPECT_NE(first, second);
}

TEST(TestSeed, ABadValueInTheEnvironmentFailsTheTest) {
  SeedEnv env("12x");
  ::testing::internal::CaptureStdout();
  EXPECT_NONFATAL_FAILURE(TestSeed(), "HENB_TEST_SEED=12x is not a decimal number");
  EXPECT_NE(::testing::internal::GetCapturedStdout().find("; rerun with HENB_TEST_SEED="),
            std::string::npos);
}

}  // namespace
}  // namespace henbtrust::testing
