// The Trusted Environment (TrE) of an H(e)NB: PCRs with an event log, an
// attestation key under an endorsement key, quotes, an NV monotonic counter,
// and reboot. Two backends produce the same TPM 2.0 structures: TpmTre
// (tss2-esys to swtpm or a hardware TPM) and SoftTre (in-process, for fleet
// simulation).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "henbtrust/eventlog/event_log.h"
#include "henbtrust/eventlog/replay.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust {

// A quote exactly as a TPM returns it.
struct Quote {
  Bytes attest;     // TPMS_ATTEST as signed (no size prefix)
  Bytes signature;  // TPMT_SIGNATURE
};

// Not thread-safe: one caller at a time.
class Tre {
 public:
  virtual ~Tre() = default;

  // "soft" or "tpm".
  virtual std::string Kind() const = 0;
  // The PCR banks the TrE measures into (henbtrust uses sha256).
  virtual std::vector<HashAlg> Banks() const = 0;

  // Extends `event.pcr` by each of the event's digests (one per bank in
  // Banks()) and appends the event to the log.
  virtual Status Extend(Event event) = 0;
  // Measures a component: an EV_IPL component event with its SHA-256 digest.
  Status MeasureComponent(uint32_t pcr, const ComponentRef& component, ByteView sha256_digest);

  virtual Result<std::map<uint32_t, Bytes>> ReadPcrs(const PcrSelection& selection) = 0;
  // TPM2_Quote with the AK over `selection`, `nonce` as qualifyingData.
  virtual Result<Quote> MakeQuote(ByteView nonce, const std::vector<PcrSelection>& selection) = 0;

  // TPM2B_PUBLIC of the attestation key and of the endorsement key.
  virtual Bytes AkPublic() const = 0;
  virtual Bytes EkPublic() const = 0;

  // TPM2_ActivateCredential with the EK and the AK: the secret a verifier
  // protected with MakeCredential for this EK and the AK's name.
  // kQuoteKeyMismatch if the challenge was made for another EK or object.
  virtual Result<Bytes> ActivateCredential(ByteView credential_blob, ByteView encrypted_secret) = 0;

  // The measurement log of the current boot.
  virtual const EventLog& event_log() const = 0;

  // NV monotonic counter (anti-rollback floor). Reads 0 before first use.
  virtual Result<uint64_t> ReadCounter() = 0;
  virtual Result<uint64_t> IncrementCounter() = 0;

  // TPM2_ReadClock: milliseconds the TrE has been powered since it was
  // cleared, with its reset and restart counts. Software cannot set the
  // clock back (TPM2_ClockSet only advances it, with platform or owner
  // authorization), so the boot stage's watchdog counts on it.
  virtual Result<ClockInfo> ReadClock() = 0;

  // Power cycle: PCRs return to their reset values, the log is emptied, the
  // reset count grows; keys and the counter survive.
  virtual Status Reboot() = 0;
};

}  // namespace henbtrust
