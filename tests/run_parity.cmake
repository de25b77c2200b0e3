# Runs a C++ parity driver (after an optional SETUP script) (writes its cases into WORKDIR), then the PyTorch script that checks
# them; fails if either fails. Used by every "<layer>.*torch_parity" CTest.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
# Optional: a script that writes the inputs first (SETUP WORKDIR SETUP_ARG).
if(DEFINED SETUP)
  execute_process(COMMAND ${PYTHON} ${SETUP} ${WORKDIR} ${SETUP_ARG} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SETUP} failed (${rc})")
  endif()
endif()
execute_process(COMMAND ${DRIVER} ${WORKDIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${DRIVER} failed (${rc})")
endif()
execute_process(COMMAND ${PYTHON} ${SCRIPT} ${WORKDIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SCRIPT} reported mismatches (${rc})")
endif()
