#include "transport/webrtc/ice_agent.hpp"

#include <arpa/inet.h>
#include <nice/agent.h>
#include <sys/socket.h>

#include "core/log.hpp"
#include "transport/webrtc/source_filter.hpp"

#include <fmt/format.h>

#include <atomic>
#include <thread>

namespace rtx::transport::webrtc {

namespace {

constexpr guint k_component = 1;
// The selected pair's socket buffers. Linux's default receive buffer (212,992 bytes of
// rmem_default, about 90 datagrams of 1,200 bytes at their kernel cost) overflowed while
// the GLib thread waited for a core: datagrams dropped (RcvbufErrors), and each loss cost
// SCTP a retransmission, often a 1 s T3 timeout. SCTP's own window is 1 MiB (about 900
// packets in flight); the kernel caps this at net.core.rmem_max / wmem_max.
constexpr int k_socket_buffer = 4 * 1024 * 1024;

// An IP literal in the form inet_ntop writes it, so that "::1" and "0:0::1" compare equal;
// empty if `text` is not an IP literal.
std::string canonical_ip(const std::string& text) {
    char buffer[INET6_ADDRSTRLEN] = {};
    in6_addr v6{};
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        return inet_ntop(AF_INET, &v4, buffer, sizeof buffer) != nullptr ? buffer : "";
    }
    if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
        return inet_ntop(AF_INET6, &v6, buffer, sizeof buffer) != nullptr ? buffer : "";
    }
    return "";
}

std::string address_string(const NiceAddress& address) {
    char buffer[NICE_ADDRESS_STRING_LEN] = {};
    nice_address_to_string(&address, buffer);
    return buffer;
}

const char* candidate_type_name(NiceCandidateType type) {
    switch (type) {
    case NICE_CANDIDATE_TYPE_HOST:
        return "host";
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
        return "srflx";
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
        return "prflx";
    case NICE_CANDIDATE_TYPE_RELAYED:
        return "relay";
    }
    return "?";
}

std::string describe(const NiceCandidate* candidate) {
    return fmt::format("{}:{} typ {}", address_string(candidate->addr),
                       nice_address_get_port(&candidate->addr),
                       candidate_type_name(candidate->type));
}

} // namespace

struct IceAgent::Impl : std::enable_shared_from_this<IceAgent::Impl> {
    core::Loop& loop;
    bool controlling;
    std::vector<std::string> allowed; // canonical IP literals
    int filtered_sockets = -1;        // how many sockets filter_sources() filtered last
    IceServers servers;
    std::vector<std::string> server_ips; // the STUN and TURN servers, resolved
    IceCallbacks callbacks;
    GMainContext* context = nullptr;
    NiceAgent* agent = nullptr;
    guint stream = 0;
    std::thread thread;
    std::atomic<bool> stopping{false};
    bool connected = false; // loop thread
    bool holding = false;   // loop thread: the loop is held while libnice may still report

    Impl(core::Loop& owner, bool is_controlling, IceCallbacks cbs)
        : loop(owner)
        , controlling(is_controlling)
        , callbacks(std::move(cbs)) {}

    // GLib thread -> loop: everything libnice says is handled on the loop thread, after a
    // check that the agent still exists there.
    template <class F> void post(F task) {
        std::weak_ptr<Impl> weak = weak_from_this();
        loop.post([weak, task = std::move(task)]() mutable {
            if (auto self = weak.lock()) {
                task(*self);
            }
        });
    }

    bool address_allowed(const std::string& canonical) const {
        if (allowed.empty()) {
            return true;
        }
        for (const auto& address : allowed) {
            if (address == canonical) {
                return true;
            }
        }
        return false;
    }

