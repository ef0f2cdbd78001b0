#pragma once

#include "core/error.hpp"

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::bench {

/// One `--check` on every received message (k6's checks): `payload~REGEX` passes when the
/// regular expression (ECMAScript) matches somewhere in the payload, `payload!~REGEX` when
/// it does not. Read-only once made: shared by every worker thread.
struct Check {
    std::string text; ///< As given, for the summary.
    bool negate = false;
    std::shared_ptr<const std::regex> regex;
};

/// Parses one --check; ExitCode::usage with a one-line reason when it is not
/// `payload~REGEX` / `payload!~REGEX` or the expression does not compile.
core::Result<Check> parse_check(std::string_view text);

/// True when `payload` passes every check (an empty list passes everything).
bool passes(const std::vector<Check>& checks, std::string_view payload);

} // namespace rtx::bench
