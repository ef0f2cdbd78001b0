# Every dependency is a Debian 12 package (scripts/install-deps.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
# permessage-deflate of rtx ws's own frame codec (lib/proto/ws_codec.cpp); libwebsockets-dev pulls it in.
find_package(ZLIB REQUIRED)
# libwebsockets via pkg-config: its CMake package insists on every evlib plugin being present.
pkg_check_modules(LWS REQUIRED IMPORTED_TARGET libwebsockets)
find_package(PahoMqttCpp REQUIRED)
# JSON pointers for `rtx poll --cursor /next` and report files: nlohmann-json3-dev is header
# only, well kept in Debian, and has RFC 6901 pointers built in.
find_package(nlohmann_json REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
# WebRTC data channels (lib/transport/webrtc): ICE from libnice (which brings GLib) and SCTP
# from usrsctp in AF_CONN mode over our DTLS; the stack libdatachannel uses, both Debian 12
# packages (libnice 0.1.21, usrsctp 0.9.5).
pkg_check_modules(NICE REQUIRED IMPORTED_TARGET nice)
pkg_check_modules(USRSCTP REQUIRED IMPORTED_TARGET usrsctp)
if(RTX_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()
