# `cmake --install` rules: the SDK as a package that users consume with
#
#   find_package(Parley CONFIG REQUIRED)
#   add_library(my_proto STATIC)
#   parley_generate(TARGET my_proto PROTOS my.proto)  # links parley::runtime
#
# Installs the public headers (include/parley/*.h), wire.proto and
# options.proto with their generated headers (include/parley/), the runtime
# libraries, protoc-gen-parley (bin/) and the CMake package
# (lib/cmake/Parley/: ParleyConfig.cmake, the exported targets,
# ParleyGenerate.cmake). Only parley::runtime and
# parley::protoc-gen-parley are meant for users; the per-layer libraries
# are exported because parley::runtime is made of them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PARLEY_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Parley)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/parley
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PARLEY_PROTO_DIR}/parley/wire.proto
              ${PARLEY_PROTO_DIR}/parley/options.proto
              ${PARLEY_PROTO_OUT}/parley/wire.pb.h
              ${PARLEY_PROTO_OUT}/parley/options.pb.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/parley)

set(parley_libraries parley_runtime parley_transport parley_ws
    parley_session parley_rpc parley_wire parley_store parley_base
    parley_protos)
foreach(library IN LISTS parley_libraries)
  string(REGEX REPLACE "^parley_" "" export_name ${library})
  set_target_properties(${library} PROPERTIES EXPORT_NAME ${export_name})
endforeach()
install(TARGETS ${parley_libraries} protoc-gen-parley
        EXPORT ParleyTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ParleyTargets
        NAMESPACE parley::
        DESTINATION ${PARLEY_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/ParleyConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ParleyConfig.cmake
  INSTALL_DESTINATION ${PARLEY_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/ParleyConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ParleyConfig.cmake
              ${PROJECT_BINARY_DIR}/ParleyConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/ParleyGenerate.cmake
        DESTINATION ${PARLEY_INSTALL_CMAKEDIR})
