// rtx mqtt sub|pub URL — an MQTT 3.1.1 / 5 client on Paho: subscribe and print, or publish
// stdin lines, a message or a file. One connection through the shared PipeSession.
#include "client/pipe_session.hpp"
#include "cmd/client_options.hpp"
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"
#include "output/line_template.hpp"
#include "proto/mqtt_codec.hpp"
#include "serve/mqtt/topic_tree.hpp"
#include "transport/mqtt/mqtt_client.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace rtx::cmd {

namespace {

/// The flags pub and sub share (mosquitto_pub/_sub's letters where they exist).
struct MqttFlags {
    std::string url;
    std::string version = "3.1.1";
    std::string client_id;
    std::string keepalive = "60s";
    bool no_clean = false;
    std::string session_expiry;
    std::string username;
    std::string password;
    int qos = 0;
    std::string will_topic;
    std::string will_payload;
    int will_qos = 0;
    bool will_retain = false;
    std::string will_delay;
    std::vector<std::string> connect_properties;
    ClientFlags client;
};

struct SubOptions {
    MqttFlags mqtt;
    std::vector<std::string> topics;
    bool retained_only = false;
    bool no_local = false;
    bool retain_as_published = false;
    int retain_handling = 0;
    std::string publish_to;
};

struct PubOptions {
    MqttFlags mqtt;
    std::string topic;
    std::vector<std::string> messages;
    bool stdin_lines = false;
    std::string file;
    unsigned repeat = 1;
    bool retain = false;
    std::string content_type;
    std::string response_topic;
    std::string correlation_data;
    std::string message_expiry;
    std::vector<std::string> user_properties;
};

/// A topic to publish to, checked as mosquitto_pub does before connecting: the broker
/// would drop the connection (and the message) instead.
void check_topic_name(std::string_view flag, const std::string& topic) {
    if (topic.empty()) {
        throw core::UsageError(fmt::format("{}: empty topic", flag));
    }
    if (!serve::mqtt::valid_topic_name(topic)) {
        throw core::UsageError(fmt::format(
            "{}: '{}' is not a topic to publish to (+ and # are for subscriptions)", flag, topic));
    }
    if (!proto::mqtt::valid_utf8_string(topic)) {
        throw core::UsageError(fmt::format(
            "{}: not a valid MQTT topic (UTF-8 without U+0000, at most 65535 bytes)", flag));
    }
}

void check_topic_filter(const std::string& filter) {
    if (filter.empty()) {
        throw core::UsageError("-t: empty topic filter");
    }
    if (!serve::mqtt::valid_topic_filter(filter)) {
        throw core::UsageError(fmt::format("-t: '{}' is not a valid topic filter (+ must be a "
                                           "whole level, # the whole last level)",
                                           filter));
    }
    if (!proto::mqtt::valid_utf8_string(filter)) {
        throw core::UsageError(
            "-t: not a valid MQTT topic filter (UTF-8 without U+0000, at most 65535 bytes)");
    }
}

/// Thrown when the message cannot be sent at all: over MQTT's largest packet (exit 6).
struct TooLarge {
    std::string message;
};

/// Reads -f FILE ("-": stdin) whole, refusing more than `limit` bytes without reading them
/// all (a regular file by its size, anything else, like /dev/zero, at limit + 1 bytes).
std::string read_message_file(const std::string& path, std::uint64_t limit) {
    bool from_stdin = path == "-";
    int fd = from_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw core::UsageError(fmt::format("-f: cannot read '{}': {}", path, std::strerror(errno)));
    }
    struct FdCloser {
        int fd;
        bool owned;
        ~FdCloser() {
            if (owned) {
                ::close(fd);
            }
        }
    } closer{fd, !from_stdin};
    std::string name = from_stdin ? "stdin" : "'" + path + "'";
    auto too_large = [&](std::string_view size) {
        return TooLarge{fmt::format(
            "-f: {} is {} bytes; a PUBLISH with this topic carries at most {} (MQTT's largest "
            "packet: a Remaining Length of {} bytes)",
            name, size, limit, proto::mqtt::k_max_remaining_length)};
    };
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            throw core::UsageError(fmt::format("-f: '{}' is a directory", path));
        }
        if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > limit) {
            throw too_large(std::to_string(st.st_size));
        }
    }
    std::string data;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw core::UsageError(
                fmt::format("-f: cannot read {}: {}", name, std::strerror(errno)));
        }
        if (n == 0) {
            return data;
        }
        if (data.size() + static_cast<std::uint64_t>(n) > limit) {
            throw too_large("more than " + std::to_string(limit));
        }
        data.append(buffer, static_cast<std::size_t>(n));
    }
}

