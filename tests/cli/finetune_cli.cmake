# `lazarus finetune` end to end on a tiny Llama folder (examples/make_model_folder: random weights,
# the Mistral tokenizer, a Zephyr-style chat template written here) and a small chat JSONL: the
# plan is printed, the loss falls, the adapter has PEFT's key names and shapes and the merged
# folder's logits equal base + adapter (finetune_check), `lazarus generate --adapter` and
# `--model merged` produce the same text, an interrupted and resumed run reproduces the
# uninterrupted run's loss curve and adapter exactly, and bad input gets clear errors.
file(REMOVE_RECURSE ${WORKDIR})
file(MAKE_DIRECTORY ${WORKDIR})

function(check_rc rc what out err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
endfunction()

function(expect text pattern)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "output does not match '${pattern}':\n${text}")
  endif()
endfunction()

# A chat template that honours add_generation_prompt, so the prompt can be masked exactly.
set(tmpl "{% for m in messages %}{{ '<|' + m['role'] + '|>\\\\n' + m['content'] + eos_token + '\\\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\\\n' }}{% endif %}")
file(WRITE ${WORKDIR}/chat_config.json
  "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"chat_template\": \"${tmpl}\"}\n")
file(WRITE ${WORKDIR}/plain_config.json "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}\n")
foreach(kind chat plain)
  execute_process(COMMAND ${MAKE_FOLDER} ${WORKDIR}/${kind}_model tiny
                    ${SRC}/tests/data/tokenizers/mistral ${WORKDIR}/${kind}_config.json
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  check_rc("${rc}" "make_model_folder ${kind}" "${out}" "${err}")
endforeach()

# 24 records: conversations and prompt/completion pairs.
set(colours red green blue yellow black white orange purple)
set(jsonl "")
foreach(i RANGE 23)
  math(EXPR c "${i} % 8")
  list(GET colours ${c} colour)
  math(EXPR k "${i} % 3")
  if(k EQUAL 0)
    string(APPEND jsonl "{\"prompt\": \"Name the colour ${colour}. \", \"completion\": \"The colour is ${colour}.\"}\n")
  else()
    string(APPEND jsonl "{\"messages\": [{\"role\": \"user\", \"content\": \"What colour is number ${i}?\"}, {\"role\": \"assistant\", \"content\": \"Number ${i} is ${colour}.\"}]}\n")
  endif()
endforeach()
file(WRITE ${WORKDIR}/chat.jsonl "${jsonl}")

set(common --model ${WORKDIR}/chat_model --data ${WORKDIR}/chat.jsonl --lora-rank 4 --lora-alpha 8
    --steps 6 --batch-size 8 --lr 0.01 --warmup 0 --schedule linear --save-every 3 --eval-every 3
    --threads 2)

function(finetune out_var)
  execute_process(COMMAND ${LAZARUS} finetune ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  check_rc("${rc}" "lazarus finetune ${ARGN}" "${out}" "${err}")
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

function(finetune_fails pattern)
  execute_process(COMMAND ${LAZARUS} finetune ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "lazarus finetune ${ARGN} should have failed:\n${out}")
  endif()
  if(NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "lazarus finetune ${ARGN}: error does not match '${pattern}':\n${err}")
  endif()
endfunction()

# "loss" (and "eval_loss" where present) of every line of a metrics.jsonl, as a list.
function(losses file out_var)
  file(STRINGS ${file} lines)
  set(vals "")
  foreach(line IN LISTS lines)
    string(JSON l GET "${line}" loss)
    string(JSON e ERROR_VARIABLE no_eval GET "${line}" eval_loss)
    if(no_eval)
      set(e "-")
    endif()
    list(APPEND vals "${l}/${e}")
  endforeach()
  set(${out_var} "${vals}" PARENT_SCOPE)
endfunction()

# ---- the uninterrupted run, merged ----
finetune(out ${common} --output ${WORKDIR}/full --merge)
expect("${out}" "model +.*chat_model \\(llama\\): 2 layers, hidden 64, vocab 32000; 4,170,048 parameters")
expect("${out}" "lora +rank 4, alpha 8 \\(scale 2\\), dropout 0.05 on 14 Linear layers \\(q_proj x2, k_proj x2, v_proj x2, o_proj x2, gate_proj x2, up_proj x2, down_proj x2\\); 8,192 trainable parameters")
expect("${out}" "data +.*chat.jsonl: 24 records \\(rendered with the chat template\\) -> 23 train, 1 held out")
expect("${out}" "training +6 steps x 8 sequences x [0-9]+ tokens")
expect("${out}" "held-out loss [0-9.]+, perplexity [0-9.]+")
foreach(f adapter_config.json adapter_model.safetensors metrics.jsonl loss_curve.svg
          checkpoint-6/model.safetensors checkpoint-6/optimizer.safetensors
          merged/config.json merged/model.safetensors merged/tokenizer.json merged/tokenizer_config.json)
  if(NOT EXISTS ${WORKDIR}/full/${f})
    message(FATAL_ERROR "full/${f} was not written")
  endif()
endforeach()
# Checkpoints hold the adapter (and optimizer) only, not the frozen base.
file(SIZE ${WORKDIR}/full/checkpoint-6/model.safetensors ck_size)
if(ck_size GREATER 200000)
  message(FATAL_ERROR "checkpoint-6/model.safetensors is ${ck_size} bytes: more than the adapter")
endif()

# The loss falls: the mean of the last two steps is below the mean of the first two.
losses(${WORKDIR}/full/metrics.jsonl full_losses)
list(LENGTH full_losses n)
if(NOT n EQUAL 6)
  message(FATAL_ERROR "metrics.jsonl has ${n} lines, want 6")
endif()
file(STRINGS ${WORKDIR}/full/metrics.jsonl lines)
set(l "")
foreach(line IN LISTS lines)
  string(JSON v GET "${line}" loss)
  list(APPEND l ${v})
endforeach()
list(GET l 0 l1)
list(GET l 1 l2)
list(GET l 4 l5)
list(GET l 5 l6)
# CMake's math() is integer-only: compare in micro-units.
foreach(v l1 l2 l5 l6)
  string(REGEX REPLACE "^([0-9]+)\\.([0-9]*)$" "\\1;\\2" parts "${${v}}")
  list(GET parts 0 ip)
  list(GET parts 1 fp)
  string(SUBSTRING "${fp}000000" 0 6 fp)
  math(EXPR ${v}_u "${ip} * 1000000 + ${fp}")
endforeach()
math(EXPR first "(${l1_u} + ${l2_u}) / 2")
math(EXPR last "(${l5_u} + ${l6_u}) / 2")
math(EXPR fall "${first} - ${last}")
message(STATUS "loss: first two steps ${l1} ${l2}, last two ${l5} ${l6}")
if(fall LESS 50000)
  message(FATAL_ERROR "the loss did not fall by 0.05: first two steps ${l1} ${l2}, last two ${l5} ${l6}")
endif()

# PEFT key names and shapes; merged logits == base + adapter logits.
execute_process(COMMAND ${CHECK} ${WORKDIR}/chat_model ${WORKDIR}/full ${WORKDIR}/full/merged 4
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check_rc("${rc}" "finetune_check" "${out}" "${err}")

# The CLI agrees: generate with --adapter == generate on the merged folder (greedy).
execute_process(COMMAND ${LAZARUS} generate --model ${WORKDIR}/chat_model --adapter ${WORKDIR}/full
                  --prompt "What colour is number 5?" --max-new-tokens 8 --threads 2
                RESULT_VARIABLE rc OUTPUT_VARIABLE with_adapter ERROR_VARIABLE err)
check_rc("${rc}" "generate --adapter" "${with_adapter}" "${err}")
expect("${err}" "adapter .*full \\(PEFT LoRA, rank 4, alpha 8\\) on 14 layers")
execute_process(COMMAND ${LAZARUS} generate --model ${WORKDIR}/full/merged
                  --prompt "What colour is number 5?" --max-new-tokens 8 --threads 2
                RESULT_VARIABLE rc OUTPUT_VARIABLE with_merged ERROR_VARIABLE err)
check_rc("${rc}" "generate merged" "${with_merged}" "${err}")
if(NOT with_adapter STREQUAL with_merged)
  message(FATAL_ERROR "generate --adapter gave '${with_adapter}' but the merged folder '${with_merged}'")
endif()

# ---- exact resume: the same run, interrupted after its step-3 checkpoint, then resumed ----
finetune(out ${common} --output ${WORKDIR}/cut)
# What a crash after step 3 leaves: checkpoint-3 and the metrics up to it.
file(REMOVE_RECURSE ${WORKDIR}/cut/checkpoint-6)
file(REMOVE ${WORKDIR}/cut/adapter_model.safetensors ${WORKDIR}/cut/adapter_config.json)
finetune_fails("already holds checkpoints.*--resume" ${common} --output ${WORKDIR}/cut)
finetune(out ${common} --output ${WORKDIR}/cut --resume)
expect("${out}" "resume +from .*checkpoint-3")
losses(${WORKDIR}/cut/metrics.jsonl cut_losses)
message(STATUS "uninterrupted: ${full_losses}")
message(STATUS "resumed:       ${cut_losses}")
if(NOT full_losses STREQUAL cut_losses)
  message(FATAL_ERROR "the resumed run's losses differ:\n  ${full_losses}\n  ${cut_losses}")
endif()
# Resuming with other LoRA options is refused: the checkpoint records them, and one message
# lists each difference.
finetune_fails("checkpoint-6: --resume with 1 option different.*lora_targets: .* in the checkpoint, q_proj now"
  ${common} --output ${WORKDIR}/cut --resume --lora-targets q_proj)
file(SHA256 ${WORKDIR}/full/adapter_model.safetensors h_full)
file(SHA256 ${WORKDIR}/cut/adapter_model.safetensors h_cut)
if(NOT h_full STREQUAL h_cut)
  message(FATAL_ERROR "the resumed run's adapter differs from the uninterrupted run's")
endif()

# bf16 compute, f32 masters: the base comes back bit for bit and the merged f32 folder still
# equals base + adapter.
finetune(out --model ${WORKDIR}/chat_model --data ${WORKDIR}/chat.jsonl --lora-rank 4 --lora-alpha 8
    --steps 2 --batch-size 8 --lr 0.01 --warmup 0 --threads 2 --dtype bf16 --output ${WORKDIR}/bf16
    --merge)
expect("${out}" "bf16 compute, f32 master weights")
execute_process(COMMAND ${CHECK} ${WORKDIR}/chat_model ${WORKDIR}/bf16 ${WORKDIR}/bf16/merged 4
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
check_rc("${rc}" "finetune_check (bf16)" "${out}" "${err}")

# A training config file; the command line wins over it.
file(WRITE ${WORKDIR}/train.json "{\"lora_rank\": 2, \"lr\": 0.002, \"steps\": 5, \"lora_targets\": [\"q_proj\", \"v_proj\"]}")
finetune(out --model ${WORKDIR}/chat_model --data ${WORKDIR}/chat.jsonl --train-config ${WORKDIR}/train.json
         --steps 7 --output ${WORKDIR}/dry --dry-run)
expect("${out}" "lora +rank 2, .* on 4 Linear layers \\(q_proj x2, v_proj x2\\)")
expect("${out}" "training +7 steps .*; lr 0.002 cosine")
# prompt/completion records work without a chat template.
file(WRITE ${WORKDIR}/pc.jsonl "{\"prompt\": \"Say hi.\\n\", \"completion\": \"hi\"}\n{\"prompt\": \"Say yes.\\n\", \"completion\": \"yes\"}\n")
finetune(out --model ${WORKDIR}/plain_model --data ${WORKDIR}/pc.jsonl --output ${WORKDIR}/dry --dry-run)
expect("${out}" "2 records \\(no chat template: prompt \\+ completion\\) -> 1 train, 1 held out")
# Longer records are truncated; a record whose answer lies wholly past --seq-len is skipped.
finetune(out ${common} --output ${WORKDIR}/dry --seq-len 24 --dry-run)
expect("${out}" "-> 13 train, 1 held out; .* padded to 24")
expect("${out}" "24 truncated to 24 tokens \\(--seq-len\\), 10 skipped")

# ---- bad input ----
set(m --model ${WORKDIR}/chat_model --output ${WORKDIR}/bad --threads 2)
finetune_fails("none.jsonl: cannot open this data file" ${m} --data ${WORKDIR}/none.jsonl)
file(WRITE ${WORKDIR}/nofield.jsonl "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n{\"text\": \"hello\"}\n")
finetune_fails("nofield.jsonl:2: expected 'messages' or 'prompt' \\+ 'completion'" ${m} --data ${WORKDIR}/nofield.jsonl)
file(WRITE ${WORKDIR}/badjson.jsonl "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \n")
finetune_fails("badjson.jsonl:2: invalid JSON" ${m} --data ${WORKDIR}/badjson.jsonl)
file(WRITE ${WORKDIR}/msgs.jsonl "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n")
finetune_fails("msgs.jsonl:1: conversations need a chat template.*plain_model has no chat_template"
  --model ${WORKDIR}/plain_model --data ${WORKDIR}/msgs.jsonl --output ${WORKDIR}/bad)
finetune_fails("--lora-rank must be >= 1, got 0" ${m} --data ${WORKDIR}/chat.jsonl --lora-rank 0)
finetune_fails("--lora-rank: must be an integer in \\[0, 1048576\\], got \"99999999999999999999\""
  ${m} --data ${WORKDIR}/chat.jsonl --lora-rank 99999999999999999999)
finetune_fails("--lora-targets: 'qkv_proj' matches no Linear layer of .*chat_model; its Linear layers are named down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"
  ${m} --data ${WORKDIR}/chat.jsonl --lora-targets q_proj,qkv_proj)
finetune_fails("no_such_model.*(not a model folder|no such)" --model ${WORKDIR}/no_such_model --data ${WORKDIR}/chat.jsonl)
finetune_fails("--holdout must be in \\[0, 0.5\\), got 0.7" ${m} --data ${WORKDIR}/chat.jsonl --holdout 0.7)
