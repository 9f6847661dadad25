#include "henbtrust/core/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/test_support.h"

namespace henbtrust {
namespace {

TEST(Env, DefaultClocksAreRealAndTheSteadyOneNeverGoesBack) {
  Env* env = Env::Default();
  EXPECT_GT(env->NowUnixSeconds(), 1'700'000'000);
  EXPECT_EQ(env->NowUnixSeconds(), env->NowUnixMillis() / 1000);
  const int64_t before = env->SteadyMillis();
  env->SleepForMillis(2);
  EXPECT_GE(env->SteadyMillis(), before + 2);
}

TEST(Env, WritesAppendsRenamesListsAndRemovesFiles) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string sub = dir.File("x/y");
  ASSERT_TRUE(env->CreateDirectories(sub).ok());
  ASSERT_TRUE(env->CreateDirectories(sub).ok());  // exists already: fine

  auto file = env->NewWritableFile(sub + "/log", 0600);
  ASSERT_TRUE(file.ok()) << file.error().ToString();
  ASSERT_TRUE((*file)->Append(AsBytes("one ")).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  auto more = env->NewAppendableFile(sub + "/log");
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE((*more)->Append(AsBytes("two")).ok());
  ASSERT_TRUE((*more)->Close().ok());
  EXPECT_EQ(ToString(*env->ReadFile(sub + "/log", 100)), "one two");
  EXPECT_EQ(env->ReadFile(sub + "/log", 3).error().code(), ErrorCode::kTooLarge);
  struct stat st {};
  ASSERT_EQ(::stat((sub + "/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // the mode asked for, not the umask's

  ASSERT_TRUE(env->RenameFile(sub + "/log", sub + "/old").ok());
  EXPECT_FALSE(env->FileExists(sub + "/log"));
  EXPECT_TRUE(env->FileExists(sub + "/old"));
  ASSERT_TRUE(env->WriteFileAtomic(sub + "/state", AsBytes("s")).ok());
  EXPECT_EQ(*env->ListDirectory(sub), (std::vector<std::string>{"old", "state"}));
  ASSERT_TRUE(env->SyncDirectory(sub).ok());

  ASSERT_TRUE(env->RemoveFile(sub + "/old").ok());
  EXPECT_EQ(env->RemoveFile(sub + "/old").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(env->ReadFile(sub + "/old", 100).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(env->ListDirectory(dir.File("absent")).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(env->SyncDirectory(dir.File("absent")).error().code(), ErrorCode::kNotFound);
}

// What the OAM serves a bundle's byte ranges with.
TEST(Env, SizesSkipsAndReadsRanges) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("bundle");
  std::string data(200'000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(env->WriteFileAtomic(path, AsBytes(data)).ok());
  auto size = env->FileSize(path);
  ASSERT_TRUE(size.ok()) << size.error().ToString();
  EXPECT_EQ(*size, data.size());
  EXPECT_EQ(env->FileSize(dir.File("none")).error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(env->FileSize(dir.path()).ok());  // a directory

  std::string out = "head:";
  ASSERT_TRUE(env->ReadRange(path, 70'001, 100'000, out).ok());  // more than one chunk
  EXPECT_EQ(out, "head:" + data.substr(70'001, 100'000));
  out.clear();
  ASSERT_TRUE(env->ReadRange(path, 0, data.size(), out).ok());
  EXPECT_EQ(out, data);
  out.clear();
  auto past = env->ReadRange(path, data.size() - 10, 11, out);  // one byte beyond the end
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code(), ErrorCode::kIo);
  EXPECT_NE(past.error().message().find("ends before"), std::string::npos);

  auto in = env->NewSequentialFile(path);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE((*in)->Skip(25).ok());
  EXPECT_EQ(ToString(*(*in)->Read(3)), "zab");
  ASSERT_TRUE((*in)->Skip(uint64_t{1} << 40).ok());  // past the end: reads nothing more
  EXPECT_TRUE((*in)->Read(10)->empty());
}

TEST(Env, CopiesAtomicallyInChunksAndRefusesDirectories) {
  testing::TempDir dir;
  Env* env = Env::Default();
  Bytes big(200'000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(env->WriteFileAtomic(dir.File("big"), big).ok());
  ASSERT_TRUE(env->CopyFileAtomic(dir.File("big"), dir.File("copy"), 0640).ok());
  EXPECT_EQ(*env->ReadFile(dir.File("copy"), big.size()), big);
  EXPECT_FALSE(env->CopyFileAtomic(dir.path(), dir.File("copy2")).ok());
  EXPECT_EQ(env->CopyFileAtomic(dir.File("absent"), dir.File("copy3")).error().code(),
            ErrorCode::kNotFound);
  // Neither failure left a file or a temporary file behind.
  EXPECT_EQ(*env->ListDirectory(dir.path()), (std::vector<std::string>{"big", "copy"}));
}

}  // namespace
}  // namespace henbtrust
