#pragma once

#include "transport/connection.hpp"

#include <functional>
#include <memory>
#include <string>

namespace rtx::listen {

/// The listening side of one protocol for `rtx tcp -l` and `rtx ws -l`: accepts connections
/// on an address bound when it was created, and hands each over as a transport::Connection
/// that reports to the handler given to start(). Loop thread only.
class Acceptor {
public:
    /// Takes a connection just accepted (before its on_open) and the peer's address.
    using OnAccept =
        std::function<void(std::unique_ptr<transport::Connection> connection, std::string peer)>;

    virtual ~Acceptor() = default;
    /// Accepts from now on (on the loop); each connection goes to `on_accept` (which must not
    /// close it), then opens.
    virtual void start(transport::Handler& handler, OnAccept on_accept) = 0;
    /// Stops accepting and closes the listening socket; open connections are not touched.
    virtual void stop() = 0;
    /// The address clients use, with the port actually bound: "tcp://127.0.0.1:7070".
    virtual std::string url() const = 0;
};

} // namespace rtx::listen
