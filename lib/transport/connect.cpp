#include "transport/connect.hpp"

#include "transport/tcp/tcp_connection.hpp"

#include <cassert>

namespace rtx::transport {

bool supports_scheme(std::string_view scheme) {
    return scheme == "tcp" || scheme == "tls" || scheme == "unix";
}

std::unique_ptr<Connection> connect(core::Loop& loop, const core::Url& url, ConnectOptions options,
                                    Handler& handler, std::uint64_t id) {
    assert(supports_scheme(url.scheme));
    if (url.scheme == "tls") {
        options.tls.enabled = true;
    }
    auto connection = std::make_unique<TcpConnection>(loop, url, std::move(options), handler, id);
    connection->start();
    return connection;
}

} // namespace rtx::transport
