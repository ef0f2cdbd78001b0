// The entry point of the WebRTC stack module, rtx-webrtc.so (see webrtc_stack.hpp).
#include "transport/webrtc/webrtc_peer_connection.hpp"
#include "transport/webrtc/webrtc_stack.hpp"

namespace {

using namespace rtx::transport::webrtc;

WebrtcConnection* new_connection(rtx::core::Loop& loop, WebrtcOptions&& options,
                                 rtx::transport::Handler& handler, std::uint64_t id) {
    return new WebrtcPeerConnection(loop, std::move(options), handler, id);
}

constexpr WebrtcStack k_stack{k_webrtc_stack_abi, &new_connection};

} // namespace

extern "C" __attribute__((visibility("default"))) const void* rtx_webrtc_stack() {
    return &k_stack;
}
