// henbtrust server group add | remove | list: group labels of devices, which
// campaigns select with "group=NAME" (docs/oam.md, "Campaigns").
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/server/server.h"

namespace henbtrust::cli {

namespace {

struct GroupArgs {
  std::string dir;
  std::string store;
  std::string group;
  std::vector<std::string> devices;
};

int RunChange(const GroupArgs& a, bool member) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  for (const auto& device : a.devices) {
    if (auto st = server->oam->SetDeviceGroup(a.group, device, member, "operator:cli"); !st.ok()) {
      return Fail(st.error());
    }
    std::cout << device << (member ? " added to group " : " removed from group ") << a.group
              << "\n";
  }
  return kExitOk;
}

int RunList(const GroupArgs& a) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  PageQuery page{"", kMaxPageSize};
  int n = 0;
  for (;;) {
    auto members = server->oam->GroupMembers(a.group, page);
    if (!members.ok()) return Fail(members.error());
    for (const auto& d : members->items) std::cout << d << "\n";
    n += static_cast<int>(members->items.size());
    if (members->next.empty()) break;
    page.after = members->next;
  }
  std::cout << n << " devices in group " << a.group << "\n";
  return kExitOk;
}

}  // namespace

void RegisterGroupCommands(CLI::App& server, int* exit_code) {
  CLI::App* group = server.add_subcommand(
      "group", "Group labels of devices; a campaign selects one with --select group=NAME");
  group->require_subcommand(1);
  const struct {
    const char* name;
    const char* help;
    int change;  // 1 add, 0 remove, -1 list
  } verbs[] = {{"add", "Put devices into a group (audited)", 1},
               {"remove", "Take devices out of a group (audited)", 0},
               {"list", "The devices of a group", -1}};
  for (const auto& v : verbs) {
    auto a = std::make_shared<GroupArgs>();
    CLI::App* sub = group->add_subcommand(v.name, v.help);
    sub->add_option("--dir", a->dir, "server directory")->required();
    sub->add_option("--store", a->store, "sqlite:PATH or postgres:CONNINFO");
    sub->add_option("--group", a->group, "the group's name (letters, digits, '-', '_', '.')")
        ->required();
    if (v.change >= 0) {
      sub->add_option("devices", a->devices, "device ids")->required();
      const bool member = v.change == 1;
      OnRun(sub, exit_code, [a, member] { return RunChange(*a, member); });
    } else {
      OnRun(sub, exit_code, [a] { return RunList(*a); });
    }
  }
}

}  // namespace henbtrust::cli
