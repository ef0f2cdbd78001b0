#pragma once

// Inside the WebRTC stack module only (rtx-webrtc.so): the class make_webrtc_connection()
// hands out. Everything else sees the WebrtcConnection interface.

#include "transport/webrtc/webrtc_connection.hpp"

#include <memory>

namespace rtx::transport::webrtc {

class WebrtcPeerConnection final : public WebrtcConnection {
public:
    WebrtcPeerConnection(core::Loop& loop, WebrtcOptions options, Handler& handler,
                         std::uint64_t id);
    ~WebrtcPeerConnection() override;
    WebrtcPeerConnection(const WebrtcPeerConnection&) = delete;
    WebrtcPeerConnection& operator=(const WebrtcPeerConnection&) = delete;

    void start() override;
    void start(bool offerer) override;
    void set_remote_description(std::string_view sdp) override;
    void add_remote_candidate(TrickledCandidate candidate) override;
    void fail(core::ExitCode code, std::string reason) override;
    bool send_on(std::uint16_t stream, const Message& message) override;
    void close_channel(std::uint16_t stream) override;

    bool send(const Message& message) override;
    void finish_sending() override;
    void close() override;
    bool is_open() const override;
    std::size_t buffered_bytes() const override;
    const ConnectionStats& stats() const override;
    std::uint64_t id() const override;

private:
    std::shared_ptr<Impl> m_impl;
};

} // namespace rtx::transport::webrtc
