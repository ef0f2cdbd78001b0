#include "transport/webrtc/webrtc_peer_connection.hpp"

#include "core/log.hpp"
#include "core/timer.hpp"
#include "proto/sdp.hpp"
#include "transport/webrtc/dtls_session.hpp"
#include "transport/webrtc/ice_agent.hpp"
#include "transport/webrtc/sctp_association.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <chrono>
#include <optional>
#include <set>
#include <utility>

namespace rtx::transport::webrtc {

namespace {

// RFC 8841 section 5: the SCTP port in a=sctp-port; browsers use 5000 and so do we.
constexpr std::uint16_t k_sctp_port = 5000;
// close(): how long to wait for the peer to reset its side of the channel.
constexpr auto k_close_linger = std::chrono::seconds(2);

std::uint64_t random_session_id() {
    std::uint64_t value = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value);
    // JSEP section 5.2.1: a 64-bit value with the top bit clear (at most 63 bits).
    return value >> 2;
}

} // namespace

struct WebrtcConnection::Impl : std::enable_shared_from_this<WebrtcConnection::Impl> {
    core::Loop& loop;
    WebrtcOptions options;
    Handler& handler;
    std::uint64_t id;
    Connection* owner = nullptr;
    ConnectionStats stats;
    std::chrono::steady_clock::time_point started;
    std::shared_ptr<DtlsCertificate> certificate;
    std::unique_ptr<IceAgent> ice;
    std::unique_ptr<DtlsSession> dtls;
    std::unique_ptr<SctpAssociation> sctp;
    core::Timer deadline;
    std::optional<proto::SessionDescription> remote;
    std::uint64_t session_id = random_session_id();
    bool gathered = false;
    /// Trickle: our description went out (local candidates wait for it in local_queue,
    /// the end of candidates as an empty string).
    bool described = false;
    std::vector<std::string> local_queue;
    /// The peer's trickled candidates before connect(), and its end of candidates.
    std::vector<TrickledCandidate> remote_queue;
    bool checking = false; ///< connect() gave ICE the remote description.
    bool dtls_client = false;
    bool open = false;
    bool finish_requested = false;
    bool ended = false;
    std::uint16_t stream = 0;
    /// every_channel: the channels open now (closing them ends close()).
    std::set<std::uint16_t> channels;
    std::string stage = "the remote description";

    Impl(core::Loop& owner_loop, WebrtcOptions opts, Handler& h, std::uint64_t connection_id)
        : loop(owner_loop)
        , options(std::move(opts))
        , handler(h)
        , id(connection_id)
        , deadline(owner_loop) {}

    ~Impl() {
        // Inner layers first: SCTP's last packets go through DTLS, DTLS's through ICE.
        sctp.reset();
        if (dtls) {
            dtls->close();
        }
        dtls.reset();
        ice.reset();
    }

    // Ends the connection once; on_close arrives from the loop, never inside a call of ours.
    void end(CloseInfo info) {
        if (ended) {
            return;
        }
        ended = true;
        info.was_open = open;
        open = false;
        deadline.stop();
        std::weak_ptr<Impl> weak = weak_from_this();
        loop.post([weak, info = std::move(info)] {
            if (auto self = weak.lock()) {
                self->handler.on_close(*self->owner, info);
            }
        });
    }

    void fail(core::ExitCode code, std::string reason) {
        CloseInfo info;
        info.exit_code = code;
        info.reason = std::move(reason);
        end(std::move(info));
    }

    void start() {
        started = std::chrono::steady_clock::now();
        std::string error;
        certificate = DtlsCertificate::generate(error);
        if (!certificate) {
            fail(core::ExitCode::failure, error);
            return;
        }
        IceCallbacks callbacks;
        callbacks.on_gathering_done = [this] {
            gathering_done();
        };
        callbacks.on_local_candidate = [this](std::string candidate) {
            if (options.trickle) {
                trickle_out(std::move(candidate));
            }
        };
        callbacks.on_connected = [this] {
            ice_connected();
        };
        callbacks.on_failed = [this](std::string reason) {
            fail(core::ExitCode::connect_failed, std::move(reason));
        };
        callbacks.on_selected_pair = [](const std::string& local_pair,
                                        const std::string& remote_pair) {
            core::log_verbose("webrtc: ICE selected pair {} <-> {}", local_pair, remote_pair);
        };
        callbacks.on_datagram = [this](std::string_view datagram) {
            if (dtls && !ended) {
                dtls->receive(datagram);
            }
        };
        ice = std::make_unique<IceAgent>(loop, options.offerer, options.ice_addresses,
                                         std::move(callbacks));
        ice->set_servers(options.ice_servers);
        if (!ice->start(error, options.trickle)) {
            fail(core::ExitCode::connect_failed, "ICE: " + error);
            return;
        }
        core::log_verbose("webrtc: ICE gathering");
        if (options.trickle && options.offerer) {
            // Not from inside start(): the caller may not be ready for its callback yet.
            std::weak_ptr<Impl> weak = weak_from_this();
            loop.post([weak] {
                if (auto self = weak.lock(); self && !self->ended && !self->described) {
                    self->send_offer();
                }
            });
        }
    }

