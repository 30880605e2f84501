# Helpers shared by every folder of lib/, tools/ and tests/.

# Warnings are set per target, never globally, so third-party headers stay quiet.
function(imc_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers)
endfunction()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Installed layout: headers under include/imc/<stage>/ (stage names as generic as "fit" must not
# collide with other packages' folders), the package under lib/cmake/imc, data under share/imc.
set(IMC_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/imc)
set(IMC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/imc)
set(IMC_INSTALL_DATADIR ${CMAKE_INSTALL_DATADIR}/imc)

# imc_library(name SOURCES ... DEPS ...): lib/<name> as imc_<name> with the alias imc::<name>.
# Public headers are included as "<name>/<header>.hpp" (the include root is lib/). Each library
# is installed with its headers and exported as imc::<name> in the CMake package.
function(imc_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(imc_${name} STATIC ${ARG_SOURCES})
  add_library(imc::${name} ALIAS imc_${name})
  target_include_directories(imc_${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/lib>
                                                $<INSTALL_INTERFACE:${IMC_INSTALL_INCLUDEDIR}>)
  target_link_libraries(imc_${name} PUBLIC ${ARG_DEPS})
  target_compile_features(imc_${name} PUBLIC cxx_std_20)
  # A program built against the installed libraries gets the flags set for every target here
  # (-march=native): Eigen objects built with different alignment must not meet.
  get_property(global_options DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY COMPILE_OPTIONS)
  foreach(option ${global_options})
    target_compile_options(imc_${name} INTERFACE $<INSTALL_INTERFACE:${option}>)
  endforeach()
  set_target_properties(imc_${name} PROPERTIES EXPORT_NAME ${name})
  imc_warnings(imc_${name})
  install(TARGETS imc_${name} EXPORT imcTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  file(GLOB headers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.hpp)
  install(FILES ${headers} DESTINATION ${IMC_INSTALL_INCLUDEDIR}/${name})
endfunction()

# imc_portable_numbers(target [GENERIC_ISA]): the target's floating point is evaluated as written,
# without fused multiply-adds (-ffp-contract=off), so the Monte-Carlo draws, decks and folder keys
# it computes are the same bits in a -march=native and a plain build. GENERIC_ISA also drops
# -march=native, for targets whose types hold no Eigen objects (Eigen's alignment follows the ISA).
function(imc_portable_numbers target)
  cmake_parse_arguments(ARG "GENERIC_ISA" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE -ffp-contract=off)
  if(ARG_GENERIC_ISA)
    get_target_property(options ${target} COMPILE_OPTIONS)
    list(REMOVE_ITEM options -march=native)
    set_property(TARGET ${target} PROPERTY COMPILE_OPTIONS ${options})
  endif()
endfunction()

# The CMake package (find_package(imc CONFIG) -> imc::<stage>) and the shipped data; called once,
# after every stage is defined, so the package config knows the optional dependencies (MPI).
function(imc_install_package)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/fits ${PROJECT_SOURCE_DIR}/models ${PROJECT_SOURCE_DIR}/netlists
          DESTINATION ${IMC_INSTALL_DATADIR} USE_SOURCE_PERMISSIONS)
  # imc bench lm compiles this driver against the user's llm.c at run time.
  install(FILES ${PROJECT_SOURCE_DIR}/tools/llmc_forward.c DESTINATION ${IMC_INSTALL_DATADIR}/tools)
  install(EXPORT imcTargets NAMESPACE imc:: DESTINATION ${IMC_INSTALL_CMAKEDIR} FILE imcTargets.cmake)
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/imcConfig.cmake.in
                                ${PROJECT_BINARY_DIR}/imcConfig.cmake
                                INSTALL_DESTINATION ${IMC_INSTALL_CMAKEDIR}
                                PATH_VARS IMC_INSTALL_DATADIR)
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/imcConfigVersion.cmake COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/imcConfig.cmake ${PROJECT_BINARY_DIR}/imcConfigVersion.cmake
          DESTINATION ${IMC_INSTALL_CMAKEDIR})
endfunction()

# imc_test(name SOURCES ... DEPS ...): one Catch2 executable per lib folder, discovered by CTest.
# The compiler launcher for builds a test makes outside this build (install consumer, plain
# portable driver): this build's own, else ccache when the machine has it.
function(imc_compiler_launcher out)
  set(launcher ${CMAKE_CXX_COMPILER_LAUNCHER})
  if(NOT launcher)
    find_program(IMC_CCACHE ccache)
    if(IMC_CCACHE)
      set(launcher ${IMC_CCACHE})
    endif()
  endif()
  set(${out} "${launcher}" PARENT_SCOPE)
endfunction()

function(imc_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(test_${name} ${ARG_SOURCES})
  target_link_libraries(test_${name} PRIVATE Catch2::Catch2WithMain ${ARG_DEPS})
  target_compile_definitions(test_${name} PRIVATE IMC_BINARY_DIR="${PROJECT_BINARY_DIR}" IMC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  imc_warnings(test_${name})
  set(labels ${name})
  if(ARG_LABELS)
    list(APPEND labels ${ARG_LABELS})
  endif()
  catch_discover_tests(test_${name}
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    PROPERTIES LABELS "${labels}"
    DISCOVERY_MODE PRE_TEST)
endfunction()
