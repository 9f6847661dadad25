// Private: key templates shared by MarshalTpmPublic and TpmTre.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include "henbtrust/tpm/structures.h"

namespace henbtrust::tpm_internal {

// The template with an empty `unique` field (what TPM2_CreatePrimary and
// TPM2_Create take). For the EKs, `unique` must then be zero-filled to the
// key size (EK Credential Profile); ZeroUnique() does that.
TPMT_PUBLIC Template(KeyTemplate tmpl);
void ZeroUnique(TPMT_PUBLIC& t);

}  // namespace henbtrust::tpm_internal
