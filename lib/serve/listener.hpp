#pragma once

#include <cstdint>
#include <string>

namespace rtx::serve {

/// One protocol endpoint of `rtx serve` (TCP echo now; HTTP, WebSocket and MQTT join the
/// same list). Loop thread only.
class Listener {
public:
    virtual ~Listener() = default;
    /// Short name printed on start and used by tests: "tcp-echo".
    virtual std::string name() const = 0;
    /// The URL clients use, with the port actually bound: "tcp://127.0.0.1:7070".
    virtual std::string url() const = 0;
    /// Stops accepting and closes every connection gracefully.
    virtual void shutdown() = 0;
    /// Connections currently open.
    virtual std::size_t connections() const = 0;
};

} // namespace rtx::serve