std::uint32_t seconds_flag(std::string_view flag, const std::string& text) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(duration_flag(flag, text));
    if (seconds.count() > 0xFFFFFFFFLL) {
        throw core::UsageError(fmt::format("{}: at most 4294967295 seconds", flag));
    }
    return static_cast<std::uint32_t>(seconds.count());
}

std::vector<transport::mqtt::UserProperty> user_properties(std::string_view flag,
                                                           const std::vector<std::string>& items) {
    std::vector<transport::mqtt::UserProperty> out;
    for (const auto& item : items) {
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw core::UsageError(fmt::format("{}: '{}' is not NAME=VALUE", flag, item));
        }
        out.push_back({item.substr(0, eq), item.substr(eq + 1)});
    }
    return out;
}

/// Turns the shared flags into Paho settings and the PipeSession's; `role` names the
/// default client id ("sub", "pub").
std::pair<transport::mqtt::MqttOptions, ClientSettings> resolve(const MqttFlags& flags,
                                                                std::string_view role) {
    auto url = core::parse_url(flags.url, "mqtt");
    if (!url) {
        throw core::UsageError(url.error().message);
    }
    transport::mqtt::MqttOptions o;
    const std::string& scheme = url->scheme;
    std::string host = url->ipv6_literal() ? "[" + url->host + "]" : url->host;
    if (scheme == "mqtt" || scheme == "mqtts") {
        o.server_uri = fmt::format("{}://{}:{}", scheme == "mqtt" ? "tcp" : "ssl", host, url->port);
    } else if (scheme == "ws" || scheme == "wss") {
        std::string path = url->path == "/" ? "/mqtt" : url->target();
        o.server_uri = fmt::format("{}://{}:{}{}", scheme, host, url->port, path);
    } else {
        throw core::UsageError(fmt::format(
            "rtx mqtt takes mqtt://, mqtts://, ws:// or wss:// URLs (got {}://)", scheme));
    }
    o.tls = scheme == "mqtts" || scheme == "wss";
    o.host = url->host;
    o.port = url->port;
    if (flags.version == "3.1.1" || flags.version == "4" || flags.version == "311") {
        o.version = 4;
    } else if (flags.version == "5" || flags.version == "5.0") {
        o.version = 5;
    } else {
        throw core::UsageError(
            fmt::format("-V/--protocol-version: '{}' (use 3.1.1 or 5)", flags.version));
    }
    o.client_id =
        flags.client_id.empty() ? fmt::format("rtx-{}-{}", role, ::getpid()) : flags.client_id;
    o.keepalive = duration_flag("--keepalive", flags.keepalive);
    o.clean = !flags.no_clean;
    if (!flags.session_expiry.empty()) {
        if (o.version != 5) {
            throw core::UsageError("--session-expiry needs -V 5");
        }
        o.session_expiry = seconds_flag("--session-expiry", flags.session_expiry);
    }
    o.username = !flags.username.empty() ? flags.username : url->user;
    if (!flags.password.empty()) {
        o.password = flags.password;
    } else if (!url->password.empty()) {
        o.password = url->password;
    }
    if (!flags.will_topic.empty()) {
        check_topic_name("--will-topic", flags.will_topic);
        o.will = transport::mqtt::Will{flags.will_topic, flags.will_payload, flags.will_qos,
                                       flags.will_retain, 0};
        if (!flags.will_delay.empty()) {
            if (o.version != 5) {
                throw core::UsageError("--will-delay needs -V 5");
            }
            o.will->delay = seconds_flag("--will-delay", flags.will_delay);
        }
    } else if (!flags.will_payload.empty() || flags.will_retain || !flags.will_delay.empty()) {
        throw core::UsageError("--will-payload, --will-retain and --will-delay need --will-topic");
    }
    if (!flags.connect_properties.empty() && o.version != 5) {
        throw core::UsageError("--connect-property needs -V 5");
    }
    o.connect_user_properties = user_properties("--connect-property", flags.connect_properties);

    ClientSettings settings = resolve_client_flags(flags.client, "mqtt");
    o.tls_options = settings.connect.tls;
    o.connect_timeout = settings.connect.connect_timeout;
    if (!o.tls &&
        (flags.client.insecure || !flags.client.cacert.empty() || !flags.client.cert.empty())) {
        throw core::UsageError("--cacert, --cert, --key and -k need an mqtts:// or wss:// URL");
    }
    return {std::move(o), std::move(settings)};
}

