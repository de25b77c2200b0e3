# `lazarus train` end to end on a tiny byte-level Llama (examples/tiny_llama.json) and a short
# text: the plan is printed, metrics.jsonl / loss_curve.svg / checkpoints / the final model folder
# are written, the final model loads back as a strict state dict (its config.json describes it),
# --resume continues a finished run to more steps, and mistakes get clear errors.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
set(common --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md --seq-len 32
    --batch-size 4 --eval-batches 2 --threads 2 --output ${WORKDIR}/run)

function(run_ok out_var)
  execute_process(COMMAND ${LAZARUS} train ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lazarus train ${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

function(run_fails pattern)
  execute_process(COMMAND ${LAZARUS} train ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "lazarus train ${ARGN} should have failed:\n${out}")
  endif()
  if(NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "lazarus train ${ARGN}: error does not match '${pattern}':\n${err}")
  endif()
endfunction()

function(expect text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "output does not match '${pattern}':\n${text}")
  endif()
endfunction()

run_ok(out ${common} --steps 6 --eval-every 3)
expect("${out}" "model +.*tiny_llama.json \\(llama\\): 2 layers, hidden 64, vocab 256; 108,864 parameters")
expect("${out}" "windows of 32")
expect("${out}" "training +6 steps x 4 sequences x 32 tokens = 768 tokens")
expect("${out}" "held-out loss [0-9.]+, perplexity [0-9.]+")
foreach(f metrics.jsonl loss_curve.svg checkpoint-6/model.safetensors checkpoint-6/trainer_state.json
          model/config.json model/model.safetensors)
  if(NOT EXISTS ${WORKDIR}/run/${f})
    message(FATAL_ERROR "run/${f} was not written")
  endif()
endforeach()
file(STRINGS ${WORKDIR}/run/metrics.jsonl lines)
list(LENGTH lines n)
if(NOT n EQUAL 6)
  message(FATAL_ERROR "metrics.jsonl has ${n} lines, want 6")
endif()
# The final model folder is what `lazarus info` (and HF) read: its config.json describes the model.
execute_process(COMMAND ${LAZARUS} info --config ${WORKDIR}/run/model OUTPUT_VARIABLE info
                RESULT_VARIABLE rc)
expect("${info}" "parameters 108,864 ")

# An existing run is not overwritten by accident; --resume continues it.
run_fails("already holds checkpoints.*--resume" ${common} --steps 9 --eval-every 3)
run_ok(out ${common} --steps 9 --eval-every 3 --resume)
expect("${out}" "resume +from .*checkpoint-6")
file(STRINGS ${WORKDIR}/run/metrics.jsonl lines)
list(LENGTH lines n)
if(NOT n EQUAL 9)
  message(FATAL_ERROR "metrics.jsonl has ${n} lines after resuming to 9 steps, want 9")
endif()

# A training config file; the command line wins over it.
file(WRITE ${WORKDIR}/train.json "{\"seq_len\": 16, \"batch_size\": 2, \"lr\": 0.002, \"steps\": 5}")
run_ok(out ${common} --train-config ${WORKDIR}/train.json --dry-run)
expect("${out}" "training +5 steps x 4 sequences x 32 tokens = 640 tokens .*; lr 0.002 cosine")
file(WRITE ${WORKDIR}/bad.json "{\"sequence_length\": 16}")
run_fails("unknown key \"sequence_length\"" ${common} --train-config ${WORKDIR}/bad.json)

# Mistakes.
run_fails("cannot open this data file" --config ${SRC}/examples/tiny_llama.json --data ${WORKDIR}/none.txt --output ${WORKDIR}/x)
run_fails("longer than the model's max_position_embeddings" --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md --seq-len 4096 --output ${WORKDIR}/x)
file(WRITE ${WORKDIR}/short.txt "too short")
run_fails("fewer than two windows" --config ${SRC}/examples/tiny_llama.json --data ${WORKDIR}/short.txt --output ${WORKDIR}/x)
run_fails("exactly one of --config FILE and --preset" --data ${SRC}/README.md --output ${WORKDIR}/x)
run_fails("schedule must be constant, linear or cosine" ${common} --schedule step)

# bf16 compute with f32 master weights: the same 6 steps as the first run track its losses within
# 1% (measured: 1.6e-4 relative), and the saved model is f32 (the masters).
file(STRINGS ${WORKDIR}/run/metrics.jsonl f32_lines)
run_ok(out --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md --seq-len 32
    --batch-size 4 --eval-batches 2 --threads 2 --steps 6 --eval-every 3 --dtype bf16
    --output ${WORKDIR}/run_bf16)
expect("${out}" "; bf16 compute, f32 master weights")
file(STRINGS ${WORKDIR}/run_bf16/metrics.jsonl bf16_lines)
# "5.528894901275635" -> 5528894 (CMake's math() is integer-only).
function(micro value out_var)
  string(REGEX REPLACE "^([0-9]+)\\.([0-9]*)$" "\\1;\\2" parts "${value}")
  list(GET parts 0 ip)
  list(GET parts 1 fp)
  string(SUBSTRING "${fp}000000" 0 6 fp)
  string(REGEX REPLACE "^0+([0-9])" "\\1" fp "${fp}")
  math(EXPR v "${ip} * 1000000 + ${fp}")
  set(${out_var} ${v} PARENT_SCOPE)
endfunction()
foreach(i RANGE 5)
  list(GET f32_lines ${i} a)
  list(GET bf16_lines ${i} b)
  string(JSON la GET "${a}" loss)
  string(JSON lb GET "${b}" loss)
  micro(${la} ua)
  micro(${lb} ub)
  math(EXPR d "${ua} - ${ub}")
  if(d LESS 0)
    math(EXPR d "-${d}")
  endif()
  math(EXPR tol "${ua} / 100")
  if(d GREATER tol)
    message(FATAL_ERROR "step ${i}: bf16 loss ${lb} vs f32 loss ${la}: more than 1% apart")
  endif()
endforeach()
# The JSON header after the 8-byte length.
file(READ ${WORKDIR}/run_bf16/model/model.safetensors head OFFSET 8 LIMIT 400)
if(head MATCHES "BF16" OR NOT head MATCHES "F32")
  message(FATAL_ERROR "the bf16 run wrote a model.safetensors that is not f32")
endif()
