// Fuzzes event log parsing, replay, substitution replay and re-serialisation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "henbtrust/eventlog/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace henbtrust;
  EventLogLimits limits;
  limits.max_events = 4096;
  limits.max_event_data = 1 << 16;
  auto log = EventLog::Parse(ByteView(data, size), limits);
  if (!log.ok()) return 0;
  (void)Replay(*log);
  (void)ReplayWithSubstitutions(*log, HashAlg::kSha256, {{"kernel", Bytes(32, 1)}});
  for (size_t i = 0; i < log->events().size() && i < 8; ++i)
    (void)DescribeEvent(log->events()[i], i);
  // What we write, we read back to the same events.
  auto again = EventLog::Parse(log->Serialize(), limits);
  if (!again.ok() || again->events().size() != log->events().size()) std::abort();
  return 0;
}
