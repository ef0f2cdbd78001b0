#pragma once

#include "core/loop.hpp"
#include "transport/webrtc/ice_servers.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::transport::webrtc {

/// What the ICE agent reports; every callback runs on the loop thread.
struct IceCallbacks {
    std::function<void()> on_gathering_done;
    /// One local candidate as libnice found it (SDP attribute value without "candidate:"),
    /// for trickle ICE (RFC 8838); before on_gathering_done.
    std::function<void(std::string candidate)> on_local_candidate;
    /// The one component has a working pair (libnice CONNECTED or READY); once.
    std::function<void()> on_connected;
    /// Every candidate pair failed (RFC 8445 section 8.1.2: the check list is Failed), or the
    /// selected pair's remote address is not an allowed one; one line.
    std::function<void(std::string reason)> on_failed;
    /// The pair libnice selected, as "ADDR:PORT typ T" for each side (for -v).
    std::function<void(std::string local, std::string remote)> on_selected_pair;
    /// One datagram received on the selected pair; the view is valid during the call.
    std::function<void(std::string_view datagram)> on_datagram;
};

/// One libnice agent with one stream of one component (RFC 8445; BUNDLE and rtcp-mux leave
/// one 5-tuple for the whole data channel). libnice runs on a GLib main context owned by a
/// thread of this class; what it reports is copied and posted into the loop. libnice's own
/// API is thread-safe (it takes the agent lock), so the loop thread calls it directly.
class IceAgent {
public:
    /// `allowed_addresses` (IP literals): when not empty, local candidates are gathered only
    /// on these addresses and remote candidates on any other address are dropped.
    IceAgent(core::Loop& loop, bool controlling, std::vector<std::string> allowed_addresses,
             IceCallbacks callbacks);
    ~IceAgent();
    IceAgent(const IceAgent&) = delete;
    IceAgent& operator=(const IceAgent&) = delete;

    /// STUN and TURN servers, relay-only; before start(). Names are resolved in start().
    void set_servers(IceServers servers);
    /// Starts the GLib thread and gathering; false with `error` if libnice refused or a
    /// server name does not resolve. With `trickle` (RFC 8838), ICE does not fail before
    /// remote_gathering_done().
    bool start(std::string& error, bool trickle = false);
    /// After on_gathering_done: the local credentials and candidates (SDP attribute values
    /// without "candidate:").
    std::string local_ufrag() const;
    std::string local_pwd() const;
    std::vector<std::string> local_candidates() const;
    /// Gives libnice the peer's credentials and candidates and starts the checks. Candidates
    /// it cannot use (mDNS names, TCP, addresses not allowed) are listed in `dropped` with the
    /// reason; false with `error` when none is left.
    /// With `trickle`, no candidate yet is not an error (they come by add_remote_candidate).
    bool set_remote(const std::string& ufrag, const std::string& pwd,
                    const std::vector<std::string>& candidates, std::vector<std::string>& dropped,
                    std::string& error, bool trickle = false);
    /// One more remote candidate (trickle ICE, after set_remote); false with the reason it
    /// was dropped.
    bool add_remote_candidate(const std::string& candidate, std::string& dropped);
    /// The peer sent end-of-candidates: with no working pair left, ICE may now fail.
    void remote_gathering_done();
    /// Sends one datagram on the selected pair; false if libnice could not.
    bool send(std::string_view datagram);

    struct Impl;

private:
    std::shared_ptr<Impl> m_impl;
};

} // namespace rtx::transport::webrtc
