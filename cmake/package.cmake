# CPack: `cmake --build B --target package` (make package) builds a Debian package holding the
# library, headers, CMake and pkg-config files, the wire command, its man page and completion,
# all under /usr, with dependencies worked out by dpkg-shlibdeps. Included last: CPack packs what
# every install() before it declared.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME wire)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
  "libwire, a C++23 sockets library (endpoints, UDP and TCP sockets), and the wire command,\
 netcat for the same world, with its man page and bash completion.")
set(CPACK_PACKAGE_CONTACT "wire maintainers <wire@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # wire_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
