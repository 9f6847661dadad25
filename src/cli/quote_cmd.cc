#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/tpm/quote_verifier.h"

namespace henbtrust::cli {

namespace {

struct VerifyArgs {
  std::string ak_pub, nonce_hex, message, signature, pcr_values, eventlog, pcrs;
};

int RunVerify(const VerifyArgs& a) {
  auto nonce = HexDecode(a.nonce_hex);
  if (!nonce.ok()) return UsageError("--nonce: " + nonce.error().message());
  QuoteExpectations expect;
  expect.nonce = std::move(nonce).value();
  if (!a.pcrs.empty()) {
    auto sel = ParsePcrSelectionSpec(a.pcrs);
    if (!sel.ok()) return UsageError("--pcrs: " + sel.error().message());
    expect.pcr_selection = std::move(sel).value();
  }
  auto ak = ReadFile(a.ak_pub);
  if (!ak.ok()) return Fail(ak.error());
  auto msg = ReadFile(a.message);
  if (!msg.ok()) return Fail(msg.error());
  auto sig = ReadFile(a.signature);
  if (!sig.ok()) return Fail(sig.error());
  if (!a.pcr_values.empty()) {
    auto values = ReadFile(a.pcr_values);
    if (!values.ok()) return Fail(values.error());
    expect.pcr_values = std::move(values).value();
  }
  std::optional<EventLog> log;
  if (!a.eventlog.empty()) {
    auto raw = ReadFile(a.eventlog);
    if (!raw.ok()) return Fail(raw.error());
    auto parsed = EventLog::Parse(*raw);
    if (!parsed.ok()) return Verdict(parsed.error());
    log = std::move(parsed).value();
    expect.event_log = &*log;
  }
  auto verifier = QuoteVerifier::FromAnyEncoding(*ak);
  if (!verifier.ok()) return Verdict(verifier.error().WithContext("attestation key"));
  auto result = verifier->Verify(*msg, *sig, expect);
  if (!result.ok()) return Verdict(result.error());
  std::cout << "valid\n";
  return kExitOk;
}

}  // namespace

void RegisterQuoteCommands(CLI::App& app, int* exit_code) {
  CLI::App* quote = app.add_subcommand("quote", "TPM 2.0 quotes");
  quote->require_subcommand(1);
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* verify = quote->add_subcommand("verify",
                                           "Verify a TPM 2.0 quote: structure, AK signature, "
                                           "nonce, and optionally the PCR values and an event "
                                           "log.\nPrints 'valid' (exit 0) or 'invalid: <code>: "
                                           "<detail>' (exit 1); exit 2 on usage or I/O errors.");
  verify
      ->add_option("--ak-pub", args->ak_pub,
                   "AK public key: PEM SubjectPublicKeyInfo or TPM2B_PUBLIC (tpm2_createak -u)")
      ->required();
  verify->add_option("--nonce", args->nonce_hex, "the nonce given to the TPM, hex")->required();
  verify->add_option("--message", args->message, "TPMS_ATTEST as signed (tpm2_quote -m)")
      ->required();
  verify->add_option("--signature", args->signature, "TPMT_SIGNATURE (tpm2_quote -s)")->required();
  verify->add_option(
      "--pcr-values", args->pcr_values,
      "raw concatenation of the selected PCR values in selection order (tpm2_pcrread -o)");
  verify->add_option("--eventlog", args->eventlog,
                     "TCG event log that must replay to the quoted PCRs");
  verify->add_option("--pcrs", args->pcrs, "expected PCR selection, e.g. sha256:0,1,2,3");
  OnRun(verify, exit_code, [args] { return RunVerify(*args); });
}

}  // namespace henbtrust::cli
