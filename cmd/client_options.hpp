#pragma once

#include "client/pipe_session.hpp"
#include "output/sink.hpp"
#include "transport/connection.hpp"
#include "transport/reconnecting_connection.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rtx::cmd {

/// The flags every client subcommand shares, as typed (curl style: parse into one struct,
/// then turn it into library options in a separate step).
struct ClientFlags {
    bool json = false;
    bool raw = false;
    bool nul = false;
    bool no_stdin = false;
    std::uint64_t count = 0;
    std::string timeout;
    std::string idle_timeout;
    std::string connect_timeout = "10s";
    bool reconnect = false;
    bool no_reconnect = false;
    unsigned max_attempts = 0;
    std::string backoff_initial; ///< Empty: 100ms (3s for sse, the browsers' default).
    std::string backoff_max = "30s";
    std::vector<std::string> preamble;
    bool tls = false;
    bool insecure = false;
    std::string cacert;
    std::string cert;
    std::string key;
    std::string servername;
    std::vector<std::string> pick; ///< --pick POINTER (repeatable)
    std::string format;            ///< --format TEMPLATE (mqtt sub: -F)
    std::string until;             ///< --until REGEX
    bool join = false;             ///< --join
};

/// The library options the flags turn into.
struct ClientSettings {
    client::PipeOptions pipe;
    transport::ConnectOptions connect;
    transport::ReconnectOptions reconnect;
    output::Format format = output::Format::text;
    std::string output_delimiter = "\n";
    /// --pick or --format: each message is written as this template expands it.
    std::optional<output::LineTemplate> line;
    bool join = false; ///< --join: no delimiter between lines, one LF at the end.
};

/// Which of the shared flags a subcommand offers (a byte-stream client has them all; the
/// HTTP clients have no stdin, framing, preamble or SNI override).
struct ClientFlagSet {
    bool stream_framing = true;        ///< --raw, -0/--null
    bool stdin_input = true;           ///< --no-stdin
    bool preamble = true;              ///< --preamble
    bool tls_flag = true;              ///< --tls (HTTP clients take https:// instead)
    bool servername = true;            ///< --servername
    bool reconnect_by_default = false; ///< adds --no-reconnect (sse, poll)
    bool receive_output = true;        ///< --json, -n/--count (not for a publish-only client)
    /// --reconnect, --max-attempts, --backoff-*: off where a new connection needs new
    /// signalling (`rtx webrtc`).
    bool reconnect = true;
    /// -k/--insecure, --cacert, --cert, --key: off where the peer is trusted some other way
    /// (WebRTC: the certificate fingerprint in the SDP).
    bool tls_files = true;
    /// --format (`rtx mqtt sub` adds its own, with mosquitto_sub's -F).
    bool format = true;

    /// A client whose messages are not stdin lines and whose URL scheme decides framing
    /// and TLS (https://, mqtts://): no --raw/-0, --no-stdin, --preamble, --tls or
    /// --servername. The HTTP clients and `rtx mqtt`.
    static ClientFlagSet url_client() {
        ClientFlagSet set;
        set.stream_framing = false;
        set.stdin_input = false;
        set.preamble = false;
        set.tls_flag = false;
        set.servername = false;
        return set;
    }
};

/// Adds the shared flags to a client subcommand, in option groups.
void add_client_flags(CLI::App& app, ClientFlags& flags, const ClientFlagSet& set = {});

/// The stdout sink the settings ask for: --pick/--format templates, --join, or the format.
output::Sink make_sink(const ClientSettings& settings);

/// Validates and converts; throws core::UsageError with a one-line reason.
ClientSettings resolve_client_flags(const ClientFlags& flags, std::string_view protocol);

/// The message-client flags (`rtx ws`, `rtx webrtc`): how stdin lines become text or binary
/// messages, how binary ones are printed, and --echo.
struct MessageFlags {
    bool binary = false;
    bool base64 = false;
    bool hex = false;
    std::string binary_as = "base64";
    bool echo = false;
};

/// Adds --binary, --base64, --hex, --binary-as and --echo in the "Messages" group.
void add_message_flags(CLI::App& app, MessageFlags& flags, const std::string& binary_help,
                       const std::string& echo_help);

/// Sets the input encoding, binary display and echo of `pipe`.
void apply_message_flags(const MessageFlags& flags, client::PipeOptions& pipe);

} // namespace rtx::cmd
