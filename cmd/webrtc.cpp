// rtx webrtc --offer | --answer — a WebRTC data channel for terminals and pipes, with manual
// signalling: the local description goes out as one base64 line, the peer's comes in as one.
#include "client/pipe_session.hpp"
#include "cmd/client_options.hpp"
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "cmd/webrtc_whip.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/stdin_pump.hpp"
#include "core/url.hpp"
#include "transport/webrtc/trickle_json.hpp"
#include "transport/webrtc/webrtc_connection.hpp"
#include "transport/ws/ws_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

namespace rtx::cmd {

namespace {

struct WebrtcCommandOptions {
    std::string url;                  ///< ws://HOST:PORT/signal/ROOM: signalling through a room.
    std::string whip;                 ///< --whip URL: WHIP signalling (RFC 9725).
    std::vector<std::string> headers; ///< -H for the WHIP requests.
    bool no_trickle = false;          ///< Room: candidates in the descriptions only.
    bool offer = false;
    bool answer = false;
    std::string sdp_in;
    std::string sdp_out;
    std::vector<std::string> ice_addresses;
    std::string stun;
    std::string turn;
    bool relay_only = false;
    std::string label = "rtx";
    std::string protocol;
    bool unordered = false;
    std::optional<std::uint32_t> max_retransmits;
    std::optional<std::uint32_t> max_packet_life;
    MessageFlags message_flags;
    std::string max_message = "64MiB";
    ClientFlags flags;
};

/// Where the peer's description comes from: --sdp-in FILE (a regular file or a FIFO) or the
/// terminal. Opened before the loop runs, read on a StdinPump thread until the first line.
class RemoteDescriptionReader {
public:
    RemoteDescriptionReader(core::Loop& loop, std::string path)
        : m_loop(loop)
        , m_path(path.empty() ? "/dev/tty" : std::move(path)) {}
    ~RemoteDescriptionReader() {
        if (m_pump) {
            m_pump->stop();
        }
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }

