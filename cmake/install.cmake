# Installs the library, its headers and a CMake package, so a consumer can write
# find_package(wire) and target_link_libraries(app PRIVATE wire::wire).
include(CMakePackageConfigHelpers)

# Everything here is the development package's (component "dev", packaged as libwire-dev).
install(TARGETS wire EXPORT wireTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT dev)
install(DIRECTORY include/wire DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(FILES ${PROJECT_BINARY_DIR}/generated/wire/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/wire COMPONENT dev)
install(EXPORT wireTargets NAMESPACE wire:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wire
  COMPONENT dev)

configure_package_config_file(cmake/wireConfig.cmake.in
  ${PROJECT_BINARY_DIR}/wireConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wire)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/wireConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/wireConfig.cmake ${PROJECT_BINARY_DIR}/wireConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wire COMPONENT dev)

# The rest of what a packager expects: wire.pc, the man page and completion, then the .deb.
include(${CMAKE_CURRENT_LIST_DIR}/pkgconfig.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/cli_docs.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/package.cmake)
