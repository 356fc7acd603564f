# parley_generate(TARGET <target> PROTOS <files...> [IMPORT_DIRS <dirs...>])
#
# Compiles .proto files into `<target>`: protoc's C++ messages (x.pb.h/.cc)
# and protoc-gen-parley's stubs and services (x.parley.h/.cc), written to
# ${CMAKE_CURRENT_BINARY_DIR}/parley_gen, which becomes a PUBLIC include
# directory of <target>; <target> links parley::runtime.
#
#   add_library(echo_proto STATIC)
#   parley_generate(TARGET echo_proto PROTOS echo.proto)
#   # user code: #include "echo.parley.h"
#
# Import path, in order: ${PARLEY_PROTO_DIR} (parley/options.proto), each of
# IMPORT_DIRS, then each proto's own directory. A proto is named relative to
# the first of these that holds it, so `IMPORT_DIRS protos` makes
# protos/a/b.proto "a/b.proto" (generated as parley_gen/a/b.parley.h), and
# imports between protos resolve to the same names.
#
# Unlike protobuf_generate(), the rule re-runs when protoc-gen-parley is
# rebuilt (DEPENDS on the plugin target), and when any of PROTOS changes.
#
# The same file serves the source tree and the installed package
# (find_package(Parley) includes it): both define parley::runtime,
# parley::protoc-gen-parley and PARLEY_PROTO_DIR.
function(parley_generate)
  cmake_parse_arguments(ARG "" "TARGET" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_PROTOS)
    message(FATAL_ERROR "parley_generate: TARGET and PROTOS are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
            "parley_generate: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/parley_gen)

  set(protos)
  set(search_dirs ${PARLEY_PROTO_DIR})
  foreach(dir IN LISTS ARG_IMPORT_DIRS)
    get_filename_component(dir ${dir} ABSOLUTE)
    list(APPEND search_dirs ${dir})
  endforeach()
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(proto ${proto} ABSOLUTE)
    get_filename_component(own_dir ${proto} DIRECTORY)
    list(APPEND protos ${proto})
    list(APPEND search_dirs ${own_dir})
  endforeach()
  list(REMOVE_DUPLICATES search_dirs)
  set(include_flags)
  foreach(dir IN LISTS search_dirs)
    list(APPEND include_flags -I ${dir})
  endforeach()

  set(pb_sources)
  set(outputs)
  foreach(proto IN LISTS protos)
    foreach(dir IN LISTS search_dirs)
      string(FIND "${proto}" "${dir}/" at)
      if(at EQUAL 0)
        file(RELATIVE_PATH name ${dir} ${proto})
        break()
      endif()
    endforeach()
    string(REGEX REPLACE "\\.proto$" "" base ${name})
    set(generated
        ${out_dir}/${base}.pb.h ${out_dir}/${base}.pb.cc
        ${out_dir}/${base}.parley.h ${out_dir}/${base}.parley.cc)
    add_custom_command(
      OUTPUT ${generated}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND protobuf::protoc
              --plugin=protoc-gen-parley=$<TARGET_FILE:parley::protoc-gen-parley>
              --cpp_out=${out_dir} --parley_out=${out_dir}
              ${include_flags} ${proto}
      DEPENDS ${protos} parley::protoc-gen-parley protobuf::protoc
      COMMENT "protoc-gen-parley: ${name}"
      VERBATIM)
    list(APPEND outputs ${generated})
    list(APPEND pb_sources ${out_dir}/${base}.pb.cc)
  endforeach()

  target_sources(${ARG_TARGET} PRIVATE ${outputs})
  # protoc's output is not ours to warn about; our generated code is.
  set_source_files_properties(${pb_sources} TARGET_DIRECTORY ${ARG_TARGET}
                              PROPERTIES COMPILE_OPTIONS -Wno-unused-parameter)
  target_include_directories(${ARG_TARGET} PUBLIC ${out_dir})
  target_link_libraries(${ARG_TARGET} PUBLIC parley::runtime)
endfunction()
