#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "serve/hub.hpp"
#include "transport/webrtc/webrtc_connection.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve::webrtc {

/// The limits of rtx serve's WebRTC peers (--webrtc-max-peers, --ws-max-message, --bind).
struct PeerServiceOptions {
    /// Local ICE addresses (the serve's bind address); empty: every interface.
    std::vector<std::string> ice_addresses;
    /// Peers at once over /webrtc/ and /whip/ (beyond it: 503).
    std::size_t max_peers = 100;
    /// Our a=max-message-size: a larger message ends the peer.
    std::uint64_t max_message = 64ULL << 20;
    /// From the offer to the SCTP association.
    core::Duration connect_timeout = std::chrono::seconds(30);
};

/// Reports about one peer; loop thread, never from inside a call of the caller's.
struct PeerCallbacks {
    /// Our answer (SDP), once the candidates are gathered.
    std::function<void(const std::string& sdp)> on_answer;
    /// With trickle: one of our candidates (empty: end of candidates), tagged with the
    /// offer's data section.
    std::function<void(const transport::webrtc::TrickledCandidate& candidate)> on_candidate;
    /// The peer ended (before or after the answer); one line.
    std::function<void(const std::string& reason)> on_end;
};

/// What create() did: the peer's id (its WHIP resource name), or an HTTP status and a line.
struct PeerCreated {
    std::string id;
    unsigned status = 201;
    std::string error;
};

/// rtx serve as a WebRTC peer (man/rtx-serve.1, WEBRTC PEERS): each offer is answered by a
/// peer of its own that takes every data channel the client opens. Target "echo": every
/// message comes back on its channel, same kind. Any other target is a hub topic: a
/// message on any channel is published to it (source "webrtc"), and every message of the
/// topic (the peer's own too) is sent down every open channel. The signalling is the
/// callers' (the WebSocket at /webrtc/{target}, WHIP at /whip/{target}). Loop thread only.
class PeerService {
public:
    PeerService(core::Loop& loop, Hub& hub, PeerServiceOptions options);
    ~PeerService();
    PeerService(const PeerService&) = delete;
    PeerService& operator=(const PeerService&) = delete;

    /// Answers `offer` with a new peer for `target`: 400 for an offer that does not parse,
    /// 503 beyond max_peers, for a topic the hub refuses or while shutting down.
    /// With `trickle` (the WebSocket), an offer that says a=ice-options:trickle is answered
    /// at once and our candidates follow through on_candidate; else (WHIP) the answer
    /// waits for them.
    PeerCreated create(std::string_view target, std::string_view offer, PeerCallbacks callbacks,
                       bool trickle = false);
    /// One of the client's trickled candidates (empty: its end of candidates).
    void add_candidate(std::string_view id, transport::webrtc::TrickledCandidate candidate);
    /// Ends the peer gracefully (WHIP DELETE); false if there is no such peer (any more).
    bool remove(std::string_view id);
    /// The peer's signalling went away: no more callbacks for it (the peer goes on).
    void forget_callbacks(std::string_view id);
    /// Closes every peer gracefully; new offers get 503.
    void shutdown();
    std::size_t peers() const { return m_peers.size(); }

private:
    struct Peer;
    void ended(Peer& peer, const std::string& reason);

    core::Loop& m_loop;
    Hub& m_hub;
    PeerServiceOptions m_options;
    std::map<std::string, std::unique_ptr<Peer>, std::less<>> m_peers;
    std::uint64_t m_next_id = 1;
    bool m_shutting_down = false;
    /// Tasks posted to the loop run only while the service exists.
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace rtx::serve::webrtc
