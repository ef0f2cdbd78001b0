#pragma once

#include "core/error.hpp"

#include <memory>
#include <regex>
#include <string>
#include <string_view>

namespace rtx::client {

/// `--until REGEX`: the terminal message of a stream (an LLM API's "[DONE]", a feed's "end"
/// event). The pattern is an ECMAScript regular expression searched for anywhere in the
/// payload (grep's sense: "DONE" matches "[DONE]"; anchor it with ^ and $ for the whole
/// payload). Immutable and cheap to copy.
class UntilPattern {
public:
    /// Compiles `text`; an empty or malformed pattern is an Error with ExitCode::usage.
    static core::Result<UntilPattern> parse(std::string_view text);

    /// True when the pattern occurs in `payload` (bytes; binary payloads too).
    bool matches(std::string_view payload) const;
    /// The pattern as given.
    const std::string& text() const { return m_text; }

private:
    std::string m_text;
    std::shared_ptr<const std::regex> m_regex;
};

} // namespace rtx::client
