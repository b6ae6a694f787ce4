# The API reference: Doxygen over include/wire/ (docs/Doxyfile.in). `cmake --build B --target
# docs` writes B/docs/html and fails, listing each gap, if any public declaration is undocumented
# or a class does not state its thread-safety; the ctest test docs_doxygen runs the same check.
find_program(WIRE_DOXYGEN doxygen)
# Debian's python3 first: it is what scripts/bootstrap installs, whatever else is on PATH.
find_program(WIRE_PYTHON python3 HINTS /usr/bin)

set(WIRE_DOCS_OUTPUT ${PROJECT_BINARY_DIR}/docs)
configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${WIRE_DOCS_OUTPUT}/Doxyfile @ONLY)
set(WIRE_DOCS_CHECK ${WIRE_PYTHON} ${PROJECT_SOURCE_DIR}/tests/docs/check_doxygen.py
  --doxygen ${WIRE_DOXYGEN} --doxyfile ${WIRE_DOCS_OUTPUT}/Doxyfile
  --source-dir ${PROJECT_SOURCE_DIR})

if(WIRE_DOXYGEN AND WIRE_PYTHON)
  add_custom_target(docs
    COMMAND ${WIRE_DOCS_CHECK} --output ${WIRE_DOCS_OUTPUT} --html
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    COMMENT "API reference (Doxygen) into ${WIRE_DOCS_OUTPUT}/html"
    VERBATIM)
else()
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo "docs: doxygen or python3 missing; run scripts/bootstrap"
    COMMAND ${CMAKE_COMMAND} -E false)
endif()