    // With --ice-address, our sockets take datagrams from the allowed addresses (and the
    // STUN/TURN servers) only: libnice would answer a check from anywhere and make its
    // source a peer-reflexive candidate. Done as soon as gathering has made the host sockets
    // (start()), so before our description or our first trickled candidate goes out and any
    // check can come; again at the end of gathering, for a socket made later.
    bool filter_sources(std::string& error) {
        if (allowed.empty()) {
            return true;
        }
        std::vector<BoundAddress> sockets;
        GSList* candidates = nice_agent_get_local_candidates(agent, stream, k_component);
        for (GSList* item = candidates; item != nullptr; item = item->next) {
            auto* candidate = static_cast<NiceCandidate*>(item->data);
            if (candidate->type == NICE_CANDIDATE_TYPE_HOST) {
                sockets.push_back(
                    {canonical_ip(address_string(candidate->addr)),
                     static_cast<std::uint16_t>(nice_address_get_port(&candidate->addr))});
            }
        }
        g_slist_free_full(candidates, reinterpret_cast<GDestroyNotify>(&nice_candidate_free));
        std::vector<std::string> sources = allowed;
        sources.insert(sources.end(), server_ips.begin(), server_ips.end());
        int filtered = filter_datagram_sources(sockets, sources, error);
        if (filtered < 0) {
            return false;
        }
        if (filtered != filtered_sockets) {
            core::log_verbose("webrtc: {} ICE socket(s) take datagrams from --ice-address only",
                              filtered);
            filtered_sockets = filtered;
        }
        return true;
    }

    static void on_gathering_done(NiceAgent*, guint, gpointer data) {
        static_cast<Impl*>(data)->post([](Impl& self) {
            std::string error;
            if (!self.filter_sources(error)) {
                self.callbacks.on_failed("ICE: " + error);
                return;
            }
            if (self.callbacks.on_gathering_done) {
                self.callbacks.on_gathering_done();
            }
        });
    }

    static void on_new_candidate(NiceAgent*, NiceCandidate* candidate, gpointer data) {
        // The SDP line is made on the loop thread (libnice takes the agent lock for it).
        NiceCandidate* copy = nice_candidate_copy(candidate);
        std::shared_ptr<NiceCandidate> owned(copy, &nice_candidate_free);
        static_cast<Impl*>(data)->post([owned](Impl& self) {
            if (!self.callbacks.on_local_candidate) {
                return;
            }
            gchar* sdp = nice_agent_generate_local_candidate_sdp(self.agent, owned.get());
            std::string_view line = sdp != nullptr ? sdp : "";
            constexpr std::string_view prefix = "a=candidate:";
            std::string value(line.starts_with(prefix) ? line.substr(prefix.size()) : "");
            g_free(sdp);
            if (!value.empty()) {
                self.callbacks.on_local_candidate(std::move(value));
            }
        });
    }

    // Parses one remote candidate (an SDP attribute value) and checks it is usable here;
    // null with the reason in `dropped`.
    NiceCandidate* parse_remote(const std::string& value, std::string& dropped) const {
        std::string line = "a=candidate:" + value;
        NiceCandidate* candidate =
            nice_agent_parse_remote_candidate_sdp(agent, stream, line.c_str());
        if (candidate == nullptr) {
            // libnice parses IP literals only: mDNS names (".local") and TCP candidates end here.
            dropped = fmt::format("{} (not a UDP candidate with an IP address)", value);
            return nullptr;
        }
        std::string address = address_string(candidate->addr);
        if (candidate->component_id != k_component) {
            dropped = fmt::format("{} (component {})", value, candidate->component_id);
            nice_candidate_free(candidate);
            return nullptr;
        }
        if (!address_allowed(canonical_ip(address))) {
            dropped = fmt::format("{} ({} is not an --ice-address)", value, address);
            nice_candidate_free(candidate);
            return nullptr;
        }
        return candidate;
    }

    static void on_state_changed(NiceAgent*, guint, guint, guint state, gpointer data) {
        static_cast<Impl*>(data)->post([state](Impl& self) {
            core::log_verbose("webrtc: ICE state {}", nice_component_state_to_string(
                                                          static_cast<NiceComponentState>(state)));
            if ((state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) &&
                !self.connected) {
                self.connected = true;
                self.callbacks.on_connected();
            } else if (state == NICE_COMPONENT_STATE_FAILED) {
                self.callbacks.on_failed(
                    "ICE failed: no candidate pair answered connectivity checks");
            }
        });
    }

