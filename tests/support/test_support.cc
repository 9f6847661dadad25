#include "support/test_support.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace henbtrust::testing {

std::string TestVectorDir() {
  if (const char* env = std::getenv("HENB_TESTVECTORS")) return env;
  return HENB_DEFAULT_TESTVECTORS;
}

std::string CliPath() { return HENB_CLI_PATH; }

std::optional<uint32_t> ParseTestSeed(std::string_view text) {
  uint32_t seed = 0;
  const char* end = text.data() + text.size();
  const auto [at, ec] = std::from_chars(text.data(), end, seed);
  if (text.empty() || ec != std::errc() || at != end) return std::nullopt;
  return seed;
}

uint32_t TestSeed() {
  std::optional<uint32_t> seed;
  if (const char* env = std::getenv("HENB_TEST_SEED")) {
    seed = ParseTestSeed(env);
    if (!seed) ADD_FAILURE() << "HENB_TEST_SEED=" << env << " is not a decimal number below 2^32";
  }
  if (!seed) seed = std::random_device{}();
  std::cout << "seed: " << *seed << "; rerun with HENB_TEST_SEED=" << *seed << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(*seed));
  return *seed;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "henbtest.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult Run(const std::string& command, const std::string& env) {
  TempDir tmp;
  const std::string full = (env.empty() ? "" : "env " + env + " ") + "sh -c '" +
                           [&] {
                             std::string escaped;
                             for (char c : command)
                               escaped += c == '\'' ? std::string("'\\''") : std::string(1, c);
                             return escaped;
                           }() +
                           "' >" + tmp.File("out") + " 2>" + tmp.File("err") + " </dev/null";
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(tmp.File("out"));
  r.err = Slurp(tmp.File("err"));
  return r;
}

void WriteBytes(const std::string& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Bytes ReadBytes(const std::string& path) { return ToBytes(Slurp(path)); }

namespace {
// Binds (connect=false) or connects (connect=true) a TCP socket to 127.0.0.1:port.
bool TryLoopback(uint16_t port, bool connect) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  const bool ok = (connect ? ::connect(fd, sa, sizeof addr) : ::bind(fd, sa, sizeof addr)) == 0;
  ::close(fd);
  return ok;
}
bool PortFree(uint16_t port) { return TryLoopback(port, /*connect=*/false); }
bool CanConnect(uint16_t port) { return TryLoopback(port, /*connect=*/true); }
}  // namespace

Swtpm::Swtpm(bool manufactured) {
  if (manufactured) {
    const std::string ca = dir_.File("ca");
    Run("mkdir -p " + ca + " " + dir_.File("certs"));
    WriteBytes(dir_.File("localca.conf"),
               AsBytes("statedir = " + ca + "\nsigningkey = " + ca + "/signkey.pem\nissuercert = " +
                       ca + "/issuercert.pem\ncertserial = " + ca + "/certserial\n"));
    WriteBytes(dir_.File("localca.options"),
               AsBytes("--platform-manufacturer henbtrust-test\n--platform-model swtpm\n"
                       "--platform-version 1\n"));
    WriteBytes(dir_.File("setup.conf"),
               AsBytes("create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = " +
                       dir_.File("localca.conf") +
                       "\ncreate_certs_tool_options = " + dir_.File("localca.options") + "\n"));
    const auto setup = Run("swtpm_setup --tpm2 --tpmstate " + dir_.path() + " --config " +
                           dir_.File("setup.conf") + " --create-ek-cert --write-ek-cert-files " +
                           dir_.File("certs") + " --overwrite");
    if (setup.exit_code != 0) return;  // ok() stays false
  }
  // Ports, not test data: never from TestSeed(), or tests that run in
  // parallel with one HENB_TEST_SEED would all try the same ports.
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> dist(10000, 30000);
  for (int attempt = 0; attempt < 20 && pid_ < 0; ++attempt) {
    const auto port = static_cast<uint16_t>(dist(rng) * 2);
    if (!PortFree(port) || !PortFree(static_cast<uint16_t>(port + 1))) continue;
    const std::string pidfile = dir_.File("swtpm.pid");
    const std::string cmd =
        "swtpm socket --tpm2 --tpmstate dir=" + dir_.path() +
        " --server type=tcp,port=" + std::to_string(port) +
        ",bindaddr=127.0.0.1 --ctrl type=tcp,port=" + std::to_string(port + 1) +
        ",bindaddr=127.0.0.1 --flags not-need-init,startup-clear --daemon --pid file=" + pidfile +
        " --log file=" + dir_.File("swtpm.log");
    if (Run(cmd).exit_code != 0) continue;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string pid = Slurp(pidfile);
      if (!pid.empty() && CanConnect(static_cast<uint16_t>(port + 1))) {
        pid_ = std::atoi(pid.c_str());
        port_ = port;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

Swtpm::~Swtpm() {
  if (pid_ <= 0) return;
  // swtpm notices SIGTERM only at its next poll timeout (about a second);
  // its state is thrown away with the directory, so it is killed outright.
  ::kill(pid_, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // Gone, or a zombie (a daemon's parent may never reap it in a container).
  auto alive = [this] {
    const std::string stat = Slurp("/proc/" + std::to_string(pid_) + "/stat");
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
  };
  while (alive() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Background::Background(const std::string& command, const std::string& log) {
  const std::string line = "exec " + command + " >" + log + " 2>&1";
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0)
    pid_ = pid;
}

Background::~Background() { Stop(); }

int Background::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

uint16_t WaitForPortFile(const std::string& path, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = Slurp(path);
    if (!text.empty() && text.back() == '\n') return static_cast<uint16_t>(std::atoi(text.c_str()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

std::string Swtpm::ManufacturerCaPem() const {
  return Slurp(dir_.File("ca/issuercert.pem")) +
         Slurp(dir_.File("ca/swtpm-localca-rootca-cert.pem"));
}

Bytes Swtpm::RsaEkCertificate() const { return ReadBytes(dir_.File("certs/ek-rsa2048.crt")); }

std::string Swtpm::Tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }
std::string Swtpm::Control() const { return "127.0.0.1:" + std::to_string(port_ + 1); }

}  // namespace henbtrust::testing