    proto::LocalDescription local_description(proto::DtlsSetup setup) const {
        proto::LocalDescription local;
        local.session_id = session_id;
        local.ice_ufrag = ice->local_ufrag();
        local.ice_pwd = ice->local_pwd();
        local.fingerprint = certificate->fingerprint();
        local.setup = setup;
        local.sctp_port = k_sctp_port;
        local.max_message_size = options.max_message_size;
        local.trickle = trickling();
        if (!local.trickle) {
            local.candidates = ice->local_candidates();
        }
        return local;
    }

    /// Our candidates go one by one: we offer with trickle, or answer a trickle offer.
    bool trickling() const {
        return options.trickle && (options.offerer || (remote && remote->trickle));
    }

    void trickle_out(std::string candidate) {
        if (ended) {
            return;
        }
        if (!described) {
            local_queue.push_back(std::move(candidate)); // the answerer may yet trickle
            return;
        }
        if (trickling() && options.on_local_candidate) {
            // Our offer has the data section alone (mid "0"); an answer repeats the offer's.
            TrickledCandidate tagged{std::move(candidate), "0", 0};
            if (!options.offerer) {
                tagged.mid = remote->media[remote->data_channel_index].mid;
                tagged.mline_index = remote->data_channel_index;
            }
            options.on_local_candidate(tagged);
        }
    }

