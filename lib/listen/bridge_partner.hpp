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
/// is open waits. When either side ends, the other is finished (TCP FIN, WebSocket close)
/// and, after a grace, closed. Loop thread only.
class BridgePartner final : public Partner, private transport::Handler {
public:
    /// `to_client` is the kind of the backend's messages as they go to the client (binary for
    /// a raw TCP backend behind a WebSocket listener, websockify's way).
    BridgePartner(core::Loop& loop, transport::Connection& connection, Ended ended,
                  const BackendConnect& connect, transport::PayloadKind to_client);
    ~BridgePartner() override;

    void deliver(const transport::Message& message) override;
    void finish() override;

private:
    void on_open(transport::Connection& backend) override;
    void on_message(transport::Connection& backend, const transport::Message& message) override;
    void on_close(transport::Connection& backend, const transport::CloseInfo& info) override;

    transport::Connection* m_connection;
    Ended m_ended;
    transport::PayloadKind m_to_client;
    std::unique_ptr<transport::Connection> m_backend;
    /// Messages of the client before the backend opened, with their kinds.
    std::vector<std::pair<std::string, transport::PayloadKind>> m_held;
    core::Timer m_grace;
    bool m_backend_closed = false;
};

} // namespace rtx::listen
