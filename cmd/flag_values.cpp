#include "cmd/flag_values.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

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

} // namespace rtx::cmd
