#pragma once

#include <fmt/format.h>

#include <string_view>

namespace rtx::core {

/// Verbosity, set once from -q / -v / -vv before any loop starts. stderr only: stdout
/// carries data.
enum class LogLevel { quiet = 0, normal = 1, verbose = 2, debug = 3 };

/// The process-wide level (default: normal). Not synchronised: set before threads start.
void set_log_level(LogLevel level);
LogLevel log_level();

/// Writes "rtx: <message>\n" to stderr in one write(2), so lines from threads never mix.
void log_line(std::string_view message);

/// `rtx: error: <what>` — always printed, even with -q.
template <class... Args> void log_error(fmt::format_string<Args...> f, Args&&... args) {
    log_line(fmt::format("error: {}", fmt::format(f, std::forward<Args>(args)...)));
}

/// Printed unless -q.
template <class... Args> void log_info(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() >= LogLevel::normal) {
        log_line(fmt::format(f, std::forward<Args>(args)...));
    }
}

/// Printed with -v.
template <class... Args> void log_verbose(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() >= LogLevel::verbose) {
        log_line(fmt::format(f, std::forward<Args>(args)...));
    }
}

/// Printed with -vv.
template <class... Args> void log_debug(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() >= LogLevel::debug) {
        log_line(fmt::format(f, std::forward<Args>(args)...));
    }
}

} // namespace rtx::core
