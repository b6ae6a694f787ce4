# CPack: `cmake --build B --target package` (make package) builds two Debian packages, as a
# distribution would split them:
#   wire         the command, its man page and bash completion       (component "runtime")
#   libwire-dev  headers, the static library, the CMake package, wire.pc  (component "dev")
# Each carries /usr/share/doc/<package>/copyright and changelog.gz (a native package: the version
# has no Debian revision); libraries go to the multiarch directory (lib/<triplet>, see CMakeLists.txt). lintian checks the result
# (tests/packaging/deb_test.sh). Included last: CPack packs what every install() declared.
set(WIRE_MAINTAINER "Seed fec61586 maintainers <maintainers@users.noreply.b-seed-fec61586.example>"
  CACHE STRING "The Debian Maintainer field: Name <address>")

# Per-package documents, as Debian policy 12.5 and 12.7 want them.
# (string(TIMESTAMP) honours SOURCE_DATE_EPOCH, so a reproducible build gets a fixed date.)
string(TIMESTAMP WIRE_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/copyright.in ${PROJECT_BINARY_DIR}/debian/copyright
  @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.in ${PROJECT_BINARY_DIR}/debian/changelog
  @ONLY)
find_program(WIRE_GZIP_FOR_DEB gzip)
if(WIRE_GZIP_FOR_DEB)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/debian/changelog.gz
    COMMAND ${WIRE_GZIP_FOR_DEB} -9nc ${PROJECT_BINARY_DIR}/debian/changelog
      > ${PROJECT_BINARY_DIR}/debian/changelog.gz
    DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog
    COMMENT "changelog.gz for the packages")
  add_custom_target(wire_deb_docs ALL DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog.gz)
  foreach(pair "runtime;wire" "dev;libwire-dev")
    list(GET pair 0 component)
    list(GET pair 1 package)
    install(FILES ${PROJECT_BINARY_DIR}/debian/copyright
      ${PROJECT_BINARY_DIR}/debian/changelog.gz
      DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component})
  endforeach()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME wire)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${WIRE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${WIRE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_SOURCE_GENERATOR "")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # wire_0.1.0_amd64.deb, libwire-dev_0.1.0_amd64.deb
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME wire)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
  "command-line sockets tool: netcat for TCP, UDP and Unix sockets\n\
 wire sends and receives TCP, UDP and Unix-socket traffic from the command\n\
 line, runs ready-made services (echo, chat, discard) on every core, relays\n\
 between address families, and measures throughput and latency. This package\n\
 holds the wire command, its man page and its bash completion.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libwire-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "C++23 sockets library: development files\n\
 libwire wraps IPv4, IPv6 and Unix-domain sockets (stream and datagram) in\n\
 std::expected-returning C++23 types, with a multi-core event-loop server\n\
 runtime and message framing. This package holds the headers, the static\n\
 library, the CMake package (find_package(wire)) and wire.pc for pkg-config.")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libstdc++-12-dev")
include(CPack)
