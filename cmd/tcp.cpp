// rtx tcp HOST:PORT — raw TCP like netcat: stdin -> socket, socket -> stdout.
#include "client/pipe_session.hpp"
#include "cmd/client_options.hpp"
#include "cmd/command.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"
#include "transport/connect.hpp"

#include <fmt/format.h>

#include <memory>

namespace rtx::cmd {

namespace {

struct TcpOptions {
    std::string target;
    bool no_shutdown = false;
    ClientFlags flags;
};

core::ExitCode run_tcp(const TcpOptions& options) {
    auto url = core::parse_url(options.target, "tcp");
    if (!url) {
        throw core::UsageError(url.error().message);
    }
    if (url->scheme != "tcp" && url->scheme != "tls") {
        throw core::UsageError(
            fmt::format("rtx tcp takes HOST:PORT, tcp:// or tls:// (got {}://)", url->scheme));
    }
    ClientSettings settings = resolve_client_flags(options.flags, "tcp");
    settings.pipe.half_close = !options.no_shutdown;

    core::raise_open_files_limit();
    core::Loop loop;
    output::Sink sink(settings.format, 1, settings.output_delimiter);
    client::PipeSession session(loop, settings.pipe, sink);
    auto factory = [&loop, &url, &settings](transport::Handler& handler) {
        return transport::connect(loop, url.value(), settings.connect, handler, 1);
    };
    return session.run(factory, settings.reconnect);
}

} // namespace

Runner setup_tcp(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<TcpOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    app->add_option("target", options->target,
                    "HOST:PORT, [IPv6]:PORT, tcp://HOST:PORT or tls://HOST:PORT")
        ->required();
    app->add_flag("--no-shutdown", options->no_shutdown,
                  "On stdin EOF keep the connection fully open (no half-close)")
        ->group("Connection");
    add_client_flags(*app, options->flags);
    app->footer(R"(Lines read from stdin are sent; lines received are written to stdout. On stdin
EOF rtx half-closes (FIN) and exits when the server closes.

Examples:
  rtx serve &                                   # a local echo server on 127.0.0.1:7070
  echo hello | rtx tcp 127.0.0.1:7070           # prints "hello"
  rtx tcp --raw localhost:7070 < file.bin > copy.bin
  rtx tcp --json --count 3 --no-stdin host:9000 # 3 NDJSON records, then exit
  rtx tcp --tls --cacert ca.pem example.org:443
  rtx tcp --reconnect --preamble 'AUTH secret' [::1]:7070

Exit status: 0 done, 1 local I/O failure, 2 usage, 3 connect failed, 4 TLS, 5 timeout,
6 message over 64 MiB, 7 connection lost, 11 --reconnect gave up, 130 SIGINT, 143 SIGTERM
(rtx(1) has the full table).)");
    return [options] {
        return run_tcp(*options);
    };
}

} // namespace rtx::cmd
