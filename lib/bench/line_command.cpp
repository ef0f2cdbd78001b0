#include "bench/line_command.hpp"

#include "core/log.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace rtx::bench {

LineCommand::LineCommand(core::Loop& loop, std::string command,
                         std::function<void(std::string_view)> on_line,
                         std::function<void()> on_end)
    : m_loop(loop)
    , m_command(std::move(command))
    , m_on_line(std::move(on_line))
    , m_on_end(std::move(on_end)) {}

LineCommand::~LineCommand() {
    if (m_pump) {
        m_pump->stop();
        m_pump.reset();
    }
    if (m_fd >= 0) {
        ::close(m_fd);
    }
    if (m_pid > 0) {
        ::kill(m_pid, SIGTERM);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
    }
}

core::Result<bool> LineCommand::start() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return core::Error{core::ExitCode::failure,
                           fmt::format("--publish-cmd: pipe: {}", std::strerror(errno))};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    std::string shell = "/bin/sh";
    std::string flag = "-c";
    char* argv[] = {shell.data(), flag.data(), m_command.data(), nullptr};
    const int failed = ::posix_spawn(&m_pid, shell.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (failed != 0) {
        ::close(fds[0]);
        m_pid = -1;
        return core::Error{
            core::ExitCode::failure,
            fmt::format("--publish-cmd: cannot start /bin/sh: {}", std::strerror(failed))};
    }
    m_fd = fds[0];
    m_pump = std::make_unique<core::StdinPump>(
        m_loop, m_fd, [this](std::string_view bytes) { on_data(bytes); },
        [this](const std::string& error) {
            if (!error.empty()) {
                core::log_error("--publish-cmd: {}", error);
            }
            if (!m_partial.empty()) {
                std::string last = std::move(m_partial);
                m_partial.clear();
                m_on_line(last);
            }
            int status = 0;
            if (m_pid > 0 && ::waitpid(m_pid, &status, 0) == m_pid) {
                m_pid = -1;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    core::log_info("warning: --publish-cmd ended with status {}",
                                   WIFEXITED(status) ? WEXITSTATUS(status)
                                                     : 128 + WTERMSIG(status));
                }
            }
            m_on_end();
        });
    m_pump->start();
    return true;
}

void LineCommand::on_data(std::string_view bytes) {
    while (!bytes.empty()) {
        const auto newline = bytes.find('\n');
        if (newline == std::string_view::npos) {
            m_partial.append(bytes);
            return;
        }
        std::string_view line = bytes.substr(0, newline);
        bytes.remove_prefix(newline + 1);
        if (!m_partial.empty()) {
            m_partial.append(line);
            std::string whole = std::move(m_partial);
            m_partial.clear();
            if (!whole.empty() && whole.back() == '\r') {
                whole.pop_back();
            }
            m_on_line(whole);
            continue;
        }
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        m_on_line(line);
    }
}

} // namespace rtx::bench
