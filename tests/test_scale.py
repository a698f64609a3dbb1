"""Training at the paper's scale: DDP, DeepSpeed ZeRO-2/3 and FSDP2 in bf16, for real, on two CPU processes over gloo.

Each DDP and DeepSpeed run is the stock command a GPU user runs, in its CPU form (`trl sft --config
recipes/stage{1,2}.yaml --accelerate_config recipes/accelerate/<engine>.yaml --num_processes 2 --use_cpu true`), the
recipes overridden only in paths, sizes and step counts. What an engine really did is read from what it wrote: DeepSpeed's
checkpoint (its config, world size, each rank's partitions) and DeepSpeed's own fp32 consolidation of those partitions.
"""

import json
import math
import re
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from datasets import load_dataset
from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
from peft import PeftModel
from safetensors.torch import load_file

from launch import run_in_own_session, trl_sft, two_process_trl_sft
from modeling_instructmol import InstructMolForConditionalGeneration
from processing_instructmol import InstructMolProcessor
from tests_paths import REPO_ROOT

RECIPES = REPO_ROOT / "recipes"
ENGINE_CONFIGS = {"ddp": RECIPES / "accelerate" / "multi_gpu.yaml",
                  "zero2": RECIPES / "accelerate" / "deepspeed_zero2.yaml",
                  "zero3": RECIPES / "accelerate" / "deepspeed_zero3.yaml"}
ZERO_STAGE = {"zero2": 2, "zero3": 3}
QUESTION = [{"role": "user", "content": [{"type": "molecule", "molecule": "c1ccccc1O"},
                                         {"type": "text", "text": "what is the gap?"}]}]


def cpu_form(engine: str, *extra: str) -> list[str]:
    """The launch arguments of the README's CPU form of a GPU command: the engine's own config, 2 processes. ZeRO-3
    runs also take the README's multi-node arguments, for one node, which `trl sft` passes to the launcher."""
    launch = ["--accelerate_config", str(ENGINE_CONFIGS[engine]), "--num_processes", "2", "--use_cpu", "true"]
    if engine == "zero3":
        launch += ["--num_machines", "1", "--machine_rank", "0", "--main_process_ip", "127.0.0.1",
                   "--main_process_port", str(free_port())]
    return [*launch, *extra]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_process_run(recipe: str, work, launch_args, **overrides) -> subprocess.CompletedProcess:
    """A stock recipe of `recipes/` on two gloo processes."""
    return two_process_trl_sft(recipe, work, launch_args, recipes=RECIPES, **overrides)


def logged_losses(stdout: str) -> list[float]:
    return [float(value) for value in re.findall(r"'loss': '([^']+)'", stdout)]


def gap_rows(data_dir) -> list[dict]:
    """The stage-2 recipe's `datasets:` list, pointed at the tiny data's gap questions."""
    return [{"path": str(data_dir), "name": "gap_g", "split": "train", "columns": ["images", "prompt", "completion"]}]