    void send_offer() {
        described = true;
        // JSEP section 5.2.1: an offer says actpass and lets the answerer pick.
        options.on_local_description(
            proto::format_offer(local_description(proto::DtlsSetup::actpass)));
        for (auto& candidate : std::exchange(local_queue, {})) {
            trickle_out(std::move(candidate));
        }
        if (options.answer_timeout.count() > 0 && !remote && !ended) {
            deadline.start(options.answer_timeout, [this] {
                fail(core::ExitCode::timeout,
                     fmt::format("no answer from the peer after {} ms",
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     options.answer_timeout)
                                     .count()));
            });
        }
    }

    void gathering_done() {
        if (gathered || ended) {
            return;
        }
        gathered = true;
        auto candidates = ice->local_candidates();
        core::log_verbose("webrtc: ICE gathering done, {} local candidate(s)", candidates.size());
        for (const auto& candidate : candidates) {
            core::log_verbose("webrtc: local candidate {}", candidate);
        }
        if (candidates.empty()) {
            fail(core::ExitCode::connect_failed,
                 "ICE: no local candidate (check --ice-address, and the --turn relay "
                 "and its credentials)");
            return;
        }
        if (options.trickle) {
            trickle_out(std::string()); // end of candidates (RFC 8838 section 13)
        }
        if (trickling()) {
            return; // the description went out without waiting for the candidates
        }
        if (options.offerer) {
            send_offer();
        } else if (remote) {
            answer();
        }
    }

    void set_remote(std::string_view sdp) {
        if (ended) {
            return;
        }
        if (remote) {
            fail(core::ExitCode::usage, "a second remote description (only one is read)");
            return;
        }
        auto parsed = proto::parse_sdp(sdp);
        if (!parsed.description) {
            fail(core::ExitCode::protocol_error, "remote description: " + parsed.error);
            return;
        }
        const auto setup = parsed.description->setup;
        if (options.offerer) {
            // RFC 8842 section 5.2: the answer picks active or passive, never actpass.
            if (setup == proto::DtlsSetup::actpass) {
                fail(core::ExitCode::protocol_error,
                     "remote description: an answer with a=setup:actpass");
                return;
            }
            dtls_client = setup == proto::DtlsSetup::passive;
        } else {
            // RFC 8842 section 5.2: answer an actpass offer as active (the DTLS client).
            dtls_client = setup != proto::DtlsSetup::active;
        }
        remote = std::move(parsed.description);
        deadline.start(options.connect_timeout, [this] {
            fail(core::ExitCode::timeout,
                 fmt::format(
                     "WebRTC setup not done after {} ms: waiting for {}",
                     std::chrono::duration_cast<std::chrono::milliseconds>(options.connect_timeout)
                         .count(),
                     stage));
        });
        if (options.offerer) {
            connect();
        } else if (gathered || trickling()) {
            answer();
        }
    }

    void add_remote_candidate(TrickledCandidate trickled) {
        if (ended) {
            return;
        }
        if (!checking) {
            remote_queue.push_back(std::move(trickled)); // checked against the description
            return;
        }
        std::string_view candidate = trickled.candidate;
        if (candidate.starts_with("a=")) {
            candidate.remove_prefix(2);
        }
        if (candidate.starts_with("candidate:")) {
            candidate.remove_prefix(10);
        }
        if (!proto::for_data_section(*remote, trickled.mid, trickled.mline_index)) {
            core::log_verbose("webrtc: remote candidate for another m= section (mid {}, index {}) "
                              "dropped: {}",
                              trickled.mid.value_or("none"),
                              trickled.mline_index ? std::to_string(*trickled.mline_index)
                                                   : std::string("none"),
                              candidate.empty() ? "end of candidates" : candidate);
            return;
        }
        if (candidate.empty()) {
            core::log_verbose("webrtc: the peer's end of candidates");
            ice->remote_gathering_done();
            return;
        }
        std::string dropped;
        if (ice->add_remote_candidate(std::string(candidate), dropped)) {
            core::log_verbose("webrtc: remote candidate {}", candidate);
        } else {
            core::log_verbose("webrtc: remote candidate dropped: {}", dropped);
        }
    }

    void answer() {
        described = true;
        options.on_local_description(proto::format_answer(
            *remote,
            local_description(dtls_client ? proto::DtlsSetup::active : proto::DtlsSetup::passive)));
        for (auto& candidate : std::exchange(local_queue, {})) {
            trickle_out(std::move(candidate));
        }
        connect();
    }

    void connect() {
        if (ended) {
            return;
        }
        stage = "ICE connectivity checks";
        DtlsCallbacks callbacks;
        callbacks.send_datagram = [this](std::string_view datagram) {
            ice->send(datagram);
        };
        callbacks.on_connected = [this] {
            dtls_connected();
        };
        callbacks.on_data = [this](std::string_view packet) {
            if (sctp) {
                sctp->receive_packet(packet);
            }
        };
        callbacks.on_failed = [this](std::string reason) {
            fail(core::ExitCode::tls_failed, std::move(reason));
        };
        callbacks.on_closed = [this] {
            fail(core::ExitCode::connection_lost, "the peer ended DTLS (close_notify)");
        };
        dtls = std::make_unique<DtlsSession>(loop, certificate, dtls_client, remote->fingerprint,
                                             std::move(callbacks));
        std::vector<std::string> dropped;
        std::string error;
        // Candidates may still come by signalling when either side trickles.
        const bool more_to_come = options.trickle || remote->trickle;
        bool usable = ice->set_remote(remote->ice_ufrag, remote->ice_pwd, remote->candidates,
                                      dropped, error, more_to_come && !remote->end_of_candidates);
        for (const auto& candidate : dropped) {
            core::log_verbose("webrtc: remote candidate dropped: {}", candidate);
        }
        if (!usable) {
            fail(core::ExitCode::connect_failed, "ICE: " + error);
            return;
        }
        checking = true;
        for (auto& candidate : std::exchange(remote_queue, {})) {
            add_remote_candidate(std::move(candidate));
        }
        if (remote->end_of_candidates) {
            ice->remote_gathering_done();
        }
        if (ended) {
            return;
        }
        if (!dtls_client && !dtls->start(error)) {
            fail(core::ExitCode::tls_failed, error);
        }
    }

    void ice_connected() {
        if (ended || !dtls) {
            return;
        }
        stage = "the DTLS handshake";
        core::log_verbose("webrtc: ICE connected; DTLS as {}", dtls_client ? "client" : "server");
        std::string error;
        if (dtls_client && !dtls->start(error)) {
            fail(core::ExitCode::tls_failed, error);
        }
    }

    void dtls_connected() {
        if (ended) {
            return;
        }
        stage = "the SCTP association";
        core::log_verbose("webrtc: DTLS connected, peer fingerprint {}", remote->fingerprint);
        SctpCallbacks callbacks;
        callbacks.send_packet = [this](std::string_view packet) {
            dtls->send(packet);
        };
        callbacks.on_connected = [this] {
            sctp_connected();
        };
        callbacks.on_channel_open = [this](std::uint16_t id_of_stream, const std::string& label,
                                           const std::string& protocol,
                                           const ChannelParameters& parameters) {
            channel_open(id_of_stream, label, protocol, parameters);
        };
        callbacks.on_message = [this](std::uint16_t id_of_stream, std::string_view payload,
                                      bool binary) {
            message(id_of_stream, payload, binary);
        };
        callbacks.on_drain = [this] {
            if (open) {
                handler.on_drain(*owner);
            }
        };
        callbacks.on_channel_closed = [this](std::uint16_t id_of_stream, bool by_peer) {
            if (options.every_channel) {
                channel_closed(id_of_stream);
                return;
            }
            if (id_of_stream != stream || ended) {
                return;
            }
            CloseInfo info;
            info.by_peer = by_peer;
            info.reason = by_peer ? "webrtc: the peer closed the data channel"
                                  : "webrtc: data channel closed";
            end(std::move(info));
        };
        callbacks.on_failed = [this](std::string reason) {
            fail(open ? core::ExitCode::connection_lost : core::ExitCode::protocol_error,
                 "SCTP: " + reason);
        };
        sctp = std::make_unique<SctpAssociation>(loop, k_sctp_port, remote->sctp_port,
                                                 std::move(callbacks));
        std::string error;
        if (!sctp->start(error)) {
            fail(core::ExitCode::failure, "SCTP: " + error);
        }
    }

    void sctp_connected() {
        if (ended) {
            return;
        }
        stage = "the data channel (DCEP)";
        core::log_verbose("webrtc: SCTP association up");
        if (options.every_channel) {
            open = true;
            deadline.stop();
            stats.connect_time = std::chrono::duration_cast<core::Duration>(
                std::chrono::steady_clock::now() - started);
            handler.on_open(*owner);
            return;
        }
        if (options.offerer) {
            // RFC 8832 section 6: the DTLS client uses even stream identifiers, the server odd.
            stream = dtls_client ? 0 : 1;
            sctp->open_channel(stream, options.label, options.protocol, options.channel);
        }
    }

    void channel_open(std::uint16_t id_of_stream, const std::string& label,
                      const std::string& protocol, const ChannelParameters& parameters) {
        if (options.every_channel) {
            if (!ended && !finish_requested) {
                core::log_verbose("webrtc: channel open: stream {}, label \"{}\", protocol "
                                  "\"{}\", {}",
                                  id_of_stream, label, protocol, describe(parameters));
                channels.insert(id_of_stream);
                options.every_channel->on_open(id_of_stream, label, protocol, parameters);
            }
            return;
        }
        if (ended || open) {
            core::log_verbose("webrtc: ignoring a further channel on stream {}", id_of_stream);
            return;
        }
        stream = id_of_stream;
        open = true;
        deadline.stop();
        stats.connect_time =
            std::chrono::duration_cast<core::Duration>(std::chrono::steady_clock::now() - started);
        core::log_verbose("webrtc: channel open: stream {}, label \"{}\", protocol \"{}\", "
                          "{}, peer max-message-size {}",
                          id_of_stream, label, protocol, describe(parameters),
                          remote->max_message_size);
        handler.on_open(*owner);
        if (finish_requested && !ended) {
            sctp->close_channel(stream);
        }
    }

    void message(std::uint16_t id_of_stream, std::string_view payload, bool binary) {
        const bool every = options.every_channel.has_value();
        if (!open || (every ? !channels.contains(id_of_stream) : id_of_stream != stream)) {
            return;
        }
        if (options.max_message_size != 0 && payload.size() > options.max_message_size) {
            fail(core::ExitCode::protocol_error,
                 fmt::format("the peer sent a {}-byte message, over our max-message-size {}",
                             payload.size(), options.max_message_size));
            return;
        }
        ++stats.messages_in;
        stats.bytes_in += payload.size();
        const Message received(payload, binary ? PayloadKind::binary : PayloadKind::text);
        if (every) {
            options.every_channel->on_message(id_of_stream, received);
        } else {
            handler.on_message(*owner, received);
        }
    }

    void channel_closed(std::uint16_t id_of_stream) {
        if (channels.erase(id_of_stream) == 0 || ended) {
            return;
        }
        core::log_verbose("webrtc: channel on stream {} closed", id_of_stream);
        options.every_channel->on_closed(id_of_stream);
        if (finish_requested && channels.empty()) {
            end(CloseInfo{});
        }
    }

    // Checks a message against the peer's max-message-size and queues it on `on_stream`.
    bool send_message(std::uint16_t on_stream, const Message& message) {
        std::uint64_t limit = remote->max_message_size;
        if (limit != 0 && message.payload.size() > limit) {
            fail(core::ExitCode::usage,
                 fmt::format("a {}-byte message is over the peer's max-message-size {}",
                             message.payload.size(), limit));
            return false;
        }
        if (!sctp->send(on_stream, message.payload, message.kind == PayloadKind::binary)) {
            return false;
        }
        ++stats.messages_out;
        stats.bytes_out += message.payload.size();
        return true;
    }
};

