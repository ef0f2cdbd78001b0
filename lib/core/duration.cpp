#include "core/duration.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace rtx::core {

Result<Duration> parse_duration(std::string_view text) {
    auto bad = [&] {
        return Error{ExitCode::usage,
                     fmt::format("invalid duration '{}' (examples: 500ms, 1.5s, 2m)", text)};
    };
    if (text.empty()) {
        return bad();
    }
    std::string number_text;
    std::size_t i = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
        number_text.push_back(text[i++]);
    }
    if (number_text.empty() || number_text == ".") {
        return bad();
    }
    char* end = nullptr;
    double value = std::strtod(number_text.c_str(), &end);
    if (end != number_text.c_str() + number_text.size() || !std::isfinite(value)) {
        return bad();
    }
    std::string_view unit = text.substr(i);
    double scale = 0; // microseconds per unit
    if (unit.empty() || unit == "s") {
        scale = 1e6;
    } else if (unit == "ms") {
        scale = 1e3;
    } else if (unit == "us") {
        scale = 1;
    } else if (unit == "m") {
        scale = 60e6;
    } else if (unit == "h") {
        scale = 3600e6;
    } else {
        return bad();
    }
    double micros = value * scale;
    if (micros > 1e15) {
        return bad();
    }
    return Duration(static_cast<Duration::rep>(std::llround(micros)));
}

std::string format_duration(Duration d) {
    auto us = d.count();
    if (us < 1000) {
        return fmt::format("{}us", us);
    }
    if (us < 1'000'000) {
        return us % 1000 == 0 ? fmt::format("{}ms", us / 1000)
                              : fmt::format("{:.1f}ms", static_cast<double>(us) / 1e3);
    }
    if (us % 60'000'000 == 0) {
        return fmt::format("{}m", us / 60'000'000);
    }
    // Seconds with up to 3 decimals, never in exponent form (parse_duration reads it back).
    std::string text = fmt::format("{:.3f}", static_cast<double>(us) / 1e6);
    while (text.back() == '0') {
        text.pop_back();
    }
    if (text.back() == '.') {
        text.pop_back();
    }
    return text + "s";
}

} // namespace rtx::core
