#pragma once

#include "core/error.hpp"
#include "serve/server.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::bench {

/// `rtx serve` for a run with no URL, so that `rtx bench ws` works on a bare machine. It
/// runs on a thread of the bench process, or in a child process when one process cannot
/// hold both ends of every connection (its own open-files limit, its own fd table).
/// Created and destroyed on the caller's thread; destroying it shuts the server down
/// gracefully and waits for it.
class EmbeddedServer {
public:
    /// Starts the server on its own thread and core::Loop in this process and waits until
    /// its listeners are bound. `endpoint` names the listener the run connects to
    /// ("tcp-echo", "http", "ws-echo", "mqtt").
    static core::Result<std::unique_ptr<EmbeddedServer>> start_thread(serve::ServeOptions options,
                                                                      std::string_view endpoint);
    /// Starts this same binary as `rtx serve` (serve_arguments(options)) in a child process
    /// of its own process group, so that a SIGINT from the terminal reaches bench only and
    /// bench ends the server after its report; the child gets SIGTERM if bench dies. Waits
    /// until the child prints the line of `endpoint`.
    static core::Result<std::unique_ptr<EmbeddedServer>>
    start_process(const serve::ServeOptions& options, std::string_view endpoint);

    virtual ~EmbeddedServer() = default;
    EmbeddedServer(const EmbeddedServer&) = delete;
    EmbeddedServer& operator=(const EmbeddedServer&) = delete;

    /// The URL of the endpoint asked for at start.
    const std::string& url() const { return m_url; }

protected:
    EmbeddedServer() = default;

    std::string m_url;
};

/// The `rtx serve` arguments (after the program name) that start a server with `options`'
/// bind address, listeners and limits: the fields bench sets; every other field must keep
/// `rtx serve`'s default.
std::vector<std::string> serve_arguments(const serve::ServeOptions& options);

/// The URL on `line`, one of `rtx serve`'s endpoint lines ("ws-echo ws://127.0.0.1:80/echo"),
/// when it names `endpoint`; empty otherwise.
std::string endpoint_url(std::string_view line, std::string_view endpoint);

} // namespace rtx::bench
