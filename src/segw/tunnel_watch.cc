#include "henbtrust/segw/tunnel_watch.h"

#include <algorithm>
#include <map>

#include "henbtrust/net/api.h"

namespace henbtrust {

bool IsValidTunnelId(std::string_view id) {
  if (id.empty() || id.size() > kMaxTunnelIdBytes) return false;
  return std::ranges::all_of(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::vector<Tunnel> ParseTunnelList(std::string_view text, std::vector<std::string>* problems) {
  std::vector<Tunnel> out;
  size_t number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string_view id = line.substr(0, space);
    const std::string_view device =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (!IsValidTunnelId(id)) {
      if (problems) {
        std::string problem = "list line ";
        problem += std::to_string(number);
        problem += " is not 'TUNNEL-ID DEVICE-ID': ";
        problem += line.substr(0, 200);
        problems->push_back(std::move(problem));
      }
      continue;
    }
    out.push_back(Tunnel{std::string(id),
                         api::IsValidDeviceId(device) ? std::string(device) : std::string()});
  }
  return out;
}

WatchRound RecheckTunnels(const PveGet& get, const ListTunnels& list, const CutTunnel& cut,
                          const WatchOptions& options) {
  WatchRound round;
  auto listed = list();
  if (!listed.ok()) {
    round.lines.push_back("cannot list the gateway's tunnels: " + listed.error().ToString());
    ++round.failed;
    return round;
  }
  const std::vector<Tunnel> tunnels = ParseTunnelList(*listed, &round.lines);
  round.failed += static_cast<int>(round.lines.size());  // lines without a tunnel id
  round.tunnels = static_cast<int>(tunnels.size());
  const auto cut_and_say = [&](const Tunnel& t, const std::string& why) {
    if (auto st = cut(t); !st.ok()) {
      ++round.failed;
      round.lines.push_back("tunnel " + t.id + " of " + (t.device_id.empty() ? "-" : t.device_id) +
                            ": the cut failed, tried again next round: " + st.error().ToString() +
                            " (" + why + ")");
      return;
    }
    ++round.cut;
    round.lines.push_back("cut tunnel " + t.id + ": " + why);
  };
  // One question per device, however many tunnels it holds.
  std::map<std::string, Result<AccessVerdict>> verdicts;
  bool pve_answers = true;
  for (const Tunnel& t : tunnels) {
    if (t.device_id.empty()) {
      cut_and_say(t, "refuse: the gateway's identity for it names no device");
      continue;
    }
    auto it = verdicts.find(t.device_id);
    if (it == verdicts.end()) {
      AccessQuestion q;
      q.device_id = t.device_id;
      q.max_age = options.max_age;
      q.recheck = true;
      q.unreachable = options.unreachable;
      const PveGet unreachable = [](const std::string&) -> Result<HttpResponse> {
        return Error(ErrorCode::kNet, "not asked: the PVE did not answer earlier in this round");
      };
      auto verdict = CheckAccess(pve_answers ? get : unreachable, q);
      if (verdict.ok() && !verdict->reached) pve_answers = false;
      ++round.devices;
      it = verdicts.emplace(t.device_id, std::move(verdict)).first;
    }
    const Result<AccessVerdict>& verdict = it->second;
    if (!verdict.ok()) {
      // No decision (the PVE refused the question, a certificate that does
      // not verify): kept by the admit policy, cut by the refuse policy.
      if (options.unreachable == UnreachablePolicy::kRefuse) {
        cut_and_say(t, "refuse " + t.device_id + ": no decision: " + verdict.error().ToString() +
                           "; policy --unreachable refuse");
      } else {
        ++round.failed;
        round.lines.push_back("tunnel " + t.id + " of " + t.device_id +
                              ": no decision: " + verdict.error().ToString());
      }
      continue;
    }
    if (verdict->admit) {
      ++round.kept;
      if (!verdict->answered) round.lines.push_back("kept tunnel " + t.id + ": " + verdict->line);
      continue;
    }
    cut_and_say(t, verdict->line);
  }
  return round;
}

}  // namespace henbtrust
