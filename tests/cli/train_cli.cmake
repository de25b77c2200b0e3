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

# --resume refuses options other than the checkpoint's, listing every difference (old vs new);
# --steps, --threads and the like may change.
set(other --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md --seq-len 32
    --eval-batches 2 --threads 1 --output ${WORKDIR}/run --steps 12 --resume)
run_fails("checkpoint-9: --resume with 3 options different.*batch_size: 4 in the checkpoint, 2 now.*lr: 0.001 in the checkpoint, 0.01 now.*seed: 0 in the checkpoint, 5 now"
  ${other} --batch-size 2 --seed 5 --lr 0.01)
# A checkpoint's trainer_state.json is checked field by field: a step past its history or not an
# integer is refused, naming the file, the field and the value.
foreach(bad 1000000000000 6.7 -1)
  file(REMOVE_RECURSE ${WORKDIR}/edited)
  file(COPY ${WORKDIR}/run/ DESTINATION ${WORKDIR}/edited)
  file(READ ${WORKDIR}/edited/checkpoint-9/trainer_state.json st)
  string(JSON st SET "${st}" step ${bad})
  file(WRITE ${WORKDIR}/edited/checkpoint-9/trainer_state.json "${st}")
  if(bad STREQUAL "1000000000000")
    set(want "trainer_state.json: \"step\" is 1000000000000 but \"history\" holds 9 records")
  else()
    set(want "trainer_state.json: \"step\" must be an integer in .*, got ${bad}")
  endif()
  run_fails("${want}" --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md --seq-len 32
    --batch-size 4 --eval-batches 2 --threads 2 --output ${WORKDIR}/edited --steps 12 --resume)
endforeach()

# Numeric flags are range-checked decimal integers / finite numbers: no wrap to 2^64-1, no
# silent saturation, no octal.
run_fails("--seed: must be an integer in \\[0, 18446744073709551615\\], got \"-1\"" ${common} --seed -1 --dry-run)
run_fails("--seed: must be an integer in .*, got \"18446744073709551616\"" ${common} --seed 18446744073709551616 --dry-run)
run_fails("--warmup: must be an integer in \\[-1, .*\\], got \"-5\"" ${common} --warmup -5 --dry-run)
run_fails("--steps: must be an integer in .*, got \"99999999999999999999\"" ${common} --steps 99999999999999999999 --dry-run)
run_fails("--lr: must be a number in .*, got \"nan\"" ${common} --lr nan --dry-run)
run_ok(out ${common} --seed 18446744073709551615 --steps 2 --dry-run)
execute_process(COMMAND ${LAZARUS} generate --model ${WORKDIR}/run/model --prompt hi --seed -1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "--seed: must be an integer in .*, got \"-1\"")
  message(FATAL_ERROR "generate --seed -1: ${rc}\n${err}")
endif()
file(WRITE ${WORKDIR}/warm.json "{\"warmup\": \"2\"}")
run_fails("warm.json: \"warmup\" must be a JSON number, got \"2\"" ${common} --train-config ${WORKDIR}/warm.json --dry-run)
file(WRITE ${WORKDIR}/warm.json "{\"warmup\": 2.5}")
run_fails("warm.json: \"warmup\": --warmup: must be an integer in .*, got \"2.5\"" ${common} --train-config ${WORKDIR}/warm.json --dry-run)

# Memory planning: a model or a batch that cannot fit is refused before anything is allocated,
# with both numbers and the field or flag responsible (not "std::bad_alloc").
file(READ ${SRC}/examples/tiny_llama.json tiny)
string(JSON deep SET "${tiny}" num_hidden_layers 1000000000)
file(WRITE ${WORKDIR}/deep.json "${deep}")
string(JSON wide SET "${tiny}" hidden_size 131072)
file(WRITE ${WORKDIR}/wide.json "${wide}")
set(small --data ${SRC}/README.md --seq-len 32 --batch-size 4 --output ${WORKDIR}/x --dry-run)
run_fails("deep.json: training .*num_layers 1000000000.* needs .* but only .* is available" --config ${WORKDIR}/deep.json ${small})
run_fails("wide.json: training .*hidden_size 131072.* needs .* but only .* is available" --config ${WORKDIR}/wide.json ${small})
run_fails("activations of --batch-size 1000000000 .* needs .* but only .* is available"
  --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md --seq-len 32 --batch-size 1000000000 --output ${WORKDIR}/x --dry-run)
file(MAKE_DIRECTORY ${WORKDIR}/deep_model)
file(WRITE ${WORKDIR}/deep_model/config.json "${deep}")
execute_process(COMMAND ${LAZARUS} generate --model ${WORKDIR}/deep_model --prompt hi
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "the model's weights in [a-z0-9]+: .*num_layers 1000000000.* needs .* but only .* is available")
  message(FATAL_ERROR "generate on a 10^9-layer config: ${rc}\n${err}")
endif()
# An allocation no check foresaw (the limit raised past the machine, the address space capped)
# is reported as running out of memory during a named activity, not as "std::bad_alloc".
execute_process(COMMAND sh -c "ulimit -v 1500000 && LAZARUS_MAX_MEMORY=100T exec \"$0\" \"$@\""
                  ${LAZARUS} train --config ${SRC}/examples/tiny_llama.json --data ${SRC}/README.md
                  --seq-len 32 --batch-size 100000000 --threads 1 --steps 1 --output ${WORKDIR}/oom
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "error: out of memory while training" OR err MATCHES "std::bad_alloc")
  message(FATAL_ERROR "out of memory while training: ${rc}\n${err}")
endif()
# `info` computes from the config alone: sizes of 2^62 neither hang it nor wrap its count.
execute_process(COMMAND ${LAZARUS} info --config ${WORKDIR}/deep.json RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
expect("${out}" "parameters 46,208,000,016,448 ")
foreach(field num_hidden_layers vocab_size)
  string(JSON huge SET "${tiny}" ${field} 4611686018427387904)
  file(WRITE ${WORKDIR}/huge.json "${huge}")
  execute_process(COMMAND ${LAZARUS} info --config ${WORKDIR}/huge.json RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 20)
  if(rc EQUAL 0 OR NOT err MATCHES "overflows 64-bit integers")
    message(FATAL_ERROR "info on ${field} = 2^62: ${rc}\n${out}\n${err}")
  endif()
endforeach()
# A product that wraps uint64 (2^33 x 2^31) is an error, not a small wrong count.
string(JSON huge SET "${tiny}" vocab_size 8589934592)
string(JSON huge SET "${huge}" hidden_size 2147483648)
file(WRITE ${WORKDIR}/huge.json "${huge}")
execute_process(COMMAND ${LAZARUS} info --config ${WORKDIR}/huge.json RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 20)
if(rc EQUAL 0 OR NOT err MATCHES "embedding \\(vocab_size 8589934592, hidden_size 2147483648.*overflows 64-bit integers")
  message(FATAL_ERROR "info on vocab 2^33 x hidden 2^31: ${rc}\n${out}\n${err}")
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
