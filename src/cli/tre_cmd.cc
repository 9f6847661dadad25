#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/decimal.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/tpm/quote_verifier.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/tpm_tre.h"

namespace henbtrust::cli {

namespace {

struct AttestArgs {
  std::string backend = "soft";
  std::string tcti;
  std::string swtpm_control;
  std::string state;
  std::vector<std::string> measure;
  std::string nonce_hex;
  std::string pcrs;
  std::string out;
  bool no_reboot = false;
};

struct Measurement {
  ComponentRef ref;
  std::string file;
  uint32_t pcr;
};

// "id:version:FILE@PCR"
Result<Measurement> ParseMeasure(const std::string& spec) {
  const size_t at = spec.rfind('@');
  const size_t c1 = spec.find(':');
  const size_t c2 = c1 == std::string::npos ? c1 : spec.find(':', c1 + 1);
  if (at == std::string::npos || c2 == std::string::npos || c2 > at) {
    return Error(ErrorCode::kInvalidArgument,
                 "--measure wants id:version:FILE@PCR, got '" + spec + "'");
  }
  Measurement m{
      {spec.substr(0, c1), spec.substr(c1 + 1, c2 - c1 - 1)}, spec.substr(c2 + 1, at - c2 - 1), 0};
  const auto pcr = ParseDecimal(spec.substr(at + 1));
  if (!pcr || *pcr > 23) return Error(ErrorCode::kInvalidArgument, "bad PCR in '" + spec + "'");
  m.pcr = static_cast<uint32_t>(*pcr);
  return m;
}

int RunAttest(const AttestArgs& a) {
  std::vector<Measurement> plan;
  for (const auto& spec : a.measure) {
    auto m = ParseMeasure(spec);
    if (!m.ok()) return Fail(m.error());
    plan.push_back(std::move(m).value());
  }
  std::unique_ptr<Tre> tre;
  if (a.backend == "soft") {
    Result<SoftTre> soft = Error(ErrorCode::kInternal, "");
    if (!a.state.empty() && std::filesystem::exists(a.state)) {
      auto raw = ReadFile(a.state);
      if (!raw.ok()) return Fail(raw.error());
      soft = SoftTre::Load(*raw);
    } else {
      soft = SoftTre::Create();
    }
    if (!soft.ok()) return Fail(soft.error());
    if (!a.state.empty()) {
      if (auto st = WriteFileAtomic(a.state, soft->SaveState()); !st.ok()) return Fail(st.error());
    }
    tre = std::make_unique<SoftTre>(std::move(soft).value());
  } else if (a.backend == "tpm") {
    TpmTreOptions opts;
    if (!a.tcti.empty()) opts.tcti = a.tcti;
    opts.swtpm_control = a.swtpm_control;
    auto t = OpenTpmTre(opts);
    if (!t.ok()) return Fail(t.error());
    tre = std::move(t).value();
    if (!a.no_reboot && !a.swtpm_control.empty()) {
      if (auto st = tre->Reboot(); !st.ok()) return Fail(st.error());
    }
  } else {
    return UsageError("--backend must be soft or tpm");
  }

  std::vector<uint32_t> measured;
  for (const auto& m : plan) {
    auto image = ReadFile(m.file, size_t{1} << 32);
    if (!image.ok()) return Fail(image.error());
    if (auto st = tre->MeasureComponent(m.pcr, m.ref, Sha256(*image)); !st.ok())
      return Fail(st.error());
    measured.push_back(m.pcr);
  }
  std::vector<PcrSelection> selection;
  if (!a.pcrs.empty()) {
    auto sel = ParsePcrSelectionSpec(a.pcrs);
    if (!sel.ok()) return UsageError("--pcrs: " + sel.error().message());
    selection = std::move(sel).value();
  } else {
    PcrSelection s{HashAlg::kSha256, {}};
    for (uint32_t p = 0; p < 24; ++p) {
      if (std::find(measured.begin(), measured.end(), p) != measured.end()) s.pcrs.push_back(p);
    }
    if (s.pcrs.empty()) s.pcrs = {0};
    selection = {s};
  }
  Bytes nonce;
  if (a.nonce_hex.empty()) {
    auto r = RandomBytes(32);
    if (!r.ok()) return Fail(r.error());
    nonce = std::move(r).value();
  } else {
    auto r = HexDecode(a.nonce_hex);
    if (!r.ok()) return UsageError("--nonce: " + r.error().message());
    nonce = std::move(r).value();
  }
  auto quote = tre->MakeQuote(nonce, selection);
  if (!quote.ok()) return Fail(quote.error());
  Bytes pcr_values;
  for (const auto& sel : selection) {
    auto v = tre->ReadPcrs(sel);
    if (!v.ok()) return Fail(v.error());
    Append(pcr_values, SelectedPcrValues(*v, sel));
  }
  auto ak = ParseTpmPublic(tre->AkPublic());
  if (!ak.ok()) return Fail(ak.error());

  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  const std::filesystem::path dir(a.out);
  const std::string ak_pem = ak->key.ToPem();
  const Bytes ak_pub = tre->AkPublic();
  const Bytes ek_pub = tre->EkPublic();
  const Bytes event_log = tre->event_log().Serialize();
  const std::pair<const char*, ByteView> evidence[] = {
      {"ak.pub", ak_pub},           {"ak.pem", AsBytes(ak_pem)},     {"ek.pub", ek_pub},
      {"quote.msg", quote->attest}, {"quote.sig", quote->signature}, {"nonce.bin", nonce},
      {"pcrs.bin", pcr_values},     {"eventlog.bin", event_log},
  };
  for (const auto& [name, bytes] : evidence) {
    if (auto st = WriteFileAtomic(dir / name, bytes); !st.ok()) return Fail(st.error());
  }
  QuoteExpectations expect{nonce, selection, pcr_values, &tre->event_log()};
  auto verified = QuoteVerifier(ak->key).Verify(quote->attest, quote->signature, expect);
  if (!verified.ok()) return Fail(verified.error());
  std::cout << "backend=" << tre->Kind() << " pcrs=" << FormatPcrSelection(selection)
            << " events=" << tre->event_log().events().size()
            << " tim=" << HexEncode(verified->info.pcr_digest)
            << " reset_count=" << verified->info.clock.reset_count << "\n"
            << "wrote ak.pub ak.pem ek.pub quote.msg quote.sig nonce.bin pcrs.bin eventlog.bin to "
            << a.out << "\n";
  return kExitOk;
}

}  // namespace

void RegisterTreCommands(CLI::App& app, int* exit_code) {
  CLI::App* tre = app.add_subcommand("tre", "Drive a Trusted Environment (soft TrE or TPM 2.0)");
  tre->require_subcommand(1);
  auto a = std::make_shared<AttestArgs>();
  CLI::App* attest = tre->add_subcommand(
      "attest",
      "Measure components into a TrE, quote, and write the evidence (ak.pub, ak.pem, ek.pub, "
      "quote.msg, "
      "quote.sig, nonce.bin, pcrs.bin, eventlog.bin) in the formats tpm2-tools use.");
  attest->add_option("--backend", a->backend, "soft or tpm")->capture_default_str();
  attest->add_option("--tcti", a->tcti,
                     "TCTI for --backend tpm, e.g. swtpm:host=127.0.0.1,port=2321");
  attest->add_option(
      "--swtpm-control", a->swtpm_control,
      "swtpm control channel host:port; the TPM is power-cycled first unless --no-reboot");
  attest->add_flag("--no-reboot", a->no_reboot, "do not power-cycle swtpm before measuring");
  attest->add_option("--state", a->state, "soft TrE state file (created if absent)");
  attest->add_option("--measure", a->measure,
                     "component to measure: id:version:FILE@PCR (repeatable)");
  attest->add_option("--nonce", a->nonce_hex, "nonce, hex (default: 32 random bytes)");
  attest->add_option("--pcrs", a->pcrs,
                     "PCR selection to quote (default: the measured sha256 PCRs)");
  attest->add_option("--out", a->out, "output directory")->required();
  OnRun(attest, exit_code, [a] { return RunAttest(*a); });
}

}  // namespace henbtrust::cli
