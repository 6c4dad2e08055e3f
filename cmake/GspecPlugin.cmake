# gs_add_plugin(<name> SOURCES <files...> [LIBS <libs...>])
#
# Builds a gspec method plugin: a MODULE library without the "lib" prefix,
# hidden visibility (only gs_plugin_entry is exported), linked with
# -Wl,--no-undefined, written into the build-tree plugin folder that the
# host searches, and installed into lib/gspec/plugins.
function(gs_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${GSPEC_PLUGIN_BUILD_DIR}
    INSTALL_RPATH "$ORIGIN/../..")
  target_compile_options(${name} PRIVATE ${GSPEC_WARNINGS})
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  target_link_libraries(${name} PRIVATE gspec_core ${P_LIBS})
  install(TARGETS ${name} LIBRARY DESTINATION ${GSPEC_PLUGIN_INSTALL_DIR})
endfunction()
