// What services and devices agree on: the roles client certificates carry.
// The endpoints and their JSON are described in docs/api/pve.yaml.
#pragma once

#include <string_view>

namespace henbtrust {

// Roles, carried in the O attribute of client certificates the PVE CA issues.
inline constexpr std::string_view kRoleDevice = "henbtrust-device";
inline constexpr std::string_view kRoleOperator = "henbtrust-operator";
inline constexpr std::string_view kRoleSegw = "henbtrust-segw";
inline constexpr std::string_view kRolePve = "henbtrust-pve";

}  // namespace henbtrust
