#include "bench/checks.hpp"

#include <fmt/format.h>

namespace rtx::bench {

core::Result<Check> parse_check(std::string_view text) {
    Check check;
    check.text = std::string(text);
    std::string_view pattern;
    if (text.starts_with("payload~")) {
        pattern = text.substr(8);
    } else if (text.starts_with("payload!~")) {
        pattern = text.substr(9);
        check.negate = true;
    } else {
        return core::Error{core::ExitCode::usage,
                           fmt::format("--check '{}': payload~REGEX or payload!~REGEX", text)};
    }
    try {
        check.regex = std::make_shared<const std::regex>(
            std::string(pattern), std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& error) {
        return core::Error{
            core::ExitCode::usage,
            fmt::format("--check '{}': not a regular expression ({})", text, error.what())};
    }
    return check;
}

bool passes(const std::vector<Check>& checks, std::string_view payload) {
    for (const Check& check : checks) {
        const bool found = std::regex_search(payload.begin(), payload.end(), *check.regex);
        if (found == check.negate) {
            return false;
        }
    }
    return true;
}

} // namespace rtx::bench
