#include "support/simulated_env.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace henbtrust::testing {
namespace {

std::string Contents(Env& env, const std::string& path) {
  auto raw = env.ReadFile(path, 1 << 20);
  return raw.ok() ? ToString(*raw) : "<" + raw.error().ToString() + ">";
}

TEST(SimulatedEnv, ClocksMoveOnlyWhenTheTestMovesThem) {
  SimulatedEnv env;
  EXPECT_EQ(env.NowUnixMillis(), SimulatedEnv::kStartUnixMillis);
  EXPECT_EQ(env.NowUnixSeconds(), SimulatedEnv::kStartUnixMillis / 1000);
  EXPECT_EQ(env.SteadyMillis(), 0);
  env.SleepForMillis(90'000);  // returns at once
  EXPECT_EQ(env.SteadyMillis(), 90'000);
  EXPECT_EQ(env.NowUnixMillis(), SimulatedEnv::kStartUnixMillis + 90'000);
  env.SetWallMillis(1'000);  // the wall clock jumps back; the steady one does not
  EXPECT_EQ(env.NowUnixSeconds(), 1);
  EXPECT_EQ(env.SteadyMillis(), 90'000);
  env.AdvanceMillis(500);
  EXPECT_EQ(env.NowUnixMillis(), 1'500);
  EXPECT_EQ(env.SteadyMillis(), 90'500);
}

TEST(SimulatedEnv, PowerLossKeepsSyncedWritesOnly) {
  TempDir dir;
  SimulatedEnv env;
  ASSERT_TRUE(env.WriteFileAtomic(dir.File("durable"), AsBytes("kept")).ok());

  // Data written and named, but never synced: the name survives, the data not.
  auto unsynced = env.NewWritableFile(dir.File("unsynced"));
  ASSERT_TRUE(unsynced.ok());
  ASSERT_TRUE((*unsynced)->Append(AsBytes("lost")).ok());
  ASSERT_TRUE((*unsynced)->Close().ok());
  ASSERT_TRUE(env.SyncDirectory(dir.path()).ok());

  // Synced data under a name the directory never recorded: gone.
  auto unnamed = env.NewWritableFile(dir.File("unnamed"));
  ASSERT_TRUE(unnamed.ok());
  ASSERT_TRUE((*unnamed)->Append(AsBytes("data")).ok());
  ASSERT_TRUE((*unnamed)->Sync().ok());

  // A rename over a durable file, without the directory sync: undone.
  auto next = env.NewWritableFile(dir.File("next"));
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE((*next)->Append(AsBytes("new")).ok());
  ASSERT_TRUE((*next)->Sync().ok());
  ASSERT_TRUE(env.RenameFile(dir.File("next"), dir.File("durable")).ok());
  EXPECT_EQ(Contents(env, dir.File("durable")), "new");

  env.LosePower();
  EXPECT_TRUE(env.power_lost());
  EXPECT_FALSE(env.ReadFile(dir.File("durable"), 100).ok());
  EXPECT_FALSE((*unnamed)->Append(AsBytes("more")).ok());
  env.PowerOn();
  EXPECT_EQ(Contents(env, dir.File("durable")), "kept");
  EXPECT_EQ(Contents(env, dir.File("unsynced")), "");
  EXPECT_FALSE(env.FileExists(dir.File("unnamed")));
  EXPECT_FALSE(env.FileExists(dir.File("next")));
  // A handle from before the power loss stays dead.
  EXPECT_FALSE((*unnamed)->Sync().ok());
}

TEST(SimulatedEnv, ARemoveIsUndoneUntilItsDirectoryIsSynced) {
  TempDir dir;
  SimulatedEnv env;
  ASSERT_TRUE(env.WriteFileAtomic(dir.File("a"), AsBytes("a")).ok());
  ASSERT_TRUE(env.WriteFileAtomic(dir.File("b"), AsBytes("b")).ok());
  ASSERT_TRUE(env.RemoveFile(dir.File("a")).ok());
  ASSERT_TRUE(env.RemoveFile(dir.File("b")).ok());
  ASSERT_TRUE(env.SyncDirectory(dir.path()).ok());
  ASSERT_TRUE(env.WriteFileAtomic(dir.File("b"), AsBytes("b2")).ok());
  ASSERT_TRUE(env.WriteFileAtomic(dir.File("c"), AsBytes("c")).ok());
  ASSERT_TRUE(env.RemoveFile(dir.File("c")).ok());
  env.LosePower();
  env.PowerOn();
  EXPECT_EQ(*env.ListDirectory(dir.path()), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Contents(env, dir.File("b")), "b2");
  EXPECT_EQ(Contents(env, dir.File("c")), "c");
}

TEST(SimulatedEnv, AnAtomicWriteCrashedAtAnyStepLeavesTheOldOrTheNewContents) {
  TempDir dir;
  const std::string path = dir.File("state");
  size_t steps = 0;
  {
    SimulatedEnv env;
    ASSERT_TRUE(env.WriteFileAtomic(path, AsBytes("old")).ok());
    const size_t before = env.operations().size();
    ASSERT_TRUE(env.WriteFileAtomic(path, AsBytes("new")).ok());
    steps = env.operations().size() - before;
  }
  EXPECT_EQ(steps, 5u);  // create, append, sync, rename, sync-dir
  for (size_t k = 0; k <= steps; ++k) {
    SCOPED_TRACE("crash at step " + std::to_string(k));
    SimulatedEnv env;
    ASSERT_TRUE(env.WriteFileAtomic(path, AsBytes("old")).ok());
    env.CrashAtOperation(static_cast<int64_t>(k));
    const Status st = env.WriteFileAtomic(path, AsBytes("new"));
    EXPECT_EQ(st.ok(), k == steps);
    EXPECT_EQ(env.power_lost(), k < steps);
    env.PowerOn();
    const std::string now = Contents(env, path);
    EXPECT_TRUE(now == "old" || now == "new") << now;
    // No temporary file survives.
    EXPECT_EQ(*env.ListDirectory(dir.path()), std::vector<std::string>{"state"});
    env.CrashAtOperation(-1);
  }
}

TEST(SimulatedEnv, ACrashFailsTheChosenOperationAndEveryOneAfterItUntilPowerOn) {
  TempDir dir;
  SimulatedEnv env;
  env.CrashAtOperation(1);
  ASSERT_TRUE(env.CreateDirectories(dir.File("d")).ok());
  const Status st = env.CheckPower("tre.increment-counter");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("tre.increment-counter"), std::string::npos);
  EXPECT_FALSE(env.WriteFileAtomic(dir.File("d/x"), AsBytes("x")).ok());
  EXPECT_FALSE(env.FileExists(dir.File("d")));
  env.PowerOn();
  EXPECT_TRUE(env.FileExists(dir.File("d")));
  EXPECT_TRUE(env.WriteFileAtomic(dir.File("d/x"), AsBytes("x")).ok());
  const auto ops = env.operations();
  ASSERT_GE(ops.size(), 2u);
  EXPECT_EQ(ops[1], "tre.increment-counter");
}

}  // namespace
}  // namespace henbtrust::testing
