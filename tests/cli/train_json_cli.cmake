# Train-from-JSON loads back everywhere, for one example model config (CONFIG; tests/cli/
# CMakeLists.txt adds one test per file in examples/configs/, and one for examples/tiny_llama.json,
# an HF Llama config.json; a Lazarus model config trains into a model_type "lazarus" folder):
# - `info --config` gives the parameter count N; the loaded model holds exactly N parameters;
# - a causal LM (head "lm"): `train` (a character tokenizer trained here, with a chat template)
#   writes a model_type "lazarus" folder that `info --model`, `generate`, `chat` and `finetune`
#   (LoRA, --merge) all use; save_pretrained of the loaded folder loads back with bit-identical
#   weights, logits and greedy tokens (model_roundtrip_check), and `generate` on the re-saved folder
#   prints the same text; `generate --adapter` equals `generate` on the merged folder;
# - a classifier / regression head: `train` refuses it clearly; built through the registry it
#   saves and loads back bit-identically, `info --model` describes it, `generate` refuses it.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})
get_filename_component(name ${CONFIG} NAME_WE)

function(run out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

function(run_fails pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 120)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${ARGN} should have failed:\n${out}")
  endif()
  if(NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "${ARGN}: error does not match '${pattern}':\n${err}")
  endif()
endfunction()

function(expect text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "${name}: output does not match '${pattern}':\n${text}")
  endif()
endfunction()

file(READ ${CONFIG} config_text)
string(JSON type ERROR_VARIABLE generic GET "${config_text}" model_type)
if(generic)
  set(type lazarus)
endif()

# The parameter count the config gives.
run(info ${LAZARUS} info --config ${CONFIG})
if(NOT info MATCHES "parameters ([0-9,]+) ")
  message(FATAL_ERROR "info --config ${CONFIG} printed no parameter count:\n${info}")
endif()
set(params "${CMAKE_MATCH_1}")
string(REPLACE "," "" params_plain "${params}")

# The library round trip from the config alone (every head).
run(out ${CHECK} config ${CONFIG} ${WORKDIR}/from_config)
expect("${out}" "parameters ${params_plain}\n")
expect("${out}" "logits .* identical after the round trip")
run(info ${LAZARUS} info --model ${WORKDIR}/from_config)
expect("${info}" "\\(${type}, family ")
expect("${info}" "parameters ${params} ")

string(JSON head_type ERROR_VARIABLE no_type GET "${config_text}" head type)
if(no_type)
  set(head_type lm)
endif()
if(NOT head_type STREQUAL "lm")
  run_fails("head.type is '${head_type}': lazarus train trains causal LMs" ${LAZARUS} train
    --config ${CONFIG} --data ${SRC}/README.md --output ${WORKDIR}/run)
  run_fails("holds a .*classification model .*this needs a causal LM" ${LAZARUS} generate
    --model ${WORKDIR}/from_config --prompt hi)
  return()
endif()

# A character-level tokenizer (no byte alphabet, so it fits the tiny vocabularies) with a chat
# template, trained on text written here.
if(generic)
  string(JSON vocab GET "${config_text}" backbone embedding vocab_size)
else()
  string(JSON vocab GET "${config_text}" vocab_size)
endif()
set(tok_vocab 96)
if(vocab LESS tok_vocab)
  set(tok_vocab ${vocab})
endif()
set(text "")
foreach(i RANGE 60)
  math(EXPR c "${i} % 5")
  list(GET "red;green;blue;yellow;white" ${c} colour)
  string(APPEND text "The user asks what colour number ${i} is. The assistant says it is ${colour}.\n")
endforeach()
file(WRITE ${WORKDIR}/data.txt "${text}")
file(WRITE ${WORKDIR}/chat.jinja
  "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
run(out ${LAZARUS} train-tokenizer --data ${WORKDIR}/data.txt --out ${WORKDIR}/tok
  --vocab-size ${tok_vocab} --no-byte-alphabet --chat-template ${WORKDIR}/chat.jinja -q)

# train -> a model_type "lazarus" folder with the tokenizer and its chat template.
run(out ${LAZARUS} train --config ${CONFIG} --data ${WORKDIR}/data.txt --tokenizer ${WORKDIR}/tok
  --seq-len 24 --batch-size 2 --steps 3 --eval-batches 1 --threads 2 --output ${WORKDIR}/run)
expect("${out}" "model +.*${name}.json \\(${type}\\): .*; ${params} parameters")
set(model ${WORKDIR}/run/model)
foreach(f config.json model.safetensors tokenizer.json tokenizer_config.json)
  if(NOT EXISTS ${model}/${f})
    message(FATAL_ERROR "train did not write ${f}")
  endif()
endforeach()
file(READ ${model}/config.json cfg)
string(JSON mt GET "${cfg}" model_type)
string(JSON arch GET "${cfg}" architectures 0)
string(JSON eos GET "${cfg}" eos_token_id)
string(JSON dt GET "${cfg}" torch_dtype)
if(NOT mt STREQUAL type OR NOT dt STREQUAL "float32" OR (generic AND NOT arch STREQUAL "LazarusForCausalLM"))
  message(FATAL_ERROR "config.json: model_type ${mt}, architectures [${arch}], torch_dtype ${dt}")
endif()
# A Lazarus model config has no ids: the tokenizer's eos token (<|endoftext|>, its first special
# token: id 0) becomes config.json's. A config that sets eos_token_id keeps it.
if(generic)
  set(want_eos 0)
else()
  string(JSON want_eos GET "${config_text}" eos_token_id)
endif()
if(NOT eos STREQUAL want_eos)
  message(FATAL_ERROR "config.json: eos_token_id ${eos}, want ${want_eos}")
endif()

run(info ${LAZARUS} info --model ${model})
expect("${info}" "\\(${type}, family ")
expect("${info}" "parameters ${params} ")
expect("${info}" "tokenizer +tokenizer.json, [0-9]+ tokens")
expect("${info}" "chat +chat template present")
expect("${info}" "eos ids \\[${want_eos}\\]")

# Weights, logits and greedy tokens survive load -> save_pretrained -> load.
run(out ${CHECK} folder ${model} ${WORKDIR}/resaved)
expect("${out}" "parameters ${params_plain}\n")
expect("${out}" "greedy .*identical after the round trip")
set(gen --prompt "The user asks" --max-new-tokens 12 --seed 1 --threads 1)
run(a ${LAZARUS} generate --model ${model} ${gen})
run(b ${LAZARUS} generate --model ${WORKDIR}/resaved ${gen})
if(NOT a STREQUAL b)
  message(FATAL_ERROR "generate differs after save_pretrained:\n[${a}]\n[${b}]")
endif()

# chat: two turns through the chat template.
file(WRITE ${WORKDIR}/turns.txt "What colour is number 3?\nAnd number 4?\n")
execute_process(COMMAND ${LAZARUS} chat --model ${model} --max-new-tokens 6 --seed 1 --threads 1
                INPUT_FILE ${WORKDIR}/turns.txt RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "chat failed (${rc}):\n${out}\n${err}")
endif()
string(REGEX MATCHALL "\n" lines "${out}")
list(LENGTH lines n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "chat printed ${n} replies for 2 turns:\n${out}")
endif()

# finetune (LoRA) on chat records; the default targets, or the model's own Linear layers when it
# has none of the default names (the error lists them).
set(jsonl "")
foreach(i RANGE 11)
  math(EXPR c "${i} % 5")
  list(GET "red;green;blue;yellow;white" ${c} colour)
  string(APPEND jsonl "{\"messages\": [{\"role\": \"user\", \"content\": \"What colour is number ${i}?\"}, {\"role\": \"assistant\", \"content\": \"It is ${colour}.\"}]}\n")
endforeach()
file(WRITE ${WORKDIR}/chat.jsonl "${jsonl}")
set(ft ${LAZARUS} finetune --model ${model} --data ${WORKDIR}/chat.jsonl --lora-rank 2
  --steps 3 --batch-size 4 --seq-len 64 --lr 0.01 --threads 2 --output ${WORKDIR}/ft --merge)
execute_process(COMMAND ${ft} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  if(NOT err MATCHES "matches no Linear layer of .*; its Linear layers are named ([a-z0-9_, ]+)")
    message(FATAL_ERROR "finetune failed (${rc}):\n${out}\n${err}")
  endif()
  string(REPLACE ", " "," targets "${CMAKE_MATCH_1}")
  string(STRIP "${targets}" targets)
  run(out ${ft} --lora-targets ${targets})
endif()
expect("${out}" "wrote .*adapter_config.json, adapter_model.safetensors")
run(info ${LAZARUS} info --model ${WORKDIR}/ft/merged)
expect("${info}" "\\(${type}, family ")
expect("${info}" "parameters ${params} ")
run(out ${CHECK} folder ${WORKDIR}/ft/merged ${WORKDIR}/merged_resaved)
expect("${out}" "parameters ${params_plain}\n")
run(a ${LAZARUS} generate --model ${model} --adapter ${WORKDIR}/ft ${gen})
run(b ${LAZARUS} generate --model ${WORKDIR}/ft/merged ${gen})
if(NOT a STREQUAL b)
  message(FATAL_ERROR "generate --adapter differs from the merged folder:\n[${a}]\n[${b}]")
endif()
