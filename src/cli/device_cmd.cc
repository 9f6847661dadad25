#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/device/device.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/tpm_tre.h"

namespace henbtrust::cli {

Result<std::unique_ptr<Tre>> PowerOnTre(const std::string& dir, const std::string& tcti,
                                        const std::string& swtpm_control) {
  if (!tcti.empty()) {
    TpmTreOptions o;
    o.tcti = tcti;
    o.swtpm_control = swtpm_control;
    return OpenTpmTre(o);
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::OpenStateFile(dir + "/tre.state"));
  return std::unique_ptr<Tre>(std::make_unique<SoftTre>(std::move(tre)));
}

namespace {

struct DeviceArgs {
  std::string dir, hardware, bundle, trust, tcti, swtpm_control, reason;
  std::string ticket_key;  // the OAM's key (oam.pub): a boot stage with a watchdog
  int64_t ticket_period = 86400;
};

Result<std::unique_ptr<Tre>> PowerOn(const DeviceArgs& a) {
  return PowerOnTre(a.dir, a.tcti, a.swtpm_control);
}

void PrintBoot(const BootReport& b) {
  std::cout << "booted slot " << b.slot << " release " << b.release_version
            << " tim=" << HexEncode(b.tim) << (b.fell_back ? " (fell back)" : "") << "\n";
}

void PrintStatus(Device& d) {
  const auto& b = d.boot_control();
  const auto& j = d.journal();
  std::cout << "active " << b.active << "  booted " << b.booted << "  trial "
            << (b.trial.empty() ? "-" : b.trial) << " (" << b.attempts_left << " attempts left)\n";
  for (const char* slot : {"a", "b", "recovery"}) {
    auto m = d.SlotManifest(slot);
    std::cout << "slot " << slot << ": "
              << (m ? m->release_id + " " + m->version : std::string("empty")) << "\n";
  }
  std::cout << "update " << UpdatePhaseName(j.phase)
            << (j.phase == UpdatePhase::kNone ? "" : " " + j.release_version)
            << "; last outcome: " << (j.last_outcome.empty() ? "-" : j.last_outcome) << "\n";
  if (!b.last_fallback_reason.empty())
    std::cout << "last fall back: " << b.last_fallback_reason << "\n";
  auto floor = d.tre().ReadCounter();
  if (floor.ok()) std::cout << "anti-rollback floor " << *floor << "\n";
}

int Run(const DeviceArgs& a, const std::string& action) {
  std::error_code ec;
  if (action != "provision" && !std::filesystem::exists(a.dir + "/identity.json", ec)) {
    return Fail(Error(ErrorCode::kNotFound, a.dir + " is not a provisioned device directory"));
  }
  auto tre = PowerOn(a);
  if (!tre.ok()) return Fail(tre.error());
  if (action == "provision") {
    auto trust = LoadTrustRoot(a.trust);
    if (!trust.ok()) return Fail(trust.error());
    DeviceOptions options;
    if (!a.ticket_key.empty()) {
      auto pem = ReadTextFile(a.ticket_key);
      if (!pem.ok()) return Fail(pem.error());
      options.boot_stage = {*pem, a.ticket_period};
    }
    auto d = Device::Provision(a.dir, a.hardware, a.bundle, *trust, UnixSeconds(),
                               std::move(tre).value(), options);
    if (!d.ok()) return Fail(d.error());
    auto b = (*d)->Boot();
    if (!b.ok()) return Fail(b.error());
    PrintBoot(*b);
    return kExitOk;
  }
  auto d = Device::Open(a.dir, std::move(tre).value());
  if (!d.ok()) return Fail(d.error());
  Device& dev = **d;
  if (action == "boot") {
    auto b = dev.Boot();
    if (!b.ok()) return Fail(b.error());
    PrintBoot(*b);
    if (b->fell_back) std::cout << "reason: " << dev.boot_control().last_fallback_reason << "\n";
    return kExitOk;
  }
  if (action == "install") {
    auto trust = LoadTrustRoot(a.trust);
    if (!trust.ok()) return Fail(trust.error());
    if (dev.journal().phase != UpdatePhase::kNone) {
      return Fail(Error(ErrorCode::kDeviceNoUpdate,
                        "an update is already pending; boot, commit or roll back first"));
    }
    // This invocation is a power-on: measure the running software first.
    if (auto b = dev.Boot(); !b.ok()) return Fail(b.error());
    auto j = dev.Install(a.bundle, *trust, UnixSeconds());
    if (!j.ok()) return Fail(j.error());
    std::cout << "installed " << j->release_version << " into slot " << j->target_slot
              << "; expected TIM " << HexEncode(j->expected_tim) << "; trial boot armed\n";
    return kExitOk;
  }
  if (action == "commit") {
    if (auto st = dev.Commit(); !st.ok()) return Fail(st.error());
    std::cout << dev.journal().last_outcome << "; anti-rollback floor " << *dev.tre().ReadCounter()
              << "\n";
    return kExitOk;
  }
  if (action == "rollback") {
    if (auto st = dev.Rollback(a.reason.empty() ? "operator order" : a.reason); !st.ok())
      return Fail(st.error());
    std::cout << dev.journal().last_outcome << "\n";
    return kExitOk;
  }
  PrintStatus(dev);
  return kExitOk;
}

}  // namespace

void RegisterDeviceCommands(CLI::App& app, int* exit_code) {
  CLI::App* dev = app.add_subcommand(
      "device",
      "The device side of an update: A/B slots, measured boot, install, step-7 trial boot, commit");
  dev->require_subcommand(1);
  auto a = std::make_shared<DeviceArgs>();
  auto common = [&](CLI::App* sub) {
    sub->add_option("--dir", a->dir, "device directory")->required();
    sub->add_option("--tcti", a->tcti,
                    "use a TPM (e.g. swtpm:host=127.0.0.1,port=2321); default: soft TrE in DIR");
    sub->add_option("--swtpm-control", a->swtpm_control,
                    "swtpm control channel host:port, for reboots");
  };
  struct Sub {
    const char* name;
    const char* help;
  };
  const Sub subs[] = {
      {"provision", "Factory-install BUNDLE into slot a and the recovery slot, then boot"},
      {"boot",
       "Measured boot (a pending trial slot first; its TIM is compared with the expected TIM)"},
      {"install",
       "Verify BUNDLE completely, install it into the inactive slot, compute the expected TIM, arm "
       "a trial"},
      {"commit", "Make the trial slot active and raise the TrE's anti-rollback floor"},
      {"rollback", "Abandon the pending update"},
      {"status", "Show slots, boot control and the update journal"},
  };
  for (const auto& s : subs) {
    CLI::App* sub = dev->add_subcommand(s.name, s.help);
    common(sub);
    const std::string name = s.name;
    if (name == "provision" || name == "install") {
      sub->add_option("--bundle", a->bundle, "release bundle")->required();
      sub->add_option("--trust", a->trust, "vendor trust root")->required();
    }
    if (name == "provision") {
      sub->add_option("--hardware", a->hardware, "hardware model")->required();
      sub->add_option("--ticket-key", a->ticket_key,
                      "the OAM's key (oam.pub of the server directory): gives the device a boot "
                      "stage whose watchdog the OAM's deferral tickets feed (docs/recovery.md)");
      sub->add_option("--ticket-period", a->ticket_period,
                      "seconds until the watchdog's first deadline")
          ->capture_default_str()
          ->check(CLI::Range(int64_t{1}, int64_t{30} * 24 * 3600));
    }
    if (name == "rollback") sub->add_option("--reason", a->reason, "why");
    OnRun(sub, exit_code, [a, name] { return Run(*a, name); });
  }
}

}  // namespace henbtrust::cli
