#include "henbtrust/net/campaign_protocol.h"

#include <algorithm>
#include <cctype>

#include "henbtrust/core/json_fields.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

namespace {

using json_fields::Json;
namespace jf = json_fields;

constexpr size_t kMaxText = 4096;
constexpr size_t kMaxMessageBytes = size_t{64} << 20;
constexpr size_t kMaxDevices = 1'000'000;

Error Bad(const std::string& what) { return Error(ErrorCode::kNetBadRequest, what); }

Json CampaignJson(const CampaignView& v) {
  const Campaign& c = v.campaign;
  return {{"id", c.id},
          {"release_id", c.release_id},
          {"version", c.version},
          {"kind", JobKindName(c.kind)},
          {"selection", c.selection},
          {"batch_size", c.batch_size},
          {"max_failure_percent", c.max_failure_percent},
          {"rate", c.rate},
          {"state", CampaignStateName(c.state)},
          {"detail", c.detail},
          {"created_at", c.created_at},
          {"updated_at", c.updated_at},
          {"members", v.members},
          {"counts",
           {{"committed", v.counts.committed},
            {"rolled-back", v.counts.rolled_back},
            {"failed", v.counts.failed},
            {"refused", v.counts.refused},
            {"pending", v.counts.pending}}}};
}

Result<int> Count(const Json& o, const char* name) {
  HENB_ASSIGN_OR_RETURN(int64_t n, jf::Int(o, name, 0, kMaxDevices));
  return static_cast<int>(n);
}

Result<CampaignView> CampaignFromJson(const Json& o) {
  if (!o.is_object()) return Bad("a campaign is not a JSON object");
  CampaignView v;
  Campaign& c = v.campaign;
  HENB_ASSIGN_OR_RETURN(c.id, jf::Int(o, "id", 1, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(c.release_id, jf::Text(o, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(c.version, jf::Text(o, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(std::string kind, jf::Text(o, "kind", kMaxText));
  const auto parsed_kind = ParseJobKind(kind);
  if (!parsed_kind) return Bad("field 'kind' is no job kind: '" + kind + "'");
  c.kind = *parsed_kind;
  HENB_ASSIGN_OR_RETURN(c.selection, jf::Text(o, "selection", kMaxText * 16, false));
  HENB_ASSIGN_OR_RETURN(c.batch_size, Count(o, "batch_size"));
  HENB_ASSIGN_OR_RETURN(int64_t percent, jf::Int(o, "max_failure_percent", 0, 100));
  c.max_failure_percent = static_cast<int>(percent);
  HENB_ASSIGN_OR_RETURN(c.rate, Count(o, "rate"));
  HENB_ASSIGN_OR_RETURN(std::string state, jf::Text(o, "state", kMaxText));
  const auto parsed_state = ParseCampaignState(state);
  if (!parsed_state) return Bad("field 'state' is no campaign state: '" + state + "'");
  c.state = *parsed_state;
  HENB_ASSIGN_OR_RETURN(c.detail, jf::Text(o, "detail", kMaxText * 16, false));
  HENB_ASSIGN_OR_RETURN(c.created_at, jf::Int(o, "created_at", 0, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(c.updated_at, jf::Int(o, "updated_at", 0, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(v.members, Count(o, "members"));
  HENB_ASSIGN_OR_RETURN(const Json* counts, jf::Object(o, "counts"));
  HENB_ASSIGN_OR_RETURN(v.counts.committed, Count(*counts, "committed"));
  HENB_ASSIGN_OR_RETURN(v.counts.rolled_back, Count(*counts, "rolled-back"));
  HENB_ASSIGN_OR_RETURN(v.counts.failed, Count(*counts, "failed"));
  HENB_ASSIGN_OR_RETURN(v.counts.refused, Count(*counts, "refused"));
  HENB_ASSIGN_OR_RETURN(v.counts.pending, Count(*counts, "pending"));
  return v;
}

}  // namespace

Result<CampaignSelection> ParseCampaignSelection(std::string_view expression) {
  CampaignSelection out;
  bool model = false;
  bool release = false;
  bool devices = false;
  size_t i = 0;
  while (i < expression.size()) {
    if (expression[i] == ' ') {
      ++i;
      continue;
    }
    const size_t end = std::min(expression.find(' ', i), expression.size());
    const std::string_view term = expression.substr(i, end - i);
    i = end;
    if (term == "all") continue;
    const size_t eq = term.find('=');
    const std::string_view key = term.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : term.substr(eq + 1);
    auto bad = [&](const std::string& why) {
      return Error(ErrorCode::kInvalidArgument,
                   "selection term '" + std::string(term.substr(0, 64)) + "': " + why +
                       " (terms: model=M release=[ID:]V group=G devices=a,b,c, or all)");
    };
    if (value.empty()) return bad("no value");
    if (key == "model" && !model) {
      out.hardware_model = value;
      model = true;
    } else if (key == "release" && !release) {
      const size_t colon = value.find(':');
      if (colon != std::string_view::npos) {
        out.running_release_id = value.substr(0, colon);
        out.running_version = value.substr(colon + 1);
        if (out.running_release_id.empty() || out.running_version.empty()) {
          return bad("release=ID:VERSION with both parts");
        }
      } else {
        out.running_version = value;
      }
      release = true;
    } else if (key == "devices" && !devices) {
      size_t from = 0;
      while (from <= value.size()) {
        const size_t comma = std::min(value.find(',', from), value.size());
        if (comma == from) return bad("an empty device id");
        out.devices.emplace_back(value.substr(from, comma - from));
        from = comma + 1;
      }
      devices = true;
    } else if (key == "group" && out.group.empty()) {
      if (!IsValidGroupName(value)) return bad("a group name is letters, digits, '-', '_', '.'");
      out.group = value;
    } else {
      return bad(key == "model" || key == "release" || key == "devices" || key == "group"
                     ? "given twice"
                     : "unknown");
    }
  }
  return out;
}

bool IsValidGroupName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

std::string FormatCampaignSelection(const CampaignSelection& s) {
  std::string out;
  auto add = [&out](const std::string& term) { out += (out.empty() ? "" : " ") + term; };
  if (!s.hardware_model.empty()) add("model=" + s.hardware_model);
  if (!s.running_version.empty()) {
    add("release=" + (s.running_release_id.empty() ? "" : s.running_release_id + ":") +
        s.running_version);
  }
  if (!s.group.empty()) add("group=" + s.group);
  if (!s.devices.empty()) {
    // A long list is shown by its first few: the members are what it chose.
    constexpr size_t kShown = 3;
    std::string list;
    for (size_t i = 0; i < s.devices.size() && i < kShown; ++i) {
      list += (list.empty() ? "" : ",") + s.devices[i];
    }
    if (s.devices.size() > kShown) {
      list += " and " + std::to_string(s.devices.size() - kShown) + " more";
    }
    add("devices=" + list);
  }
  return out.empty() ? "all" : out;
}

std::string EncodeCreateCampaignRequest(const CreateCampaignRequest& r) {
  Json select = {{"hardware_model", r.selection.hardware_model},
                 {"running_release_id", r.selection.running_release_id},
                 {"running_version", r.selection.running_version},
                 {"devices", r.selection.devices},
                 {"group", r.selection.group}};
  return jf::Dump({{"release_id", r.release_id},
                   {"version", r.version},
                   {"kind", JobKindName(r.kind)},
                   {"select", std::move(select)},
                   {"batch_size", r.batch_size},
                   {"max_failure_percent", r.max_failure_percent},
                   {"rate", r.rate}});
}

Result<CreateCampaignRequest> DecodeCreateCampaignRequest(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the request", kMaxMessageBytes));
  CreateCampaignRequest r;
  HENB_ASSIGN_OR_RETURN(r.release_id, jf::Text(o, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(r.version, jf::Text(o, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(std::string kind, jf::Text(o, "kind", kMaxText, false));
  if (!kind.empty()) {
    const auto parsed = ParseJobKind(kind);
    if (!parsed) return Bad("field 'kind' is no job kind (update, reinstall, recover)");
    r.kind = *parsed;
  }
  HENB_ASSIGN_OR_RETURN(const Json* select, jf::Object(o, "select", false));
  if (select != nullptr) {
    HENB_ASSIGN_OR_RETURN(r.selection.hardware_model,
                          jf::Text(*select, "hardware_model", kMaxText, false));
    HENB_ASSIGN_OR_RETURN(r.selection.running_release_id,
                          jf::Text(*select, "running_release_id", kMaxReleaseIdBytes, false));
    HENB_ASSIGN_OR_RETURN(r.selection.running_version,
                          jf::Text(*select, "running_version", kMaxReleaseVersionBytes, false));
    HENB_ASSIGN_OR_RETURN(r.selection.group, jf::Text(*select, "group", kMaxText, false));
    if (!r.selection.group.empty() && !IsValidGroupName(r.selection.group)) {
      return Bad("field 'group' is not a group name (letters, digits, '-', '_', '.')");
    }
    auto it = select->find("devices");
    if (it != select->end() && !it->is_null()) {
      HENB_ASSIGN_OR_RETURN(const Json* devices, jf::Array(*select, "devices", kMaxDevices));
      for (const Json& d : *devices) {
        if (!d.is_string() || d.get_ref<const std::string&>().empty() ||
            d.get_ref<const std::string&>().size() > kMaxDeviceIdBytes) {
          return Bad("field 'devices' holds something that is not a device id");
        }
        r.selection.devices.push_back(d.get<std::string>());
      }
    }
  }
  HENB_ASSIGN_OR_RETURN(int64_t batch, jf::Int(o, "batch_size", 0, kMaxDevices, false, 0));
  r.batch_size = static_cast<int>(batch);
  HENB_ASSIGN_OR_RETURN(int64_t percent, jf::Int(o, "max_failure_percent", 0, 100, false, 100));
  r.max_failure_percent = static_cast<int>(percent);
  HENB_ASSIGN_OR_RETURN(int64_t rate, jf::Int(o, "rate", 0, 1'000'000, false, 0));
  r.rate = static_cast<int>(rate);
  return r;
}

std::string EncodeCampaignView(const CampaignView& view) { return jf::Dump(CampaignJson(view)); }

Result<CampaignView> DecodeCampaignView(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the campaign", kMaxMessageBytes));
  return CampaignFromJson(o);
}

std::string EncodeCampaignList(const Page<CampaignView>& views) {
  Json list = Json::array();
  for (const auto& v : views.items) list.push_back(CampaignJson(v));
  return jf::Dump(
      {{"campaigns", std::move(list)}, {"next", views.next.empty() ? Json() : Json(views.next)}});
}

Result<Page<CampaignView>> DecodeCampaignList(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the campaign list", kMaxMessageBytes));
  HENB_ASSIGN_OR_RETURN(const Json* list, jf::Array(o, "campaigns", kMaxDevices));
  Page<CampaignView> out;
  for (const Json& item : *list) {
    HENB_ASSIGN_OR_RETURN(CampaignView v, CampaignFromJson(item));
    out.items.push_back(std::move(v));
  }
  HENB_ASSIGN_OR_RETURN(out.next, jf::Text(o, "next", kMaxCursorBytes, false));
  return out;
}

std::string EncodeGroupMembers(const std::string& group, const Page<std::string>& devices) {
  return jf::Dump({{"group", group},
                   {"devices", devices.items},
                   {"next", devices.next.empty() ? Json() : Json(devices.next)}});
}

Result<Page<std::string>> DecodeGroupMembers(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the group", kMaxMessageBytes));
  HENB_ASSIGN_OR_RETURN(const Json* list, jf::Array(o, "devices", kMaxDevices));
  Page<std::string> out;
  for (const Json& d : *list) {
    if (!d.is_string() || d.get_ref<const std::string&>().size() > kMaxDeviceIdBytes) {
      return Bad("field 'devices' holds something that is not a device id");
    }
    out.items.push_back(d.get<std::string>());
  }
  HENB_ASSIGN_OR_RETURN(out.next, jf::Text(o, "next", kMaxCursorBytes, false));
  return out;
}

std::string EncodeReleaseRevocation(const ReleaseRevocation& r) {
  return jf::Dump({{"release_id", r.release_id},
                   {"version", r.version},
                   {"safe_version", r.safe_version},
                   {"reason", r.reason},
                   {"rate", r.rate}});
}

Result<ReleaseRevocation> DecodeReleaseRevocation(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the request", kMaxMessageBytes));
  ReleaseRevocation r;
  HENB_ASSIGN_OR_RETURN(r.release_id, jf::Text(o, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(r.version, jf::Text(o, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.safe_version, jf::Text(o, "safe_version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.reason, jf::Text(o, "reason", kMaxReasonBytes, false));
  HENB_ASSIGN_OR_RETURN(int64_t rate, jf::Int(o, "rate", 0, 1'000'000, false, 0));
  r.rate = static_cast<int>(rate);
  return r;
}

std::string EncodeRevocationOutcome(const RevocationOutcome& o) {
  return jf::Dump({{"release_id", o.release_id},
                   {"version", o.version},
                   {"safe_version", o.safe_version},
                   {"devices", o.devices},
                   {"campaign", o.campaign ? CampaignJson(*o.campaign) : Json(nullptr)}});
}

Result<RevocationOutcome> DecodeRevocationOutcome(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the revocation", kMaxMessageBytes));
  RevocationOutcome r;
  HENB_ASSIGN_OR_RETURN(r.release_id, jf::Text(o, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(r.version, jf::Text(o, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.safe_version, jf::Text(o, "safe_version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.devices, Count(o, "devices"));
  HENB_ASSIGN_OR_RETURN(const Json* campaign, jf::Object(o, "campaign", false));
  if (campaign != nullptr) {
    HENB_ASSIGN_OR_RETURN(CampaignView v, CampaignFromJson(*campaign));
    r.campaign = std::move(v);
  }
  return r;
}

}  // namespace henbtrust
