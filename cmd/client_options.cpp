#include "cmd/client_options.hpp"

#include "cmd/flag_values.hpp"

#include "core/duration.hpp"
#include "core/error.hpp"

#include <fmt/format.h>

#include <fstream>

namespace rtx::cmd {

namespace {

/// --pick, --format, --join and --until: streaming APIs (an LLM's token stream, a market
/// feed) read as text. One LineTemplate and one UntilPattern serve every client.
void add_pick_flags(CLI::App& app, ClientFlags& flags, const ClientFlagSet& set) {
    const char* group = "Streaming APIs";
    app.add_option("--pick", flags.pick,
                   "Print this member of each JSON message (RFC 6901 pointer, e.g. "
                   "/choices/0/delta/content; repeatable: tab-separated); others are skipped")
        ->group(group);
    if (set.format) {
        app.add_option("--format", flags.format,
                       "Print each message as this template: {/pointer} into the JSON payload, "
                       "{payload} {topic} {id} {event} {time} ... record keys, \\n \\t")
            ->group(group);
    }
    app.add_flag("--join", flags.join,
                 "No newline between --pick/--format outputs (a token stream reads as text); "
                 "one at the end")
        ->group(group);
    app.add_option("--until", flags.until,
                   "Stop (exit 0) at the first message matching this regex, not printed "
                   "(e.g. '^\\[DONE\\]$')")
        ->group(group);
}

/// --pick/--format/--join/--until into `settings`.
void resolve_pick_flags(const ClientFlags& flags, ClientSettings& settings) {
    if (!flags.pick.empty() && !flags.format.empty()) {
        throw core::UsageError("--pick and --format exclude each other");
    }
    const bool templated = !flags.pick.empty() || !flags.format.empty();
    if (templated && (flags.json || flags.raw)) {
        throw core::UsageError(fmt::format("{} and {} cannot be combined",
                                           flags.pick.empty() ? "--format" : "--pick",
                                           flags.json ? "--json" : "--raw"));
    }
    if (flags.join && !templated) {
        throw core::UsageError("--join needs --pick or --format");
    }
    if (templated) {
        auto line = flags.pick.empty() ? output::LineTemplate::parse(flags.format)
                                       : output::LineTemplate::pick(flags.pick);
        if (!line) {
            throw core::UsageError(line.error().message);
        }
        settings.line = std::move(line.value());
    }
    settings.join = flags.join;
    if (!flags.until.empty()) {
        auto until = client::UntilPattern::parse(flags.until);
        if (!until) {
            throw core::UsageError(until.error().message);
        }
        settings.pipe.until = std::move(until.value());
    }
}

} // namespace

output::Sink make_sink(const ClientSettings& settings) {
    if (settings.line) {
        return output::Sink(*settings.line, 1, settings.join ? "" : settings.output_delimiter,
                            settings.join ? "\n" : "");
    }
    return output::Sink(settings.format, 1, settings.output_delimiter);
}

void add_client_flags(CLI::App& app, ClientFlags& flags, const ClientFlagSet& set) {
    const char* output = "Output";
    if (set.receive_output) {
        app.add_flag("--json", flags.json,
                     "Write one NDJSON record per message (time, protocol, connection, event, "
                     "topic, id, payload, encoding, size)")
            ->group(output);
    }
    if (set.stream_framing) {
        app.add_flag(
               "--raw", flags.raw,
               "Binary-safe: send stdin bytes as they come and write received bytes unchanged "
               "(no line framing)")
            ->group(output);
        app.add_flag("-0,--null", flags.nul, "Messages end with NUL instead of LF, both ways")
            ->group(output);
    }
    if (set.receive_output) {
        app.add_option("-n,--count", flags.count, "Exit after receiving N messages")->group(output);
        add_pick_flags(app, flags, set);
    }

    const char* connection = "Connection";
    if (set.stdin_input) {
        app.add_flag("--no-stdin", flags.no_stdin, "Do not read stdin; only receive")
            ->group(connection);
    }
    app.add_option("--timeout", flags.timeout,
                   "Give up after this long in total, exit 5 (e.g. 30s, 500ms, 2m)")
        ->group(connection);
    app.add_option("--idle-timeout", flags.idle_timeout,
                   "Close after this long without a message either way, exit 5")
        ->group(connection);
    app.add_option("--connect-timeout", flags.connect_timeout,
                   "Limit on resolve + connect + handshakes")
        ->capture_default_str()
        ->group(connection);

    const char* reconnect = "Reconnect";
    if (set.reconnect) {
        if (set.reconnect_by_default) {
            app.add_flag("--no-reconnect", flags.no_reconnect,
                         "Do not reconnect when the stream ends or drops (default: reconnect)")
                ->group(reconnect);
        }
        app.add_flag("--reconnect", flags.reconnect,
                     set.reconnect_by_default
                         ? "Also retry when the first connect fails (reconnecting after a drop "
                           "is on by default)"
                         : "Reconnect with exponential backoff and jitter when the connection "
                           "drops or cannot be made")
            ->group(reconnect);
        app.add_option(
               "--max-attempts", flags.max_attempts,
               "Give up (exit 11) after N failed attempts in a row, the first included; 0 = never")
            ->group(reconnect);
        app.add_option("--backoff-initial", flags.backoff_initial,
                       "First reconnect delay (default 100ms; sse: 3s)")
            ->group(reconnect);
        app.add_option("--backoff-max", flags.backoff_max, "Cap on the reconnect delay")
            ->capture_default_str()
            ->group(reconnect);
    }
    if (set.preamble) {
        app.add_option("--preamble", flags.preamble,
                       "Message sent first after every (re)connect (repeatable; @FILE reads lines "
                       "from a file)")
            ->group(reconnect);
    }

    const char* tls = "TLS";
    if (set.tls_flag) {
        app.add_flag("--tls", flags.tls, "Use TLS (same as a tls:// URL)")->group(tls);
    }
    if (set.tls_files) {
        app.add_flag("-k,--insecure", flags.insecure,
                     "Do not verify the server certificate or host name")
            ->group(tls);
        app.add_option("--cacert", flags.cacert, "Trust the CA certificates in this PEM file")
            ->group(tls);
        app.add_option("--cert", flags.cert, "Client certificate (PEM)")->group(tls);
        app.add_option("--key", flags.key, "Client private key (PEM; default: in --cert)")
            ->group(tls);
    }
    if (set.servername) {
        app.add_option("--servername", flags.servername,
                       "Name for SNI and verification (default: the URL host)")
            ->group(tls);
    }
}

namespace {

std::vector<std::string> expand_preamble(const std::vector<std::string>& items) {
    std::vector<std::string> messages;
    for (const auto& item : items) {
        if (item.size() > 1 && item.front() == '@') {
            std::ifstream file(item.substr(1));
            if (!file) {
                throw core::UsageError(fmt::format("--preamble: cannot read '{}'", item.substr(1)));
            }
            for (std::string line; std::getline(file, line);) {
                messages.push_back(line);
            }
        } else {
            messages.push_back(item);
        }
    }
    return messages;
}

} // namespace

ClientSettings resolve_client_flags(const ClientFlags& flags, std::string_view protocol) {
    if (flags.raw && flags.nul) {
        throw core::UsageError("--raw and --null cannot be combined");
    }
    if (flags.json && flags.raw) {
        throw core::UsageError("--json and --raw cannot be combined");
    }
    ClientSettings settings;
    settings.pipe.protocol = std::string(protocol);
    settings.pipe.read_stdin = !flags.no_stdin;
    settings.pipe.count = flags.count;
    settings.pipe.timeout = duration_flag("--timeout", flags.timeout);
    settings.pipe.idle_timeout = duration_flag("--idle-timeout", flags.idle_timeout);

    proto::Framing framing = flags.raw   ? proto::Framing::raw
                             : flags.nul ? proto::Framing::nul
                                         : proto::Framing::lines;
    settings.pipe.input_framing = framing;
    settings.connect.framing = framing;
    settings.connect.connect_timeout =
        positive_duration_flag("--connect-timeout", flags.connect_timeout);

    settings.format = flags.json  ? output::Format::ndjson
                      : flags.raw ? output::Format::raw
                                  : output::Format::text;
    settings.output_delimiter = flags.nul ? std::string(1, '\0') : std::string("\n");

    if (flags.reconnect && flags.no_reconnect) {
        throw core::UsageError("--reconnect and --no-reconnect cannot be combined");
    }
    settings.reconnect.enabled = flags.reconnect;
    settings.reconnect.backoff.max_attempts = flags.max_attempts;
    if (!flags.backoff_initial.empty()) {
        settings.reconnect.backoff.initial =
            duration_flag("--backoff-initial", flags.backoff_initial);
    }
    settings.reconnect.backoff.max = duration_flag("--backoff-max", flags.backoff_max);
    if (settings.reconnect.backoff.max < settings.reconnect.backoff.initial) {
        throw core::UsageError("--backoff-max must not be less than --backoff-initial");
    }
    settings.reconnect.preamble = expand_preamble(flags.preamble);

    auto& tls = settings.connect.tls;
    tls.enabled = flags.tls;
    tls.insecure = flags.insecure;
    tls.ca_file = flags.cacert;
    tls.cert_file = flags.cert;
    tls.key_file = flags.key;
    tls.server_name = flags.servername;
    if (!flags.key.empty() && flags.cert.empty()) {
        throw core::UsageError("--key needs --cert");
    }
    resolve_pick_flags(flags, settings);
    return settings;
}

void add_message_flags(CLI::App& app, MessageFlags& flags, const std::string& binary_help,
                       const std::string& echo_help) {
    const std::string messages = "Messages";
    auto* binary = app.add_flag("--binary", flags.binary, binary_help)->group(messages);
    auto* base64 = app.add_flag("--base64", flags.base64,
                                "Stdin lines are base64: send the decoded bytes as binary")
                       ->group(messages);
    auto* hex =
        app.add_flag("--hex", flags.hex, "Stdin lines are hex: send the decoded bytes as binary")
            ->group(messages);
    binary->excludes(base64)->excludes(hex);
    base64->excludes(hex);
    app.add_option("--binary-as", flags.binary_as,
                   "Print received binary messages as base64 or hex (text output; --raw "
                   "writes the bytes, --json base64)")
        ->check(CLI::IsMember({"base64", "hex"}))
        ->default_str("base64")
        ->group(messages);
    app.add_flag("--echo", flags.echo, echo_help)->group(messages);
}

void apply_message_flags(const MessageFlags& flags, client::PipeOptions& pipe) {
    if (int encodings = flags.binary + flags.base64 + flags.hex; encodings > 1) {
        throw core::UsageError("--binary, --base64 and --hex exclude each other");
    }
    pipe.echo = flags.echo;
    pipe.input_encoding = flags.binary   ? client::InputEncoding::binary
                          : flags.base64 ? client::InputEncoding::base64
                          : flags.hex    ? client::InputEncoding::hex
                                         : client::InputEncoding::text;
    pipe.binary_display =
        flags.binary_as == "hex" ? client::BinaryDisplay::hex : client::BinaryDisplay::base64;
}

} // namespace rtx::cmd
