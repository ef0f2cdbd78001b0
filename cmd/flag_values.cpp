#include "cmd/flag_values.hpp"

#include "core/error.hpp"
#include "core/size.hpp"

#include <fmt/format.h>

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
    const auto size = core::parse_size(text);
    if (!size) {
        throw core::UsageError(
            fmt::format("{} '{}': not a size (examples: 65536, 64KiB, 1MiB)", flag, text));
    }
    return static_cast<std::size_t>(*size);
}

} // namespace rtx::cmd
