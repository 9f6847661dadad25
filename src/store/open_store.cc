#include "henbtrust/store/store.h"

namespace henbtrust {

Result<std::unique_ptr<Store>> OpenStore(const std::string& location, Env* env) {
  if (location.empty()) return Error(ErrorCode::kInvalidArgument, "empty store location");
  if (location.rfind("postgres:", 0) == 0) return OpenPostgresStore(location.substr(9));
  if (location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0)
    return OpenPostgresStore(location);
  if (location.rfind("sqlite:", 0) == 0) return OpenSqliteStore(location.substr(7), env);
  return OpenSqliteStore(location, env);
}

}  // namespace henbtrust
