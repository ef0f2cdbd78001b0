#include "serve/webrtc/peer_service.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "proto/sdp.hpp"
#include "transport/webrtc/webrtc_connection.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <set>
#include <stdexcept>
#include <utility>

namespace rtx::serve::webrtc {

namespace {

using transport::webrtc::ChannelParameters;

constexpr std::string_view k_echo = "echo";

/// A WHIP resource name nobody can guess: 16 random bytes in hex.
std::string random_id(std::uint64_t counter) {
    std::string bytes(16, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), 16) != 1) {
        return fmt::format("{:032x}", counter);
    }
    std::string id;
    core::append_hex(id, bytes);
    return id;
}

} // namespace

/// One answered offer: its connection, its channels and, for a topic, its subscription.
struct PeerService::Peer final : transport::Handler, Subscriber {
    Peer(PeerService& owner, std::string peer_id, std::string peer_topic, PeerCallbacks events)
        : service(owner)
        , id(std::move(peer_id))
        , topic(std::move(peer_topic))
        , callbacks(std::move(events)) {}

    void on_message(transport::Connection&, const transport::Message&) override {}

    void on_close(transport::Connection&, const transport::CloseInfo& info) override {
        service.ended(*this, info.reason.empty() ? std::string("closed") : info.reason);
    }

    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override {
        const transport::Message out(message->payload, message->binary
                                                           ? transport::PayloadKind::binary
                                                           : transport::PayloadKind::text);
        for (std::uint16_t stream : channels) {
            connection->send_on(stream, out);
        }
    }

    void channel_message(std::uint16_t stream, const transport::Message& message) {
        if (topic.empty()) {
            connection->send_on(stream, message);
            return;
        }
        PublishOptions publish;
        publish.binary = message.kind == transport::PayloadKind::binary;
        publish.source = "webrtc";
        auto published = service.m_hub.publish(topic, std::string(message.payload), publish);
        if (!published) {
            core::log_verbose("webrtc peer {}: publish to {}: {}", id, topic,
                              published.error().message);
        }
    }

    PeerService& service;
    std::string id;
    std::string topic; ///< Empty: the echo peer.
    PeerCallbacks callbacks;
    std::unique_ptr<transport::webrtc::WebrtcConnection> connection;
    Subscription subscription;
    std::set<std::uint16_t> channels;
    bool removed = false; ///< DELETEd or shut down: closing, and no longer found by id.
};

PeerService::PeerService(core::Loop& loop, Hub& hub, PeerServiceOptions options)
    : m_loop(loop)
    , m_hub(hub)
    , m_options(std::move(options)) {}

PeerService::~PeerService() = default;

PeerCreated PeerService::create(std::string_view target, std::string_view offer,
                                PeerCallbacks callbacks, bool trickle) {
    PeerCreated created;
    if (m_shutting_down) {
        return {{}, 503, "rtx serve is shutting down"};
    }
    if (m_peers.size() >= m_options.max_peers) {
        return {
            {}, 503, fmt::format("{} WebRTC peers already (--webrtc-max-peers)", m_peers.size())};
    }
    auto parsed = proto::parse_sdp(offer);
    if (!parsed.description) {
        return {{}, 400, "bad offer: " + parsed.error};
    }
    if (parsed.description->setup == proto::DtlsSetup::passive) {
        // RFC 8842 section 5.2: an offer says actpass (or active); passive is an answer's.
        return {{}, 400, "bad offer: a=setup:passive"};
    }
    std::string id = random_id(m_next_id++);
    auto peer = std::make_unique<Peer>(
        *this, id, target == k_echo ? std::string() : std::string(target), std::move(callbacks));
    Peer& self = *peer;
    if (!self.topic.empty()) {
        auto subscription = m_hub.subscribe(self.topic, self);
        if (!subscription) {
            return {{}, 503, subscription.error().message};
        }
        self.subscription = std::move(subscription.value());
    }
    transport::webrtc::WebrtcOptions options;
    options.offerer = false;
    options.ice_addresses = m_options.ice_addresses;
    options.connect_timeout = m_options.connect_timeout;
    options.max_message_size = m_options.max_message;
    options.trickle = trickle;
    options.on_local_candidate = [&self](const transport::webrtc::TrickledCandidate& candidate) {
        if (self.callbacks.on_candidate) {
            self.callbacks.on_candidate(candidate);
        }
    };
    options.on_local_description = [&self](const std::string& sdp) {
        core::log_verbose("webrtc peer {}: answer ready", self.id);
        if (self.callbacks.on_answer) {
            self.callbacks.on_answer(sdp);
        }
    };
    transport::webrtc::ChannelEvents events;
    events.on_open = [&self](std::uint16_t stream, const std::string&, const std::string&,
                             const ChannelParameters&) {
        self.channels.insert(stream);
    };
    events.on_message = [&self](std::uint16_t stream, const transport::Message& message) {
        self.channel_message(stream, message);
    };
    events.on_closed = [&self](std::uint16_t stream) {
        self.channels.erase(stream);
    };
    options.every_channel = std::move(events);
    try {
        self.connection =
            transport::webrtc::make_webrtc_connection(m_loop, std::move(options), self, 0);
    } catch (const std::runtime_error& e) {
        // The WebRTC stack module is missing or broken: this server answers no offer.
        core::log_error("webrtc: {}", e.what());
        return {{}, 500, e.what()};
    }
    core::log_verbose("webrtc peer {}: offer for {}", id,
                      self.topic.empty() ? std::string("echo") : "topic " + self.topic);
    self.connection->start(false);
    self.connection->set_remote_description(offer);
    m_peers.emplace(id, std::move(peer));
    created.id = std::move(id);
    return created;
}

bool PeerService::remove(std::string_view id) {
    auto it = m_peers.find(id);
    if (it == m_peers.end() || it->second->removed) {
        return false;
    }
    Peer& peer = *it->second;
    peer.removed = true;
    peer.callbacks = {};
    peer.subscription.reset();
    core::log_verbose("webrtc peer {}: closing", peer.id);
    peer.connection->close();
    return true;
}

void PeerService::add_candidate(std::string_view id,
                                transport::webrtc::TrickledCandidate candidate) {
    if (auto it = m_peers.find(id); it != m_peers.end() && !it->second->removed) {
        it->second->connection->add_remote_candidate(std::move(candidate));
    }
}

void PeerService::forget_callbacks(std::string_view id) {
    if (auto it = m_peers.find(id); it != m_peers.end()) {
        it->second->callbacks = {};
    }
}

void PeerService::shutdown() {
    m_shutting_down = true;
    std::vector<std::string> ids;
    for (const auto& [id, peer] : m_peers) {
        ids.push_back(id);
    }
    for (const auto& id : ids) {
        remove(id);
    }
}

void PeerService::ended(Peer& peer, const std::string& reason) {
    core::log_verbose("webrtc peer {}: ended: {}", peer.id, reason);
    peer.subscription.reset();
    if (peer.callbacks.on_end) {
        auto on_end = std::move(peer.callbacks.on_end);
        peer.callbacks = {};
        on_end(reason);
    }
    // Not from inside the connection's own callback: the next loop turn frees it.
    std::string id = peer.id;
    std::weak_ptr<bool> alive = m_alive;
    m_loop.post([this, alive, id = std::move(id)] {
        if (alive.lock()) {
            m_peers.erase(id);
        }
    });
}

} // namespace rtx::serve::webrtc
