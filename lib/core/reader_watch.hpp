#pragma once

#include "core/loop.hpp"

#include <functional>

namespace rtx::core {

/// Notices that the reader of a pipe we write to has gone (`rtx sse URL | head -1`) while
/// we have nothing to write. A write would find out (EPIPE), but a quiet stream may not
/// write again for minutes; the kernel already flags the pipe (POLLERR on the write end once
/// no reader is left), so the loop watches for that and calls `on_gone` once. Does nothing
/// when `fd` is not a pipe (a terminal, a file, a socket). Does not keep the loop alive, and
/// leaves the fd's blocking mode as it found it. Loop thread only.
class ReaderWatch {
public:
    ReaderWatch(Loop& loop, int fd, std::function<void()> on_gone);
    ~ReaderWatch();
    ReaderWatch(const ReaderWatch&) = delete;
    ReaderWatch& operator=(const ReaderWatch&) = delete;

private:
    std::function<void()> m_on_gone;
    uv_poll_t* m_poll = nullptr;
};

} // namespace rtx::core
