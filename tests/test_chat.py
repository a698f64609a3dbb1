"""`instructmol chat`: a terminal session about a molecule, driven through standard input."""

import subprocess
import sys

import torch

MAX_NEW_TOKENS = 12
CLI = [sys.executable, "-m", "instructmol.cli"]


def chat(model_dir, workdir, stdin: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "chat", "--model", str(model_dir), "--max-new-tokens", str(MAX_NEW_TOKENS), *options],
        input=stdin, capture_output=True, text=True, timeout=300, check=False, cwd=workdir,
    )


def greedy_answer(model, processor, conversation: list[dict]) -> str:
    """What the model answers greedily to `conversation`, the reference for the streamed text."""
    inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                   suppress_tokens=[processor.mol_token_id])
    return processor.post_process_generation(generated, inputs["input_ids"].shape[1])[0].strip()


def molecule_turn(smiles: str, question: str) -> dict:
    return {"role": "user", "content": [{"type": "molecule", "molecule": smiles}, {"type": "text", "text": question}]}


def test_chat_answers_switches_molecules_and_survives_a_bad_smiles(
    tiny_model_dir, tiny_model, tiny_processor, tmp_path
):
    stdin = "what is it?\n/mol C1CC\n/mol c1ccccc1\ndescribe it\n/quit\n"
    result = chat(tiny_model_dir, tmp_path, stdin, "--smiles", "CCO")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    ethanol_answer = greedy_answer(tiny_model, tiny_processor, [molecule_turn("CCO", "what is it?")])
    benzene_answer = greedy_answer(tiny_model, tiny_processor, [molecule_turn("c1ccccc1", "describe it")])
    assert ethanol_answer and benzene_answer and ethanol_answer != benzene_answer
    lines = result.stdout.splitlines()
    bad_smiles_lines = [line for line in lines if "'C1CC'" in line]
    assert len(bad_smiles_lines) == 1 and "still talking about CCO" in bad_smiles_lines[0]
    # The answers stream in order: ethanol's, the refusal, the switch, then benzene's (a new conversation).
    output = result.stdout
    assert output.index(ethanol_answer) < output.index("'C1CC'") < output.index("Now talking about c1ccccc1")
    assert output.index("Now talking about c1ccccc1") < output.index(benzene_answer)
    # The tiny random model runs to its budget: each answer is marked as cut, on stderr (stdout holds the answers).
    assert result.stderr.count(f"[cut at the limit of {MAX_NEW_TOKENS} new tokens") == 2


def test_chat_keeps_the_history_and_talks_plain_text_without_a_molecule(
    tiny_model_dir, tiny_model, tiny_processor, tmp_path
):
    # A bad --smiles leaves a plain text chat; end of input ends the session like /quit.
    stdin = "hello\n/mol CCO\nwhat is it?\ntell me more\n/reset\ntell me more\n"
    result = chat(tiny_model_dir, tmp_path, stdin, "--smiles", "C1CC")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    plain = greedy_answer(tiny_model, tiny_processor, [{"role": "user", "content": "hello"}])
    first = greedy_answer(tiny_model, tiny_processor, [molecule_turn("CCO", "what is it?")])
    follow_up = greedy_answer(tiny_model, tiny_processor, [
        molecule_turn("CCO", "what is it?"),
        {"role": "assistant", "content": first},
        {"role": "user", "content": [{"type": "text", "text": "tell me more"}]},
    ])
    # /reset keeps the molecule: the question opens a new conversation about CCO.
    after_reset = greedy_answer(tiny_model, tiny_processor, [molecule_turn("CCO", "tell me more")])
    assert follow_up != after_reset  # the history changes the answer, so the check below can tell them apart
    output = result.stdout
    assert "Cannot use the SMILES 'C1CC'" in output
    positions = [output.index(plain), output.index(first), output.index(follow_up, output.index(first) + len(first)),
                 output.index("New conversation."), output.rindex(after_reset)]
    assert positions == sorted(positions)
