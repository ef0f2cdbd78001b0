#include "core/reader_watch.hpp"

#include <fcntl.h>
#include <sys/stat.h>

namespace rtx::core {

ReaderWatch::ReaderWatch(Loop& loop, int fd, std::function<void()> on_gone)
    : m_on_gone(std::move(on_gone)) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        return;
    }
    // uv_poll_init makes the fd non-blocking, and O_NONBLOCK belongs to the open file, which
    // the shell and our other writes share: put back what was there (a poll needs neither).
    const int flags = ::fcntl(fd, F_GETFL);
    auto* poll = new uv_poll_t{};
    if (flags < 0 || uv_poll_init(loop.native(), poll, fd) != 0) {
        delete poll;
        return;
    }
    ::fcntl(fd, F_SETFL, flags);
    poll->data = this;
    // Only UV_DISCONNECT is asked for: a pipe's write end reports POLLERR whatever the mask,
    // and libuv hands that on as an error status and stops the handle.
    if (uv_poll_start(poll, UV_DISCONNECT, [](uv_poll_t* handle, int status, int) {
            if (status < 0) {
                auto* self = static_cast<ReaderWatch*>(handle->data);
                uv_poll_stop(handle);
                self->m_on_gone();
            }
        }) != 0) {
        close_and_delete(poll);
        return;
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(poll));
    m_poll = poll;
}

ReaderWatch::~ReaderWatch() {
    close_and_delete(m_poll);
}

} // namespace rtx::core
