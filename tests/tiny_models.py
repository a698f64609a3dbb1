"""Tiny, download-free components for tests: a word-level tokenizer and a Llama of width 32."""

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = (
    "what is this molecule describe the it a an of and to in with for as by on from that which are be "
    "acid amine alcohol ketone ester ring aromatic benzene carbon oxygen nitrogen sulfur chlorine atom atoms "
    "bond bonds compound compounds derivative group groups functional hydroxy methyl ethyl phenyl yes no "
    "predict homo lumo gap energy value hartree property reaction product reactant reagent molecular weight "
    "formula has contains role metabolite drug inhibitor agent solvent organic natural species conjugate base "
    "please answer question given following selfies smiles can you tell me about its structure"
).split()
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
CHARACTERS = list("0123456789.,:;?!-+()[]=#@/\\%'\"<>_") + [chr(c) for c in range(ord("a"), ord("z") + 1)]


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer (words above, single characters as fallback) with Llama's special tokens and BOS."""
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *WORDS, *CHARACTERS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)]
    )
    # Like Llama's tokenizer, it adds a BOS token unless told not to (add_special_tokens=False).
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def build_tiny_llm(vocab_size: int, seed: int = 0, **config_overrides) -> LlamaForCausalLM:
    """A 2-layer Llama of width 32 with random weights; `config_overrides` replace any of its settings."""
    torch.manual_seed(seed)
    config = LlamaConfig(**{
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 3,
        **config_overrides,
    })
    return LlamaForCausalLM(config)


def save_tiny_llm(directory: Path, seed: int = 0) -> Path:
    """Writes a tiny Llama and its tokenizer to `directory`, as a Hub LLM repository would hold them."""
    tokenizer = build_tiny_tokenizer()
    build_tiny_llm(len(tokenizer), seed=seed).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
