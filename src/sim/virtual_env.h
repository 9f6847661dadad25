// The simulator's Env (core/env.h): files through another Env (by default
// the machine's, written without fsync: sim/unsynced_env.h; the scenario
// runner keeps its devices' files in memory, sim/memory_env.h, and the
// OAM's catalogue on disk unsynced: neither need survive a power loss of
// the machine), and clocks that move only when the simulator moves them
// (fleet time). Both clocks start at the
// machine's wall clock, so that certificates issued in fleet time are valid
// on the machine too. A run that measures throughput has it follow the
// machine's clocks instead (UseMachineClock).
//
// It also cuts a device's power in the middle of its file operations: the
// chosen operation under the device's directory fails, and every later one,
// until the simulator powers the device on again. Files written before the
// cut stay as they are (what a power loss does to unsynced data is the
// PowerLoss tests' subject, on tests/support/simulated_env.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "henbtrust/core/env.h"
#include "sim/forwarding_env.h"

namespace henbtrust::sim {

class VirtualEnv final : public ForwardingEnv {
 public:
  // `files` is not owned and outlives this Env.
  explicit VirtualEnv(Env* files);

  // From now on the clocks are the machine's (the steady clock counting
  // from this call), and Advance does nothing. Before anything reads them.
  void UseMachineClock();
  bool machine_clock() const { return machine_; }

  // Moves fleet time (nothing on the machine's clock).
  void Advance(int64_t millis) {
    if (!machine_) millis_ += millis;
  }
  int64_t NowUnixMillis() override { return machine_ ? base()->NowUnixMillis() : millis_.load(); }
  int64_t SteadyMillis() override {
    return machine_ ? base()->SteadyMillis() - steady_start_ : millis_ - start_;
  }
  void SleepForMillis(int64_t millis) override {
    if (machine_) return base()->SleepForMillis(millis);
    Advance(millis);
  }

  // The `after`-th operation that changes a file under `dir` (1: the next)
  // fails with kIo, as does every later one until RestorePower(dir);
  // `on_cut` is called once, as the power goes.
  void CutPowerAfter(const std::string& dir, int after, std::function<void()> on_cut);
  void RestorePower(const std::string& dir);
  bool PowerIsCut(const std::string& dir);

  // The operations that change a file, checked against the power cuts.
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        unsigned mode) override {
    HENB_TRY(Check(path));
    return base()->NewWritableFile(path, mode);
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          unsigned mode) override {
    HENB_TRY(Check(path));
    return base()->NewAppendableFile(path, mode);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    HENB_TRY(Check(to));
    return base()->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override {
    HENB_TRY(Check(path));
    return base()->RemoveFile(path);
  }
  Status SetFileMode(const std::string& path, unsigned mode) override {
    HENB_TRY(Check(path));
    return base()->SetFileMode(path, mode);
  }

 private:
  struct Cut {
    int left = 0;  // operations before the cut
    bool cut = false;
    std::function<void()> on_cut;
  };
  // kIo when `path` is under a directory whose power is (or now goes) off.
  Status Check(const std::string& path);

  std::mutex mu_;
  std::map<std::string, Cut> cuts_;  // by directory
  const int64_t start_;
  std::atomic<int64_t> millis_;
  std::atomic<bool> machine_{false};
  int64_t steady_start_ = 0;  // the machine's steady clock at UseMachineClock
};

}  // namespace henbtrust::sim
