#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/stdin_pump.hpp"

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rtx::bench {

/// A shell command whose stdout lines become messages (`rtx bench --publish-cmd`): runs
/// `/bin/sh -c COMMAND` with stdin from /dev/null and stderr inherited, reads its stdout
/// (a StdinPump on the pipe) and hands each line, without its line break, to `on_line`;
/// `on_end` once the output ends. The child is ended (SIGTERM) and reaped on destruction.
/// Loop thread only.
class LineCommand {
public:
    LineCommand(core::Loop& loop, std::string command,
                std::function<void(std::string_view line)> on_line, std::function<void()> on_end);
    ~LineCommand();
    LineCommand(const LineCommand&) = delete;
    LineCommand& operator=(const LineCommand&) = delete;

    /// Starts the command; ExitCode::failure when it cannot be spawned.
    core::Result<bool> start();

private:
    void on_data(std::string_view bytes);

    core::Loop& m_loop;
    std::string m_command;
    std::function<void(std::string_view)> m_on_line;
    std::function<void()> m_on_end;
    std::unique_ptr<core::StdinPump> m_pump;
    std::string m_partial; ///< A line not yet ended.
    pid_t m_pid = -1;
    int m_fd = -1;
};

} // namespace rtx::bench
