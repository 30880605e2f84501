# Helpers shared by every folder of lib/, tools/ and tests/.

# Warnings are set per target, never globally, so third-party headers stay quiet.
function(imc_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers)
endfunction()

# imc_library(name SOURCES ... DEPS ...): lib/<name> as imc_<name> with the alias imc::<name>.
# Public headers are included as "<name>/<header>.hpp" (the include root is lib/).
function(imc_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(imc_${name} STATIC ${ARG_SOURCES})
  add_library(imc::${name} ALIAS imc_${name})
  target_include_directories(imc_${name} PUBLIC ${PROJECT_SOURCE_DIR}/lib)
  target_link_libraries(imc_${name} PUBLIC ${ARG_DEPS})
  target_compile_definitions(imc_${name} PUBLIC IMC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  imc_warnings(imc_${name})
endfunction()

# imc_test(name SOURCES ... DEPS ...): one Catch2 executable per lib folder, discovered by CTest.
function(imc_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(test_${name} ${ARG_SOURCES})
  target_link_libraries(test_${name} PRIVATE Catch2::Catch2WithMain ${ARG_DEPS})
  target_compile_definitions(test_${name} PRIVATE IMC_BINARY_DIR="${PROJECT_BINARY_DIR}")
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
