// Evidence: quote verification, soft TrE quotes, event log replay.
#include <benchmark/benchmark.h>

#include "henbtrust/eventlog/replay.h"
#include "henbtrust/tpm/quote_verifier.h"
#include "henbtrust/tpm/soft_tre.h"

namespace henbtrust {
namespace {

const std::vector<PcrSelection> kSel = {{HashAlg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}}};

SoftTre BootedTre() {
  auto tre = SoftTre::Create();
  for (uint32_t i = 0; i < 8; ++i) {
    (void)tre->MeasureComponent(i, {"c" + std::to_string(i), "1"},
                                Sha256(AsBytes(std::to_string(i))));
  }
  return std::move(tre).value();
}

// One appraisal's cryptographic core: parse TPMS_ATTEST and TPMT_SIGNATURE,
// check magic, type, signature, nonce, selection and pcrDigest against
// known PCR values. Compare: openssl speed ecdsap256 (verify).
void BM_QuoteVerify(benchmark::State& state) {
  SoftTre tre = BootedTre();
  const Bytes nonce(32, 7);
  const Quote q = *tre.MakeQuote(nonce, kSel);
  const QuoteVerifier verifier = *QuoteVerifier::FromTpmPublic(tre.AkPublic());
  QuoteExpectations e;
  e.nonce = nonce;
  e.pcr_selection = kSel;
  e.pcr_values = SelectedPcrValues(*tre.ReadPcrs(kSel[0]), kSel[0]);
  for (auto _ : state) {
    auto r = verifier.Verify(q.attest, q.signature, e);
    if (!r.ok()) state.SkipWithError(r.error().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_QuoteVerify);

void BM_SoftTreQuote(benchmark::State& state) {
  SoftTre tre = BootedTre();
  const Bytes nonce(32, 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(tre.MakeQuote(nonce, kSel));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  // Bytes of state the device holds beyond its event log (8 PCRs extended).
  state.counters["state_bytes"] = static_cast<double>(tre.StateSizeBytes());
}
BENCHMARK(BM_SoftTreQuote);

EventLog BigLog(size_t events) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha1, HashAlg::kSha256});
  for (size_t i = 0; i < events; ++i) {
    auto e = MakeComponentEvent(static_cast<uint32_t>(i % 16), {"c" + std::to_string(i), "1"},
                                {{0x0004, Hash(HashAlg::kSha1, AsBytes(std::to_string(i)))},
                                 {0x000b, Sha256(AsBytes(std::to_string(i)))}});
    (void)log.Append(std::move(e).value());
  }
  return log;
}

// Parse and replay a 10,000-event two-bank log.
void BM_EventLogParseAndReplay10k(benchmark::State& state) {
  const Bytes raw = BigLog(10000).Serialize();
  for (auto _ : state) {
    auto log = EventLog::Parse(raw);
    benchmark::DoNotOptimize(Replay(*log));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 10000);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_EventLogParseAndReplay10k)->Unit(benchmark::kMillisecond);

void BM_SubstitutionReplay10k(benchmark::State& state) {
  const EventLog log = BigLog(10000);
  const std::map<std::string, Bytes> subs = {{"c42", Bytes(32, 1)}, {"c9999", Bytes(32, 2)}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(ReplayWithSubstitutions(log, HashAlg::kSha256, subs));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 10000);
}
BENCHMARK(BM_SubstitutionReplay10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace henbtrust

BENCHMARK_MAIN();
