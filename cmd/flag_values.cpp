#include "cmd/flag_values.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>

namespace rtx::cmd {

core::Duration duration_flag(std::string_view flag, const std::string& text) {
    if (text.empty()) {
        return core::Duration{0};
    }
    auto parsed = core::parse_duration(text);
    if (!parsed) {
        throw core::UsageError(fmt::format("{}: {}", flag, parsed.error().message));
    }
    return parsed.value();
}

core::Duration positive_duration_flag(std::string_view flag, const std::string& text) {
    core::Duration value = duration_flag(flag, text);
    if (value.count() <= 0) {
        throw core::UsageError(fmt::format("{} '{}': must be more than 0", flag, text));
    }
    return value;
}

std::size_t size_flag(std::string_view flag, std::string_view text) {
    std::size_t digits = 0;
    std::uint64_t value = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9' &&
           value < (1ULL << 40)) {
        value = value * 10 + static_cast<std::uint64_t>(text[digits++] - '0');
    }
    std::string unit(text.substr(digits));
    for (char& c : unit) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "b") {
        scale = 1;
    } else if (unit == "k" || unit == "kib" || unit == "kb") {
        scale = 1024;
    } else if (unit == "m" || unit == "mib" || unit == "mb") {
        scale = 1024 * 1024;
    } else if (unit == "g" || unit == "gib" || unit == "gb") {
        scale = 1024 * 1024 * 1024;
    }
    if (digits == 0 || scale == 0 || value == 0 || value > (1ULL << 40) / scale) {
        throw core::UsageError(
            fmt::format("{} '{}': not a size (examples: 65536, 64KiB, 1MiB)", flag, text));
    }
    return static_cast<std::size_t>(value * scale);
}

} // namespace rtx::cmd