core::ExitCode run(transport::mqtt::MqttOptions mqtt, const ClientSettings& settings,
                   std::unique_ptr<output::Sink> sink) {
    core::raise_open_files_limit();
    core::Loop loop;
    client::PipeSession session(loop, settings.pipe, *sink);
    // Declared after the loop: destroyed first, so Paho never posts to a dead loop.
    transport::mqtt::MqttClient client(loop, std::move(mqtt));
    return session.run(
        [&client](transport::Handler& handler) { return client.attempt(handler, 1); },
        settings.reconnect);
}

core::ExitCode run_sub(const SubOptions& options) {
    auto [mqtt, settings] = resolve(options.mqtt, "sub");
    if (options.topics.empty()) {
        throw core::UsageError("rtx mqtt sub needs at least one -t TOPIC");
    }
    bool v5_only = options.no_local || options.retain_as_published || options.retain_handling;
    if (v5_only && mqtt.version != 5) {
        throw core::UsageError("--no-local, --retain-as-published and --retain-handling need -V 5");
    }
    for (const auto& topic : options.topics) {
        transport::mqtt::Subscription s;
        s.filter = topic;
        s.qos = options.mqtt.qos;
        // FILTER:QOS picks the QoS of one subscription.
        if (topic.size() > 2 && topic[topic.size() - 2] == ':' && topic.back() >= '0' &&
            topic.back() <= '2') {
            s.filter = topic.substr(0, topic.size() - 2);
            s.qos = topic.back() - '0';
        }
        check_topic_filter(s.filter);
        s.no_local = options.no_local;
        s.retain_as_published = options.retain_as_published;
        s.retain_handling = options.retain_handling;
        mqtt.subscriptions.push_back(s);
    }
    mqtt.retained_only = options.retained_only;
    // --publish-to: stdin lines go out on the subscriber's own connection (with --no-local
    // it does not hear them back). The end of stdin does not end a subscriber.
    if (!options.publish_to.empty()) {
        check_topic_name("--publish-to", options.publish_to);
    }
    settings.pipe.read_stdin = !options.publish_to.empty();
    settings.pipe.half_close = false;
    mqtt.publish.topic = options.publish_to;
    mqtt.publish.qos = options.mqtt.qos;
    auto sink = std::make_unique<output::Sink>(make_sink(settings));
    return run(std::move(mqtt), settings, std::move(sink));
}