    static void on_selected_pair(NiceAgent*, guint, guint, NiceCandidate* local,
                                 NiceCandidate* remote, gpointer data) {
        std::string local_text = describe(local);
        std::string remote_text = describe(remote);
        std::string remote_address = canonical_ip(address_string(remote->addr));
        static_cast<Impl*>(data)->post([local_text = std::move(local_text),
                                        remote_text = std::move(remote_text),
                                        remote_address = std::move(remote_address)](Impl& self) {
            self.callbacks.on_selected_pair(local_text, remote_text);
            self.grow_socket_buffers();
            // A peer-reflexive candidate (RFC 8445 section 7.3.1.3) is learned from a check
            // the peer sent, not from its description, so the filter in set_remote never saw
            // it: a pair on an address outside --ice-address is refused here.
            if (!self.address_allowed(remote_address)) {
                self.callbacks.on_failed(
                    fmt::format("ICE selected the peer address {}, which is not an --ice-address",
                                remote_address));
            }
        });
    }

    // Bursts of a whole SCTP window arrive at once on loopback (see k_socket_buffer). A
    // relayed (TURN) or TCP pair has no socket of its own here: left as it is.
    void grow_socket_buffers() {
        GSocket* socket = nice_agent_get_selected_socket(agent, stream, k_component);
        if (socket == nullptr) {
            return;
        }
        const int fd = g_socket_get_fd(socket);
        const int size = k_socket_buffer;
        int received = 0;
        socklen_t length = sizeof received;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0 &&
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &received, &length) == 0) {
            core::log_debug("webrtc: ICE socket receive buffer {} bytes", received);
        }
        g_object_unref(socket);
    }

    static void on_receive(NiceAgent*, guint, guint, guint length, gchar* buffer, gpointer data) {
        std::string datagram(buffer, length);
        static_cast<Impl*>(data)->post(
            [datagram = std::move(datagram)](Impl& self) { self.callbacks.on_datagram(datagram); });
    }
};

IceAgent::IceAgent(core::Loop& loop, bool controlling, std::vector<std::string> allowed_addresses,
                   IceCallbacks callbacks)
    : m_impl(std::make_shared<Impl>(loop, controlling, std::move(callbacks))) {
    for (const auto& address : allowed_addresses) {
        m_impl->allowed.push_back(canonical_ip(address));
    }
}

IceAgent::~IceAgent() {
    if (m_impl->thread.joinable()) {
        // A flag and a wakeup, not g_main_loop_quit: a quit that comes before the thread has
        // entered g_main_loop_run would be lost.
        m_impl->stopping = true;
        g_main_context_wakeup(m_impl->context);
        m_impl->thread.join();
    }
    if (m_impl->holding) {
        m_impl->loop.release();
    }
    // The GLib thread has stopped, so no callback runs while the agent goes away; tasks it
    // posted earlier find the Impl gone (weak pointer) and do nothing.
    if (m_impl->agent != nullptr) {
        g_object_unref(m_impl->agent);
    }
    if (m_impl->context != nullptr) {
        g_main_context_unref(m_impl->context);
    }
}

void IceAgent::set_servers(IceServers servers) {
    m_impl->servers = std::move(servers);
}

