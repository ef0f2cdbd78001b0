#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtx::core {

/// An RFC 3339 (section 5.6) date-time as microseconds since 1970-01-01T00:00:00Z, or nullopt
/// when `text` is not exactly one. Accepted as the RFC allows: 't' or 'T' (or a space, section
/// 5.6's note) between date and time, 'Z'/'z' or a +hh:mm/-hh:mm offset (subtracted), second
/// 60 (a leap second, counted as the next second's start), a fraction of 1 to 9 digits (cut
/// to microseconds). The date must exist (2026-02-30 does not). One parser for every time
/// rtx reads: `rtx serve --replay` record times, `rtx bench --start-at`, and the time a
/// foreign server stamps on its messages (`rtx bench --stamp-unit rfc3339`).
std::optional<std::int64_t> parse_rfc3339_us(std::string_view text);

} // namespace rtx::core
