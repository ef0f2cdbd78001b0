#pragma once

#include <string>

namespace rtx::core {

/// "0.1.0".
std::string rtx_version();
/// One line per library rtx links, with the version it runs with (`rtx --version`).
std::string library_versions();

} // namespace rtx::core
