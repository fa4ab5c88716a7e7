# tide_module(NAME DEPS ...): one static library per top-level module, public headers
# under <module>/include, sources under <module>/src (globbed, so adding a file needs no
# CMake edit).
function(tide_module name)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cc)
  add_library(tide_${name} STATIC ${srcs})
  target_include_directories(tide_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(tide_${name} PUBLIC ${ARG_DEPS} PRIVATE tide_warnings ${ARG_PRIVATE_DEPS})
endfunction()
