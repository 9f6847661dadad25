#include "segw/gateway_network.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace henbtrust::testing {

namespace {

constexpr const char* kCharon = "/usr/lib/ipsec/charon";

void Spit(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Runs `command`; "" on success, else the command and what it printed.
std::string Try(const std::string& command) {
  const CommandResult r = Run(command);
  if (r.exit_code == 0) return "";
  return "'" + command + "' exited " + std::to_string(r.exit_code) + ": " + r.err + r.out;
}

std::string Prefix() { return "hbt" + std::to_string(::getpid()); }

// The concatenation of `parts` (text and numbers as text).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

// Namespaces of earlier runs whose process is gone (a test that crashed).
void RemoveStaleNamespaces() {
  const CommandResult list = Run("ip netns list");
  std::istringstream lines(list.out);
  for (std::string line; std::getline(lines, line);) {
    const std::string name = line.substr(0, line.find(' '));
    if (name.rfind("hbt", 0) != 0) continue;
    const std::string digits = name.substr(3, name.find_first_not_of("0123456789", 3) - 3);
    if (digits.empty()) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (pid != ::getpid() && ::kill(pid, 0) != 0) Run("ip netns delete " + name);
  }
}

}  // namespace

std::string GatewayTestUnavailable() {
  if (::geteuid() != 0) return "needs root, to make network namespaces";
  if (Run("command -v ip").exit_code != 0) return "needs ip (iproute2)";
  if (::access(kCharon, X_OK) != 0) {
    return std::string("needs strongSwan's charon (") + kCharon +
           "; scripts/install-deps.sh installs strongswan-charon)";
  }
  if (Run("command -v swanctl").exit_code != 0) return "needs swanctl (strongswan-swanctl)";
  if (::access("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so", R_OK) != 0)
    return "needs charon's kernel-libipsec plugin (libcharon-extra-plugins)";
  if (::access("/usr/lib/ipsec/plugins/libstrongswan-openssl.so", R_OK) != 0)
    return "needs charon's openssl plugin (libstrongswan-standard-plugins)";
  const std::string probe = Prefix() + "probe";
  if (std::string e = Try("ip netns add " + probe); !e.empty())
    return "cannot make a network namespace: " + e;
  Run("ip netns delete " + probe);
  if (::access("/dev/net/tun", R_OK | W_OK) != 0)
    return "needs /dev/net/tun (kernel-libipsec's TUN device)";
  return "";
}

std::string GatewayAddress(int link) { return "10.77." + std::to_string(link) + ".1"; }

GatewayNetwork::GatewayNetwork(int henbs) {
  RemoveStaleNamespaces();
  gateway_ns_ = Prefix() + "segw";
  auto step = [this](const std::string& command) {
    if (error_.empty()) error_ = Try(command);
  };
  step("ip netns add " + gateway_ns_);
  step("ip -n " + gateway_ns_ + " link set lo up");
  step("ip -n " + gateway_ns_ + " addr add " + kCoreAddress + "/32 dev lo");
  for (int i = 1; i <= henbs && error_.empty(); ++i) {
    const std::string ns = Prefix() + "henb" + std::to_string(i);
    henb_ns_.push_back(ns);
    // Interface names: at most 15 bytes, unique in the root namespace while made.
    const std::string tag = std::to_string(::getpid() % 100000) + "x" + std::to_string(i);
    const std::string gw_if = "hs" + tag;
    const std::string henb_if = "hh" + tag;
    const std::string net = "10.77." + std::to_string(i) + ".";
    step(Cat("ip netns add ", ns));
    step(Cat("ip -n ", ns, " link set lo up"));
    step(Cat("ip link add ", gw_if, " type veth peer name ", henb_if));
    step(Cat("ip link set ", gw_if, " netns ", gateway_ns_));
    step(Cat("ip link set ", henb_if, " netns ", ns));
    step(Cat("ip -n ", gateway_ns_, " addr add ", net, "1/30 dev ", gw_if));
    step(Cat("ip -n ", ns, " addr add ", net, "2/30 dev ", henb_if));
    step(Cat("ip -n ", gateway_ns_, " link set ", gw_if, " up"));
    step(Cat("ip -n ", ns, " link set ", henb_if, " up"));
  }
}

GatewayNetwork::~GatewayNetwork() {
  if (root_ns_fd_ >= 0) {
    ::setns(root_ns_fd_, CLONE_NEWNET);
    ::close(root_ns_fd_);
  }
  for (const std::string& ns : henb_ns_) Run("ip netns delete " + ns);
  if (!gateway_ns_.empty()) Run("ip netns delete " + gateway_ns_);
}

std::string GatewayNetwork::EnterGateway() {
  if (!error_.empty()) return error_;
  root_ns_fd_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int fd = ::open(("/run/netns/" + gateway_ns_).c_str(), O_RDONLY | O_CLOEXEC);
  if (root_ns_fd_ < 0 || fd < 0)
    return "cannot open the namespaces: " + std::string(strerror(errno));
  const int rc = ::setns(fd, CLONE_NEWNET);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return "setns: " + std::string(strerror(saved));
  return "";
}

std::string GatewayNetwork::Render(const std::string& name,
                                   const std::vector<std::pair<std::string, std::string>>& values) {
  std::string text = Slurp(std::string(HENB_DEPLOY_DIR) + "/strongswan/" + name + ".in");
  for (const auto& [key, value] : values) {
    const std::string marker = "@" + key + "@";
    for (size_t at; (at = text.find(marker)) != std::string::npos;)
      text.replace(at, marker.size(), value);
  }
  return text;
}

Charon::Charon(std::string netns, std::string dir, const std::string& swanctl_conf,
               const std::vector<std::pair<std::string, std::string>>& files)
    : netns_(std::move(netns)), dir_(std::move(dir)) {
  Spit(dir_ + "/strongswan.conf",
       GatewayNetwork::Render("strongswan.conf",
                              {{"DIR", dir_}, {"KERNEL", "kernel-libipsec kernel-netlink"}}));
  Spit(dir_ + "/swanctl/swanctl.conf", swanctl_conf);
  for (const auto& [path, contents] : files) Spit(dir_ + "/swanctl/" + path, contents);
}

Charon::~Charon() {
  if (process_) process_->Stop();
}

std::string Charon::Start() {
  // charon keeps its pid file in /run: each one gets a /run of its own, in
  // the mount namespace `ip netns exec` makes for it.
  process_ = std::make_unique<Background>(
      "ip netns exec " + netns_ + " sh -c 'mount -t tmpfs none /run && exec env STRONGSWAN_CONF=" +
          dir_ + "/strongswan.conf " + kCharon + "'",
      dir_ + "/charon.out");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(dir_ + "/charon.vici")) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Cat("charon in ", netns_,
                 " did not open its vici socket: ", Slurp(dir_ + "/charon.out"), Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const CommandResult loaded = Swanctl("--load-all");
  if (loaded.exit_code != 0)
    return "swanctl --load-all in " + netns_ + ": " + loaded.out + loaded.err + Log();
  return "";
}

CommandResult Charon::Swanctl(const std::string& args) const {
  return Run("swanctl " + args + " --uri " + vici_uri(),
             "STRONGSWAN_CONF=" + dir_ + "/strongswan.conf SWANCTL_DIR=" + dir_ + "/swanctl");
}

std::string Charon::Sas() const { return Swanctl("--list-sas").out; }

std::string Charon::Log() const { return Slurp(dir_ + "/charon.log"); }

}  // namespace henbtrust::testing
