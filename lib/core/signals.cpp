#include "core/signals.hpp"

#include <csignal>

namespace rtx::core {

namespace {
void on_uv_signal(uv_signal_t* handle, int signum) {
    (*static_cast<std::function<void(int)>*>(handle->data))(signum);
}
} // namespace

SignalWatcher::SignalWatcher(Loop& loop, std::function<void(int)> on_signal)
    : m_int(new uv_signal_t)
    , m_term(new uv_signal_t)
    , m_on_signal(std::move(on_signal)) {
    std::signal(SIGPIPE, SIG_IGN);
    for (auto [handle, signum] : {std::pair{m_int, SIGINT}, std::pair{m_term, SIGTERM}}) {
        uv_signal_init(loop.native(), handle);
        handle->data = &m_on_signal;
        uv_signal_start(handle, &on_uv_signal, signum);
        uv_unref(reinterpret_cast<uv_handle_t*>(handle));
    }
}

SignalWatcher::~SignalWatcher() {
    close_and_delete(m_int);
    close_and_delete(m_term);
}

int exit_status_for_signal(int signum) {
    return 128 + signum;
}

} // namespace rtx::core