bool IceAgent::start(std::string& error, bool trickle) {
    Impl& impl = *m_impl;
    // libnice takes IP literals: names are resolved here, once, before gathering.
    std::string stun_ip;
    std::string turn_ip;
    if (impl.servers.stun) {
        auto ip = resolve_ice_host(impl.servers.stun->host);
        if (!ip) {
            error = "STUN server " + ip.error().message;
            return false;
        }
        stun_ip = ip.value();
        impl.server_ips.push_back(canonical_ip(stun_ip));
    }
    if (impl.servers.turn) {
        auto ip = resolve_ice_host(impl.servers.turn->host);
        if (!ip) {
            error = "TURN server " + ip.error().message;
            return false;
        }
        turn_ip = ip.value();
        impl.server_ips.push_back(canonical_ip(turn_ip));
    }
    for (const auto& address : impl.allowed) {
        if (address.empty()) {
            error = "--ice-address takes an IP address";
            return false;
        }
    }
    impl.context = g_main_context_new();
    // RFC 8445 with regular nomination, as browsers do; no UPnP (it would leave the
    // machine), no ICE-TCP (data channels run over UDP here).
    impl.agent = nice_agent_new_full(impl.context, NICE_COMPATIBILITY_RFC5245,
                                     NICE_AGENT_OPTION_REGULAR_NOMINATION);
    if (impl.agent == nullptr) {
        error = "libnice could not create an agent";
        return false;
    }
    g_object_set(G_OBJECT(impl.agent), "controlling-mode", impl.controlling ? TRUE : FALSE, "upnp",
                 FALSE, "ice-tcp", FALSE, "ice-udp", TRUE, "ice-trickle", trickle ? TRUE : FALSE,
                 nullptr);
    if (!stun_ip.empty()) {
        g_object_set(G_OBJECT(impl.agent), "stun-server", stun_ip.c_str(), "stun-server-port",
                     static_cast<guint>(impl.servers.stun->port), nullptr);
        core::log_verbose("webrtc: STUN server {}:{}", stun_ip, impl.servers.stun->port);
    }
    if (impl.servers.relay_only) {
        // Only relayed candidates are gathered, paired and announced.
        g_object_set(G_OBJECT(impl.agent), "force-relay", TRUE, nullptr);
    }
    for (const auto& text : impl.allowed) {
        NiceAddress address;
        nice_address_init(&address);
        if (nice_address_set_from_string(&address, text.c_str()) == FALSE) {
            error = fmt::format("--ice-address {}: not an IP address", text);
            return false;
        }
        nice_agent_add_local_address(impl.agent, &address);
    }
    g_signal_connect(G_OBJECT(impl.agent), "candidate-gathering-done",
                     G_CALLBACK(Impl::on_gathering_done), &impl);
    g_signal_connect(G_OBJECT(impl.agent), "new-candidate-full", G_CALLBACK(Impl::on_new_candidate),
                     &impl);
    g_signal_connect(G_OBJECT(impl.agent), "component-state-changed",
                     G_CALLBACK(Impl::on_state_changed), &impl);
    g_signal_connect(G_OBJECT(impl.agent), "new-selected-pair-full",
                     G_CALLBACK(Impl::on_selected_pair), &impl);
    impl.stream = nice_agent_add_stream(impl.agent, 1);
    if (impl.stream == 0) {
        error = "libnice could not add a stream";
        return false;
    }
    nice_agent_set_stream_name(impl.agent, impl.stream, "application");
    if (!turn_ip.empty()) {
        const IceServer& turn = *impl.servers.turn;
        if (nice_agent_set_relay_info(impl.agent, impl.stream, k_component, turn_ip.c_str(),
                                      turn.port, turn.username.c_str(), turn.password.c_str(),
                                      NICE_RELAY_TYPE_TURN_UDP) == FALSE) {
            error = fmt::format("libnice refused the TURN server {}:{}", turn_ip, turn.port);
            return false;
        }
        core::log_verbose("webrtc: TURN server {}:{} (UDP, user {})", turn_ip, turn.port,
                          turn.username);
    }
    nice_agent_attach_recv(impl.agent, impl.stream, k_component, impl.context, Impl::on_receive,
                           &impl);
    impl.thread = std::thread([&impl] {
        while (!impl.stopping) {
            g_main_context_iteration(impl.context, TRUE);
        }
    });
    // What libnice reports arrives through Loop::post, which alone does not keep the loop
    // running: until the agent goes, the loop waits for it.
    impl.loop.hold();
    impl.holding = true;
    if (nice_agent_gather_candidates(impl.agent, impl.stream) == FALSE) {
        error = "libnice could not gather candidates (no usable local address)";
        return false;
    }
    // libnice binds the host candidates' sockets inside nice_agent_gather_candidates; the
    // end of gathering can come later than our first trickled candidate (a trickle answer
    // goes out at once), and a check may follow it at once.
    std::string filter_error;
    if (!impl.filter_sources(filter_error)) {
        error = "ICE: " + filter_error;
        return false;
    }
    return true;
}

