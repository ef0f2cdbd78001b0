// rtx serve — the embedded local server that every client and bench can talk to.
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "cmd/serve_feed.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/signals.hpp"
#include "core/timer.hpp"
#include "serve/server.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace rtx::cmd {

namespace {

struct ServeCommandOptions {
    std::string bind = "127.0.0.1";
    int tcp_port = serve::k_default_tcp_port;
    bool no_tcp = false;
    int http_port = serve::k_default_http_port;
    bool no_http = false;
    int mqtt_port = serve::k_default_mqtt_port;
    bool no_mqtt = false;
    std::string mqtt_user;
    std::string mqtt_password;
    std::string mqtt_max_packet = "1MiB";
    std::size_t mqtt_max_queued = 10000;
    int mqtt_receive_max = 100;
    std::string mqtt_keep_alive;
    std::string mqtt_acl;
    std::string tick;
    std::string heartbeat = "15s";
    std::string poll_hold = "25s";
    std::string header_timeout = "10s";
    std::string max_body = "1MiB";
    std::string push_fault;
    std::size_t max_subscribers = 10000;
    std::size_t history = 1000;
    std::string ws_max_message = "64MiB";
    std::size_t ws_max_conns = 10000;
    std::vector<std::string> ws_origins;
    std::string ws_ping_interval = "30s";
    bool no_ws_compress = false;
    std::size_t signal_room_size = 2;
    bool tls = false;
    std::string tls_cert;
    std::string tls_key;
    std::string tls_client_ca;
    std::vector<std::string> auth;
    bool auth_publish_only = false;
    std::vector<std::string> cors;
    std::size_t webrtc_max_peers = 100;
    std::vector<std::string> faults;
    std::optional<std::uint64_t> fault_seed;
    FeedFlags feed;
};

std::uint16_t port_option(std::string_view flag, int port) {
    if (port < 0 || port > 65535) {
        throw core::UsageError(fmt::format("{} {}: not a port (0-65535)", flag, port));
    }
    return static_cast<std::uint16_t>(port);
}

serve::ServeOptions resolve_serve_options(const ServeCommandOptions& options) {
    serve::ServeOptions out;
    out.bind = options.bind;
    if (options.no_tcp) {
        out.tcp_port.reset();
    } else {
        out.tcp_port = port_option("--tcp-port", options.tcp_port);
    }
    if (options.no_http) {
        out.http_port.reset();
    } else {
        out.http_port = port_option("--http-port", options.http_port);
    }
    if (options.no_mqtt) {
        out.mqtt_port.reset();
    } else {
        out.mqtt_port = port_option("--mqtt-port", options.mqtt_port);
    }
    if (!options.mqtt_user.empty()) {
        out.mqtt_user = options.mqtt_user;
        out.mqtt_password = options.mqtt_password;
    } else if (!options.mqtt_password.empty()) {
        throw core::UsageError("--mqtt-password needs --mqtt-user");
    }
    out.mqtt_max_packet = size_flag("--mqtt-max-packet", options.mqtt_max_packet);
    if (out.mqtt_max_packet > 268435460) {
        throw core::UsageError("--mqtt-max-packet: at most 256MiB (the MQTT limit)");
    }
    out.mqtt_max_queued = options.mqtt_max_queued;
    if (options.mqtt_receive_max < 1 || options.mqtt_receive_max > 65535) {
        throw core::UsageError(
            fmt::format("--mqtt-receive-max {}: must be 1-65535", options.mqtt_receive_max));
    }
    out.mqtt_receive_max = static_cast<std::uint16_t>(options.mqtt_receive_max);
    if (!options.mqtt_keep_alive.empty()) {
        const auto keep_alive = duration_flag("--mqtt-keep-alive", options.mqtt_keep_alive);
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(keep_alive);
        if (seconds != keep_alive || seconds.count() > 65535) {
            throw core::UsageError(fmt::format(
                "--mqtt-keep-alive {}: whole seconds, at most 65535s", options.mqtt_keep_alive));
        }
        out.mqtt_keep_alive = static_cast<std::uint16_t>(seconds.count());
    }
    if (!options.mqtt_acl.empty()) {
        std::ifstream file(options.mqtt_acl);
        std::stringstream text;
        text << file.rdbuf();
        if (!file) {
            throw core::UsageError(fmt::format("--mqtt-acl {}: cannot read it", options.mqtt_acl));
        }
        auto acl =
            serve::mqtt::Acl::parse(text.str(), fmt::format("--mqtt-acl {}", options.mqtt_acl));
        if (!acl) {
            throw core::UsageError(acl.error().message);
        }
        out.mqtt_acl = std::make_shared<const serve::mqtt::Acl>(std::move(acl.value()));
    }
    if (!options.tick.empty()) {
        out.tick = duration_flag("--tick", options.tick);
    }
    out.heartbeat = positive_duration_flag("--heartbeat", options.heartbeat);
    out.poll_hold = duration_flag("--poll-hold", options.poll_hold);
    out.header_timeout = positive_duration_flag("--header-timeout", options.header_timeout);
    out.max_body = size_flag("--max-body", options.max_body);
    if (!options.push_fault.empty()) {
        auto fault = serve::http::parse_push_fault(options.push_fault);
        if (!fault) {
            throw core::UsageError(fault.error().message);
        }
        out.push_fault = fault.value();
    }
    if (options.max_subscribers == 0) {
        throw core::UsageError("--max-subscribers 0: must be at least 1");
    }
    out.max_subscribers = options.max_subscribers;
    out.history = options.history;
    out.ws_max_message = size_flag("--ws-max-message", options.ws_max_message);
    if (options.ws_max_conns == 0) {
        throw core::UsageError("--ws-max-conns 0: must be at least 1");
    }
    out.ws_max_connections = options.ws_max_conns;
    out.ws_origins = options.ws_origins;
    out.ws_ping_interval = duration_flag("--ws-ping-interval", options.ws_ping_interval);
    out.ws_compression = !options.no_ws_compress;
    if (options.signal_room_size == 0) {
        throw core::UsageError("--signal-room-size 0: must be at least 1");
    }
    out.signal_room_size = options.signal_room_size;
    if (options.tls_cert.empty()) {
        if (!options.tls_key.empty()) {
            throw core::UsageError("--tls-key needs --tls-cert");
        }
        if (!options.tls_client_ca.empty() && !options.tls) {
            throw core::UsageError("--tls-client-ca needs --tls or --tls-cert");
        }
    } else {
        out.tls.cert_file = options.tls_cert;
        // One PEM file may hold both the certificate and its key.
        out.tls.key_file = options.tls_key.empty() ? options.tls_cert : options.tls_key;
    }
    out.tls.client_ca_file = options.tls_client_ca;
    for (const std::string& spec : options.auth) {
        auto credential = serve::parse_credential(spec);
        if (!credential) {
            throw core::UsageError(credential.error().message);
        }
        out.access.credentials.push_back(std::move(credential.value()));
    }
    if (options.auth_publish_only && options.auth.empty()) {
        throw core::UsageError("--auth-publish-only needs --auth");
    }
    out.access.publish_only = options.auth_publish_only;
    for (const std::string& origin : options.cors) {
        if (origin != "*" && !origin.starts_with("http://") && !origin.starts_with("https://")) {
            throw core::UsageError(fmt::format(
                "--cors {}: an origin is * or scheme://host[:port] (http://localhost:3000)",
                origin));
        }
    }
    out.access.cors_origins = options.cors;
    out.webrtc_max_peers = options.webrtc_max_peers;
    auto faults = serve::fault::parse_fault_plan(options.faults);
    if (!faults) {
        throw core::UsageError(faults.error().message);
    }
    out.faults = faults.value();
    out.fault_specs = options.faults;
    // Without --fault-seed each run draws other faults; -v says which seed to repeat it with.
    out.fault_seed =
        options.fault_seed
            ? *options.fault_seed
            : (static_cast<std::uint64_t>(std::random_device{}()) << 32 | std::random_device{}());
    if (options.fault_seed && !out.faults.any()) {
        throw core::UsageError("--fault-seed needs --fault");
    }
    resolve_feed_flags(options.feed, out);
    return out;
}

core::ExitCode run_serve(const ServeCommandOptions& options) {
    serve::ServeOptions serve_options = resolve_serve_options(options);
    // --tls alone: a certificate made for this run, removed when it ends.
    std::unique_ptr<serve::SelfSignedCertificate> generated;
    if (options.tls && !serve_options.tls.enabled()) {
        auto made = serve::SelfSignedCertificate::create();
        if (!made) {
            core::log_error("{}", made.error().message);
            return made.error().code;
        }
        generated = std::move(made.value());
        serve_options.tls.cert_file = generated->cert_file();
        serve_options.tls.key_file = generated->key_file();
    }
    std::string fingerprint;
    if (serve_options.tls.enabled()) {
        auto digest = serve::certificate_fingerprint(serve_options.tls.cert_file);
        if (!digest) {
            throw core::UsageError(digest.error().message);
        }
        fingerprint = digest.value();
    }
    if (!serve_options.tcp_port && !serve_options.http_port && !serve_options.mqtt_port) {
        throw core::UsageError("every listener is turned off: nothing to serve");
    }

    unsigned long open_files = core::raise_open_files_limit();
    core::log_verbose("open-files limit {}, listen backlog {} (net.core.somaxconn)", open_files,
                      serve::listen_backlog());
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
    // Signals are watched before the endpoints are printed: a script that reads them and
    // stops the server at once must get a clean shutdown, not the default SIGTERM death.
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
    // Endpoints go to stdout, one "name url" per line: scripts and tests read them.
    for (const auto& listener : server.listeners()) {
        std::fputs(fmt::format("{} {}\n", listener->name(), listener->url()).c_str(), stdout);
    }
    if (serve_options.tls.enabled()) {
        // Clients trust the certificate with --cacert FILE (or pin the fingerprint).
        std::fputs(
            fmt::format("tls-cert {}\ntls-sha256 {}\n", serve_options.tls.cert_file, fingerprint)
                .c_str(),
            stdout);
    }
    std::fflush(stdout);

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
    app->add_option("--http-port", options->http_port,
                    "HTTP port (SSE, stream, poll, publish, WebSocket); 0 picks a free port")
        ->capture_default_str()
        ->group("HTTP");
    app->add_flag("--no-http", options->no_http,
                  "Do not start the HTTP listener (nor the WebSocket endpoints on its port)")
        ->group("HTTP");
    app->add_option("--mqtt-port", options->mqtt_port,
                    "MQTT 3.1.1/5 broker port; 0 picks a free port")
        ->capture_default_str()
        ->group("MQTT");
    app->add_flag("--no-mqtt", options->no_mqtt, "Do not start the MQTT broker")->group("MQTT");
    app->add_option("--mqtt-user", options->mqtt_user,
                    "Require this user name (and --mqtt-password) on CONNECT")
        ->group("MQTT");
    app->add_option("--mqtt-password", options->mqtt_password,
                    "The password that goes with --mqtt-user")
        ->group("MQTT");
    app->add_option("--mqtt-max-packet", options->mqtt_max_packet,
                    "Largest MQTT packet a client may send (64KiB, 1MiB); larger: disconnect")
        ->capture_default_str()
        ->group("MQTT");
    app->add_option("--mqtt-max-queued", options->mqtt_max_queued,
                    "QoS 1/2 messages kept per session for an absent or slow client")
        ->capture_default_str()
        ->group("MQTT");
    app->add_option("--mqtt-receive-max", options->mqtt_receive_max,
                    "QoS 1/2 PUBLISH an MQTT 5 client may have unacknowledged (told in CONNACK; "
                    "more: disconnect 0x93)")
        ->capture_default_str()
        ->group("MQTT");
    app->add_option("--mqtt-keep-alive", options->mqtt_keep_alive,
                    "Server Keep Alive for MQTT 5 clients (60s; 0 for none), replacing theirs; "
                    "silent 1.5x as long: disconnect")
        ->group("MQTT");
    app->add_option("--mqtt-acl", options->mqtt_acl,
                    "Per-topic read/write rules for MQTT clients, in mosquitto's acl_file format "
                    "(topic/pattern/user lines)")
        ->check(CLI::ExistingFile)
        ->group("MQTT");
    app->add_option("--tick", options->tick,
                    "Publish an increasing counter on topic 'tick' this often (1s, 250ms)")
        ->group("HTTP");
    app->add_option("--heartbeat", options->heartbeat,
                    "Send an SSE comment on a stream that was quiet this long")
        ->capture_default_str()
        ->group("HTTP");
    app->add_option("--poll-hold", options->poll_hold,
                    "Hold a long-poll this long at most, then answer 204")
        ->capture_default_str()
        ->group("HTTP");
    app->add_option("--header-timeout", options->header_timeout,
                    "Request headers must arrive within this time (else 408)")
        ->capture_default_str()
        ->group("HTTP");
    app->add_option("--max-body", options->max_body,
                    "Largest POST /publish body (65536, 64KiB, 1MiB); larger gets 413")
        ->capture_default_str()
        ->group("HTTP");
    app->add_option("--push-fault", options->push_fault,
                    "Fail pushes to the mock push service: STATUS[:RETRY_AFTER][@SHARE] "
                    "(410, 429:2, 503@0.25)")
        ->group("Web Push");
    app->add_option("--max-subscribers", options->max_subscribers,
                    "Live subscriptions over all topics; more get 503")
        ->capture_default_str()
        ->group("Hub");
    app->add_option("--history", options->history,
                    "Messages kept per topic for replay (Last-Event-ID, cursors)")
        ->capture_default_str()
        ->group("Hub");
    app->add_option("--ws-max-message", options->ws_max_message,
                    "Largest WebSocket message received (1MiB, 64MiB); larger: close 1009")
        ->capture_default_str()
        ->group("WebSocket");
    app->add_option("--ws-max-conns", options->ws_max_conns,
                    "Open WebSocket connections at most; more get 503")
        ->capture_default_str()
        ->group("WebSocket");
    app->add_option("--ws-origin", options->ws_origins,
                    "Allowed Origin of a WebSocket upgrade (repeatable; default: any); "
                    "others get 403")
        ->take_all()
        ->group("WebSocket");
    app->add_option("--ws-ping-interval", options->ws_ping_interval,
                    "Ping a WebSocket client quiet this long; drop it if still quiet after "
                    "as long (0: never)")
        ->capture_default_str()
        ->group("WebSocket");
    app->add_flag("--no-ws-compress", options->no_ws_compress,
                  "Do not offer permessage-deflate to WebSocket clients")
        ->group("WebSocket");
    app->add_option("--signal-room-size", options->signal_room_size,
                    "Peers in one /signal/{room} at most; more get 409")
        ->capture_default_str()
        ->group("WebSocket");
    app->add_flag("--tls", options->tls,
                  "TLS on every port instead of plain text (https, wss, mqtts, tls); alone: a "
                  "fresh self-signed certificate, its path and SHA-256 printed on start")
        ->group("TLS");
    app->add_option("--tls-cert", options->tls_cert,
                    "PEM certificate chain to serve (implies --tls)")
        ->check(CLI::ExistingFile)
        ->group("TLS");
    app->add_option("--tls-key", options->tls_key,
                    "PEM private key of --tls-cert (default: in the --tls-cert file)")
        ->check(CLI::ExistingFile)
        ->group("TLS");
    app->add_option("--tls-client-ca", options->tls_client_ca,
                    "Require client certificates signed by this PEM CA")
        ->check(CLI::ExistingFile)
        ->group("TLS");
    app->add_option("--auth", options->auth,
                    "Require credentials on the HTTP and WebSocket endpoints: bearer:TOKEN or "
                    "basic:USER:PASS (repeatable; any one lets a request in); else 401")
        ->take_all()
        ->group("Access");
    app->add_flag("--auth-publish-only", options->auth_publish_only,
                  "Only publishing needs --auth credentials; reading stays open")
        ->group("Access");
    app->add_option("--cors", options->cors,
                    "Origins whose pages may read the endpoints with credentials (repeatable, "
                    "or *); default: any origin, without credentials")
        ->take_all()
        ->group("Access");
    app->add_option("--webrtc-max-peers", options->webrtc_max_peers,
                    "rtx serve's own WebRTC peers (/webrtc/..., /whip/...) at once; more get "
                    "503 (0: none)")
        ->capture_default_str()
        ->group("WebRTC");
    app->add_option(
           "--fault", options->faults,
           "Misbehave on purpose: [PROTOCOL:]NAME=VALUE (repeatable): drop-after=N|TIME, "
           "drop-p=P, delay=D|D1..D2|normal:MEAN,SD, throttle=RATE/s, refuse=P, "
           "sse:reconnect=gap|dup; PROTOCOL tcp, ws, sse, stream, poll or mqtt (none: all)")
        ->take_all()
        ->group("Faults");
    app->add_option("--fault-seed", options->fault_seed,
                    "Seed of the --fault draws: the same seed gives the same faults (default: "
                    "random, shown with -v)")
        ->group("Faults");
    add_feed_flags(*app, options->feed);
    app->footer(R"(On start, prints one line per endpoint to stdout: "<name> <url>".
SIGINT or SIGTERM closes every connection gracefully and exits 0.

Endpoints:
  tcp-echo  tcp://127.0.0.1:7070   every byte received is sent back
  http      http://127.0.0.1:8080  GET /sse/{topic}     Server-Sent Events
                                   GET /stream/{topic}  one message per line (?format=ndjson)
                                   GET /poll/{topic}    long-poll (?cursor=N)
                                   POST /publish/{topic} the body becomes one message
                                   GET /                links; /eventsource.html?topic=T
                                   POST /push/subscribe a mock Web Push service: pushes
                                   to its endpoints reach hub topic push/{id} (/push.html)
  ws        ws://127.0.0.1:8080/ws/{topic}  WebSocket pub/sub: what a client sends is
                                   published to the topic (the sender gets it too), and
                                   every message of the topic is sent to it;
                                   also /signal/{room}: WebRTC signalling, each JSON
                                   message relayed to the room's other peers
  webrtc    ws://127.0.0.1:8080/webrtc/echo  rtx serve answers as a WebRTC peer: every
                                   channel echoes; /webrtc/{topic}: channels bridged to
                                   the topic; WHIP (RFC 9725): POST /whip/echo or
                                   /whip/{topic} with an application/sdp offer
  ws-echo   ws://127.0.0.1:8080/echo        WebSocket echo: each message comes back
  mqtt      mqtt://127.0.0.1:1883  MQTT 3.1.1 and 5 broker; same topics as http and ws;
                                   $share/{group}/{filter} shares a topic in turn

Examples:
  rtx serve                                 # every listener on its default port
  rtx serve --tick 1s                       # and a counter on topic 'tick'
  rtx serve --tcp-port 0 --http-port 0 --mqtt-port 0   # free ports, printed on start
  rtx serve --no-http --no-mqtt             # the TCP echo alone
  rtx serve --ws-origin http://localhost:3000 --ws-max-message 1MiB
  rtx serve --mqtt-user u --mqtt-password p # MQTT clients must log in
  rtx serve --mqtt-keep-alive 30s --mqtt-receive-max 20   # MQTT 5 limits, told in CONNACK
  rtx serve --bind ::1 --tcp-port 9000      # IPv6 loopback
  rtx serve --push-fault 429:2@0.5          # every other push: 429, Retry-After: 2
  rtx serve --tls                           # https, wss, mqtts, tls on the same ports;
                                            # prints tls-cert FILE for clients' --cacert
  rtx serve --tls-cert cert.pem --tls-key key.pem --tls-client-ca ca.pem
  rtx serve --auth bearer:s3cret --auth-publish-only   # publishing needs the token
  rtx serve --cors http://localhost:3000 --auth basic:me:pw   # a page on :3000, cookies ok
  rtx serve --fault ws:drop-after=100 --fault delay=10ms..40ms --fault refuse=0.2 \
            --fault-seed 7                  # a flaky server, the same faults every run;
                                            # GET /stats counts what was injected
  rtx sse --json https://example.org/feed > feed.ndjson   # record a feed, then mock it:
  rtx serve --replay feed.ndjson --replay-loop --route /api/v1/events=sse:feed
  rtx serve --replay llm=chat.ndjson --route 'POST /v1/chat/completions=sse:llm'
                                            # each POST: the recording, from its start
With rtx serve running (every listener shares one set of topics):
  echo hi | rtx tcp 127.0.0.1:7070          # TCP echo: prints hi
  curl -N http://127.0.0.1:8080/sse/tick    # SSE: the counter of --tick
  rtx ws ws://127.0.0.1:8080/ws/news        # WebSocket: type to publish, see the topic
  rtx webrtc ws://127.0.0.1:8080/webrtc/news # WebRTC data channel on the same topic
  rtx webrtc --whip http://127.0.0.1:8080/whip/echo   # WHIP: rtx serve's echo peer
  curl -d hello http://127.0.0.1:8080/publish/news   # HTTP: publish to every protocol
  rtx mqtt pub mqtt://127.0.0.1:1883 -t news -m hi -r   # MQTT: a retained message,
  rtx mqtt sub mqtt://127.0.0.1:1883 -t news --count 1  # which a later subscriber gets)");
    return [options] {
        return run_serve(*options);
    };
}

} // namespace rtx::cmd
