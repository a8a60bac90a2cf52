# The COMMANDS section of spcnn(1), as a help2man include file: one subsection per command
# that `spcnn --help` lists, holding that command's own help (`spcnn help COMMAND`) verbatim.
#
#   cmake -DSPCNN=path/to/spcnn -DOUT=commands.h2m -P man-commands.cmake
#
# Every line is escaped for roff (backslashes, minus signs) and starts with \& so that neither
# roff nor help2man's include parser reads it as a request, a [section] or a /pattern/.
foreach(_var SPCNN OUT)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "man-commands.cmake: -D${_var}=... is required")
  endif()
endforeach()

function(run_spcnn out_var)
  execute_process(COMMAND "${SPCNN}" ${ARGN} OUTPUT_VARIABLE _out RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "man-commands.cmake: `spcnn ${ARGN}` failed (${_rc})")
  endif()
  set(${out_var} "${_out}" PARENT_SCOPE)
endfunction()

# The commands: the indented names under "Commands:" in `spcnn --help`, less `help` itself.
run_spcnn(_usage --help)
string(REGEX MATCHALL "\n  [a-z][a-z-]*  " _names "${_usage}")
set(_text "[COMMANDS]\n")
set(_count 0)
foreach(_name IN LISTS _names)
  string(STRIP "${_name}" _name)
  if(_name STREQUAL "help")
    continue()
  endif()
  run_spcnn(_help help ${_name})
  string(REPLACE "\\" "\\e" _help "${_help}")
  string(REPLACE "-" "\\-" _help "${_help}")
  string(REGEX REPLACE "\n+$" "" _help "${_help}")
  string(REPLACE "\n" "\n\\&" _help "\\&${_help}")
  string(APPEND _text ".SS ${_name}\n.nf\n${_help}\n.fi\n")
  math(EXPR _count "${_count} + 1")
endforeach()
if(_count LESS 2)
  message(FATAL_ERROR "man-commands.cmake: found ${_count} commands in `spcnn --help`")
endif()
file(WRITE "${OUT}" "${_text}")
