# Man pages (joule.1, joule-CMD.1, jouled.8) and bash completion (joule,
# jouled), generated at build time from the built programs' --help by
# tools/help2man.py, so they cannot drift from the help. Installed under
# MANDIR and DATADIR/bash-completion/completions. Needs python3; without it
# they are not built (and the manpages test skips).
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND OR NOT TARGET joule_cli OR NOT TARGET jouled)
  message(STATUS "man pages and bash completion not generated (needs python3, joule and jouled)")
  return()
endif()
set(JOULE_GENERATED_DOCS ${CMAKE_BINARY_DIR}/generated-docs)
add_custom_command(
  OUTPUT ${JOULE_GENERATED_DOCS}/stamp
  # The sanitizer builds run these too; --help leaking nothing is not
  # what they are here to check.
  COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
          ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/help2man.py
          --joule $<TARGET_FILE:joule_cli> --jouled $<TARGET_FILE:jouled>
          --version ${PROJECT_VERSION} --out ${JOULE_GENERATED_DOCS}
  COMMAND ${CMAKE_COMMAND} -E touch ${JOULE_GENERATED_DOCS}/stamp
  DEPENDS joule_cli jouled ${PROJECT_SOURCE_DIR}/tools/help2man.py
  COMMENT "Generating man pages and bash completion from --help"
  VERBATIM)
add_custom_target(manpages ALL DEPENDS ${JOULE_GENERATED_DOCS}/stamp)
install(DIRECTORY ${JOULE_GENERATED_DOCS}/man1 ${JOULE_GENERATED_DOCS}/man8
        DESTINATION ${CMAKE_INSTALL_MANDIR})
install(DIRECTORY ${JOULE_GENERATED_DOCS}/completions/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
