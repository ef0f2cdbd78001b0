#pragma once

#include "core/duration.hpp"
#include "core/exit_code.hpp"
#include "core/loop.hpp"
#include "core/reader_watch.hpp"
#include "core/signals.hpp"
#include "core/timer.hpp"
#include "output/sink.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace rtx::client {

/// What ends a session of a subcommand besides its connections, shared by PipeSession (one
/// client connection) and listen::ListenSession: --timeout, --idle-timeout, SIGINT and
/// SIGTERM (a second signal while closing leaves at once), and standard output, flushed
/// before each poll (a reader that went away, as `| head -1`, ends the run with 0: found by
/// the next write, or at once by a core::ReaderWatch when stdout is a pipe).
/// Loop thread only.
class RunControls {
public:
    /// Ends the run: the session closes its connections with this code and error (empty:
    /// none to print). Called at most once by these controls while `stopping` is false.
    using Stop = std::function<void(core::ExitCode code, const std::string& error)>;

    RunControls(core::Loop& loop, output::Sink& sink, core::Duration timeout,
                core::Duration idle_timeout, Stop stop, std::function<bool()> stopping);
    ~RunControls();
    RunControls(const RunControls&) = delete;
    RunControls& operator=(const RunControls&) = delete;

    /// Starts the --timeout deadline and the idle timer.
    void start();
    /// Something moved: the idle timer starts over.
    void touch();
    /// The run is over: no timer fires any more.
    void stop_timers();

private:
    core::Loop& m_loop;
    output::Sink& m_sink;
    core::Duration m_timeout;
    core::Duration m_idle_timeout;
    Stop m_stop;
    std::function<bool()> m_stopping;
    core::Timer m_deadline;
    core::Timer m_idle;
    core::SignalWatcher m_signals;
    std::uint64_t m_flush_hook = 0;
    core::ReaderWatch m_reader_watch;
};

} // namespace rtx::client
