# wire(1) and the bash completion, generated at build time from the command's own --help
# (tools/docgen), so they follow the command as subcommands are added. Built with `all`, laid
# out in the build tree as they are installed (share/man/man1, share/bash-completion/...).
if(NOT TARGET wire_cli)
  return()
endif()
find_program(WIRE_HELP2MAN help2man)
find_program(WIRE_GZIP gzip)
if(NOT WIRE_PYTHON OR NOT WIRE_HELP2MAN OR NOT WIRE_GZIP)
  message(WARNING "python3, help2man or gzip missing: no man page or completion (run scripts/bootstrap)")
  return()
endif()

set(WIRE_DOCGEN ${PROJECT_SOURCE_DIR}/tools/docgen)
file(GLOB WIRE_DOCGEN_SOURCES CONFIGURE_DEPENDS ${WIRE_DOCGEN}/*.py)
set(WIRE_MAN_DIR ${PROJECT_BINARY_DIR}/share/man/man1)
set(WIRE_MAN_PAGE ${WIRE_MAN_DIR}/wire.1)
set(WIRE_COMPLETION ${PROJECT_BINARY_DIR}/share/bash-completion/completions/wire)

add_custom_command(OUTPUT ${WIRE_COMPLETION}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/share/bash-completion/completions
  COMMAND ${WIRE_PYTHON} ${WIRE_DOCGEN}/completion.py $<TARGET_FILE:wire_cli> ${WIRE_COMPLETION}
  DEPENDS wire_cli ${WIRE_DOCGEN_SOURCES}
  COMMENT "Bash completion for wire, from its --help"
  VERBATIM)

# Debian ships man pages compressed (gzip -9n: no timestamp, so the package is reproducible).
add_custom_command(OUTPUT ${WIRE_MAN_PAGE} ${WIRE_MAN_PAGE}.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${WIRE_MAN_DIR}
  COMMAND ${WIRE_PYTHON} ${WIRE_DOCGEN}/man_sections.py $<TARGET_FILE:wire_cli> ${WIRE_MAN_DIR}/wire.h2m
  COMMAND ${WIRE_HELP2MAN} --no-info --section 1 --include ${WIRE_MAN_DIR}/wire.h2m
    --name "send and receive UDP and TCP from the command line" --output ${WIRE_MAN_PAGE}
    $<TARGET_FILE:wire_cli>
  COMMAND ${WIRE_GZIP} -9nkf ${WIRE_MAN_PAGE}
  DEPENDS wire_cli ${WIRE_DOCGEN_SOURCES}
  COMMENT "Man page wire(1), from wire's --help (help2man)"
  VERBATIM)

add_custom_target(wire_cli_docs ALL DEPENDS ${WIRE_MAN_PAGE} ${WIRE_COMPLETION})
install(FILES ${WIRE_MAN_PAGE}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
install(FILES ${WIRE_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
  COMPONENT runtime)
