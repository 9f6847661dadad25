// Private: crash points for power-loss tests. Compiled in only when the
// library is built with HENB_FAULT_INJECTION (the test variant); otherwise
// a crash point is nothing.
#pragma once

#include <string>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust::fault {

// Test control (defined only in fault-injection builds).
void ArmCrashAt(int hit);  // the hit-th crash point reached (0-based) fails; -1 disarms
std::vector<std::string> HitsForTest();
void ResetForTest();
Status Hit(const char* name);

}  // namespace henbtrust::fault

#ifdef HENB_FAULT_INJECTION
#define HENB_CRASH_POINT(name) HENB_TRY(::henbtrust::fault::Hit(name))
#else
#define HENB_CRASH_POINT(name) \
  do {                         \
  } while (0)
#endif
