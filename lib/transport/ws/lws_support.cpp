#include "transport/ws/lws_support.hpp"

#include "core/log.hpp"

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string_view>
#include <thread>

namespace rtx::transport::ws {

namespace {

void emit_lws_log(int level, const char* line) {
    std::string_view text = line;
    // "[2026/11/28 15:51:06:1234] E: message\n": drop the timestamp and the newline.
    if (!text.empty() && text.front() == '[') {
        if (auto close = text.find("] "); close != std::string_view::npos) {
            text.remove_prefix(close + 2);
        }
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    if (level & (LLL_ERR | LLL_WARN)) {
        core::log_verbose("lws: {}", text);
    } else {
        core::log_debug("lws: {}", text);
    }
}

} // namespace

void route_lws_logs() {
    int levels = LLL_ERR | LLL_WARN;
    if (core::log_level() >= core::LogLevel::debug) {
        levels |= LLL_NOTICE;
    }
    lws_set_log_level(levels, &emit_lws_log);
}

bool loop_handles_closing(uv_loop_t* loop) {
    bool closing = false;
    uv_walk(
        loop,
        [](uv_handle_t* handle, void* arg) {
            if (uv_is_closing(handle)) {
                *static_cast<bool*>(arg) = true;
            }
        },
        &closing);
    return closing;
}

void destroy_lws_context_now(uv_loop_t* loop, lws_context** context) {
    if (*context == nullptr) {
        return;
    }
    lws_context_destroy(*context);
    // Bounded by time, not by a count of turns: on a crowded machine the close callbacks of
    // thousands of handles may take more turns than a quiet one needs, and a context given
    // up on is leaked (ASan reports it).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (int turn = 0; *context != nullptr && std::chrono::steady_clock::now() < deadline; ++turn) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (*context != nullptr && !loop_handles_closing(loop)) {
            lws_context_destroy(*context);
        }
        if (turn >= 1000) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1)); // slow: do not spin
        }
    }
    if (*context != nullptr) {
        core::log_verbose("lws: the context was not freed");
    }
}

SocketRead read_socket(int fd, SSL* ssl, char* buffer, std::size_t size) {
    if (ssl != nullptr) {
        ERR_clear_error();
        const int got = SSL_read(ssl, buffer, static_cast<int>(size));
        if (got > 0) {
            return {SocketRead::data, static_cast<std::size_t>(got)};
        }
        const int error = SSL_get_error(ssl, got);
        return {error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE
                    ? SocketRead::would_block
                    : SocketRead::end};
    }
    for (;;) {
        const ssize_t got = ::recv(fd, buffer, size, 0);
        if (got > 0) {
            return {SocketRead::data, static_cast<std::size_t>(got)};
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        return {got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? SocketRead::would_block
                                                                     : SocketRead::end};
    }
}

} // namespace rtx::transport::ws
