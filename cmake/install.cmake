# Installs the library, its headers and a CMake package, so a consumer can write
# find_package(wire) and target_link_libraries(app PRIVATE wire::wire).
include(CMakePackageConfigHelpers)

install(TARGETS wire EXPORT wireTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/wire DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/generated/wire/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/wire)
install(EXPORT wireTargets NAMESPACE wire:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wire)

configure_package_config_file(cmake/wireConfig.cmake.in
  ${PROJECT_BINARY_DIR}/wireConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wire)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/wireConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/wireConfig.cmake ${PROJECT_BINARY_DIR}/wireConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wire)

# The rest of what a packager expects: wire.pc, the man page and completion, then the .deb.
include(${CMAKE_CURRENT_LIST_DIR}/pkgconfig.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/cli_docs.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/package.cmake)
