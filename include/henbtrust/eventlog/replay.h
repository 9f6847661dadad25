// Event log replay: final PCR values per bank, substitution replay, and the
// composite digest (the TIM) of a PCR selection.
#pragma once

#include <map>
#include <vector>

#include "henbtrust/eventlog/event_log.h"

namespace henbtrust {

// Final PCR values: bank -> PCR index -> value. A bank or PCR appears only if
// some event extended it (as tpm2_eventlog prints them).
using PcrValues = std::map<HashAlg, std::map<uint32_t, Bytes>>;

// The value a PCR holds after TPM2_Startup(CLEAR): zero, except all-ones
// for the dynamic PCRs 17 to 22.
Bytes PcrResetValue(uint32_t pcr, HashAlg alg);

// Replays every event except EV_NO_ACTION: PCR := H(PCR || digest), starting
// from zero; a StartupLocality EV_NO_ACTION event sets PCR0's start value to
// its locality. Digests of algorithms henbtrust cannot hash are skipped.
Result<PcrValues> Replay(const EventLog& log);

// Replays only `bank`, with the digest of each henbtrust component event
// named in `substitutions` (component id -> new digest) replaced. This gives
// the PCR values a boot of the updated configuration will produce.
// kEventLogComponent if a substitution names no component in the log, or a
// digest has the wrong size.
Result<std::map<uint32_t, Bytes>> ReplayWithSubstitutions(
    const EventLog& log, HashAlg bank, const std::map<std::string, Bytes>& substitutions);

struct PcrSelection {
  HashAlg bank = HashAlg::kSha256;
  std::vector<uint32_t> pcrs;  // ascending, as TPML_PCR_SELECTION orders them
};

// The concatenation of the selected PCR values in selection order, taking
// PcrResetValue() for PCRs that `values` does not hold.
Bytes SelectedPcrValues(const std::map<uint32_t, Bytes>& values, const PcrSelection& selection);

// H_digest_alg(selected values): the pcrDigest a quote over `selection`
// carries, i.e. the TIM.
Bytes CompositeDigest(const std::map<uint32_t, Bytes>& values, const PcrSelection& selection,
                      HashAlg digest_alg = HashAlg::kSha256);

}  // namespace henbtrust
