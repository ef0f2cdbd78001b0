#include "cmd/listen_options.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"
#include "listen/bridge_partner.hpp"
#include "listen/exec_partner.hpp"
#include "transport/connect.hpp"
#include "transport/ws/ws_client.hpp"

#include <unistd.h>

#include <cstdlib>
#include <optional>

#include <fmt/format.h>

namespace rtx::cmd {

void add_listen_flags(CLI::App& app, ListenFlags& flags) {
    const std::string group = "Listen";
    app.add_flag("-l,--listen", flags.listen,
                 "Listen on [HOST:]PORT (HOST defaults to 127.0.0.1) or unix:PATH instead of "
                 "connecting")
        ->group(group);
    app.add_flag("--keep-open", flags.keep_open,
                 "With -l: accept many connections; stdin goes to all, each one's messages to "
                 "stdout (--json names the connection)")
        ->group(group);
    app.add_option("--tls-cert", flags.tls_cert,
                   "With -l: serve TLS with this certificate chain (PEM)")
        ->group(group);
    app.add_option("--tls-key", flags.tls_key,
                   "With -l: the private key of --tls-cert (PEM; default: in --tls-cert)")
        ->group(group);
    app.add_option("--exec", flags.exec,
                   "With -l: run CMD (by /bin/sh) for each connection: its messages are the "
                   "process's stdin lines, its stdout lines are sent back (websocketd)")
        ->group(group);
    app.add_option("--max-procs", flags.max_procs,
                   "With --exec: at most N processes at once; more connections are refused "
                   "(WebSocket close 1013)")
        ->group(group);
    app.add_option("--bridge", flags.bridge,
                   "With -l: connect each client to URL (tcp://, tls://, ws://, wss://) and pass "
                   "messages both ways (websockify)")
        ->group(group);
}

namespace {

/// True when the first word of an --exec command names a program that is not there: the
/// mistake is told at once, not by /bin/sh at each connection. Words the shell itself
/// understands (builtins, keywords, assignments, quoting) are left to it.
bool program_missing(const std::string& command, std::string& program) {
    const std::size_t start = command.find_first_not_of(" \t");
    if (start == std::string::npos) {
        return false;
    }
    program = command.substr(start, command.find_first_of(" \t;|&<>", start) - start);
    if (program.empty() || program.find_first_of("$`'\"(){}=*?[~\\") != std::string::npos) {
        return false;
    }
    static const char* const k_shell_words[] = {
        "exec",   "cd",     "while", "for",    "if",      "until", "case", "read", "echo",
        "printf", "test",   "set",   "export", "eval",    ".",     ":",    "true", "false",
        "trap",   "ulimit", "umask", "wait",   "command", "type",  "kill", "exit", "!"};
    for (const char* word : k_shell_words) {
        if (program == word) {
            return false;
        }
    }
    if (program.find('/') != std::string::npos) {
        return ::access(program.c_str(), X_OK) != 0;
    }
    const char* path = std::getenv("PATH");
    std::string_view directories = path != nullptr ? path : "/usr/bin:/bin";
    while (true) {
        const std::size_t colon = directories.find(':');
        std::string directory(directories.substr(0, colon));
        const std::string candidate = (directory.empty() ? "." : directory) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return false;
        }
        if (colon == std::string_view::npos) {
            return true;
        }
        directories.remove_prefix(colon + 1);
    }
}

std::uint16_t parse_port(const std::string& text, const std::string& target) {
    if (text.empty() || text.size() > 5 ||
        text.find_first_not_of("0123456789") != std::string::npos || std::stoul(text) > 65535) {
        throw core::UsageError(
            fmt::format("listen address '{}': expected [HOST:]PORT with a port 0-65535", target));
    }
    return static_cast<std::uint16_t>(std::stoul(text));
}

} // namespace

ListenTarget parse_listen_target(const std::string& text) {
    ListenTarget target;
    std::string authority = text;
    if (auto slash = text.find('/'); slash != std::string::npos) {
        authority = text.substr(0, slash);
        target.path = text.substr(slash);
    }
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find("]:");
        if (close == std::string::npos) {
            throw core::UsageError(fmt::format("listen address '{}': expected [IPv6]:PORT", text));
        }
        target.address.host = authority.substr(1, close - 1);
        target.address.port = parse_port(authority.substr(close + 2), text);
    } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
        target.address.host = authority.substr(0, colon);
        target.address.port = parse_port(authority.substr(colon + 1), text);
    } else {
        target.address.port = parse_port(authority, text);
    }
    sockaddr_storage check{};
    if (auto valid = target.address.to_sockaddr(check); !valid) {
        throw core::UsageError(fmt::format("listen address '{}': {}", text, valid.error().message));
    }
    return target;
}

