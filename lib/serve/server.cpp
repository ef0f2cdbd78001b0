#include "serve/server.hpp"

#include "core/log.hpp"
#include "core/version.hpp"
#include "serve/fault/injector.hpp"
#include "serve/http/http_listener.hpp"
#include "serve/http/lws_context.hpp"
#include "serve/mqtt/mqtt_listener.hpp"
#include "serve/tcp_echo_listener.hpp"
#include "serve/webrtc/peer_service.hpp"
#include "serve/ws/ws_listener.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <string>
#include <vector>

namespace rtx::serve {

Server::Server(core::Loop& loop)
    : m_loop(loop) {}

Server::~Server() {
    stop();
}

void Server::stop() {
    m_tick.reset();
    m_replays.clear(); // they publish to the hub
    m_lws.reset();     // first: it closes HTTP connections through the listener's callback
    m_http = nullptr;
    m_listeners.clear();
    m_peers.reset();
    m_hub.reset();
    m_tls.reset(); // after the listeners whose connections use it
    m_faults.reset();
}

namespace {

/// ICE of rtx serve's peers gathers on the bind address only, as the listeners listen there;
/// a wildcard (or a name) leaves every interface.
std::vector<std::string> ice_addresses_for(const std::string& bind) {
    unsigned char address[16];
    const bool literal = ::inet_pton(AF_INET, bind.c_str(), address) == 1 ||
                         ::inet_pton(AF_INET6, bind.c_str(), address) == 1;
    if (!literal || bind == "0.0.0.0" || bind == "::") {
        return {};
    }
    return {bind};
}

} // namespace

core::Result<bool> Server::start(const ServeOptions& options) {
    HubLimits limits;
    limits.history_per_topic = options.history;
    limits.max_subscribers = options.max_subscribers;
    // Ids start at the start time in microseconds (below 2^53, so exact in JavaScript): a
    // restarted server hands out ids above every id it gave before, and a client that
    // resumes with an old Last-Event-ID or cursor is given the new history.
    limits.first_id =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    m_hub = std::make_unique<Hub>(limits);
    m_faults = std::make_unique<fault::Injector>(m_loop, options.faults, options.fault_seed,
                                                 options.fault_specs);
    if (options.faults.any()) {
        core::log_verbose("fault: seed {} (--fault-seed {} repeats these faults)",
                          options.fault_seed, options.fault_seed);
    }
    if (options.tls.enabled()) {
        auto tls = TlsServerContext::create(options.tls);
        if (!tls) {
            stop();
            return tls.error();
        }
        m_tls = std::move(tls.value());
    }

    if (options.tcp_port) {
        auto echo = TcpEchoListener::create(m_loop, SocketAddress{options.bind, *options.tcp_port},
                                            m_tls.get(), m_faults.get());
        if (!echo) {
            stop();
            return echo.error();
        }
        m_listeners.push_back(std::move(echo.value()));
    }
    if (options.http_port) {
        if (auto started = start_http(options); !started) {
            stop();
            return started.error();
        }
    }
    if (options.mqtt_port) {
        mqtt::MqttOptions mqtt_options;
        mqtt_options.user = options.mqtt_user;
        mqtt_options.password = options.mqtt_password;
        mqtt_options.max_packet = options.mqtt_max_packet;
        mqtt_options.max_queued = options.mqtt_max_queued;
        mqtt_options.receive_max = options.mqtt_receive_max;
        mqtt_options.keep_alive = options.mqtt_keep_alive;
        mqtt_options.tls = m_tls.get();
        mqtt_options.acl = options.mqtt_acl;
        mqtt_options.faults = m_faults.get();
        auto broker = mqtt::MqttListener::create(
            m_loop, *m_hub, SocketAddress{options.bind, *options.mqtt_port}, mqtt_options);
        if (!broker) {
            stop();
            return broker.error();
        }
        m_listeners.push_back(std::move(broker.value()));
    }
    if (m_http != nullptr) {
        // GET / names every listener with the port it bound, known only now.
        std::vector<http::PageEndpoint> endpoints;
        for (const auto& listener : m_listeners) {
            endpoints.push_back({listener->name(), listener->url()});
        }
        m_http->set_index_listeners(endpoints);
    }
    if (options.tick.count() > 0) {
        m_tick = std::make_unique<core::Timer>(m_loop);
        m_tick->start(
            options.tick,
            [this] {
                PublishOptions publish;
                publish.source = "tick";
                m_hub->publish("tick", std::to_string(++m_ticks), std::move(publish));
            },
            options.tick);
    }
    start_replays(options);
    return true;
}

void Server::start_replays(const ServeOptions& options) {
    for (const auto& feed : options.replay) {
        auto records = std::shared_ptr<const std::vector<ReplayRecord>>(feed, &feed->records);
        auto player = std::make_unique<ReplayPlayer>(
            m_loop, std::move(records), options.replay_pace, [this](const ReplayRecord& record) {
                PublishOptions publish;
                publish.source = "replay";
                publish.event = record.event;
                publish.binary = record.binary;
                publish.retain = record.retain;
                publish.qos = record.qos;
                m_hub->publish(record.topic, record.payload, std::move(publish));
            });
        player->start();
        m_replays.push_back(std::move(player));
    }
}

std::map<std::string, std::shared_ptr<const std::vector<ReplayRecord>>, std::less<>>
Server::recordings(const ServeOptions& options) {
    std::map<std::string, std::shared_ptr<const std::vector<ReplayRecord>>, std::less<>> topics;
    for (const auto& feed : options.replay) {
        for (auto& [topic, records] : feed->by_topic()) {
            if (!topics.contains(topic)) { // the first file with the topic
                topics.emplace(
                    topic, std::make_shared<const std::vector<ReplayRecord>>(std::move(records)));
            }
        }
    }
    return topics;
}

core::Result<bool> Server::start_http(const ServeOptions& options) {
    m_lws = std::make_unique<http::LwsContext>(m_loop);
    http::HttpListenerOptions http_options;
    http_options.heartbeat = options.heartbeat;
    http_options.poll_hold = options.poll_hold;
    http_options.max_body = options.max_body;
    http_options.push_fault = options.push_fault;
    http_options.access = options.access;
    http_options.faults = m_faults.get();
    http_options.routes = options.routes;
    http_options.recordings = recordings(options);
    http_options.replay_speed = options.replay_pace.speed;
    // The HTTP listener's protocol is added first: it is the vhost's default.
    auto listener = std::make_unique<http::HttpListener>(m_loop, *m_lws, *m_hub, http_options);
    webrtc::PeerServiceOptions peer_options;
    peer_options.ice_addresses = ice_addresses_for(options.bind);
    peer_options.max_peers = options.webrtc_max_peers;
    peer_options.max_message = options.ws_max_message;
    m_peers = std::make_unique<webrtc::PeerService>(m_loop, *m_hub, peer_options);
    listener->set_webrtc_peers(m_peers.get());
    ws::WsListenerOptions ws_options;
    ws_options.max_message = options.ws_max_message;
    ws_options.max_connections = options.ws_max_connections;
    ws_options.allowed_origins = options.ws_origins;
    ws_options.ping_interval = options.ws_ping_interval;
    ws_options.compression = options.ws_compression;
    ws_options.signal_room_size = options.signal_room_size;
    ws_options.access = options.access;
    ws_options.faults = m_faults.get();
    for (const auto& route : options.routes) {
        if (route.kind == http::RouteKind::ws) {
            ws_options.routes.emplace_back(route.path, route.topic);
        }
    }
    auto ws_count = std::make_shared<ws::WsConnectionCount>();
    auto pubsub = std::make_unique<ws::WsListener>(m_loop, *m_lws, *m_hub, ws::WsEndpoint::pubsub,
                                                   ws_options, ws_count);
    pubsub->set_webrtc_peers(m_peers.get());
    auto echo = std::make_unique<ws::WsListener>(m_loop, *m_lws, *m_hub, ws::WsEndpoint::echo,
                                                 ws_options, ws_count);
    http::LwsSettings settings;
    settings.header_timeout = options.header_timeout;
    settings.server_name = "rtx/" + core::rtx_version();
    settings.websocket_compression = options.ws_compression;
    settings.tls_cert_file = options.tls.cert_file;
    settings.tls_key_file = options.tls.key_file;
    settings.tls_client_ca_file = options.tls.client_ca_file;
    auto port = m_lws->listen(SocketAddress{options.bind, *options.http_port}, settings);
    if (!port) {
        m_lws.reset(); // while the listeners it calls back into are still alive
        return port.error();
    }
    m_http = listener.get();
    m_listeners.push_back(std::move(listener));
    m_listeners.push_back(std::move(pubsub));
    m_listeners.push_back(std::move(echo));
    return true;
}

void Server::shutdown() {
    m_tick.reset();
    m_replays.clear();
    for (auto& listener : m_listeners) {
        listener->shutdown();
    }
    if (m_peers) {
        m_peers->shutdown();
    }
    if (m_lws) {
        m_lws->shutdown();
    }
}

} // namespace rtx::serve
