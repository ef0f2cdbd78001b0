#pragma once

#include "core/duration.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace rtx::cmd {

/// A duration option's value ("500ms", "1.5s", "2m"); an empty text is 0 (not set). Throws
/// core::UsageError naming the flag: "--timeout: invalid duration 'soon' (...)".
core::Duration duration_flag(std::string_view flag, const std::string& text);

/// The same, for options where 0 makes no sense: the value must be more than 0.
core::Duration positive_duration_flag(std::string_view flag, const std::string& text);

/// A size option's value: "1048576", "64KiB", "64k", "1MiB", "1m", "1GiB" (binary units; the
/// B is optional); more than 0. Throws core::UsageError naming the flag.
std::size_t size_flag(std::string_view flag, std::string_view text);

} // namespace rtx::cmd
