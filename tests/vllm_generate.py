"""Greedy answers of vLLM (offline engine) on prompt embeddings, run by the vLLM environment's interpreter.

    VLLM_PYTHON tests/vllm_generate.py LLM_DIR EMBEDDINGS.pt MOL_TOKEN_ID MAX_NEW_TOKENS OUTPUT.json

EMBEDDINGS.pt is a `torch.save`d list of `[seq, hidden]` tensors; OUTPUT.json receives each prompt's token ids.
vLLM ignores `generation_config.json`'s `suppress_tokens`, so `<mol>` is kept out by a logit bias.
"""

import json
import sys

import torch
from vllm import LLM, SamplingParams


def main() -> None:
    llm_dir, embeddings_file, mol_token_id, max_new_tokens, output = sys.argv[1:6]
    embeddings = torch.load(embeddings_file)
    llm = LLM(model=llm_dir, enable_prompt_embeds=True, dtype="float32", max_model_len=512, enforce_eager=True)
    params = SamplingParams(max_tokens=int(max_new_tokens), temperature=0.0, logit_bias={int(mol_token_id): -100.0})
    answers = llm.generate([{"prompt_embeds": prompt} for prompt in embeddings], params)
    with open(output, "w") as file:
        json.dump([list(answer.outputs[0].token_ids) for answer in answers], file)


if __name__ == "__main__":  # vLLM starts its engine in a spawned process, which imports this file again
    main()