WebrtcPeerConnection::WebrtcPeerConnection(core::Loop& loop, WebrtcOptions options,
                                           Handler& handler, std::uint64_t id)
    : m_impl(std::make_shared<Impl>(loop, std::move(options), handler, id)) {
    m_impl->owner = this;
}

WebrtcPeerConnection::~WebrtcPeerConnection() = default;

void WebrtcPeerConnection::start() {
    m_impl->start();
}

void WebrtcPeerConnection::start(bool offerer) {
    m_impl->options.offerer = offerer;
    m_impl->start();
}

void WebrtcPeerConnection::set_remote_description(std::string_view sdp) {
    m_impl->set_remote(sdp);
}

void WebrtcPeerConnection::add_remote_candidate(TrickledCandidate candidate) {
    m_impl->add_remote_candidate(std::move(candidate));
}

void WebrtcPeerConnection::fail(core::ExitCode code, std::string reason) {
    m_impl->fail(code, std::move(reason));
}

bool WebrtcPeerConnection::send(const Message& message) {
    Impl& impl = *m_impl;
    if (!impl.open || impl.finish_requested) {
        return false;
    }
    return impl.send_message(impl.stream, message);
}

bool WebrtcPeerConnection::send_on(std::uint16_t stream, const Message& message) {
    Impl& impl = *m_impl;
    if (!impl.open || impl.finish_requested || !impl.channels.contains(stream)) {
        return false;
    }
    return impl.send_message(stream, message);
}

