#include "client/run_controls.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

namespace rtx::client {

RunControls::RunControls(core::Loop& loop, output::Sink& sink, core::Duration timeout,
                         core::Duration idle_timeout, Stop stop, std::function<bool()> stopping)
    : m_loop(loop)
    , m_sink(sink)
    , m_timeout(timeout)
    , m_idle_timeout(idle_timeout)
    , m_stop(std::move(stop))
    , m_stopping(std::move(stopping))
    , m_deadline(loop)
    , m_idle(loop)
    , m_signals(loop,
                [this](int signum) {
                    if (m_stopping()) {
                        // A second signal while closing: do not wait for the peer any longer.
                        core::log_verbose("signal {}: exiting now", signum);
                        m_loop.stop();
                        return;
                    }
                    core::log_verbose("signal {}: closing", signum);
                    m_stop(static_cast<core::ExitCode>(core::exit_status_for_signal(signum)), "");
                })
    , m_reader_watch(loop, sink.fd(), [this] {
        // The reader closed the pipe while nothing was being written (a quiet stream behind
        // `| head -1`): end as a failed write to it would, without waiting for the next
        // message.
        if (!m_stopping()) {
            core::log_verbose("the reader of standard output has gone: closing");
            m_stop(core::ExitCode::ok, "");
        }
    }) {
    m_flush_hook = m_loop.add_before_poll_hook([this] {
        if (!m_sink.flush() && !m_stopping()) {
            // The reader went away (`rtx tcp ... | head -1`): not an error of ours.
            const bool gone = m_sink.reader_gone();
            m_stop(gone ? core::ExitCode::ok : core::ExitCode::failure,
                   gone ? "" : fmt::format("write to stdout: {}", m_sink.error()));
        }
    });
}

RunControls::~RunControls() {
    m_loop.remove_before_poll_hook(m_flush_hook);
}

void RunControls::start() {
    if (m_timeout.count() > 0) {
        m_deadline.start(m_timeout, [this] {
            m_stop(core::ExitCode::timeout,
                   fmt::format("timed out after {}", core::format_duration(m_timeout)));
        });
    }
    touch();
}

void RunControls::touch() {
    if (m_idle_timeout.count() > 0) {
        m_idle.start(m_idle_timeout, [this] {
            m_stop(core::ExitCode::timeout,
                   fmt::format("idle for {}, closing", core::format_duration(m_idle_timeout)));
        });
    }
}

void RunControls::stop_timers() {
    m_deadline.stop();
    m_idle.stop();
}

} // namespace rtx::client
