#pragma once

#include "core/error.hpp"
#include "serve/server.hpp"

#include <map>
#include <memory>
#include <string>
#include <thread>

namespace rtx::bench {

/// `rtx serve` inside the bench process, on its own thread and core::Loop, so that
/// `rtx bench tcp` works on a bare machine. Created and destroyed on the caller's thread;
/// the server itself lives on its thread only.
class EmbeddedServer {
public:
    /// Starts the server thread and waits until the listeners are bound.
    static core::Result<std::unique_ptr<EmbeddedServer>> start(serve::ServeOptions options);
    /// Shuts the server down gracefully and joins its thread.
    ~EmbeddedServer();
    EmbeddedServer(const EmbeddedServer&) = delete;
    EmbeddedServer& operator=(const EmbeddedServer&) = delete;

    /// The URL of listener `name` ("tcp-echo", "http"); empty when it is not running.
    std::string url(const std::string& name) const;

private:
    EmbeddedServer() = default;

    struct Running;
    std::thread m_thread;
    Running* m_running = nullptr; ///< Lives on m_thread's stack until the thread ends.
    std::map<std::string, std::string> m_urls;
};

} // namespace rtx::bench
