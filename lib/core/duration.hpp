#pragma once

#include "core/error.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace rtx::core {

using Duration = std::chrono::microseconds;

/// Parses "250ms", "1.5s", "2m", "1h", "100us"; a bare number means seconds. Negative or
/// malformed values are usage errors.
Result<Duration> parse_duration(std::string_view text);

/// "250ms", "46.5ms", "1.5s", "2m": a short human form for logs and reports.
std::string format_duration(Duration d);

} // namespace rtx::core
