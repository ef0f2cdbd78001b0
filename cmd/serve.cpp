// rtx serve — the embedded local server that every client and bench can talk to.
#include "cmd/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/signals.hpp"
#include "core/timer.hpp"
#include "serve/server.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <memory>

namespace rtx::cmd {

namespace {

struct ServeCommandOptions {
    std::string bind = "127.0.0.1";
    int tcp_port = serve::k_default_tcp_port;
    bool no_tcp = false;
};

core::ExitCode run_serve(const ServeCommandOptions& options) {
    if (options.tcp_port < 0 || options.tcp_port > 65535) {
        throw core::UsageError(
            fmt::format("--tcp-port {}: not a port (0-65535)", options.tcp_port));
    }
    serve::ServeOptions serve_options;
    serve_options.bind = options.bind;
    if (options.no_tcp) {
        serve_options.tcp_port.reset();
    } else {
        serve_options.tcp_port = static_cast<std::uint16_t>(options.tcp_port);
    }

    core::raise_open_files_limit();
    core::Loop loop;
    serve::Server server(loop);
    auto started = server.start(serve_options);
    if (!started) {
        if (started.error().code == core::ExitCode::usage) {
            throw core::UsageError(started.error().message);
        }
        core::log_error("{}", started.error().message);
        return started.error().code;
    }
    if (server.listeners().empty()) {
        throw core::UsageError("every listener is turned off; nothing to serve");
    }
    // Endpoints go to stdout, one "name url" per line: scripts and tests read them.
    for (const auto& listener : server.listeners()) {
        std::fputs(fmt::format("{} {}\n", listener->name(), listener->url()).c_str(), stdout);
    }
    std::fflush(stdout);

    core::Timer grace(loop);
    core::SignalWatcher signals(loop, [&](int signum) {
        if (grace.active()) {
            core::log_info("second signal: stopping now");
            loop.stop();
            return;
        }
        core::log_verbose("signal {}: shutting down", signum);
        server.shutdown();
        // Connections get a moment to flush; a peer that never reads cannot hold us up.
        grace.start(std::chrono::seconds(2), [&loop] { loop.stop(); });
        grace.unref(); // the loop ends as soon as the last connection closes
    });
    loop.run();
    return core::ExitCode::ok;
}

} // namespace

Runner setup_serve(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<ServeCommandOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    app->add_option("--bind", options->bind, "Address to listen on (127.0.0.1, ::1, 0.0.0.0, ::)")
        ->capture_default_str();
    app->add_option("--tcp-port", options->tcp_port,
                    "TCP echo port; 0 picks a free port (printed on start)")
        ->capture_default_str();
    app->add_flag("--no-tcp", options->no_tcp, "Do not start the TCP echo listener");
    app->footer(R"(On start, prints one line per endpoint to stdout: "<name> <url>".
SIGINT or SIGTERM closes every connection gracefully and exits 0.

Endpoints:
  tcp-echo  tcp://127.0.0.1:7070   every byte received is sent back

Examples:
  rtx serve                                 # every listener on its default port
  rtx serve --tcp-port 0                    # pick a free port, print it
  rtx serve --bind ::1 --tcp-port 9000      # IPv6 loopback
  rtx serve & echo hi | rtx tcp 127.0.0.1:7070)");
    return [options] {
        return run_serve(*options);
    };
}

} // namespace rtx::cmd