namespace {

// One of the stream's local credentials (RFC 8445 section 5.3): the ufrag or the password.
std::string local_credential(NiceAgent* agent, guint stream, bool want_ufrag) {
    gchar* ufrag = nullptr;
    gchar* pwd = nullptr;
    nice_agent_get_local_credentials(agent, stream, &ufrag, &pwd);
    const gchar* wanted = want_ufrag ? ufrag : pwd;
    std::string out = wanted != nullptr ? wanted : "";
    g_free(ufrag);
    g_free(pwd);
    return out;
}

} // namespace

std::string IceAgent::local_ufrag() const {
    return local_credential(m_impl->agent, m_impl->stream, true);
}

std::string IceAgent::local_pwd() const {
    return local_credential(m_impl->agent, m_impl->stream, false);
}

std::vector<std::string> IceAgent::local_candidates() const {
    std::vector<std::string> out;
    GSList* candidates =
        nice_agent_get_local_candidates(m_impl->agent, m_impl->stream, k_component);
    for (GSList* item = candidates; item != nullptr; item = item->next) {
        auto* candidate = static_cast<NiceCandidate*>(item->data);
        gchar* sdp = nice_agent_generate_local_candidate_sdp(m_impl->agent, candidate);
        std::string_view line = sdp != nullptr ? sdp : "";
        constexpr std::string_view prefix = "a=candidate:";
        if (line.starts_with(prefix)) {
            out.emplace_back(line.substr(prefix.size()));
        }
        g_free(sdp);
    }
    g_slist_free_full(candidates, reinterpret_cast<GDestroyNotify>(&nice_candidate_free));
    return out;
}

bool IceAgent::set_remote(const std::string& ufrag, const std::string& pwd,
                          const std::vector<std::string>& candidates,
                          std::vector<std::string>& dropped, std::string& error, bool trickle) {
    Impl& impl = *m_impl;
    if (nice_agent_set_remote_credentials(impl.agent, impl.stream, ufrag.c_str(), pwd.c_str()) ==
        FALSE) {
        error = "libnice refused the peer's ICE credentials";
        return false;
    }
    GSList* accepted = nullptr;
    for (const auto& value : candidates) {
        std::string reason;
        if (NiceCandidate* candidate = impl.parse_remote(value, reason)) {
            accepted = g_slist_append(accepted, candidate);
        } else {
            dropped.push_back(std::move(reason));
        }
    }
    if (accepted == nullptr && trickle) {
        return true; // the candidates are still to come
    }
    if (accepted == nullptr) {
        error = candidates.empty() ? "the peer sent no ICE candidates"
                                   : "none of the peer's ICE candidates is usable";
        return false;
    }
    int added = nice_agent_set_remote_candidates(impl.agent, impl.stream, k_component, accepted);
    g_slist_free_full(accepted, reinterpret_cast<GDestroyNotify>(&nice_candidate_free));
    if (added <= 0) {
        error = "libnice refused the peer's ICE candidates";
        return false;
    }
    return true;
}

bool IceAgent::add_remote_candidate(const std::string& candidate, std::string& dropped) {
    Impl& impl = *m_impl;
    NiceCandidate* parsed = impl.parse_remote(candidate, dropped);
    if (parsed == nullptr) {
        return false;
    }
    GSList* one = g_slist_append(nullptr, parsed);
    int added = nice_agent_set_remote_candidates(impl.agent, impl.stream, k_component, one);
    g_slist_free_full(one, reinterpret_cast<GDestroyNotify>(&nice_candidate_free));
    if (added <= 0) {
        dropped = fmt::format("{} (libnice refused it)", candidate);
        return false;
    }
    return true;
}

void IceAgent::remote_gathering_done() {
    nice_agent_peer_candidate_gathering_done(m_impl->agent, m_impl->stream);
}

bool IceAgent::send(std::string_view datagram) {
    gint sent = nice_agent_send(m_impl->agent, m_impl->stream, k_component,
                                static_cast<guint>(datagram.size()), datagram.data());
    return sent == static_cast<gint>(datagram.size());
}

} // namespace rtx::transport::webrtc