def deepspeed_checkpoint(output_dir):
    """The run's last checkpoint and its DeepSpeed folder (`global_stepN/`, None for a plain checkpoint)."""
    checkpoint = max(output_dir.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    return checkpoint, next(checkpoint.glob("global_step*"), None)


def load_deepspeed_file(path) -> dict:
    # DeepSpeed's own files (its config and partition bookkeeping are Python objects), written by this test's run.
    return torch.load(path, map_location="cpu", weights_only=False)


def model_states(step_dir) -> list[dict]:
    """ZeRO-3: one file per rank (each with its parameter partitions); ZeRO-2: one file (every parameter whole)."""
    return [load_deepspeed_file(path) for path in sorted(step_dir.glob("*mp_rank_00_model_states.pt"))]


def fp32_master_partitions(step_dir) -> list[int]:
    """Per rank, how many float32 master weights of the trained parameters its optimizer-state file holds."""
    sizes = []
    for path in sorted(step_dir.glob("bf16_zero_pp_rank_*_mp_rank_00_optim_states.pt")):
        state = load_deepspeed_file(path)["optimizer_state_dict"]
        groups = state.get("single_partition_of_fp32_groups") or state["fp32_flat_groups"]  # ZeRO-2 / ZeRO-3 name
        assert state["partition_count"] in (2, [2] * len(groups))
        sizes.append(sum(group.numel() for group in groups))
    return sizes


@pytest.fixture(scope="module", params=list(ENGINE_CONFIGS))
def bf16_stages(request, tiny_model_dir, tiny_data_dir, tmp_path_factory):
    """Stage 1 then stage 2 in bf16 on one engine, each the stock recipe in its CPU form."""
    engine = request.param
    work = tmp_path_factory.mktemp(f"bf16-{engine}")
    stage1 = two_process_run("stage1.yaml", work, cpu_form(engine), model_name_or_path=tiny_model_dir,
                             dataset_name=tiny_data_dir, output_dir=work / "stage1", max_steps=2)
    stage2 = two_process_run("stage2.yaml", work, cpu_form(engine), model_name_or_path=work / "stage1",
                             datasets=gap_rows(tiny_data_dir), output_dir=work / "stage2", max_steps=2,
                             learning_rate=0.05)
    return {"engine": engine, "work": work, "stage1": stage1, "stage2": stage2}


def test_bf16_stage1_runs_on_the_engine_it_was_given(bf16_stages, tiny_model_dir, tiny_data_dir):
    engine, stage1_dir = bf16_stages["engine"], bf16_stages["work"] / "stage1"
    losses = logged_losses(bf16_stages["stage1"].stdout)
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    trained = InstructMolForConditionalGeneration.from_pretrained(stage1_dir)
    assert trained.config.freeze_llm
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert not torch.equal(trained.model.projector.linear_1.weight, initial["model.projector.linear_1.weight"])
    checkpoint, step_dir = deepspeed_checkpoint(stage1_dir)
    if engine == "ddp":
        # Two processes of 4 rows: a step is 1/ceil(rows / 8) of an epoch; a plain (not DeepSpeed) checkpoint.
        rows = load_dataset(str(tiny_data_dir), "alignment_g", split="train").num_rows
        assert float(re.search(r"'epoch': '([0-9.]+)'", bf16_stages["stage1"].stdout).group(1)) == pytest.approx(
            1 / math.ceil(rows / 8), abs=1e-4)
        assert step_dir is None and (checkpoint / "optimizer.pt").is_file()
        return
    states = model_states(step_dir)
    for state in states:
        assert state["dp_world_size"] == 2
        assert state["ds_config"]["zero_optimization"]["stage"] == ZERO_STAGE[engine]
        assert state["ds_config"]["bf16"]["enabled"] is True
    # Both stages split the optimizer's float32 master weights of what trains (the projector) over the two ranks.
    projector_size = sum(initial[f"model.projector.linear_1.{name}"].numel() for name in ("weight", "bias"))
    assert fp32_master_partitions(step_dir) == [projector_size // 2] * 2
    gin_table = "model.graph_encoder.atom_embedding.tables.0.weight"
    if engine == "zero3":
        # Each rank holds its own half of every frozen parameter, the GIN's included: the parameters were partitioned.
        assert len(states) == 2
        for state in states:
            assert state["frozen_param_fragments"][gin_table].numel() == initial[gin_table].numel() // 2
            assert tuple(state["frozen_param_shapes"][gin_table]) == tuple(initial[gin_table].shape)
    else:
        # ZeRO-2 partitions optimizer states and gradients, not parameters: one file holds them all, whole.
        assert len(states) == 1 and states[0]["module"][gin_table].shape == initial[gin_table].shape


def in_memory_model(stage1_dir, stage2_dir, engine: str) -> PeftModel:
    """The trained stage-2 model as it was in the engine's memory: the stage-1 base in the recipe's bf16, the adapter,
    and under DeepSpeed the trained values that DeepSpeed itself consolidates from the ranks' fp32 partitions of its
    checkpoint (DDP keeps whole float32 adapters in memory, which is what it saves)."""
    base = InstructMolForConditionalGeneration.from_pretrained(stage1_dir, dtype=torch.bfloat16)
    model = PeftModel.from_pretrained(base, str(stage2_dir)).eval()
    if engine in ZERO_STAGE:
        checkpoint, step_dir = deepspeed_checkpoint(stage2_dir)
        assert {state["ds_config"]["zero_optimization"]["stage"] for state in model_states(step_dir)} == {
            ZERO_STAGE[engine]}
        trained = get_fp32_state_dict_from_zero_checkpoint(str(checkpoint))
        trainable = {name for name, _ in model.named_parameters() if "lora_" in name or "modules_to_save" in name}
        assert trainable <= set(trained)
        model.load_state_dict({name: trained[name] for name in trainable}, strict=False)
    return model


FRESH_PROCESS_ANSWER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoProcessor

    folder, output, question = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    inputs = processor.apply_chat_template(question, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    answer_ids = model.generate(**inputs, max_new_tokens=6, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    save_file({"logits": logits.float().contiguous(), "input_ids": inputs["input_ids"]}, output + ".safetensors")
    answer = {"answer": processor.decode(answer_ids, skip_special_tokens=True), "new_tokens": len(answer_ids)}
    Path(output + ".json").write_text(json.dumps(answer))
""")


def merged_and_asked_in_a_fresh_process(adapter_dir, output_dir, base=None) -> tuple[dict, dict]:
    """`instructmol merge`, then the merged folder loaded with `AutoModel` in a new process and asked QUESTION."""
    merge = [sys.executable, "-m", "instructmol.cli", "merge", "--adapter", str(adapter_dir), "--output",
             str(output_dir / "merged")] + (["--base", str(base)] if base else [])
    subprocess.run(merge, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", FRESH_PROCESS_ANSWER, str(output_dir / "merged"), str(output_dir / "asked"),
                    json.dumps(QUESTION)], check=True, capture_output=True)
    return (load_file(output_dir / "asked.safetensors"), json.loads((output_dir / "asked.json").read_text()))


def test_bf16_stage2_adapter_merges_into_the_stage1_model_and_answers_as_trained(bf16_stages, tmp_path):
    work = bf16_stages["work"]
    losses = logged_losses(bf16_stages["stage2"].stdout)
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    tensors, answer = merged_and_asked_in_a_fresh_process(work / "stage2", tmp_path)
    assert answer["new_tokens"] > 0
    in_memory = in_memory_model(work / "stage1", work / "stage2", bf16_stages["engine"])
    processor = InstructMolProcessor.from_pretrained(work / "stage2", trust_remote_code=True)
    inputs = processor.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    assert torch.equal(inputs["input_ids"], tensors["input_ids"])
    with torch.no_grad():
        expected = in_memory(**inputs).logits.float()
        with in_memory.disable_adapter():
            untrained = in_memory(**inputs).logits.float()
    # Within bf16 rounding of the merged weights; far from the base alone (the adapter is no no-op).
    torch.testing.assert_close(tensors["logits"], expected, rtol=0.02, atol=0.02)
    assert (tensors["logits"] - untrained).abs().max() > 10 * (tensors["logits"] - expected).abs().max()


def test_fp32_zero2_and_zero3_give_the_weights_of_one_process_with_the_same_global_batch(tiny_model_dir, tiny_data_dir,
                                                                                         tmp_path):
    """Stage 2 in float32: 2 processes x 4 rows under ZeRO-2 and ZeRO-3, and 1 process x 8 rows, from the same seed.
    LoRA dropout is off: its masks are drawn per process, so with it the runs would differ by design."""
    same = dict(model_name_or_path=tiny_model_dir, datasets=gap_rows(tiny_data_dir), max_steps=3, bf16=False,
                model_init_kwargs={"dtype": "float32", "freeze_llm": False, "freeze_graph_encoder": True},
                lr_scheduler_type="constant", warmup_steps=0, learning_rate=0.01, lora_dropout=0.0, save_strategy="no")
    trl_sft("stage2.yaml", tmp_path, ["--use_cpu", "true"], recipes=RECIPES, per_device_train_batch_size=8,
            output_dir=tmp_path / "one", **same)
    one = load_file(tmp_path / "one" / "adapter_model.safetensors")
    lora_b = next(name for name in one if "lora_B" in name)
    assert one[lora_b].abs().max() > 1e-3  # trained away from LoRA's zero start
    for engine in ZERO_STAGE:
        two_process_run("stage2.yaml", tmp_path, cpu_form(engine, "--mixed_precision", "no"),
                        output_dir=tmp_path / engine, **same)
        sharded = load_file(tmp_path / engine / "adapter_model.safetensors")
        assert sharded.keys() == one.keys()
        for name in one:
            torch.testing.assert_close(sharded[name], one[name], rtol=1e-4, atol=1e-5, msg=f"{engine}: {name}")


def test_zero3_partitions_the_model_as_transformers_builds_it(tiny_model_dir):
    """`_from_config` and `from_pretrained` inside DeepSpeed's ZeRO-3 partitioning context (what accelerate registers
    for transformers), one gloo process: every parameter partitioned, the GIN initialised as documented, the
    checkpoint's values loaded into them."""
    script = textwrap.dedent("""
        import os, sys
        import deepspeed, torch
        from safetensors.torch import load_file
        from transformers.integrations import HfDeepSpeedConfig
        from modeling_instructmol import InstructMolForConditionalGeneration

        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2])
        deepspeed.init_distributed("gloo")
        # What accelerate registers for transformers under ZeRO-3; held in a variable, as transformers keeps only a
        # weak reference to it.
        zero3 = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "bf16": {"enabled": True},
                                   "train_batch_size": 1})
        folder = sys.argv[1]
        from_config = InstructMolForConditionalGeneration._from_config(
            InstructMolForConditionalGeneration.config_class.from_pretrained(folder))
        loaded = InstructMolForConditionalGeneration.from_pretrained(folder)
        for model in (from_config, loaded):
            assert all(p.numel() == 0 and p.ds_status.name == "NOT_AVAILABLE" for p in model.parameters())
        # The GIN's documented initialisation, applied to the partitioned parameters of the model built from a config:
        # OGB's Xavier-uniform tables, PyTorch's Linear init (bound 1/sqrt(fan_in)), eps 0.
        encoder = from_config.model.graph_encoder
        table, layer = encoder.atom_embedding.tables[0].weight, encoder.layers[0].conv
        linear, eps = layer.nn[0].weight, layer.eps
        with deepspeed.zero.GatheredParameters([table, linear, eps]):
            xavier_bound = (6 / sum(table.shape)) ** 0.5
            assert 0.9 * xavier_bound < table.float().abs().max() <= xavier_bound * 1.01
            assert 0.9 / linear.shape[1] ** 0.5 < linear.float().abs().max() <= 1.01 / linear.shape[1] ** 0.5
            assert eps.item() == 0
        saved = load_file(folder + "/model.safetensors")
        for name, parameter in loaded.named_parameters():
            with deepspeed.zero.GatheredParameters([parameter]):
                assert torch.equal(parameter.data.float(), saved[name].to(torch.bfloat16).float()), name
        print("partitioned", sum(1 for _ in loaded.parameters()))
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tiny_model_dir), str(free_port())], capture_output=True,
                            text=True,
                            cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"partitioned (\d+)", result.stdout).group(1) == str(
        sum(1 for _ in InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir).parameters()))


def test_fsdp2_shards_stage2_in_bf16_and_its_adapter_merges_and_answers(tiny_model_dir, tiny_data_dir, tmp_path):
    """The stock launcher with our FSDP config starts the processes; `tests/fsdp2_train.py` shards with torch's
    `fully_shard` as that config says (accelerate itself shards only on accelerator devices)."""
    output = tmp_path / "fsdp2"
    command = ["accelerate", "launch", "--config_file", str(RECIPES / "accelerate" / "fsdp.yaml"), "--num_processes",
               "2", str(REPO_ROOT / "tests" / "fsdp2_train.py"), "--recipe", str(RECIPES / "stage2.yaml"), "--model",
               str(tiny_model_dir), "--data", str(tiny_data_dir), "--config", "gap_g", "--output", str(output)]
    result = run_in_own_session(command, timeout=300, marker=str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads((output / "facts.json").read_text())
    assert facts["world_size"] == 2 and facts["param_dtype"] == "torch.bfloat16"
    assert facts["sharded_parameters"] == facts["parameters"]  # every parameter a DTensor
    example = facts["example"]
    assert example["local_shape"][0] == example["full_shape"][0] // 2 and example["dtype"] == "torch.float32"
    # FSDP2 hands the GIN its weights in bf16 for the forward; the GIN computes in float32 all the same.
    assert facts["graph_encoder"] == {"weight_dtype": "torch.bfloat16", "output_dtype": "torch.float32"}
    assert facts["all_finite"] and len(facts["losses"]) == 3
    # Sharding changes no arithmetic beyond bf16 rounding: the first step's loss is the unsharded model's.
    assert facts["losses"][0] == pytest.approx(facts["unsharded_first_loss"], rel=2e-2)
    assert facts["losses"][-1] != facts["losses"][0]
    adapter = load_file(output / "adapter_model.safetensors")
    lora_b = next(name for name in adapter if "lora_B" in name)
    assert adapter[lora_b].abs().max() > 0  # gathered whole and trained (LoRA B starts at zero)
    _, answer = merged_and_asked_in_a_fresh_process(output, tmp_path, base=tiny_model_dir)
    assert answer["new_tokens"] > 0
