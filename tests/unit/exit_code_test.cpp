// Tests for core/exit_code.hpp: the exit statuses scripts depend on (man/rtx.1 EXIT STATUS).
#include "core/exit_code.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string_view>

using rtx::core::exit_code_name;
using rtx::core::exit_code_table;
using rtx::core::ExitCode;
using rtx::core::to_int;

namespace {

// Every enumerator; a new one must be added here and to the table.
constexpr ExitCode k_all[] = {
    ExitCode::ok,
    ExitCode::failure,
    ExitCode::usage,
    ExitCode::connect_failed,
    ExitCode::tls_failed,
    ExitCode::timeout,
    ExitCode::protocol_error,
    ExitCode::connection_lost,
    ExitCode::http_status,
    ExitCode::closed_abnormally,
    ExitCode::threshold,
    ExitCode::reconnect_exhausted,
    ExitCode::bind_failed,
    ExitCode::refused,
    ExitCode::gone,
    ExitCode::too_large,
    ExitCode::rate_limited,
    ExitCode::interrupted,
    ExitCode::terminated,
};

} // namespace

TEST_CASE("to_int: the documented, stable values") {
    CHECK(to_int(ExitCode::ok) == 0);
    CHECK(to_int(ExitCode::failure) == 1);
    CHECK(to_int(ExitCode::usage) == 2);
    CHECK(to_int(ExitCode::connect_failed) == 3);
    CHECK(to_int(ExitCode::tls_failed) == 4);
    CHECK(to_int(ExitCode::timeout) == 5);
    CHECK(to_int(ExitCode::protocol_error) == 6);
    CHECK(to_int(ExitCode::connection_lost) == 7);
    CHECK(to_int(ExitCode::http_status) == 8);
    CHECK(to_int(ExitCode::closed_abnormally) == 9);
    CHECK(to_int(ExitCode::threshold) == 10);
    CHECK(to_int(ExitCode::reconnect_exhausted) == 11);
    CHECK(to_int(ExitCode::bind_failed) == 12);
    CHECK(to_int(ExitCode::refused) == 13);
    CHECK(to_int(ExitCode::gone) == 14);
    CHECK(to_int(ExitCode::too_large) == 15);
    CHECK(to_int(ExitCode::rate_limited) == 16);
    CHECK(to_int(ExitCode::interrupted) == 130); // 128 + SIGINT
    CHECK(to_int(ExitCode::terminated) == 143);  // 128 + SIGTERM
}

TEST_CASE("exit_code_table") {
    auto table = exit_code_table();

    SUBCASE("sorted by value, no duplicates") {
        for (std::size_t i = 1; i < table.size(); ++i) {
            CAPTURE(table[i].name);
            CHECK(to_int(table[i - 1].code) < to_int(table[i].code));
        }
    }
    SUBCASE("names are unique") {
        std::set<std::string_view> names;
        for (const auto& row : table) {
            CAPTURE(row.name);
            CHECK(names.insert(row.name).second);
        }
    }
    SUBCASE("every code is in the table, and nothing else") {
        CHECK(table.size() == std::size(k_all));
        for (ExitCode code : k_all) {
            CAPTURE(to_int(code));
            std::size_t found = 0;
            for (const auto& row : table) {
                found += row.code == code ? 1 : 0;
            }
            CHECK(found == 1);
        }
    }
    SUBCASE("names are snake_case and meanings are one line") {
        for (const auto& row : table) {
            CAPTURE(row.name);
            CHECK_FALSE(row.name.empty());
            CHECK(row.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") ==
                  std::string_view::npos);
            CHECK_FALSE(row.meaning.empty());
            CHECK(row.meaning.find('\n') == std::string_view::npos);
        }
    }
}

TEST_CASE("exit_code_name") {
    SUBCASE("known codes") {
        CHECK(exit_code_name(ExitCode::ok) == "ok");
        CHECK(exit_code_name(ExitCode::usage) == "usage");
        CHECK(exit_code_name(ExitCode::connect_failed) == "connect_failed");
        CHECK(exit_code_name(ExitCode::tls_failed) == "tls_failed");
        CHECK(exit_code_name(ExitCode::timeout) == "timeout");
        CHECK(exit_code_name(ExitCode::interrupted) == "interrupted");
    }
    SUBCASE("agrees with the table") {
        for (const auto& row : exit_code_table()) {
            CHECK(exit_code_name(row.code) == row.name);
        }
    }
    SUBCASE("a value outside the enum is unknown") {
        CHECK(exit_code_name(static_cast<ExitCode>(99)) == "unknown");
        CHECK(exit_code_name(static_cast<ExitCode>(-1)) == "unknown");
    }
}
