#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "serve/listener.hpp"
#include "serve/socket_address.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtx::serve {

/// Documented default ports (man/rtx-serve.1); `rtx serve` with no flags uses them all.
inline constexpr std::uint16_t k_default_tcp_port = 7070;

/// Which listeners to start and where.
struct ServeOptions {
    std::string bind = "127.0.0.1";
    /// nullopt: this listener is off; 0: any free port.
    std::optional<std::uint16_t> tcp_port = k_default_tcp_port;
};

/// The embedded server: a set of listeners on one loop. Loop thread only.
class Server {
public:
    explicit Server(core::Loop& loop);
    ~Server();

    /// Binds every listener the options ask for. On error nothing is left listening.
    core::Result<bool> start(const ServeOptions& options);
    /// The started listeners, for printing endpoints.
    const std::vector<std::unique_ptr<Listener>>& listeners() const { return m_listeners; }
    /// Stops accepting and closes every connection gracefully.
    void shutdown();

private:
    core::Loop& m_loop;
    std::vector<std::unique_ptr<Listener>> m_listeners;
};

} // namespace rtx::serve
