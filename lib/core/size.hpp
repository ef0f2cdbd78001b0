#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtx::core {

/// Parses a byte count: digits and an optional binary unit, case-insensitive ("65536", "64KiB",
/// "64k", "1MiB", "1MB" and "1GiB" are all powers of 1024). Zero, a missing number, an unknown
/// unit or more than 1 TiB: nullopt.
std::optional<std::uint64_t> parse_size(std::string_view text);

} // namespace rtx::core
