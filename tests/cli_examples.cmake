# Every example spec through the CLI: `attngen check` accepts it and
# `attngen verify --backend reference` passes on random inputs.
#
#   cmake -DATTNGEN=<attngen binary> -DSRC=<project root> -P tests/cli_examples.cmake
#
# verify runs at its default lengths (the spec's fixed seq_len_q/seq_len_kv
# when it has them). Specs without fixed lengths also run once with Sq > Skv,
# where bottom-right masks leave whole rows empty.
cmake_minimum_required(VERSION 3.25)

if(NOT ATTNGEN OR NOT SRC)
  message(FATAL_ERROR "usage: cmake -DATTNGEN=<attngen binary> -DSRC=<project root> -P cli_examples.cmake")
endif()
if(NOT EXISTS "${ATTNGEN}")
  message(FATAL_ERROR "ATTNGEN='${ATTNGEN}' does not exist")
endif()

file(GLOB specs "${SRC}/specs/examples/*.json")
list(SORT specs)
list(LENGTH specs n)
if(n EQUAL 0)
  message(FATAL_ERROR "no specs found in ${SRC}/specs/examples")
endif()

# Runs ATTNGEN with the given arguments; any non-zero exit is fatal and shows
# the command and everything it printed.
function(attngen_must_pass)
  execute_process(
    COMMAND "${ATTNGEN}" ${ARGN}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
  if(NOT rc STREQUAL "0")
    string(JOIN " " cmd ${ARGN})
    message(FATAL_ERROR "attngen ${cmd}\nexited with ${rc}\n--- stdout ---\n${out}\n--- stderr ---\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(verified 0)
foreach(spec IN LISTS specs)
  get_filename_component(name "${spec}" NAME)

  attngen_must_pass(check "${spec}")
  if(NOT last_output MATCHES "key reference")
    message(FATAL_ERROR "attngen check ${spec}: no cache key for the reference backend in\n${last_output}")
  endif()

  attngen_must_pass(verify "${spec}" --batch 2 --backend reference)
  if(NOT last_output MATCHES "result +PASS")
    message(FATAL_ERROR "attngen verify ${spec}: no PASS line in\n${last_output}")
  endif()

  # Lengths fixed by the spec: the default run above already used them.
  file(READ "${spec}" text)
  string(JSON fixed_q ERROR_VARIABLE no_q GET "${text}" seq_len_q)
  string(JSON fixed_kv ERROR_VARIABLE no_kv GET "${text}" seq_len_kv)
  if((no_q OR fixed_q STREQUAL "null") AND (no_kv OR fixed_kv STREQUAL "null"))
    attngen_must_pass(verify "${spec}" --batch 3 --q-len 37 --kv-len 20 --backend reference --seed 7)
  endif()

  message(STATUS "ok ${name}")
  math(EXPR verified "${verified} + 1")
endforeach()
message(STATUS "${verified} example specs checked and verified")
