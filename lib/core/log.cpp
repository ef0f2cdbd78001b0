#include "core/log.hpp"

#include <cerrno>
#include <string>
#include <unistd.h>

namespace rtx::core {

namespace {
LogLevel g_level = LogLevel::normal;
}

void set_log_level(LogLevel level) {
    g_level = level;
}
LogLevel log_level() {
    return g_level;
}

void log_line(std::string_view message) {
    std::string line;
    line.reserve(message.size() + 6);
    line.append("rtx: ").append(message).push_back('\n');
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; // stderr gone: nothing better to do
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

} // namespace rtx::core