void WebrtcPeerConnection::close_channel(std::uint16_t stream) {
    Impl& impl = *m_impl;
    if (impl.open && impl.channels.contains(stream)) {
        impl.sctp->close_channel(stream);
    }
}

void WebrtcPeerConnection::finish_sending() {
    Impl& impl = *m_impl;
    if (impl.finish_requested || impl.ended) {
        return;
    }
    impl.finish_requested = true;
    if (impl.open) {
        impl.sctp->close_channel(impl.stream);
    }
}

void WebrtcPeerConnection::close() {
    Impl& impl = *m_impl;
    if (impl.ended) {
        return;
    }
    if (!impl.open) {
        impl.end(CloseInfo{});
        return;
    }
    // Close as the peer expects (RFC 8831 section 6.7: reset our stream, wait for its reset),
    // so that it ends cleanly instead of seeing the association aborted when we exit; but
    // not for longer than k_close_linger.
    impl.finish_requested = true;
    if (impl.options.every_channel) {
        if (impl.channels.empty()) {
            impl.end(CloseInfo{});
            return;
        }
        for (std::uint16_t stream : impl.channels) {
            impl.sctp->close_channel(stream);
        }
    } else {
        impl.sctp->close_channel(impl.stream);
    }
    impl.deadline.start(k_close_linger, [&impl] {
        CloseInfo info;
        info.reason = "webrtc: the peer did not close its side in time";
        impl.end(std::move(info));
    });
}

bool WebrtcPeerConnection::is_open() const {
    return m_impl->open;
}

std::size_t WebrtcPeerConnection::buffered_bytes() const {
    return m_impl->sctp ? m_impl->sctp->buffered_bytes() : 0;
}

const ConnectionStats& WebrtcPeerConnection::stats() const {
    return m_impl->stats;
}

std::uint64_t WebrtcPeerConnection::id() const {
    return m_impl->id;
}

} // namespace rtx::transport::webrtc
