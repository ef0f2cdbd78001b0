#pragma once

#include "core/exit_code.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace rtx::core {

/// A failure as a value: the exit code it maps to and a one-line reason.
/// Network failures travel as Error through callbacks; exceptions never cross C callbacks.
struct Error {
    ExitCode code = ExitCode::failure;
    std::string message; ///< One line, no trailing newline: "connect to 127.0.0.1:1: refused".
};

/// Thrown only for usage errors before any I/O starts (bad URL, bad option); caught once in
/// main and printed as `rtx: error: <message>` with ExitCode::usage.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A value or an Error (C++20 stand-in for std::expected).
template <class T> class Result {
public:
    Result(T value)
        : m_state(std::move(value)) {}
    Result(Error error)
        : m_state(std::move(error)) {}

    bool ok() const { return std::holds_alternative<T>(m_state); }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<T>(m_state); }
    const T& value() const { return std::get<T>(m_state); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const Error& error() const { return std::get<Error>(m_state); }

private:
    std::variant<T, Error> m_state;
};

} // namespace rtx::core
