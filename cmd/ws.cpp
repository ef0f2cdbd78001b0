// rtx ws URL — a WebSocket client for terminals and pipes: stdin lines -> messages,
// messages -> stdout.
#include "client/pipe_session.hpp"
#include "cmd/client_options.hpp"
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "cmd/listen_options.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"
#include "listen/ws_acceptor.hpp"
#include "proto/ws_codec.hpp"
#include "transport/connect_probe.hpp"
#include "transport/ws/ws_client.hpp"

#include <fmt/format.h>

#include <memory>

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rtx::cmd {

namespace {

struct WsCommandOptions {
    std::string target;
    MessageFlags message_flags;
    std::vector<std::string> headers;
    std::string origin;
    std::vector<std::string> subprotocols;
    bool no_compress = false;
    std::string max_message = "64MiB";
    std::string ping_interval;
    std::string ping_timeout;
    int close_code = transport::ws_close::normal;
    std::string close_reason;
    std::string linger = "5s";
    bool no_close = false;
    bool commands = false;
    std::string proxy;
    std::string unix_socket;
    ClientFlags flags;
    ListenFlags listen;
};

transport::WsOptions resolve_ws_options(const WsCommandOptions& options) {
    transport::WsOptions ws;
    ws.subprotocols = options.subprotocols;
    for (const auto& header : options.headers) {
        auto colon = header.find(':');
        if (colon == std::string::npos || colon == 0) {
            throw core::UsageError(fmt::format("-H '{}': expected 'Name: value'", header));
        }
        std::string value = header.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        ws.headers.emplace_back(header.substr(0, colon), value);
    }
    ws.origin = options.origin;
    ws.compress = !options.no_compress;
    ws.max_message = size_flag("--max-message", options.max_message);
    ws.ping_interval = duration_flag("--ping-interval", options.ping_interval);
    ws.ping_timeout = duration_flag("--ping-timeout", options.ping_timeout);
    if (ws.ping_timeout.count() > 0 && ws.ping_interval.count() == 0) {
        throw core::UsageError("--ping-timeout needs --ping-interval");
    }
    if (!proto::ws_close_code_allowed_on_wire(options.close_code)) {
        throw core::UsageError(fmt::format(
            "--close-code {}: not a code a client may send (1000-1003, 1007-1014, 3000-4999)",
            options.close_code));
    }
    ws.close_code = options.close_code;
    if (options.close_reason.size() > 123) {
        throw core::UsageError("--close-reason: at most 123 bytes (RFC 6455 section 5.5)");
    }
    ws.close_reason = options.close_reason;
    ws.linger = positive_duration_flag("--linger", options.linger);
    ws.own_framing = true;
    return ws;
}

core::ExitCode run_ws_listen(const WsCommandOptions& options) {
    const char* client_only = !options.headers.empty()         ? "-H/--header"
                              : !options.origin.empty()        ? "--origin"
                              : !options.subprotocols.empty()  ? "--subprotocol"
                              : !options.proxy.empty()         ? "--proxy"
                              : !options.unix_socket.empty()   ? "--unix-socket"
                              : !options.ping_interval.empty() ? "--ping-interval"
                              : options.commands               ? "--commands"
                                                               : nullptr;
    if (client_only != nullptr) {
        throw core::UsageError(
            fmt::format("{} is for a client, not with -l/--listen", client_only));
    }
    std::string unix_path;
    ListenTarget target;
    if (options.target.starts_with("unix:")) {
        unix_path = options.target.substr(5); // any request path is accepted on it
        if (unix_path.empty()) {
            throw core::UsageError("unix: needs a path (unix:/run/app.sock)");
        }
    } else {
        target = parse_listen_target(options.target);
    }
    ClientSettings settings = resolve_client_flags(options.flags, "ws");
    const transport::TlsOptions tls = check_listen_flags(options.listen, options.flags);
    settings.pipe.half_close = !options.no_close;
    settings.pipe.record_opcode = true;
    apply_message_flags(options.message_flags, settings.pipe);
    listen::WsListenOptions ws;
    ws.address = target.address;
    ws.unix_path = unix_path;
    ws.path = target.path;
    ws.max_message = size_flag("--max-message", options.max_message);
    ws.compression = !options.no_compress;
    ws.tls_cert = tls.cert_file;
    ws.tls_key = tls.key_file;
    return run_listen(options.listen, options.flags, settings, [&](core::Loop& loop) {
        return as_acceptor(listen::WsAcceptor::create(loop, ws));
    });
}

core::ExitCode run_ws(const WsCommandOptions& options) {
    if (options.listen.listen) {
        return run_ws_listen(options);
    }
    check_listen_flags(options.listen, options.flags); // listen flags without -l
    std::string target = options.target;
    if (target.find("://") == std::string::npos) {
        target = "ws://" + target; // host:port/path
    }
    auto url = core::parse_url(target, "ws");
    if (!url) {
        throw core::UsageError(url.error().message);
    }
    if (url->scheme != "ws" && url->scheme != "wss") {
        throw core::UsageError(
            fmt::format("rtx ws takes a ws:// or wss:// URL (got {}://)", url->scheme));
    }
    ClientSettings settings = resolve_client_flags(options.flags, "ws");
    const transport::WsOptions ws = resolve_ws_options(options);
    settings.pipe.half_close = !options.no_close;
    settings.pipe.commands = options.commands;
    settings.pipe.record_opcode = true;
    apply_message_flags(options.message_flags, settings.pipe);
    if (!options.unix_socket.empty() && !options.proxy.empty()) {
        throw core::UsageError("--unix-socket and --proxy cannot be combined");
    }
    settings.connect.unix_socket = options.unix_socket;
    if (!options.unix_socket.empty() && ::access(options.unix_socket.c_str(), F_OK) != 0) {
        // lws reports only a lost connection: say what is wrong.
        core::log_error("connect to unix:{}: {}", options.unix_socket, std::strerror(errno));
        return core::ExitCode::connect_failed;
    }

    core::Loop loop;
    transport::WsClient client(loop, settings.connect.tls, options.proxy);
    if (auto ready = client.init(); !ready) {
        core::log_error("{}", ready.error().message);
        return ready.error().code;
    }
    core::ExitCode code;
    {
        output::Sink sink = make_sink(settings);
        client::PipeSession session(loop, settings.pipe, sink);
        auto connect = [&](transport::Handler& handler) {
            return client.connect(url.value(), settings.connect, ws, handler, 1);
        };
        // lws says only "closed before established" when the connect fails: a TCP probe
        // finds the cause (through a proxy, lws never reaches the host itself).
        transport::ProbeTarget probe{url->host, url->port, settings.connect.connect_timeout};
        auto factory = [&](transport::Handler& handler) {
            return options.proxy.empty() && options.unix_socket.empty()
                       ? transport::with_connect_probe(loop, probe, handler, connect)
                       : connect(handler);
        };
        code = session.run(factory, settings.reconnect);
    } // the session's connection goes before the client's lws context
    return code;
}

} // namespace

Runner setup_ws(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<WsCommandOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    app->add_option(
           "url", options->target,
           "ws://HOST:PORT/PATH or wss://... (ws:// if omitted); with -l: [HOST:]PORT[/PATH] or "
           "unix:PATH")
        ->required();

    add_message_flags(*app, options->message_flags,
                      "Send each stdin message as a binary frame (default: text)",
                      "Send every received message back with the same opcode (a reflector)");
    const std::string messages = "Messages";
    app->add_option("--max-message", options->max_message,
                    "Largest message accepted; a bigger one closes with 1009 (exit 6)")
        ->default_str("64MiB")
        ->group(messages);

    const std::string websocket = "WebSocket";
    app->add_option("-H,--header", options->headers,
                    "Extra handshake header 'Name: value' (repeatable)")
        ->group(websocket);
    app->add_option("--origin", options->origin, "Origin header of the handshake")
        ->group(websocket);
    app->add_option("--subprotocol", options->subprotocols,
                    "Offer this subprotocol (repeatable; -v shows the chosen one)")
        ->group(websocket);
    app->add_flag("--no-compress", options->no_compress,
                  "Do not offer permessage-deflate (-v shows what was negotiated)")
        ->group(websocket);
    app->add_option("--ping-interval", options->ping_interval,
                    "Send a ping this often (-v shows each round-trip time)")
        ->group(websocket);
    app->add_option("--ping-timeout", options->ping_timeout,
                    "Close (exit 5) when a ping gets no pong this soon")
        ->group(websocket);
    app->add_option("--close-code", options->close_code,
                    "Code of the close frame sent on stdin EOF")
        ->default_str("1000")
        ->group(websocket);
    app->add_option("--close-reason", options->close_reason, "Reason text of that close frame")
        ->group(websocket);
    app->add_option("--linger", options->linger,
                    "After our close, wait this long for the server's before dropping")
        ->default_str("5s")
        ->group(websocket);
    app->add_flag("--commands", options->commands,
                  "Stdin lines '/ping [text]' and '/close [CODE [REASON]]' send a ping or a "
                  "close frame (other lines are messages)")
        ->group(websocket);
    app->add_flag("--no-close", options->no_close,
                  "On stdin EOF keep the connection open and go on receiving")
        ->group(websocket);
    app->add_option("--proxy", options->proxy, "HTTP proxy HOST:PORT (CONNECT tunnel)")
        ->group(websocket);
    app->add_option("--unix-socket", options->unix_socket,
                    "Connect to this Unix domain socket; the URL gives Host and path (as curl)")
        ->group(websocket);

    ClientFlagSet set;
    set.tls_flag = false;   // wss:// says it
    set.servername = false; // lws takes SNI from the URL's host
    add_client_flags(*app, options->flags, set);
    add_listen_flags(*app, options->listen);
    app->footer(R"(Lines read from stdin are sent as text messages once the handshake is done;
messages received are written to stdout (binary ones as base64 unless --raw). On stdin
EOF rtx sends its close frame and exits when the server answers (or after --linger).

Examples:
  rtx serve &                                       # /echo and /ws/{topic} on :8080
  echo hello | rtx ws ws://127.0.0.1:8080/echo      # prints "hello"
  rtx ws --no-stdin ws://127.0.0.1:8080/ws/news     # print what is published on news
  rtx ws --json --count 1 --no-stdin wss://example.org/feed
  rtx ws --no-stdin --format '{/data/symbol} {/data/price}' ws://127.0.0.1:8080/ws/market
  rtx ws --hex ws://127.0.0.1:8080/echo <<< 'deadbeef'  # one binary frame DE AD BE EF
  rtx ws -v --ping-interval 1s --no-stdin ws://127.0.0.1:8080/echo   # RTT on stderr
  rtx ws --reconnect --preamble '{"op":"subscribe"}' ws://host/stream
  rtx ws --echo --no-stdin ws://host:9001/           # reflect everything back
  rtx ws --commands ws://127.0.0.1:8080/echo        # type /ping, /close 4000 bye
  rtx ws -l 9001                                    # wait for one client (websocat -s)
  rtx ws -l --keep-open --json 0.0.0.0:9001/chat    # many clients on /chat, NDJSON out
  rtx ws -l --tls-cert cert.pem --tls-key key.pem 9443   # wss://
  rtx ws -l --keep-open --exec ./bot.sh 9001        # a process per connection (websocketd)
  rtx ws -l --keep-open --bridge tcp://127.0.0.1:5900 6080   # to TCP (websockify)
  rtx ws --unix-socket /run/app.sock ws://localhost/chat     # over a Unix domain socket
  rtx ws -l --keep-open unix:/tmp/ws.sock           # listen on one (any request path)

Exit status: 0 done (closed 1000/1001), 1 local I/O failure, 2 usage, 3 connect failed,
4 TLS, 5 timeout, 6 protocol error or message over --max-message, 7 connection lost
without a close frame, 8 HTTP status instead of 101, 9 server closed with another code,
11 --reconnect gave up, 12 -l could not bind, 130 SIGINT, 143 SIGTERM (rtx(1) has the full
table).)");
    return [options] {
        return run_ws(*options);
    };
}

} // namespace rtx::cmd