core::ExitCode run_pub(const PubOptions& options) {
    auto [mqtt, settings] = resolve(options.mqtt, "pub");
    int sources = (options.messages.empty() ? 0 : 1) + (options.stdin_lines ? 1 : 0) +
                  (options.file.empty() ? 0 : 1);
    if (sources != 1) {
        throw core::UsageError("rtx mqtt pub needs exactly one of -m, -l or -f");
    }
    if (options.repeat == 0 || (options.stdin_lines && options.repeat != 1)) {
        throw core::UsageError("--repeat takes N >= 1 and goes with -m or -f");
    }
    check_topic_name("-t", options.topic);
    auto& p = mqtt.publish;
    p.topic = options.topic;
    p.qos = options.mqtt.qos;
    p.retain = options.retain;
    p.content_type = options.content_type;
    p.response_topic = options.response_topic;
    p.correlation_data = options.correlation_data;
    if (!options.message_expiry.empty()) {
        p.message_expiry = seconds_flag("--message-expiry", options.message_expiry);
    }
    p.user_properties = user_properties("--user-property", options.user_properties);
    bool v5_properties = !p.content_type.empty() || !p.response_topic.empty() ||
                         !p.correlation_data.empty() || p.message_expiry ||
                         !p.user_properties.empty();
    if (v5_properties && mqtt.version != 5) {
        throw core::UsageError("message properties (--content-type, --response-topic, "
                               "--correlation-data, --message-expiry, --user-property) need -V 5");
    }
    std::vector<std::string> once = options.messages;
    std::uint64_t limit = transport::mqtt::max_publish_payload(p, mqtt.version);
    try {
        if (!options.file.empty()) {
            once = {read_message_file(options.file, limit)};
        }
        for (const auto& message : once) {
            if (message.size() > limit) {
                throw TooLarge{fmt::format("-m: the message is {} bytes; a PUBLISH with this "
                                           "topic carries at most {}",
                                           message.size(), limit)};
            }
        }
    } catch (const TooLarge& e) {
        core::log_error("{}", e.message);
        return core::ExitCode::protocol_error;
    }
    settings.pipe.read_stdin = options.stdin_lines;
    for (unsigned i = 0; i < options.repeat && !options.stdin_lines; ++i) {
        settings.pipe.messages.insert(settings.pipe.messages.end(), once.begin(), once.end());
    }
    return run(std::move(mqtt), settings,
               std::make_unique<output::Sink>(output::Format::text, 1, "\n"));
}

void add_mqtt_flags(CLI::App& app, MqttFlags& f, bool subscriber) {
    app.add_option("url", f.url,
                   "Broker: mqtt://[USER:PASS@]HOST[:PORT] (1883), mqtts:// (8883), ws://, wss://")
        ->required();
    const char* g = "MQTT";
    app.add_option("-V,--protocol-version", f.version, "MQTT version: 3.1.1 or 5")
        ->capture_default_str()
        ->group(g);
    app.add_option("-i,--id", f.client_id, "Client identifier (default: rtx-sub-PID / rtx-pub-PID)")
        ->group(g);
    app.add_option("--keepalive", f.keepalive, "Keep-alive interval")
        ->capture_default_str()
        ->group(g);
    app.add_flag("-c,--no-clean", f.no_clean,
                 "Persistent session: keep subscriptions and QoS 1/2 messages while offline "
                 "(v5: session expiry never, unless --session-expiry)")
        ->group(g);
    app.add_option("-x,--session-expiry", f.session_expiry,
                   "v5: how long the broker keeps the session after a disconnect")
        ->group(g);
    app.add_option("-u,--username", f.username, "User name (default: from the URL)")->group(g);
    app.add_option("-P,--password", f.password, "Password (default: from the URL)")->group(g);
    app.add_option("-q,--qos", f.qos,
                   subscriber ? "QoS of every subscription (0, 1, 2; -t FILTER:QOS for one)"
                              : "QoS of the messages (0, 1, 2)")
        ->check(CLI::Range(0, 2))
        ->group(g);
    app.add_option("--connect-property", f.connect_properties,
                   "v5: a user property NAME=VALUE on CONNECT (repeatable)")
        ->group(g);
    const char* w = "Will";
    app.add_option("--will-topic", f.will_topic, "Last-will topic: published when we vanish")
        ->group(w);
    app.add_option("--will-payload", f.will_payload, "Last-will payload")->group(w);
    app.add_option("--will-qos", f.will_qos, "Last-will QoS")->check(CLI::Range(0, 2))->group(w);
    app.add_flag("--will-retain", f.will_retain, "Retain the last will")->group(w);
    app.add_option("--will-delay", f.will_delay, "v5: will delay interval")->group(w);
    ClientFlagSet set = ClientFlagSet::url_client();
    set.receive_output = subscriber;
    set.format = false; // sub: -F,--format, as mosquitto_sub has it
    add_client_flags(app, f.client, set);
}

