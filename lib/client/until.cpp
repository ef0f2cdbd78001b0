#include "client/until.hpp"

#include <fmt/format.h>

namespace rtx::client {

core::Result<UntilPattern> UntilPattern::parse(std::string_view text) {
    if (text.empty()) {
        return core::Error{core::ExitCode::usage, "--until: the pattern is empty"};
    }
    UntilPattern pattern;
    pattern.m_text = std::string(text);
    try {
        pattern.m_regex =
            std::make_shared<const std::regex>(pattern.m_text, std::regex::ECMAScript);
    } catch (const std::regex_error& error) {
        return core::Error{
            core::ExitCode::usage,
            fmt::format("--until: '{}' is not a regular expression: {}", text, error.what())};
    }
    return pattern;
}

bool UntilPattern::matches(std::string_view payload) const {
    return std::regex_search(payload.begin(), payload.end(), *m_regex);
}

} // namespace rtx::client