    /// Opens the source; throws UsageError when it cannot.
    void open() {
        struct stat info {};
        bool fifo = ::stat(m_path.c_str(), &info) == 0 && S_ISFIFO(info.st_mode);
        // A FIFO is opened read-write (Linux, fifo(7)): the open does not wait for a writer
        // and a writer that has not come yet does not look like end of input.
        m_fd = ::open(m_path.c_str(), (fifo ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (m_fd < 0) {
            throw core::UsageError(
                m_path == "/dev/tty"
                    ? "no --sdp-in and no terminal to read the peer's description from"
                    : fmt::format("--sdp-in {}: {}", m_path, std::strerror(errno)));
        }
    }

    /// Starts reading; the decoded description goes to `connection`.
    void start(transport::webrtc::WebrtcConnection& connection) {
        if (m_pump) {
            return;
        }
        if (m_path == "/dev/tty") {
            core::log_info("webrtc: paste the peer's description (one base64 line):");
        }
        m_connection = &connection;
        m_pump = std::make_unique<core::StdinPump>(
            m_loop, m_fd, [this](std::string_view bytes) { on_data(bytes); },
            [this](const std::string& error) { on_end(error); });
        m_pump->start();
    }

private:
    void on_data(std::string_view bytes) {
        if (m_done) {
            return;
        }
        m_line.append(bytes);
        auto newline = m_line.find('\n');
        if (newline != std::string::npos) {
            m_line.resize(newline);
            deliver();
        } else if (m_line.size() > 256 * 1024) {
            m_done = true;
            m_connection->fail(core::ExitCode::protocol_error,
                               "remote description: a line longer than 256 KiB");
        }
    }

    void on_end(const std::string& error) {
        if (m_done) {
            return;
        }
        if (!error.empty()) {
            m_done = true;
            m_connection->fail(core::ExitCode::failure, fmt::format("read {}: {}", m_path, error));
            return;
        }
        if (m_line.empty()) {
            m_done = true;
            m_connection->fail(core::ExitCode::failure,
                               fmt::format("{} ended without a remote description", m_path));
            return;
        }
        deliver();
    }

    void deliver() {
        m_done = true;
        while (!m_line.empty() && (m_line.back() == '\r' || m_line.back() == ' ')) {
            m_line.pop_back();
        }
        auto sdp = core::decode_base64(m_line);
        if (!sdp) {
            m_connection->fail(core::ExitCode::protocol_error,
                               "remote description: not one line of base64");
            return;
        }
        m_connection->set_remote_description(*sdp);
        // Stopped from the loop after this callback: the pump is not torn down under itself,
        // and the terminal is left free for the messages that follow.
        m_loop.post([this] { m_pump->stop(); });
    }

    core::Loop& m_loop;
    std::string m_path;
    int m_fd = -1;
    std::unique_ptr<core::StdinPump> m_pump;
    transport::webrtc::WebrtcConnection* m_connection = nullptr;
    std::string m_line;
    bool m_done = false;
};

/// Signalling through a room of `rtx serve` (/signal/{room}, or /webrtc/{target} where rtx
/// serve is the peer): the server's welcome says how many peers were there; the one that
/// finds a peer makes the offer. The descriptions travel as
/// {"type":"offer"|"answer","sdp":...}; with trickle ICE the candidates follow as
/// {"type":"candidate","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0} (the data
/// section's mid and index) and an empty "candidate" ends them (as browsers send them),
/// else they are in the descriptions.
class RoomSignalling final : public transport::Handler {
public:
    RoomSignalling(transport::WsClient& client, core::Url url,
                   transport::ConnectOptions connect_options)
        : m_client(client)
        , m_url(std::move(url))
        , m_connect(std::move(connect_options)) {}

    /// Joins the room for `connection`, which starts once the role is known.
    void attach(transport::webrtc::WebrtcConnection& connection) {
        m_webrtc = &connection;
        transport::WsOptions ws;
        ws.compress = false;
        ws.max_message = 1024 * 1024;
        m_socket = m_client.connect(m_url, m_connect, ws, *this, 2);
    }

    /// Our description, once gathered: to the other peer of the room.
    void send_description(const std::string& sdp) {
        nlohmann::json message{{"type", m_offerer ? "offer" : "answer"}, {"sdp", sdp}};
        const std::string text = message.dump();
        if (m_socket == nullptr || !m_socket->send(transport::Message(text))) {
            fail("the room's WebSocket is not open to send our description");
        }
    }

    /// One of our trickled candidates (empty: the end of them): to the other peer.
    void send_candidate(const transport::webrtc::TrickledCandidate& candidate) {
        const std::string text = transport::webrtc::candidate_message(candidate);
        if (m_socket == nullptr || !m_socket->send(transport::Message(text))) {
            fail("the room's WebSocket is not open to send our candidates");
        }
    }

    /// The session is over: the room's connection goes, and nothing reaches the
    /// WebRTC connection any more.
    void detach() {
        m_webrtc = nullptr;
        m_socket.reset();
    }

    void on_open(transport::Connection&) override {
        core::log_verbose("webrtc: joined the signalling room {}", m_url.to_string());
    }

    void on_message(transport::Connection&, const transport::Message& message) override {
        if (m_webrtc == nullptr) {
            return;
        }
        const auto json = nlohmann::json::parse(message.payload, nullptr, false);
        if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) {
            fail("the room sent something that is not a JSON object with a \"type\"");
            return;
        }
        const std::string type = json["type"].get<std::string>();
        if (type == "welcome" && !m_started) {
            m_started = true;
            const auto peers = json.value("peers", 0);
            m_offerer = peers > 0;
            core::log_verbose("webrtc: {} peer(s) in the room before us: we {}", peers,
                              m_offerer ? "make the offer" : "wait for the offer");
            m_webrtc->start(m_offerer);
        } else if ((type == "offer" && !m_offerer) || (type == "answer" && m_offerer)) {
            if (!json.contains("sdp") || !json["sdp"].is_string()) {
                fail(fmt::format("the peer's {} has no \"sdp\" string", type));
                return;
            }
            if (!m_started || m_described) {
                core::log_verbose("webrtc: ignoring a further {} from the room", type);
                return;
            }
            m_described = true;
            m_webrtc->set_remote_description(json["sdp"].get<std::string>());
        } else if (type == "candidate") {
            m_webrtc->add_remote_candidate(transport::webrtc::candidate_from_message(json));
        } else {
            // join, leave, or the peer's own extensions.
            core::log_verbose("webrtc: signalling: {}", type);
        }
    }

    void on_close(transport::Connection&, const transport::CloseInfo& info) override {
        if (m_webrtc == nullptr || m_described) {
            return; // the descriptions were exchanged: the room is no longer needed
        }
        m_webrtc->fail(info.exit_code == core::ExitCode::ok ? core::ExitCode::connect_failed
                                                            : info.exit_code,
                       fmt::format("signalling room {}: {}", m_url.to_string(),
                                   info.reason.empty() ? "closed before the peer's description"
                                                       : info.reason));
    }

private:
    void fail(const std::string& reason) {
        if (m_webrtc != nullptr) {
            m_webrtc->fail(core::ExitCode::protocol_error, "signalling: " + reason);
        }
    }

    transport::WsClient& m_client;
    core::Url m_url;
    transport::ConnectOptions m_connect;
    std::unique_ptr<transport::Connection> m_socket;
    transport::webrtc::WebrtcConnection* m_webrtc = nullptr;
    bool m_started = false;
    bool m_offerer = false;
    bool m_described = false;
};

void write_local_description(const std::string& path, bool offer, const std::string& sdp) {
    std::string line;
    core::append_base64(line, sdp);
    line += '\n';
    if (path.empty()) {
        core::log_info("webrtc: {} (give it to the peer's `rtx webrtc {}`):",
                       offer ? "offer" : "answer", offer ? "--answer" : "--offer");
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
        return;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        core::log_error("--sdp-out {}: {}", path, std::strerror(errno));
        return;
    }
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
    ::close(fd);
}

core::ExitCode run_room(const core::Url& url, const ClientSettings& settings,
                        const transport::webrtc::WebrtcOptions& webrtc);

/// --stun, --turn and --relay-only, checked before anything starts.
transport::webrtc::IceServers ice_servers(const WebrtcCommandOptions& options) {
    transport::webrtc::IceServers servers;
    if (!options.stun.empty()) {
        auto stun = transport::webrtc::parse_stun_server(options.stun);
        if (!stun) {
            throw core::UsageError(stun.error().message);
        }
        servers.stun = std::move(stun.value());
    }
    if (!options.turn.empty()) {
        auto turn = transport::webrtc::parse_turn_server(options.turn);
        if (!turn) {
            throw core::UsageError(turn.error().message);
        }
        servers.turn = std::move(turn.value());
    }
    if (options.relay_only && !servers.turn) {
        throw core::UsageError("--relay-only needs a --turn relay");
    }
    servers.relay_only = options.relay_only;
    return servers;
}

core::ExitCode run_webrtc(const WebrtcCommandOptions& options) {
    std::optional<core::Url> room;
    if (!options.whip.empty()) {
        auto url = core::parse_url(options.whip, "http");
        if (!url || (url->scheme != "http" && url->scheme != "https")) {
            throw core::UsageError(
                fmt::format("--whip {}: not an http:// or https:// URL", options.whip));
        }
        if (!options.url.empty() || options.offer || options.answer || !options.sdp_in.empty() ||
            !options.sdp_out.empty()) {
            throw core::UsageError("--whip makes the offer by HTTP: no room URL, --offer, "
                                   "--answer, --sdp-in or --sdp-out with it");
        }
    } else if (!options.headers.empty()) {
        throw core::UsageError("-H/--header belongs to --whip");
    } else if (!options.url.empty()) {
        auto url = core::parse_url(options.url, "ws");
        if (!url || (url->scheme != "ws" && url->scheme != "wss") ||
            !((url->path.starts_with("/signal/") && url->path.size() > 8) ||
              (url->path.starts_with("/webrtc/") && url->path.size() > 8))) {
            throw core::UsageError(
                fmt::format("{}: not a signalling room URL (ws://HOST:PORT/signal/ROOM, "
                            "or ws://HOST:PORT/webrtc/TARGET)",
                            options.url));
        }
        if (options.offer || options.answer || !options.sdp_in.empty() ||
            !options.sdp_out.empty()) {
            throw core::UsageError("a room URL decides who offers: no --offer, --answer, "
                                   "--sdp-in or --sdp-out with it");
        }
        room = std::move(url.value());
    } else if (options.offer == options.answer) {
        throw core::UsageError("give a room URL, or one of --offer or --answer");
    }
    if (options.answer &&
        (options.label != "rtx" || !options.protocol.empty() || options.unordered ||
         options.max_retransmits || options.max_packet_life)) {
        throw core::UsageError("--label, --protocol, --unordered, --max-retransmits and "
                               "--max-packet-life belong to --offer (the answerer takes the "
                               "channel the offerer opens)");
    }
    if (auto broken = transport::webrtc::load_webrtc_stack()) {
        core::log_error("{}", *broken);
        return core::ExitCode::failure;
    }
    ClientSettings settings = resolve_client_flags(options.flags, "webrtc");
    settings.pipe.stdin_after_open = true;
    apply_message_flags(options.message_flags, settings.pipe);

    transport::webrtc::WebrtcOptions webrtc;
    webrtc.offerer = options.offer;
    webrtc.ice_addresses = options.ice_addresses;
    webrtc.ice_servers = ice_servers(options);
    webrtc.label = options.label;
    webrtc.protocol = options.protocol;
    webrtc.channel.ordered = !options.unordered;
    using Reliability = transport::webrtc::ChannelParameters::Reliability;
    if (options.max_retransmits) {
        webrtc.channel.reliability = Reliability::max_retransmits;
        webrtc.channel.value = *options.max_retransmits;
    } else if (options.max_packet_life) {
        webrtc.channel.reliability = Reliability::max_packet_life;
        webrtc.channel.value = *options.max_packet_life;
    }
    webrtc.connect_timeout = settings.connect.connect_timeout;
    webrtc.max_message_size = size_flag("--max-message", options.max_message);

    if (room || !options.whip.empty()) {
        // A server between the peers answers in moments, or never.
        webrtc.answer_timeout = settings.connect.connect_timeout;
    }
    if (room) {
        webrtc.trickle = !options.no_trickle;
        return run_room(*room, settings, webrtc);
    }
    if (!options.whip.empty()) {
        for (const auto& header : options.headers) {
            if (header.find(':') == std::string::npos ||
                header.find_first_of("\r\n") != std::string::npos) {
                throw core::UsageError(fmt::format("-H '{}': expected 'Name: value'", header));
            }
        }
        return run_whip(options.whip, options.headers, settings, webrtc);
    }

    core::Loop loop;
    output::Sink sink = make_sink(settings);
    client::PipeSession session(loop, settings.pipe, sink);
    RemoteDescriptionReader reader(loop, options.sdp_in);
    reader.open();
    transport::webrtc::WebrtcConnection* current = nullptr;
    auto factory = [&](transport::Handler& handler) -> std::unique_ptr<transport::Connection> {
        auto connection_options = webrtc;
        connection_options.on_local_description = [&options, &reader,
                                                   &current](const std::string& sdp) {
            write_local_description(options.sdp_out, options.offer, sdp);
            if (options.offer) {
                reader.start(*current); // the answer can only follow our offer
            }
        };
        auto connection = transport::webrtc::make_webrtc_connection(
            loop, std::move(connection_options), handler, 1);
        current = connection.get();
        connection->start();
        if (options.answer) {
            reader.start(*current);
        }
        return connection;
    };
    return session.run(factory, settings.reconnect);
}

core::ExitCode run_room(const core::Url& url, const ClientSettings& settings,
                        const transport::webrtc::WebrtcOptions& webrtc) {
    core::Loop loop;
    transport::WsClient client(loop, settings.connect.tls);
    if (auto ready = client.init(); !ready) {
        core::log_error("{}", ready.error().message);
        return ready.error().code;
    }
    core::ExitCode code;
    {
        RoomSignalling signalling(client, url, settings.connect);
        output::Sink sink = make_sink(settings);
        client::PipeSession session(loop, settings.pipe, sink);
        auto factory = [&](transport::Handler& handler) -> std::unique_ptr<transport::Connection> {
            auto connection_options = webrtc;
            connection_options.on_local_description = [&signalling](const std::string& sdp) {
                signalling.send_description(sdp);
            };
            connection_options.on_local_candidate =
                [&signalling](const transport::webrtc::TrickledCandidate& candidate) {
                    signalling.send_candidate(candidate);
                };
            auto connection = transport::webrtc::make_webrtc_connection(
                loop, std::move(connection_options), handler, 1);
            signalling.attach(*connection);
            return connection;
        };
        code = session.run(factory, settings.reconnect);
        signalling.detach();
    } // the room's connection goes before the client's lws context
    return code;
}

} // namespace

Runner setup_webrtc(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<WebrtcCommandOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    const std::string signalling = "Signalling";
    app->add_option("url", options->url,
                    "Signalling room of rtx serve (ws://HOST:PORT/signal/ROOM): the peer that "
                    "finds another one there makes the offer; or /webrtc/echo, /webrtc/TOPIC: "
                    "rtx serve itself answers")
        ->group(signalling);
    auto* offer =
        app->add_flag("--offer", options->offer, "Make the offer and open the data channel")
            ->group(signalling);
    auto* answer = app->add_flag("--answer", options->answer,
                                 "Answer the peer's offer and take the channel it opens")
                       ->group(signalling);
    offer->excludes(answer);
    app->add_option("--whip", options->whip,
                    "WHIP endpoint (RFC 9725): POST our offer there, take the answer from the "
                    "201 response, DELETE the session at the end")
        ->type_name("URL")
        ->group(signalling);
    app->add_option("-H,--header", options->headers,
                    "Extra header for the WHIP requests, 'Name: value' (repeatable), e.g. "
                    "'Authorization: Bearer TOKEN'")
        ->group(signalling);
    app->add_flag("--no-trickle", options->no_trickle,
                  "Room: put every candidate in the description (after gathering) instead of "
                  "trickling them over the WebSocket")
        ->group(signalling);
    app->add_option("--sdp-in", options->sdp_in,
                    "Read the peer's description (one base64 line) from FILE or FIFO "
                    "(default: the terminal)")
        ->group(signalling);
    app->add_option("--sdp-out", options->sdp_out,
                    "Write our description (one base64 line) to FILE instead of stderr")
        ->group(signalling);

    const std::string webrtc = "WebRTC";
    app->add_option("--ice-address", options->ice_addresses,
                    "Gather ICE candidates only on this local IP, and drop the peer's "
                    "candidates on other addresses (repeatable)")
        ->group(webrtc);
    app->add_option("--stun", options->stun,
                    "STUN server for a server-reflexive candidate (HOST:PORT, port 3478 if "
                    "left out)")
        ->type_name("HOST:PORT")
        ->group(webrtc);
    app->add_option("--turn", options->turn,
                    "TURN relay (over UDP) for a relayed candidate: turn:USER:PASS@HOST:PORT")
        ->type_name("URL")
        ->group(webrtc);
    app->add_flag("--relay-only", options->relay_only,
                  "Use only relayed candidates (needs --turn), like iceTransportPolicy relay")
        ->group(webrtc);
    app->add_option("--label", options->label, "Label of the data channel (--offer)")
        ->default_str("rtx")
        ->group(webrtc);
    app->add_option("--protocol", options->protocol, "Sub-protocol of the data channel (--offer)")
        ->group(webrtc);
    app->add_flag("--unordered", options->unordered,
                  "Open an unordered channel: messages may arrive out of order (--offer)")
        ->group(webrtc);
    auto* retransmits =
        app->add_option("--max-retransmits", options->max_retransmits,
                        "Partially reliable: abandon a message after N retransmissions (--offer)")
            ->type_name("N")
            ->group(webrtc);
    auto* packet_life =
        app->add_option("--max-packet-life", options->max_packet_life,
                        "Partially reliable: abandon a message MS milliseconds after it was "
                        "sent (--offer)")
            ->type_name("MS")
            ->group(webrtc);
    retransmits->excludes(packet_life);

    add_message_flags(*app, options->message_flags,
                      "Send each stdin message as binary (default: text)",
                      "Send every received message back, same kind (a reflector)");
    const std::string messages = "Messages";
    app->add_option("--max-message", options->max_message,
                    "Largest message we accept (our a=max-message-size); a bigger one ends "
                    "with exit 6")
        ->default_str("64MiB")
        ->group(messages);

    ClientFlagSet set;
    set.tls_flag = false;
    set.servername = false;
    set.tls_files = false; // the SDP's certificate fingerprint is the trust
    set.reconnect = false; // a new connection needs new signalling
    set.preamble = false;
    add_client_flags(*app, options->flags, set);
    app->footer(R"(One data channel (reliable and ordered unless --unordered, --max-retransmits or
--max-packet-life). Manual signalling: each side writes its description as one
base64 line (stderr, or --sdp-out FILE) and reads the peer's (the terminal, or --sdp-in
FILE/FIFO). Once the channel is open, stdin lines are sent as
messages and messages received are written to stdout. On stdin EOF rtx closes the channel
once everything sent is acknowledged, and exits when the peer has closed its side (what
the peer sent before that is printed). --connect-timeout bounds ICE + DTLS + SCTP + the
channel opening, counted from the peer's description.

With a room URL (rtx serve's /signal/ROOM) the peers meet in the room instead: the one
that finds another there makes the offer; a full room is exit 8.

Examples:
  rtx webrtc ws://127.0.0.1:8080/signal/demo    # twice: the two meet through rtx serve
  rtx webrtc ws://127.0.0.1:8080/webrtc/echo    # rtx serve is the peer: it echoes
  rtx webrtc ws://127.0.0.1:8080/webrtc/news    # a channel on hub topic news (sse, mqtt...)
  rtx webrtc --whip http://127.0.0.1:8080/whip/echo -H 'Authorization: Bearer T'
  rtx webrtc --offer                     # terminal 1: prints the offer, waits for the answer
  rtx webrtc --answer                    # terminal 2: paste the offer, copy the answer back
  mkfifo o2a a2o
  rtx webrtc --offer --ice-address 127.0.0.1 --sdp-out o2a --sdp-in a2o < file.txt &
  rtx webrtc --answer --ice-address 127.0.0.1 --sdp-in o2a --sdp-out a2o > copy.txt
  rtx webrtc --answer --echo --no-stdin --sdp-in offer.b64   # a reflector
  rtx webrtc --offer --unordered --max-retransmits 0 ...      # like UDP: no order, no retry
  rtx webrtc --offer --json -v ...       # NDJSON records; ICE, DTLS and SCTP steps on stderr
  rtx webrtc ws://HOST:8080/signal/demo --stun stun.example.net:3478
  rtx webrtc ws://HOST:8080/signal/demo --turn turn:alice:secret@turn.example.net:3478 --relay-only
  rtx serve   # then open http://127.0.0.1:8080/webrtc.html?room=demo and run the first example

Exit status: 0 done, 1 local I/O failure, 2 usage, 3 ICE failed (no candidate pair
worked), 4 DTLS failed (handshake, or the certificate does not match the fingerprint), 5
timeout, 6 bad remote description or protocol error, 7 connection lost, 8 the room
refused us (409: full), 130 SIGINT, 143 SIGTERM (rtx(1) has the full table).)");
    return [options] {
        return run_webrtc(*options);
    };
}

} // namespace rtx::cmd
