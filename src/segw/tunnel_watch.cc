#include "henbtrust/segw/tunnel_watch.h"

#include <algorithm>

#include "henbtrust/core/file.h"
#include "henbtrust/net/api.h"

namespace henbtrust {

namespace {

// A state file holds a device id and a newline.
constexpr size_t kMaxStateFileBytes = 256;

}  // namespace

bool IsValidTunnelId(std::string_view id) {
  if (id.empty() || id.size() > kMaxTunnelIdBytes || id.front() == '.') return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Status RecordTunnel(Env& env, const std::string& dir, const Tunnel& tunnel) {
  if (!IsValidTunnelId(tunnel.id))
    return Error(ErrorCode::kInvalidArgument, "'" + tunnel.id + "' cannot name a tunnel");
  if (!api::IsValidDeviceId(tunnel.device_id))
    return Error(ErrorCode::kInvalidArgument, "'" + tunnel.device_id + "' is not a device id");
  HENB_TRY(env.CreateDirectories(dir));
  return env.WriteFileAtomic(dir + "/" + tunnel.id, ToBytes(tunnel.device_id + "\n"), 0644);
}

Status ForgetTunnel(Env& env, const std::string& dir, const std::string& tunnel_id) {
  if (!IsValidTunnelId(tunnel_id))
    return Error(ErrorCode::kInvalidArgument, "'" + tunnel_id + "' cannot name a tunnel");
  if (auto st = env.RemoveFile(dir + "/" + tunnel_id);
      !st.ok() && st.error().code() != ErrorCode::kNotFound) {
    return st;
  }
  return OkStatus();
}

Result<std::vector<Tunnel>> ListTunnels(Env& env, const std::string& dir,
                                        std::vector<std::string>* problems) {
  HENB_ASSIGN_OR_RETURN(std::vector<std::string> names, env.ListDirectory(dir));
  std::vector<Tunnel> out;
  for (const std::string& name : names) {
    if (name.front() == '.') continue;  // WriteFileAtomic's temporary files
    std::string path = dir;
    path += '/';
    path += name;
    if (!IsValidTunnelId(name)) {
      if (problems) problems->push_back(path + ": not a tunnel id; left alone");
      continue;
    }
    auto bytes = env.ReadFile(path, kMaxStateFileBytes);
    if (!bytes.ok()) {
      // Removed by the hook since the listing (the tunnel went down): not a problem.
      if (bytes.error().code() != ErrorCode::kNotFound && problems)
        problems->push_back(path + ": " + bytes.error().ToString());
      continue;
    }
    std::string device(bytes->begin(), bytes->end());
    if (!device.empty() && device.back() == '\n') device.pop_back();
    if (!api::IsValidDeviceId(device)) {
      if (problems) problems->push_back(path + ": does not hold a device id");
      continue;
    }
    out.push_back(Tunnel{name, std::move(device)});
  }
  return out;
}

WatchRound RecheckTunnels(Env& env, const PveGet& get, const CutTunnel& cut,
                          const WatchOptions& options) {
  WatchRound round;
  auto tunnels = ListTunnels(env, options.state_dir, &round.lines);
  if (!tunnels.ok()) {
    round.lines.push_back("cannot list " + options.state_dir + ": " + tunnels.error().ToString());
    ++round.failed;
    return round;
  }
  for (const Tunnel& t : *tunnels) {
    ++round.checked;
    AccessQuestion q;
    q.device_id = t.device_id;
    q.max_age = options.max_age;
    q.recheck = true;
    q.unreachable = options.unreachable;
    auto verdict = CheckAccess(get, q);
    if (!verdict.ok()) {
      ++round.failed;
      round.lines.push_back("tunnel " + t.id + " of " + t.device_id +
                            ": no decision: " + verdict.error().ToString());
      continue;
    }
    if (verdict->admit) {
      ++round.kept;
      if (!verdict->answered) round.lines.push_back("kept tunnel " + t.id + ": " + verdict->line);
      continue;
    }
    if (auto st = cut(t); !st.ok()) {
      ++round.failed;
      round.lines.push_back("tunnel " + t.id + " of " + t.device_id +
                            ": the cut failed, tried again next round: " + st.error().ToString() +
                            " (" + verdict->line + ")");
      continue;
    }
    ++round.cut;
    round.lines.push_back("cut tunnel " + t.id + ": " + verdict->line);
    if (auto st = ForgetTunnel(env, options.state_dir, t.id); !st.ok())
      round.lines.push_back("tunnel " + t.id + ": " + st.error().ToString());
  }
  return round;
}

}  // namespace henbtrust
