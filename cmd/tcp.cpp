// rtx tcp HOST:PORT — raw TCP like netcat: stdin -> socket, socket -> stdout.
#include "client/pipe_session.hpp"
#include "cmd/client_options.hpp"
#include "cmd/command.hpp"
#include "cmd/listen_options.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"
#include "listen/tcp_acceptor.hpp"
#include "transport/connect.hpp"

#include <fmt/format.h>

#include <memory>

namespace rtx::cmd {

namespace {

struct TcpOptions {
    std::string target;
    bool no_shutdown = false;
    ClientFlags flags;
    ListenFlags listen;
};

/// "unix:/path": the path of a Unix domain socket; empty for any other target.
std::string unix_path(const std::string& target) {
    if (!target.starts_with("unix:")) {
        return {};
    }
    std::string path = target.substr(5);
    if (path.empty()) {
        throw core::UsageError("unix: needs a path (unix:/run/app.sock)");
    }
    return path;
}

core::ExitCode run_tcp_listen(const TcpOptions& options) {
    ClientSettings settings = resolve_client_flags(options.flags, "tcp");
    settings.connect.tls = check_listen_flags(options.listen, options.flags);
    settings.pipe.half_close = !options.no_shutdown;
    if (const std::string path = unix_path(options.target); !path.empty()) {
        return run_listen(options.listen, options.flags, settings, [&](core::Loop& loop) {
            return as_acceptor(listen::TcpAcceptor::create_unix(loop, path, settings.connect));
        });
    }
    const ListenTarget target = parse_listen_target(options.target);
    if (!target.path.empty()) {
        throw core::UsageError(
            fmt::format("rtx tcp -l takes [HOST:]PORT or unix:PATH (got '{}')", options.target));
    }
    return run_listen(options.listen, options.flags, settings, [&](core::Loop& loop) {
        return as_acceptor(listen::TcpAcceptor::create(loop, target.address, settings.connect));
    });
}

/// The URL of a client target: HOST:PORT, tcp://, tls:// or unix:PATH.
core::Url client_url(const TcpOptions& options) {
    if (std::string path = unix_path(options.target); !path.empty()) {
        if (options.flags.tls) {
            throw core::UsageError("--tls over a Unix domain socket is not supported");
        }
        core::Url url;
        url.scheme = "unix";
        url.path = std::move(path);
        return url;
    }
    auto url = core::parse_url(options.target, "tcp");
    if (!url) {
        throw core::UsageError(url.error().message);
    }
    if (url->scheme != "tcp" && url->scheme != "tls") {
        throw core::UsageError(fmt::format(
            "rtx tcp takes HOST:PORT, tcp://, tls:// or unix:PATH (got {}://)", url->scheme));
    }
    return std::move(url.value());
}

core::ExitCode run_tcp(const TcpOptions& options) {
    if (options.listen.listen) {
        return run_tcp_listen(options);
    }
    check_listen_flags(options.listen, options.flags); // listen flags without -l
    const core::Url url = client_url(options);
    ClientSettings settings = resolve_client_flags(options.flags, "tcp");
    settings.pipe.half_close = !options.no_shutdown;

    core::raise_open_files_limit();
    core::Loop loop;
    output::Sink sink = make_sink(settings);
    client::PipeSession session(loop, settings.pipe, sink);
    auto factory = [&loop, &url, &settings](transport::Handler& handler) {
        return transport::connect(loop, url, settings.connect, handler, 1);
    };
    return session.run(factory, settings.reconnect);
}

} // namespace

Runner setup_tcp(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<TcpOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    app->add_option(
           "target", options->target,
           "HOST:PORT, [IPv6]:PORT, tcp://HOST:PORT, tls://HOST:PORT or unix:PATH; with -l: "
           "[HOST:]PORT or unix:PATH")
        ->required();
    app->add_flag("--no-shutdown", options->no_shutdown,
                  "On stdin EOF keep the connection fully open (no half-close)")
        ->group("Connection");
    add_client_flags(*app, options->flags);
    add_listen_flags(*app, options->listen);
    app->footer(R"(Lines read from stdin are sent; lines received are written to stdout. On stdin
EOF rtx half-closes (FIN) and exits when the server closes.

Examples:
  rtx serve &                                   # a local echo server on 127.0.0.1:7070
  echo hello | rtx tcp 127.0.0.1:7070           # prints "hello"
  rtx tcp --raw localhost:7070 < file.bin > copy.bin
  rtx tcp --json --count 3 --no-stdin host:9000 # 3 NDJSON records, then exit
  rtx tcp --tls --cacert ca.pem example.org:443
  rtx tcp --reconnect --preamble 'AUTH secret' [::1]:7070
  rtx tcp --no-stdin --pick /price --until '^bye$' 127.0.0.1:9000  # JSON lines
  rtx tcp -l 9000                               # wait for one client (like ncat -l)
  rtx tcp -l --keep-open --json 0.0.0.0:9000    # many clients; records name each one
  rtx tcp -l --tls-cert cert.pem --tls-key key.pem 9443
  rtx tcp -l --keep-open --exec 'tr a-z A-Z' 9000   # a process per connection
  rtx tcp -l --bridge ws://127.0.0.1:8080/echo 9000  # each line a WebSocket message
  rtx tcp -l unix:/tmp/app.sock                 # a Unix domain socket (client: rtx tcp unix:...)

Exit status: 0 done, 1 local I/O failure, 2 usage, 3 connect failed, 4 TLS, 5 timeout,
6 message over 64 MiB, 7 connection lost, 11 --reconnect gave up, 12 -l could not bind,
130 SIGINT, 143 SIGTERM
(rtx(1) has the full table).)");
    return [options] {
        return run_tcp(*options);
    };
}

} // namespace rtx::cmd
