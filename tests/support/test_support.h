// Test helpers: temporary directories, running external tools, swtpm.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/bytes.h"

namespace henbtrust::testing {

// The directory of test data from real TPMs and firmware, tests/data (or
// $HENB_TESTVECTORS); tests/data/PROVENANCE.md says where each file comes from.
std::string TestVectorDir();
// Path of the built henbtrust CLI.
std::string CliPath();

// The seed of a randomised test: HENB_TEST_SEED when it is set, else a fresh
// one from std::random_device. Prints "seed: N; rerun with HENB_TEST_SEED=N"
// to stdout (ctest shows it beside a failure) and records it as the test's
// "seed" property. A HENB_TEST_SEED that is not a decimal number below 2^32
// fails the calling test, which then runs on a fresh seed.
uint32_t TestSeed();

// True in an ASan or TSan build. Their allocators keep freed memory in
// quarantine and add shadow memory, so a bound on a process's peak resident
// memory holds only in an uninstrumented build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
// The number in `text` (decimal, below 2^32), or nothing.
std::optional<uint32_t> ParseTestSeed(std::string_view text);

// A fresh directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh with extra environment `env` ("K=V ...").
CommandResult Run(const std::string& command, const std::string& env = "");

// A command running in the background (through /bin/sh, exec'd), sent
// SIGTERM and reaped on destruction. Its output goes to `log`.
class Background {
 public:
  Background(const std::string& command, const std::string& log);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  int pid() const { return pid_; }
  // SIGTERM (or `signal`), then waits; returns the exit status as waitpid reports it.
  int Stop(int signal = 15);

 private:
  int pid_ = -1;
};

// Polls `path` until it holds a port number (a service's --port-file), up to `seconds`.
uint16_t WaitForPortFile(const std::string& path, int seconds = 20);

// The whole of a file as text; "" when it is missing or unreadable (a log
// that a process has not written yet).
std::string Slurp(const std::string& path);

void WriteBytes(const std::string& path, ByteView data);
Bytes ReadBytes(const std::string& path);

// A private swtpm on free loopback ports in a temporary directory, stopped on
// destruction.
class Swtpm {
 public:
  // `manufactured`: swtpm_setup first plays the TPM vendor, certifying the
  // RSA-2048 and ECC P-384 EKs with a local CA (swtpm_localca).
  explicit Swtpm(bool manufactured = false);
  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  bool ok() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  // "swtpm:host=127.0.0.1,port=N"
  std::string Tcti() const;
  // "127.0.0.1:N+1"
  std::string Control() const;
  // Environment for tpm2-tools: "TPM2TOOLS_TCTI=..."
  std::string ToolsEnv() const { return "TPM2TOOLS_TCTI=" + Tcti(); }
  // For a manufactured TPM: the vendor CA chain (issuing CA, root) as PEM,
  // and the RSA EK certificate (DER).
  std::string ManufacturerCaPem() const;
  Bytes RsaEkCertificate() const;

 private:
  TempDir dir_;
  int pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace henbtrust::testing
