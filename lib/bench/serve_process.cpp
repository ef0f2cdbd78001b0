// EmbeddedServer::start_process: `rtx serve` in a child process.
#include "bench/embedded_server.hpp"

#include "core/log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

namespace rtx::bench {

namespace {

using Clock = std::chrono::steady_clock;

/// How long the child may take to print its endpoints (it binds and prints at once; a
/// loaded machine can still take seconds to start a process).
constexpr auto k_start_timeout = std::chrono::seconds(20);
/// `rtx serve` closes its connections within its 2 s grace after SIGTERM; past this it is
/// stuck and gets SIGKILL.
constexpr auto k_stop_timeout = std::chrono::seconds(5);

core::Error start_failed(std::string_view why) {
    return core::Error{core::ExitCode::failure,
                       fmt::format("cannot start the embedded rtx serve: {}", why)};
}

std::string exit_text(int status) {
    if (WIFEXITED(status)) {
        return fmt::format("exit status {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return fmt::format("killed by signal {}", WTERMSIG(status));
    }
    return "ended";
}

/// A child `rtx serve`; the read end of its stdout stays open until it ended, so that it
/// never writes into a closed pipe.
class ServeProcess final : public EmbeddedServer {
public:
    static core::Result<std::unique_ptr<EmbeddedServer>> start(const serve::ServeOptions& options,
                                                               std::string_view endpoint);
    ~ServeProcess() override { stop(); }

private:
    ServeProcess() = default;

    /// Reads the child's stdout until the line of `endpoint`.
    core::Result<std::string> read_endpoint(std::string_view endpoint);
    /// SIGTERM, then SIGKILL if it does not end in time; reaps it. Returns its status.
    int stop();

    pid_t m_pid = -1;
    int m_stdout = -1;
};

core::Result<std::unique_ptr<EmbeddedServer>>
ServeProcess::start(const serve::ServeOptions& options, std::string_view endpoint) {
    // Everything the child needs is prepared before fork(): between fork and exec only
    // async-signal-safe calls are allowed.
    std::vector<std::string> args = serve_arguments(options);
    args.insert(args.begin(), "rtx");
    std::vector<char*> argv;
    for (auto& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        return start_failed(std::strerror(errno));
    }
    int null_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        // The child: dies with bench (a bench killed by SIGKILL leaves no server behind),
        // in a process group of its own (a terminal's SIGINT is for bench, which then
        // reports and stops the server), stdout into the pipe, stdin empty, stderr shared.
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
            _exit(127);
        }
        setpgid(0, 0);
        if (dup2(out[1], STDOUT_FILENO) < 0 || (null_in >= 0 && dup2(null_in, STDIN_FILENO) < 0)) {
            _exit(127);
        }
        execv("/proc/self/exe", argv.data());
        _exit(127);
    }
    const int fork_errno = errno;
    close(out[1]);
    if (null_in >= 0) {
        close(null_in);
    }
    if (pid < 0) {
        close(out[0]);
        return start_failed(std::strerror(fork_errno));
    }
    std::unique_ptr<ServeProcess> self(new ServeProcess);
    self->m_pid = pid;
    self->m_stdout = out[0];
    auto url = self->read_endpoint(endpoint);
    if (!url) {
        return url.error(); // ~ServeProcess stops the child
    }
    self->m_url = std::move(url.value());
    core::log_verbose("embedded rtx serve: child process {}", pid);
    return std::unique_ptr<EmbeddedServer>(std::move(self));
}

core::Result<std::string> ServeProcess::read_endpoint(std::string_view endpoint) {
    const auto deadline = Clock::now() + k_start_timeout;
    std::string text;
    while (true) {
        for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n')) {
            std::string url = endpoint_url(std::string_view(text).substr(0, end), endpoint);
            if (!url.empty()) {
                return url;
            }
            text.erase(0, end + 1);
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return start_failed(
                fmt::format("no '{}' endpoint within {} s", endpoint, k_start_timeout.count()));
        }
        pollfd ready{m_stdout, POLLIN, 0};
        int events = ::poll(&ready, 1, static_cast<int>(left.count()));
        if (events < 0 && errno != EINTR) {
            return start_failed(std::strerror(errno));
        }
        if (events <= 0) {
            continue; // the deadline is checked above
        }
        char buffer[1024];
        ssize_t got = ::read(m_stdout, buffer, sizeof buffer);
        if (got > 0) {
            text.append(buffer, static_cast<std::size_t>(got));
        } else if (got == 0) {
            // Its stdout closed before the endpoint: it failed (and said why on stderr).
            return start_failed(exit_text(stop()));
        } else if (errno != EINTR && errno != EAGAIN) {
            return start_failed(std::strerror(errno));
        }
    }
}

int ServeProcess::stop() {
    int status = 0;
    if (m_pid > 0) {
        kill(m_pid, SIGTERM);
        const auto deadline = Clock::now() + k_stop_timeout;
        pid_t done = 0;
        while ((done = waitpid(m_pid, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (done == 0) {
            core::log_info("warning: the embedded rtx serve did not stop within {} s; killing it",
                           k_stop_timeout.count());
            kill(m_pid, SIGKILL);
            waitpid(m_pid, &status, 0);
        }
        m_pid = -1;
    }
    if (m_stdout >= 0) {
        close(m_stdout);
        m_stdout = -1;
    }
    return status;
}

} // namespace

core::Result<std::unique_ptr<EmbeddedServer>>
EmbeddedServer::start_process(const serve::ServeOptions& options, std::string_view endpoint) {
    return ServeProcess::start(options, endpoint);
}

} // namespace rtx::bench
