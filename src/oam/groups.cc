// Group labels of devices (docs/oam.md, "Campaigns"): an operator puts
// devices into named groups; a campaign selects one with "group=NAME".
#include "henbtrust/net/api.h"
#include "oam/oam_impl.h"

namespace henbtrust {

Status OamService::Impl::SetDeviceGroup(const std::string& group, const std::string& device_id,
                                        bool member, const std::string& actor) {
  if (!IsValidGroupName(group)) {
    return Error(ErrorCode::kInvalidArgument,
                 "a group name is 1 to 64 letters, digits, '-', '_' or '.'");
  }
  if (!api::IsValidDeviceId(device_id)) {
    return Error(ErrorCode::kInvalidArgument, "malformed device id");
  }
  const int64_t now = config.now();
  const AuditEntry audit{0,
                         now,
                         actor,
                         "group:" + group,
                         member ? "device added" : "device removed",
                         device_id + (member ? " added to group " : " removed from group ") + group,
                         {},
                         {}};
  auto st = store.SetDeviceGroup(group, device_id, member, audit);
  if (!st.ok() && st.error().code() == ErrorCode::kNotFound) {
    return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + device_id);
  }
  return st;
}

Result<Page<std::string>> OamService::Impl::GroupMembers(const std::string& group,
                                                         const PageQuery& page) {
  if (!IsValidGroupName(group)) {
    return Error(ErrorCode::kInvalidArgument,
                 "a group name is 1 to 64 letters, digits, '-', '_' or '.'");
  }
  HENB_ASSIGN_OR_RETURN(auto devices, store.GroupMembers(group, page.after, page.limit));
  Page<std::string> out;
  out.next = NextCursor(devices, page.limit, [](const std::string& id) { return id; });
  out.items = std::move(devices);
  return out;
}

Result<HttpResponse> OamService::Impl::ChangeGroupApi(const HttpRequest& req,
                                                      const std::string& group,
                                                      const std::string& device_id, bool member) {
  auto st = SetDeviceGroup(group, device_id, member, "operator:" + req.peer.common_name);
  if (!st.ok() && st.error().code() == ErrorCode::kInvalidArgument) {
    return api::BadRequest(st.error().message());
  }
  HENB_TRY(st);
  return HttpResponse{204, "", "", {}};
}

Result<HttpResponse> OamService::Impl::GroupMembersApi(const HttpRequest& req,
                                                       const std::string& group) {
  HENB_ASSIGN_OR_RETURN(PageQuery q, ParsePageQuery(req.target));
  auto page = GroupMembers(group, q);
  if (!page.ok() && page.error().code() == ErrorCode::kInvalidArgument) {
    return api::BadRequest(page.error().message());
  }
  HENB_TRY(page);
  return api::JsonText(200, EncodeGroupMembers(group, *page));
}

}  // namespace henbtrust
