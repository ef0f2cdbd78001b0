#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "transport/connection.hpp"

#include <functional>
#include <memory>
#include <string>

namespace rtx::listen {

/// The other end of one accepted connection instead of stdin and stdout: a process of its
/// own (`--exec`, websocketd's model) or a connection to a backend (`--bridge`, websockify's).
/// Created when the connection opens; it sends to the connection itself. Loop thread only.
class Partner {
public:
    /// Called once when the partner is over (the process exited and its output went, the
    /// backend closed), possibly from inside finish(). The owner destroys it later, outside
    /// the partner's own calls.
    using Ended = std::function<void(Partner& partner)>;

    virtual ~Partner() = default;
    /// A message from the connection.
    virtual void deliver(const transport::Message& message) = 0;
    /// The connection has room again (after buffered_bytes() went high): go on producing.
    virtual void resume() {}
    /// The connection's peer finished sending (a TCP half-close) and the connection stays
    /// open for what the partner still sends: end the input the partner's way and finish
    /// the connection once its output is done. false: the partner cannot (the connection
    /// then closes, and finish() follows).
    virtual bool peer_finished() { return false; }
    /// The connection is gone: let go of it and end gracefully; Ended follows.
    virtual void finish() = 0;
    /// Not ok when the partner failed (a backend that could not be reached): the run's exit
    /// code when this was its only connection. Asked when Ended is called.
    virtual core::ExitCode exit_code() const { return core::ExitCode::ok; }
};

/// Makes the partner of a connection just opened; an Error refuses the connection.
/// `peer` is the client's "ip:port".
using PartnerFactory = std::function<core::Result<std::unique_ptr<Partner>>(
    core::Loop& loop, transport::Connection& connection, const std::string& peer,
    Partner::Ended ended)>;

} // namespace rtx::listen
