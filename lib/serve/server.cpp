#include "serve/server.hpp"

#include "serve/tcp_echo_listener.hpp"

namespace rtx::serve {

Server::Server(core::Loop& loop)
    : m_loop(loop) {}

Server::~Server() = default;

core::Result<bool> Server::start(const ServeOptions& options) {
    if (options.tcp_port) {
        auto echo = TcpEchoListener::create(m_loop, SocketAddress{options.bind, *options.tcp_port});
        if (!echo) {
            m_listeners.clear();
            return echo.error();
        }
        m_listeners.push_back(std::move(echo.value()));
    }
    return true;
}

void Server::shutdown() {
    for (auto& listener : m_listeners) {
        listener->shutdown();
    }
}

} // namespace rtx::serve
