#pragma once

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "listen/partner.hpp"
#include "proto/framing.hpp"

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>

namespace rtx::listen {

/// How --exec runs each connection's process.
struct ExecOptions {
    std::string command; ///< Run by /bin/sh -c.
    /// How the process's stdout becomes messages, and the delimiter written after each
    /// message on its stdin (lines; NUL with -0; raw: bytes as they come, nothing added).
    proto::Framing framing = proto::Framing::lines;
    /// After the connection ends and stdin was closed: SIGTERM this much later, then
    /// SIGKILL as much again later.
    core::Duration grace = std::chrono::seconds(2);
};

/// One connection's process (websocketd's model): each message from the connection is a
/// line on its stdin, each line of its stdout a message to the connection, its stderr is
/// rtx's. The environment carries RTX_PEER (the client's ip:port) and RTX_CONNECTION (its
/// number). When the connection ends, stdin is closed, then SIGTERM and SIGKILL follow
/// after the grace; when the process exits, its output is sent and the connection is
/// finished (TCP FIN, WebSocket close 1000). A TCP client's half-close (FIN) closes stdin
/// only: the output is still relayed until the process exits (ncat -l --exec). Loop thread
/// only.
class ExecPartner final : public Partner {
public:
    /// Spawns the process; ExitCode::failure when it cannot be started.
    static core::Result<std::unique_ptr<Partner>> spawn(core::Loop& loop,
                                                        transport::Connection& connection,
                                                        const std::string& peer, Ended ended,
                                                        const ExecOptions& options);
    ~ExecPartner() override;

    void deliver(const transport::Message& message) override;
    void resume() override;
    bool peer_finished() override;
    void finish() override;

private:
    struct Handles;
    ExecPartner(core::Loop& loop, transport::Connection& connection, Ended ended,
                const ExecOptions& options);
    void start_reading();
    void on_output(std::string_view bytes);
    void on_output_end();
    void on_exit(std::int64_t status, int signal);
    void maybe_ended();
    void close_stdin();
    /// EOF on the process's stdin once what was written to it went.
    void end_stdin();

    core::Loop& m_loop;
    transport::Connection* m_connection;
    Ended m_ended;
    ExecOptions m_options;
    proto::Framer m_framer;
    Handles* m_handles; ///< libuv handles; freed by libuv after their close.
    core::Timer m_grace;
    std::string m_line; ///< Reused: one message plus its delimiter.
    bool m_exited = false;
    bool m_output_done = false;
    bool m_ended_called = false;
    bool m_reading_paused = false;
};

} // namespace rtx::listen
