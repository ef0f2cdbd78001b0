#pragma once

#include "core/loop.hpp"

#include <functional>

namespace rtx::core {

/// Watches SIGINT and SIGTERM on a Loop and calls `on_signal(signum)` on the loop thread.
/// The watch does not keep the loop alive. Also ignores SIGPIPE for the whole process, so a
/// closed socket or stdout is an error value (EPIPE), never a silent death.
class SignalWatcher {
public:
    SignalWatcher(Loop& loop, std::function<void(int signum)> on_signal);
    ~SignalWatcher();
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

private:
    uv_signal_t* m_int;
    uv_signal_t* m_term;
    std::function<void(int)> m_on_signal;
};

/// Exit code for a signal: 130 for SIGINT, 143 for SIGTERM (128 + signal number).
int exit_status_for_signal(int signum);

} // namespace rtx::core
