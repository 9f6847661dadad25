// A device on either TrE backend with two signed releases, for device tests.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>

#include "henbtrust/device/device.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/tpm_tre.h"
#include "release/release_fixture.h"

namespace henbtrust::testing {

enum class Backend { kSoft, kSwtpm };

struct DeviceHarness {
  explicit DeviceHarness(Backend b) : backend(b) {
    if (backend == Backend::kSwtpm) swtpm = std::make_unique<Swtpm>();
  }

  Backend backend;
  std::unique_ptr<Swtpm> swtpm;
  ReleaseFixture release;
  ReleaseFixture::Images v1_images = ReleaseFixture::DefaultImages("v1");
  ReleaseFixture::Images v2_images = ReleaseFixture::DefaultImages("v2");
  std::string v1 = release.Bundle("v1.bundle", v1_images, 1, {0, 1}, "1.0");
  std::string v2 = release.Bundle("v2.bundle", v2_images, 2, {0, 1}, "2.0");
  std::string dir = release.dir.File("device");
  // The soft TrE's NV state.
  std::string tre_state = release.dir.File("tre.state");
  // Given to the device at Provision and Reopen (its Env among them).
  DeviceOptions options;
  // If set, the soft TrE's clock (milliseconds), which AdvanceClock moves.
  std::shared_ptr<std::atomic<uint64_t>> soft_clock;
  // If set, wraps the TrE at each PowerOn (a test decorator).
  std::function<std::unique_ptr<Tre>(std::unique_ptr<Tre>)> wrap_tre;

  // A TrE after power-on: the soft TrE from its state file, swtpm reopened.
  Result<std::unique_ptr<Tre>> PowerOn() {
    HENB_ASSIGN_OR_RETURN(std::unique_ptr<Tre> tre, OpenTre());
    return wrap_tre ? wrap_tre(std::move(tre)) : std::move(tre);
  }

  Result<std::unique_ptr<Tre>> OpenTre() {
    if (backend == Backend::kSoft) {
      auto tre = SoftTre::OpenStateFile(tre_state);
      if (!tre.ok()) return tre.error();
      auto soft = std::make_unique<SoftTre>(std::move(tre).value());
      if (soft_clock) {
        soft->SetClock([clock = soft_clock] { return clock->load(); });
      }
      return std::unique_ptr<Tre>(std::move(soft));
    }
    TpmTreOptions o;
    o.tcti = swtpm->Tcti();
    o.swtpm_control = swtpm->Control();
    return OpenTpmTre(o);
  }

  Result<std::unique_ptr<Device>> Provision() {
    HENB_ASSIGN_OR_RETURN(auto tre, PowerOn());
    return Device::Provision(dir, "femto-a1", v1, release.root, release.now, std::move(tre),
                             options);
  }

  Result<std::unique_ptr<Device>> Reopen() {
    HENB_ASSIGN_OR_RETURN(auto tre, PowerOn());
    return Device::Open(dir, std::move(tre), options);
  }

  // Moves the TrE's clock `ms` forward: the soft TrE's test clock (set
  // soft_clock first), or the TPM's through TPM2_ClockSet.
  Status AdvanceClock(Tre& tre, uint64_t ms) {
    if (backend == Backend::kSoft) {
      if (!soft_clock) return Error(ErrorCode::kInvalidArgument, "no soft clock set");
      soft_clock->fetch_add(ms);
      return OkStatus();
    }
    HENB_ASSIGN_OR_RETURN(ClockInfo now, tre.ReadClock());
    return TpmClockSet(tre, now.clock + ms);
  }

  ReleaseManifest Manifest(const std::string& bundle) { return ReadBundleHeader(bundle)->manifest; }

  // A new device of the same releases: a fresh directory and TrE (and swtpm)
  // named `name`, for a test that provisions many devices.
  void StartOver(const std::string& name) {
    dir = release.dir.File(name);
    tre_state = release.dir.File(name + ".tre.state");
    if (backend == Backend::kSwtpm) swtpm = std::make_unique<Swtpm>();
  }

  // True if `slot` holds a complete release whose files match its manifest,
  // or is empty; false if anything is half there.
  bool SlotIsWholeOrEmpty(Device& d, const std::string& slot) {
    namespace fs = std::filesystem;
    auto m = d.SlotManifest(slot);
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(d.SlotDir(slot))) {
      if (e.path().filename().string().find(".tmp") != std::string::npos) return false;
      ++files;
    }
    if (!m) return files == 0;
    for (const auto& c : m->components) {
      auto raw = ReadFile(d.SlotDir(slot) + "/" + c.id + ".img");
      if (!raw.ok() || !Equal(Sha256(*raw), c.sha256)) return false;
    }
    return files == m->components.size() + 1;
  }
};

}  // namespace henbtrust::testing
