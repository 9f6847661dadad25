#include <gtest/gtest.h>

#include <filesystem>

#include "henbtrust/core/file.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

TEST(File, WritesAtomicallyAndReadsBack) {
  testing::TempDir dir;
  const std::string path = dir.File("state");
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("first")).ok());
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("second")).ok());
  EXPECT_EQ(ToString(*ReadFile(path)), "second");
  // No temporary files are left behind.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(File, ReadsTextWithinItsLimit) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.File("a.pem"), AsBytes("-----BEGIN X-----\n")).ok());
  EXPECT_EQ(*ReadTextFile(dir.File("a.pem")), "-----BEGIN X-----\n");
  EXPECT_EQ(ReadTextFile(dir.File("a.pem"), 4).error().code(), ErrorCode::kTooLarge);
  EXPECT_FALSE(ReadTextFile(dir.File("missing")).ok());
  EXPECT_GT(UnixSeconds(), 1'700'000'000);
}

TEST(File, ReportsMissingAndOversizedFiles) {
  testing::TempDir dir;
  auto missing = ReadFile(dir.File("absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("absent"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir.File("big"), Bytes(100, 1)).ok());
  EXPECT_EQ(ReadFile(dir.File("big"), 99).error().code(), ErrorCode::kTooLarge);
  EXPECT_EQ(ReadFile(dir.path()).error().code(), ErrorCode::kIo);
  EXPECT_FALSE(WriteFileAtomic(dir.File("no/such/dir"), AsBytes("x")).ok());
}

}  // namespace
}  // namespace henbtrust
