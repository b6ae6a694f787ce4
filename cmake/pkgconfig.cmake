# wire.pc for consumers without CMake: `pkg-config --cflags --libs wire`. Installed beside the
# CMake package, in <libdir>/pkgconfig.
set(WIRE_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
# The prefix is found from the .pc file's own place, so a tree installed anywhere still works.
file(RELATIVE_PATH WIRE_PC_PREFIX_FROM_PCDIR /${WIRE_PC_DIR} /)
string(REGEX REPLACE "/$" "" WIRE_PC_PREFIX_FROM_PCDIR "${WIRE_PC_PREFIX_FROM_PCDIR}")
# libwire uses threads (Threads::Threads is a public dependency): a static libwire needs them at
# the consumer's link, a shared one carries them itself.
get_target_property(WIRE_LIBRARY_TYPE wire TYPE)
# OpenSSL (TLS) and liburing (the io_uring engine) are private to libwire in the same way.
if(WIRE_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(WIRE_PC_LIBS "-pthread -lssl -lcrypto -luring")
  set(WIRE_PC_LIBS_PRIVATE "")
else()
  set(WIRE_PC_LIBS "")
  set(WIRE_PC_LIBS_PRIVATE "-pthread -lssl -lcrypto -luring")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/wire.pc.in ${PROJECT_BINARY_DIR}/wire.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/wire.pc DESTINATION ${WIRE_PC_DIR} COMPONENT dev)
