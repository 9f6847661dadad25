#include "sim/sim_vendor.h"

#include <filesystem>
#include <map>
#include <utility>

#include "henbtrust/core/file.h"
#include "henbtrust/release/bundle.h"

namespace henbtrust::sim {

Result<SimVendor> SimVendor::Create() {
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  HENB_ASSIGN_OR_RETURN(TrustRoot root, TrustRoot::Create({key.Public()}, 1));
  return SimVendor(std::move(key), std::move(root));
}

Result<std::string> SimVendor::MakeRelease(const std::string& dir, const std::string& version,
                                           uint64_t counter, int64_t expires_at) const {
  const std::string rdir = dir + "/" + version;
  std::error_code ec;
  std::filesystem::create_directories(rdir, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + rdir + ": " + ec.message());
  ReleaseManifest m;
  m.release_id = kReleaseId;
  m.version = version;
  m.release_counter = counter;
  m.hardware_models = {kModel};
  m.expires_at = expires_at;
  std::map<std::string, std::string> files;
  const std::pair<const char*, uint32_t> parts[] = {{"bootloader", 0}, {"rootfs", 3}};
  for (const auto& [name, pcr] : parts) {
    const std::string path = rdir + "/" + name + ".img";
    std::string content;
    while (content.size() < 4096) content += std::string(name) + " " + version + "\n";
    HENB_TRY(WriteFileAtomic(path, AsBytes(content)));
    HENB_ASSIGN_OR_RETURN(ReleaseComponent c, DescribeComponentFile(name, version, pcr, path));
    files[name] = path;
    m.components.push_back(std::move(c));
  }
  HENB_ASSIGN_OR_RETURN(Bytes manifest_bytes, EncodeManifest(m));
  HENB_ASSIGN_OR_RETURN(ReleaseSignature sig,
                        SignWithDomain(key_, kManifestDomain, manifest_bytes));
  const std::string bundle = dir + "/" + version + ".bundle";
  HENB_TRY(WriteBundle(bundle, m, {sig}, files));
  return bundle;
}

Result<SimManufacturer> SimManufacturer::Create() {
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  CertificateSpec spec;
  spec.common_name = "henbtrust simulated TPM manufacturer";
  spec.organization = "henbtrust-sim";
  spec.is_ca = true;
  spec.validity = std::chrono::hours(24 * 365 * 10);
  HENB_ASSIGN_OR_RETURN(Certificate ca, IssueCertificate(spec, key.Public(), key, nullptr));
  return SimManufacturer{std::move(ca), std::move(key)};
}

}  // namespace henbtrust::sim
