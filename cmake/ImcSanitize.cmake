# Sanitizer and fuzzing builds, each in a build folder of its own (./imc test --sanitize uses
# build-sanitize, ./imc fuzz uses build-fuzz): every target of the tree is instrumented alike.
#   -DIMC_SANITIZE=address,undefined   ASan + UBSan; any UBSan report fails (no recovery)
#   -DIMC_FUZZ=ON                      libFuzzer harnesses of tests/fuzz (clang only)
set(IMC_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined (empty: none)")
option(IMC_FUZZ "Build the libFuzzer harnesses fuzz_<target> (clang; implies coverage instrumentation)" OFF)

if(IMC_SANITIZE)
  add_compile_options(-fsanitize=${IMC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all -g)
  add_link_options(-fsanitize=${IMC_SANITIZE})
endif()

if(IMC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "IMC_FUZZ needs clang (configure with -DCMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
