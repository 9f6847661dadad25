// What services and devices agree on: the roles client certificates carry.
// The endpoints and their JSON are described in docs/api/pve.yaml.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "henbtrust/crypto/keys.h"
#include "henbtrust/net/oam_protocol.h"

namespace henbtrust {

// Roles, carried in the O attribute of client certificates the client CA issues.
inline constexpr std::string_view kRoleDevice = "henbtrust-device";
inline constexpr std::string_view kRoleOperator = "henbtrust-operator";
inline constexpr std::string_view kRoleSegw = "henbtrust-segw";
inline constexpr std::string_view kRolePve = "henbtrust-pve";
// The recovery image of a device (docs/recovery.md): only the OAM's
// /v1/recovery/ endpoints admit it.
inline constexpr std::string_view kRoleRecovery = "henbtrust-recovery";
// The O of server certificates, which only the server CA issues.
inline constexpr std::string_view kRoleServer = "henbtrust-server";

// How a device certificate names its device: a URI subject alternative name
// "urn:henbtrust:device:<id>", a form no host name or address takes (device
// certificates carry no DNS or IP names). The PVE checks it when it calls a
// device's agent (pull mode).
std::string DeviceUri(std::string_view device_id);

// An instruction of the OAM to one device (docs/design.md step 5 and after),
// signed with the OAM key as a compact ES256 JWS. The vendor key signs what
// may run; this says what should run where. Actions:
//   kInstall   fetch, verify and install release_id/version; the trial
//              boot's TIM must equal expected_tim; quote with `nonce`
//   kCommit    the PVE verified the new TIM (step 9): mark the slot good
//   kRollback  abandon the update and report what runs, quoted with `nonce`
struct DeploymentOrder {
  int64_t job = 0;
  AgentAction action = AgentAction::kNone;
  std::string device_id;
  std::string release_id;
  std::string version;
  Bytes expected_tim;
  Bytes nonce;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

Result<std::string> SignDeploymentOrder(const DeploymentOrder& order, const PrivateKey& oam_key);

// Checks the signature, that the order names `device_id` and that it has not
// expired at `now`. kPolicyOrder for an order that fails any of these (with
// the reason), kMalformed for a token that is not an order.
Result<DeploymentOrder> VerifyDeploymentOrder(std::string_view token, const PublicKey& oam_key,
                                              const std::string& device_id, int64_t now);

}  // namespace henbtrust
