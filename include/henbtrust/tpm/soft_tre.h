// SoftTre: an in-process TrE whose evidence is byte-compatible with a TPM's
// (TPMS_ATTEST / TPMT_SIGNATURE / TPM2B_PUBLIC, ECDSA P-256 AK and EK).
//
// State is compact so that a simulator can hold a million: keys are kept as
// scalars and public points, PCRs sparsely (only those extended since reset),
// one sha256 bank. The signing key object is rebuilt for each quote.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>

#include "henbtrust/crypto/keys.h"
#include "henbtrust/tpm/tre.h"

namespace henbtrust {

class SoftTre final : public Tre {
 public:
  // A new device: fresh EK and AK.
  static Result<SoftTre> Create();
  // From SaveState().
  static Result<SoftTre> Load(ByteView state);
  // The same without checking that each key's scalar matches its point
  // (two key derivations, most of a Load): for state that this process
  // made and kept in memory, as the simulator's compact fleet does.
  static Result<SoftTre> LoadUnchecked(ByteView state);
  // The device's non-volatile storage: loads `path` (a power-on) or creates
  // a new TrE there. Counter increments are then written to `path`
  // atomically before they are reported, as a TPM's NV counter is.
  static Result<SoftTre> OpenStateFile(const std::string& path);
  // Keys, counter, clock and reset counts (not PCRs or log: they do not
  // survive a power cycle).
  Bytes SaveState() const;
  // What a power cycle loses: the PCRs extended since the last reset, the
  // event log and restartCount. With SaveState() of the same moment it is
  // the whole TrE, for a simulator that keeps an idle device as bytes.
  Bytes SaveVolatile() const;
  // The TrE of SaveState() and SaveVolatile() taken together, running on as
  // if it had never stopped: no power cycle counted, PCRs and log as they
  // were. For bytes this process made (the keys are not checked, as in
  // LoadUnchecked); kMalformed for anything else. Not carried over: a
  // state file (OpenStateFile's; the resumed TrE is volatile) and the clock
  // source (SetClock again).
  static Result<SoftTre> Resume(ByteView state, ByteView volatile_state);

  std::string Kind() const override { return "soft"; }
  std::vector<HashAlg> Banks() const override { return {HashAlg::kSha256}; }
  Status Extend(Event event) override;
  Result<std::map<uint32_t, Bytes>> ReadPcrs(const PcrSelection& selection) override;
  Result<Quote> MakeQuote(ByteView nonce, const std::vector<PcrSelection>& selection) override;
  Bytes AkPublic() const override;
  Bytes EkPublic() const override;
  Result<Bytes> ActivateCredential(ByteView credential_blob, ByteView encrypted_secret) override;
  const EventLog& event_log() const override { return log_; }
  Result<uint64_t> ReadCounter() override { return counter_; }
  Result<uint64_t> IncrementCounter() override;
  Result<ClockInfo> ReadClock() override {
    return ClockInfo{NowMs(), reset_count_, restart_count_, true};
  }
  Status Reboot() override;

  // The EK private key (for credential activation in the soft protocol).
  Result<PrivateKey> EkPrivateKey() const;
  // Bytes of state held per device, excluding the event log.
  size_t StateSizeBytes() const;

  // The clock source in milliseconds: a test's, or the simulator's fleet time.
  void SetClock(std::function<uint64_t()> clock_ms) { clock_ms_ = std::move(clock_ms); }

 private:
  using Scalar = std::array<uint8_t, 32>;
  using Point = std::array<uint8_t, 64>;  // x || y
  struct Pcr {
    uint8_t index;
    std::array<uint8_t, 32> value;
  };
  SoftTre() = default;
  static Result<SoftTre> Load(ByteView state, bool check_keys);
  uint64_t NowMs() const;
  Status DeriveQualifiedSigner();

  Scalar ek_priv_{}, ak_priv_{};
  Point ek_pub_{}, ak_pub_{};
  std::array<uint8_t, 34> qualified_signer_{};  // QN of the AK under the EK
  std::vector<Pcr> pcrs_;                       // sparse; sorted by index
  uint64_t counter_ = 0;
  uint64_t clock_base_ms_ = 0;  // clock value at the last Load/Create
  uint32_t reset_count_ = 0;
  uint32_t restart_count_ = 0;
  std::function<uint64_t()> clock_ms_;
  std::string state_file_;  // empty: volatile
  // The AK as an OpenSSL key, made on first quote (it costs a third of one);
  // not part of the state.
  std::shared_ptr<const PrivateKey> ak_key_;
  EventLog log_ = EventLog::NewCryptoAgile({HashAlg::kSha256});
};

}  // namespace henbtrust
