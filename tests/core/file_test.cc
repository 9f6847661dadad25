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

TEST(File, CopiesAtomicallyInChunksAndReportsTheSideThatFailed) {
  testing::TempDir dir;
  // Larger than the copy buffer and not a multiple of it.
  Bytes data(3 * 65536 + 123);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + i / 251);
  ASSERT_TRUE(WriteFileAtomic(dir.File("from"), data).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.File("to"), AsBytes("old")).ok());
  ASSERT_TRUE(CopyFileAtomic(dir.File("from"), dir.File("to"), 0600).ok());
  EXPECT_EQ(*ReadFile(dir.File("to")), data);
  EXPECT_EQ(std::filesystem::status(dir.File("to")).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // A missing source: kNotFound naming it, the target as it was, no temporary file.
  auto missing = CopyFileAtomic(dir.File("absent"), dir.File("to"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("absent"), std::string::npos);
  EXPECT_EQ(*ReadFile(dir.File("to")), data);
  EXPECT_EQ(CopyFileAtomic(dir.path(), dir.File("to")).error().code(), ErrorCode::kIo);
  EXPECT_FALSE(CopyFileAtomic(dir.File("from"), dir.File("no/such/dir")).ok());
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
}

TEST(File, SyncsADirectoryAndNamesWhatIsNotOne) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.File("a"), AsBytes("x")).ok());
  std::filesystem::rename(dir.File("a"), dir.File("b"));
  EXPECT_TRUE(SyncDirectory(dir.path()).ok());
  auto missing = SyncDirectory(dir.File("absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("absent"), std::string::npos);
  auto file = SyncDirectory(dir.File("b"));  // a file, not a directory
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace henbtrust
