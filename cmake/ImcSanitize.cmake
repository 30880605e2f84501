# Sanitizer and fuzzing builds: every target of the tree instrumented alike, in a build folder of
# its own. ./imc test --sanitize and ./imc fuzz share one (build-sanitize, clang, both options):
# one instrumented build of the tree instead of two on a machine where building is the cost.
#   -DIMC_SANITIZE=address,undefined   ASan + UBSan; any UBSan report fails (no recovery)
#   -DIMC_FUZZ=ON                      libFuzzer harnesses of tests/fuzz (clang only)
set(IMC_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined (empty: none)")
option(IMC_FUZZ "Build the libFuzzer harnesses fuzz_<target> (clang; implies coverage instrumentation)" OFF)

if(IMC_SANITIZE)
  # -O1 (after the build type's -O3): the usual level for ASan, and measured much faster to
  # compile here with Eigen; -g1 keeps file:line in reports.
  add_compile_options(-O1 -g1 -fsanitize=${IMC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${IMC_SANITIZE})
endif()

if(IMC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "IMC_FUZZ needs clang (configure with -DCMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