transport::TlsOptions check_listen_flags(const ListenFlags& listen, const ClientFlags& client) {
    if (!listen.listen) {
        const char* flag = listen.keep_open           ? "--keep-open"
                           : !listen.tls_cert.empty() ? "--tls-cert"
                           : !listen.tls_key.empty()  ? "--tls-key"
                                                      : nullptr;
        if (flag != nullptr) {
            throw core::UsageError(fmt::format("{} needs -l/--listen", flag));
        }
        return {};
    }
    const char* client_only = client.reconnect             ? "--reconnect"
                              : !client.preamble.empty()   ? "--preamble"
                              : client.tls                 ? "--tls (use --tls-cert)"
                              : !client.cacert.empty()     ? "--cacert"
                              : !client.cert.empty()       ? "--cert (use --tls-cert)"
                              : !client.servername.empty() ? "--servername"
                                                           : nullptr;
    if (client_only != nullptr) {
        throw core::UsageError(
            fmt::format("{} is for a client, not with -l/--listen", client_only));
    }
    if (!listen.tls_key.empty() && listen.tls_cert.empty()) {
        throw core::UsageError("--tls-key needs --tls-cert");
    }
    if (listen.max_procs != 0 && listen.exec.empty()) {
        throw core::UsageError("--max-procs needs --exec");
    }
    if (!listen.exec.empty() && !listen.bridge.empty()) {
        throw core::UsageError("--exec and --bridge cannot be combined");
    }
    if (!listen.exec.empty()) {
        if (client.no_stdin) {
            throw core::UsageError("--exec and --no-stdin cannot be combined (with --exec, stdin "
                                   "is not read)");
        }
        std::string program;
        if (program_missing(listen.exec, program)) {
            throw core::UsageError(fmt::format("--exec: '{}': command not found", program));
        }
    }
    transport::TlsOptions tls;
    tls.enabled = !listen.tls_cert.empty();
    tls.cert_file = listen.tls_cert;
    tls.key_file = listen.tls_key;
    return tls;
}

namespace {

/// The --bridge backend of each connection: its URL checked now, its connections made by
/// transport::connect (tcp://, tls://) or by one WsClient (ws://, wss://).
struct Bridge {
    core::Url url;
    transport::ConnectOptions connect;
    std::unique_ptr<transport::WsClient> ws;
    transport::WsOptions ws_options;

    listen::BackendConnect connector(core::Loop& loop) {
        if (ws) {
            return [this](transport::Handler& handler, std::uint64_t id) {
                return ws->connect(url, connect, ws_options, handler, id);
            };
        }
        return [this, &loop](transport::Handler& handler, std::uint64_t id) {
            return transport::connect(loop, url, connect, handler, id);
        };
    }
};

} // namespace

core::ExitCode run_listen(const ListenFlags& listen, const ClientFlags& client,
                          const ClientSettings& settings, const AcceptorFactory& make_acceptor) {
    if (settings.pipe.until) {
        throw core::UsageError("--until is for a client, not -l (a listener serves many)");
    }
    if (!listen.exec.empty() && settings.pipe.echo) {
        throw core::UsageError("--exec and --echo cannot be combined");
    }
    if (!listen.bridge.empty() && settings.pipe.echo) {
        throw core::UsageError("--bridge and --echo cannot be combined");
    }
    std::optional<Bridge> bridge;
    if (!listen.bridge.empty()) {
        auto url = core::parse_url(listen.bridge, "tcp");
        if (!url) {
            throw core::UsageError(fmt::format("--bridge: {}", url.error().message));
        }
        const std::string& scheme = url->scheme;
        if (scheme != "tcp" && scheme != "tls" && scheme != "ws" && scheme != "wss") {
            throw core::UsageError(
                fmt::format("--bridge takes tcp://, tls://, ws:// or wss:// (got {}://)", scheme));
        }
        if ((scheme == "ws" || scheme == "wss") && settings.pipe.protocol == "ws") {
            throw core::UsageError("rtx ws -l --bridge takes tcp:// or tls:// (a WebSocket "
                                   "backend: use rtx tcp -l --bridge ws://)");
        }
        bridge.emplace();
        bridge->url = std::move(url.value());
        bridge->connect.framing = settings.pipe.input_framing;
        bridge->connect.connect_timeout = settings.connect.connect_timeout;
        bridge->connect.tls.enabled = scheme == "tls" || scheme == "wss";
        bridge->connect.tls.insecure = client.insecure;
        bridge->connect.tls.ca_file = client.cacert;
        bridge->ws_options.own_framing = true;
    }
    core::raise_open_files_limit();
    core::Loop loop;
    auto acceptor = make_acceptor(loop);
    if (!acceptor) {
        core::log_error("{}", acceptor.error().message);
        return acceptor.error().code;
    }
    if (bridge && (bridge->url.scheme == "ws" || bridge->url.scheme == "wss")) {
        bridge->ws = std::make_unique<transport::WsClient>(loop, bridge->connect.tls);
        if (auto ready = bridge->ws->init(); !ready) {
            core::log_error("{}", ready.error().message);
            return ready.error().code;
        }
    }
    listen::ListenOptions options;
    options.pipe = settings.pipe;
    options.keep_open = listen.keep_open;
    if (!listen.exec.empty()) {
        listen::ExecOptions exec;
        exec.command = listen.exec;
        exec.framing = settings.pipe.input_framing;
        options.partner = [exec](core::Loop& partner_loop, transport::Connection& connection,
                                 const std::string& peer, listen::Partner::Ended ended) {
            return listen::ExecPartner::spawn(partner_loop, connection, peer, std::move(ended),
                                              exec);
        };
        options.max_partners = listen.max_procs;
    }
    if (bridge) {
        const auto to_client = settings.pipe.input_framing == proto::Framing::raw
                                   ? transport::PayloadKind::binary
                                   : transport::PayloadKind::text;
        options.partner = [connect = bridge->connector(loop),
                           to_client](core::Loop& partner_loop, transport::Connection& connection,
                                      const std::string&, listen::Partner::Ended ended) {
            return core::Result<std::unique_ptr<listen::Partner>>(
                std::make_unique<listen::BridgePartner>(partner_loop, connection, std::move(ended),
                                                        connect, to_client));
        };
    }
    core::ExitCode code;
    {
        output::Sink sink = make_sink(settings);
        listen::ListenSession session(loop, options, sink);
        code = session.run(*acceptor.value());
    } // the bridges' connections go before the WsClient
    return code;
}

} // namespace rtx::cmd
