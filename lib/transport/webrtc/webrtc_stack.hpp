#pragma once

// The seam between the rtx executable and its WebRTC stack module (rtx-webrtc.so): the one
// symbol the module exports for the executable to look up with dlsym. The module's own code
// calls back into the executable's (core::Loop, logging, proto::sdp) through the symbols the
// executable exports (it links with -rdynamic and takes all of rtx_lib).

#include "transport/webrtc/webrtc_connection.hpp"

namespace rtx::transport::webrtc {

/// Bumped whenever WebrtcStack, WebrtcOptions or the WebrtcConnection interface changes, so
/// that an executable never drives a module built from other sources.
inline constexpr int k_webrtc_stack_abi = 1;

struct WebrtcStack {
    int abi;
    WebrtcConnection* (*new_connection)(core::Loop& loop, WebrtcOptions&& options, Handler& handler,
                                        std::uint64_t id);
};

} // namespace rtx::transport::webrtc

/// The module's entry point (`dlsym(module, "rtx_webrtc_stack")`).
extern "C" const void* rtx_webrtc_stack(); ///< a const WebrtcStack*
