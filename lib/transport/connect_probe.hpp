#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "transport/connection.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace rtx::transport {

/// A plain TCP connect to host:port that says why it failed in `rtx tcp`'s words ("connect
/// to 127.0.0.1:1: connection refused", "resolve nowhere.invalid: unknown host"). Libraries
/// that connect for rtx report a failed connect with one generic text (Paho: "connection
/// failed"; lws: "closed before established"); a probe after such a failure names the cause.
/// Loop thread only.
class TcpProbe final : private Handler {
public:
    /// nullopt: the connection opened (it is closed at once, so the cause lies above TCP);
    /// otherwise how it failed. Called once, on a later loop turn than the constructor; the
    /// call may destroy the probe.
    using Done = std::function<void(std::optional<CloseInfo> failure)>;

    TcpProbe(core::Loop& loop, std::string host, std::uint16_t port, core::Duration timeout,
             Done done);
    ~TcpProbe() override;
    TcpProbe(const TcpProbe&) = delete;
    TcpProbe& operator=(const TcpProbe&) = delete;

private:
    void on_open(Connection& connection) override;
    void on_message(Connection& connection, const Message& message) override;
    void on_close(Connection& connection, const CloseInfo& info) override;

    Done m_done;
    bool m_reached = false;
    std::unique_ptr<Connection> m_connection;
};

/// Where a TcpProbe goes after a connect failure.
struct ProbeTarget {
    std::string host;
    std::uint16_t port = 0;
    core::Duration timeout{0}; ///< The probe's connect timeout; 0: none.
};

/// Makes one connection attempt through `make` (which gets the handler to connect with) and
/// hands it back wrapped: when the attempt fails to connect (exit code connect_failed, never
/// opened), a TcpProbe to `target` runs before on_close reaches `handler`, and if the probe
/// fails too, its reason and exit code replace the attempt's. Everything else passes through
/// unchanged. For adapters whose library does not say why a connect failed (the WebSocket
/// client on lws).
std::unique_ptr<Connection>
with_connect_probe(core::Loop& loop, ProbeTarget target, Handler& handler,
                   const std::function<std::unique_ptr<Connection>(Handler&)>& make);

} // namespace rtx::transport