/// The help of `rtx mqtt` without the hidden catch-all for a word that is not sub or pub.
class MqttFormatter final : public CLI::Formatter {
public:
    std::string make_usage(const CLI::App* app, std::string name) const override {
        std::string usage = CLI::Formatter::make_usage(app, std::move(name));
        if (auto at = usage.find(" [...]"); at != std::string::npos) {
            usage.erase(at, 6);
        }
        return usage;
    }
};

} // namespace

Runner setup_mqtt(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto sub = std::make_shared<SubOptions>();
    auto pub = std::make_shared<PubOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    // Not required through CLI11 (its "A subcommand is required" names neither): the
    // runner says which there are; an unknown word in their place arrives as an extra.
    app->require_subcommand(0, 1);
    app->footer(R"(Examples:
  rtx mqtt sub mqtt://127.0.0.1:1883 -t 'sensors/#'
  rtx mqtt pub mqtt://127.0.0.1:1883 -t sensors/t1 -m 21.5

See 'rtx mqtt sub --help', 'rtx mqtt pub --help' and rtx-mqtt(1).)");

    CLI::App* s = app->add_subcommand("sub", "Subscribe and print each message");
    add_mqtt_flags(*s, sub->mqtt, true);
    const char* g = "Subscribe";
    s->add_option("-t,--topic", sub->topics,
                  "Topic filter, wildcards + and # allowed (repeatable; FILTER:QOS sets its QoS)")
        ->group(g);
    s->add_flag("-R,--retained-only", sub->retained_only,
                "Print the retained messages, exit at the first live one")
        ->group(g);
    s->add_flag("--no-local", sub->no_local,
                "v5: not the messages this client publishes (see --publish-to)")
        ->group(g);
    s->add_flag("--retain-as-published", sub->retain_as_published,
                "v5: keep the publisher's retain flag")
        ->group(g);
    s->add_option("--retain-handling", sub->retain_handling,
                  "v5: retained messages 0 on every subscribe, 1 on a new one, 2 never")
        ->check(CLI::Range(0, 2))
        ->group(g);
    s->add_option("--publish-to", sub->publish_to,
                  "Also publish each stdin line to this topic, on the same connection (-q QoS)")
        ->group(g);
    s->add_option("-F,--format", sub->mqtt.client.format,
                  "Line template: %t topic %p payload %q QoS %r retain %l length %x hex %b base64 "
                  "%P properties %I time %U epoch %j record %% \\n \\t; {/pointer} into a JSON "
                  "payload, {topic} {payload} ... record keys")
        ->group("Streaming APIs");
    s->footer(R"(Prints the payload of each message on its own line; --json writes the whole record
(topic, qos, retain, v5 properties); --format a template of your own.

Examples:
  rtx mqtt sub mqtt://127.0.0.1:1883 -t 'sensors/#' -t alerts:2
  rtx mqtt sub mqtts://broker:8883 --cacert ca.pem -u me -P secret -t news --json
  rtx mqtt sub mqtt://localhost -t 'a/+/c' -F '%t %p' --count 10 --timeout 30s
  rtx mqtt sub mqtt://localhost -t 'sensors/#' --pick /temperature --until '"end"'
  rtx mqtt sub mqtt://localhost -t config/# --retained-only
  rtx mqtt sub mqtt://localhost -V 5 -c -i worker1 -q 1 -t jobs --reconnect
  rtx mqtt sub mqtt://localhost -V 5 -t chat --no-local --publish-to chat   # a chat client

Exit status: 0 done (--count, --retained-only), 1 stdin line over 64 MiB (--publish-to),
2 usage (a bad topic filter too), 3 connect failed, 4 TLS, 5 timeout, 7 connection lost,
9 the broker sent DISCONNECT with a reason code >= 0x80, 11 --reconnect gave up, 13 refused
(CONNACK or SUBACK), 130 Ctrl-C.)");

    CLI::App* p = app->add_subcommand("pub", "Publish a message, a file or stdin lines");
    add_mqtt_flags(*p, pub->mqtt, false);
    g = "Publish";
    p->add_option("-t,--topic", pub->topic, "Topic to publish to")->required()->group(g);
    p->add_option("-m,--message", pub->messages, "Publish this message (repeatable)")->group(g);
    p->add_flag("-l,--stdin-line", pub->stdin_lines, "Publish each line read from stdin")->group(g);
    p->add_option("-f,--file", pub->file, "Publish the whole file as one message ('-': stdin)")
        ->group(g);
    p->add_option("--repeat", pub->repeat, "Publish the -m or -f message N times")->group(g);
    p->add_flag("-r,--retain", pub->retain, "Set the retain flag")->group(g);
    const char* v5 = "MQTT 5 properties";
    p->add_option("--content-type", pub->content_type, "Content type")->group(v5);
    p->add_option("--response-topic", pub->response_topic, "Response topic")->group(v5);
    p->add_option("--correlation-data", pub->correlation_data, "Correlation data")->group(v5);
    p->add_option("--message-expiry", pub->message_expiry, "Message expiry interval (e.g. 60s)")
        ->group(v5);
    p->add_option("--user-property", pub->user_properties, "NAME=VALUE (repeatable)")->group(v5);
    p->footer(R"(Waits until every QoS 1 and 2 message is acknowledged, then disconnects.

Examples:
  rtx mqtt pub mqtt://127.0.0.1:1883 -t greetings -m hello
  tail -f app.log | rtx mqtt pub mqtt://localhost -t logs -l -q 1 --reconnect
  rtx mqtt pub mqtt://localhost -t firmware -f image.bin -q 2 -r
  sensors-read | rtx mqtt pub mqtt://localhost -t snapshot -f -
  rtx mqtt pub mqtt://localhost -V 5 -t rpc -m '{}' --content-type application/json \
      --response-topic rpc/reply --correlation-data 42 --user-property trace=abc

Exit status: 0 delivered, 1 stdin line over 64 MiB, 2 usage (a topic with + or #, -f of a
directory), 3 connect failed, 4 TLS, 5 timeout, 6 a message over MQTT's largest packet or the
broker's Maximum Packet Size, 7 connection lost or a message not delivered, 9 the broker sent
DISCONNECT with a reason code >= 0x80, 11 --reconnect gave up, 13 refused (CONNACK),
130 Ctrl-C.)");

    // A word that is neither sub nor pub lands here, and so does a stray word after sub's or
    // pub's own arguments (CLI11 hands it up to the parent).
    auto stray = std::make_shared<std::vector<std::string>>();
    app->add_option("words", *stray)->group("");
    app->formatter(std::make_shared<MqttFormatter>());

    return [sub, pub, stray, s, p]() {
        if (!stray->empty() && (s->parsed() || p->parsed())) {
            throw core::UsageError(
                fmt::format("The following argument was not expected: {}", stray->front()));
        }
        if (s->parsed()) {
            return run_sub(*sub);
        }
        if (p->parsed()) {
            return run_pub(*pub);
        }
        const std::vector<std::string>& extra = *stray;
        if (extra.empty()) {
            throw core::UsageError("rtx mqtt needs a subcommand: sub or pub");
        }
        throw core::UsageError(
            fmt::format("rtx mqtt: unknown subcommand '{}' (use sub or pub)", extra.front()));
    };
}

} // namespace rtx::cmd
