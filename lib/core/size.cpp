#include "core/size.hpp"

#include <cctype>
#include <string>

namespace rtx::core {

std::optional<std::uint64_t> parse_size(std::string_view text) {
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
        return std::nullopt;
    }
    return value * scale;
}

} // namespace rtx::core
