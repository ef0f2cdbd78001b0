#pragma once

#include "core/loop.hpp"
#include "core/timer.hpp"
#include "listen/partner.hpp"
#include "transport/connection.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rtx::listen {

/// Starts the backend connection of one bridged client (transport::connect for tcp:// and
/// tls://, WsClient::connect for ws:// and wss://); it reports to `handler`.
using BackendConnect = std::function<std::unique_ptr<transport::Connection>(
    transport::Handler& handler, std::uint64_t id)>;

/// --bridge (websockify's job): each accepted connection gets its own connection to the
/// backend, and messages go across both ways as they are (a WebSocket message becomes a line,
/// or bytes with --raw, on a TCP backend, and back). What the client sends before the backend
/// is open waits, and the client is not read meanwhile (at most one read waits); after
/// that, a side is not read while the other has more than 1 MiB queued (where the protocol
/// can pause: TCP, an accepted WebSocket). When either side ends, the other is finished (TCP
/// FIN, WebSocket close) and, after a grace, closed. A backend that cannot be reached is an
/// error on stderr, and the client is closed (WebSocket: 1011). Loop thread only.
class BridgePartner final : public Partner, private transport::Handler {
public:
    /// `to_client` is the kind of the backend's messages as they go to the client (binary for
    /// a raw TCP backend behind a WebSocket listener, websockify's way).
    BridgePartner(core::Loop& loop, transport::Connection& connection, Ended ended,
                  const BackendConnect& connect, transport::PayloadKind to_client);
    ~BridgePartner() override;

    void deliver(const transport::Message& message) override;
    void resume() override;
    bool peer_finished() override;
    void finish() override;
    /// connect_failed (or timeout, tls_failed) when the backend could not be reached.
    core::ExitCode exit_code() const override { return m_failure; }

private:
    void on_open(transport::Connection& backend) override;
    void on_message(transport::Connection& backend, const transport::Message& message) override;
    void on_close(transport::Connection& backend, const transport::CloseInfo& info) override;
    void on_drain(transport::Connection& backend) override;

    transport::Connection* m_connection;
    Ended m_ended;
    transport::PayloadKind m_to_client;
    std::unique_ptr<transport::Connection> m_backend;
    /// Messages of the client before the backend opened, with their kinds.
    std::vector<std::pair<std::string, transport::PayloadKind>> m_held;
    std::size_t m_held_bytes = 0;
    bool m_client_finished = false; ///< The client half-closed: the backend is finished too.
    bool m_client_paused = false;   ///< The client is not read (backend busy or connecting).
    bool m_backend_paused = false;  ///< The backend is not read (the client is busy).
    core::ExitCode m_failure = core::ExitCode::ok;
    core::Timer m_grace;
    bool m_backend_closed = false;
};

} // namespace rtx::listen
