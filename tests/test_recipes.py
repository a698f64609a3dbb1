"""Every recipe is a valid `trl sft` configuration: TRL's own parser reads each one without leftovers."""

from pathlib import Path

import pytest
import yaml
from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

from instructmol.tasks import GROUPS, TASKS
from processing_instructmol import VICUNA_CHAT_TEMPLATE
from tests_paths import REPO_ROOT

TRAINING_RECIPES = sorted(p for p in (REPO_ROOT / "recipes").rglob("*.yaml")
                          if "accelerate" not in p.parts and p.name != "accelerate.yaml")
BASELINE_RECIPES = sorted((REPO_ROOT / "recipes" / "baselines").glob("*.yaml"))
# Plain causal LMs with LoRA on `_s` configs: the paper's baselines and the quickstart's text-only variant.
TEXT_ONLY_RECIPES = [*BASELINE_RECIPES, REPO_ROOT / "recipes" / "quickstart" / "stage2_s.yaml"]
INSTRUCTMOL_RECIPES = [path for path in TRAINING_RECIPES if path not in TEXT_ONLY_RECIPES]
ACCELERATE_CONFIGS = sorted((REPO_ROOT / "recipes" / "accelerate").glob("*.yaml"))
PROJECTOR_ONLY_RECIPES = {"stage1.yaml", "quickstart/stage1.yaml", "ablations/mlp_projector_stage1.yaml",
                          "ablations/vicuna13b_stage1.yaml", "ablations/frozen_llm_stage2.yaml"}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_recipe(path: Path):
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    # An unknown key would be handed to `accelerate launch` and fail there: refuse it here. `--use_cpu`
    # lets the GPU recipes' bf16 validate on this CPU machine; it changes nothing else.
    return parser.parse_args_and_config(args=["--config", str(path), "--use_cpu", "true"], fail_with_unknown_args=True)


def test_there_is_a_recipe_for_each_stage_task_and_ablation():
    names = {path.relative_to(REPO_ROOT / "recipes").as_posix() for path in TRAINING_RECIPES}
    assert {"stage1.yaml", "stage2.yaml", "stage2_gs.yaml", "quickstart/stage1.yaml", "quickstart/stage2.yaml"} <= names
    assert {task.recipe for task in TASKS.values()} <= names  # every task's recipe exists
    # recipes/stage2/ holds one recipe per task or group trained on its own, named after it, and nothing else.
    per_task = {path.stem for path in (REPO_ROOT / "recipes" / "stage2").glob("*.yaml")}
    assert per_task == {Path(task.recipe).stem for task in TASKS.values() if task.recipe.startswith("stage2/")}
    assert per_task <= set(TASKS) | set(GROUPS)
    assert {f"ablations/{name}.yaml" for name in ABLATIONS} == {name for name in names if name.startswith("ablations/")}
    assert {path.name for path in ACCELERATE_CONFIGS} >= {"multi_gpu.yaml", "deepspeed_zero2.yaml", "deepspeed_zero3.yaml", "fsdp.yaml"}


# What datasets/quickstart.py builds: the registry's `alignment` (graph only) and `gap` (every variant).
QUICKSTART_CONFIGS = {"alignment_g", "gap_g", "gap_gs", "gap_s"}


def builder_configs(dataset_path: str) -> set[str]:
    """The configs the builder of a recipe's dataset folder writes (`data/<builder>`), read from the registry."""
    if dataset_path.endswith("quickstart/data"):
        return QUICKSTART_CONFIGS
    builder = f"datasets/{Path(dataset_path).name}.py"
    tasks = [task for task in TASKS.values() if task.builder == builder]
    assert tasks, f"no registry task is built by {builder}"
    pooled = [group for group in GROUPS.values() if group.pooled and TASKS[group.members[0]].builder == builder]
    return ({task.config(variant) for task in tasks for variant in task.variants}
            | {f"{group.name}_{variant}" for group in pooled for variant in TASKS[group.members[0]].variants})


def recipe_datasets(path: Path) -> list[tuple[str, str]]:
    """(dataset folder, config) of every dataset a recipe trains on."""
    script_args, _, _, mixture = parse_recipe(path)
    if script_args.dataset_name:
        return [(script_args.dataset_name, script_args.dataset_config)]
    return [(entry.path, entry.name) for entry in mixture.datasets]


def config_tasks(config: str) -> set[str]:
    """The registry tasks a config holds: `<task>_<variant>` or a group's `<group>_<variant>`."""
    prefix, variant = config.rsplit("_", 1)
    names = {prefix} if prefix in TASKS else set(GROUPS[prefix].members) if GROUPS[prefix].pooled else set()
    assert names, f"{config} names no registry task nor pooled group"
    assert all(variant in TASKS[name].variants for name in names), config
    return names


@pytest.mark.parametrize("path", TRAINING_RECIPES, ids=lambda p: p.relative_to(REPO_ROOT / "recipes").as_posix())
def test_recipe_names_only_registry_tasks_and_existing_configs(path):
    for folder, config in recipe_datasets(path):
        assert config_tasks(config) <= set(TASKS), (path, config)
        assert config in builder_configs(folder), (path, folder, config)


@pytest.mark.parametrize("task", list(TASKS))
def test_each_tasks_recipe_trains_it_for_the_papers_epochs(task):
    path = REPO_ROOT / "recipes" / TASKS[task].recipe
    trained = {name for _, config in recipe_datasets(path) for name in config_tasks(config)}
    assert task in trained
    assert parse_recipe(path)[1].num_train_epochs == TASKS[task].epochs


@pytest.mark.parametrize("path", TRAINING_RECIPES, ids=lambda p: p.relative_to(REPO_ROOT / "recipes").as_posix())
def test_recipe_parses_with_trls_own_parser(path):
    script_args, training_args, model_args, mixture_args = parse_recipe(path)
    assert training_args.trust_remote_code or path in TEXT_ONLY_RECIPES  # a plain LLM needs no remote code
    assert training_args.max_length is None  # truncation could cut a molecule's <mol> tokens, or an answer
    assert training_args.completion_only_loss
    assert bool(script_args.dataset_name) != bool(mixture_args.datasets)


@pytest.mark.parametrize("path", INSTRUCTMOL_RECIPES, ids=lambda p: p.relative_to(REPO_ROOT / "recipes").as_posix())
def test_recipe_matches_the_papers_stage(path):
    _, training_args, model_args, _ = parse_recipe(path)
    freezing = training_args.model_init_kwargs
    assert freezing["freeze_graph_encoder"] is True
    if path.relative_to(REPO_ROOT / "recipes").as_posix() in PROJECTOR_ONLY_RECIPES:
        assert freezing["freeze_llm"] is True and not model_args.use_peft
    else:
        assert model_args.use_peft and model_args.lora_modules_to_save == ["projector"]
        # The LLM's projections only: never all-linear, which would reach the GIN.
        assert set(model_args.lora_target_modules) <= set(LORA_TARGETS)
    if "quickstart" not in path.parts:
        assert training_args.bf16 and training_args.activation_checkpointing
        assert training_args.lr_scheduler_type == "cosine" and training_args.warmup_steps == 0.03
        assert training_args.weight_decay == 0.0
        if path.name in ("stage1.yaml", "mlp_projector_stage1.yaml", "vicuna13b_stage1.yaml"):
            assert training_args.learning_rate == 2e-3 and training_args.num_train_epochs == 5
            assert training_args.per_device_train_batch_size * 8 == 128  # global batch 128 on 8 GPUs
        elif model_args.use_peft:
            assert (model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout) == (64, 16, 0.05)
            assert model_args.lora_target_modules == LORA_TARGETS and training_args.learning_rate == 8e-5


def test_stage2_mixtures_are_the_released_mixture_in_their_variant():
    # The released "all" mixture: ChEBI-20, QM9, forward, retrosynthesis, reagent; MoleculeNet trains on its own.
    for name, variant in (("stage2.yaml", "g"), ("stage2_gs.yaml", "gs")):
        _, _, _, mixture = parse_recipe(REPO_ROOT / "recipes" / name)
        configs = {entry.name for entry in mixture.datasets}
        assert configs == {f"{task}_{variant}" for task in ("description", "qm9", "forward", "retrosynthesis", "reagent")}
        assert all(entry.split == "train" for entry in mixture.datasets)


def test_moleculenet_recipe_pools_its_three_tasks_as_released():
    _, _, _, mixture = parse_recipe(REPO_ROOT / "recipes" / "stage2" / "moleculenet.yaml")
    assert [entry.name for entry in mixture.datasets] == ["bace_g", "bbbp_g", "hiv_g"]


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs_are_complete(path):
    config = yaml.safe_load(path.read_text())
    assert config["num_processes"] == (2 if path.name == "cpu_2proc.yaml" else 8)
    assert config["distributed_type"] in {"MULTI_GPU", "DEEPSPEED", "FSDP", "MULTI_CPU"}
    if config["distributed_type"] == "DEEPSPEED":
        assert config["deepspeed_config"]["zero_stage"] in (2, 3)


@pytest.mark.parametrize("path", BASELINE_RECIPES, ids=lambda p: p.name)
def test_baseline_recipe_is_its_stage2_recipe_on_the_plain_llm_and_the_string_only_configs(path):
    _, training_args, model_args, mixture = parse_recipe(path)
    _, stage2_args, stage2_model, _ = parse_recipe(REPO_ROOT / "recipes" / "stage2" / path.name)
    assert model_args.model_name_or_path == "lmsys/vicuna-7b-v1.3" and not training_args.model_init_kwargs.get("freeze_llm")
    assert [entry.name for entry in mixture.datasets] == [
        config.removesuffix("_g") + "_s" for _, config in recipe_datasets(REPO_ROOT / "recipes" / "stage2" / path.name)]
    assert all(entry.columns == ["prompt", "completion"] for entry in mixture.datasets)
    assert (model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout) == (64, 16, 0.05)
    assert model_args.lora_target_modules == LORA_TARGETS and model_args.lora_modules_to_save is None
    for setting in ("num_train_epochs", "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "bf16",
                    "per_device_train_batch_size", "completion_only_loss"):
        assert getattr(training_args, setting) == getattr(stage2_args, setting), setting
    # The baseline chats in the conversation InstructMol uses: the file holds the processor's template itself.
    assert (REPO_ROOT / training_args.chat_template_path).read_text() == VICUNA_CHAT_TEMPLATE


def test_every_stage2_recipe_has_its_baseline():
    assert {path.name for path in BASELINE_RECIPES} == {path.name for path in (REPO_ROOT / "recipes" / "stage2").glob("*.yaml")}


# Table 10's ablations: each recipe and the main recipe it changes, and what it may change (besides output_dir).
ABLATIONS = {
    "mlp_projector_stage1": ("stage1.yaml", {"model_name_or_path"}),
    "vicuna13b_stage1": ("stage1.yaml", {"model_name_or_path"}),
    "mlp_projector_stage2": ("stage2/description.yaml", {"model_name_or_path"}),
    "vicuna13b_stage2": ("stage2/description.yaml", {"model_name_or_path"}),
    "without_stage1": ("stage2/description.yaml", {"model_name_or_path"}),
    "frozen_llm_stage2": ("stage2/description.yaml", {"model_init_kwargs", "use_peft", "lora_r", "lora_alpha",
                                                      "lora_dropout", "lora_target_modules", "lora_modules_to_save"}),
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_each_ablation_changes_only_what_its_header_says(name):
    main_recipe, allowed = ABLATIONS[name]
    ablation = yaml.safe_load((REPO_ROOT / "recipes" / "ablations" / f"{name}.yaml").read_text())
    main = yaml.safe_load((REPO_ROOT / "recipes" / main_recipe).read_text())
    changed = {key for key in ablation.keys() | main.keys() if ablation.get(key) != main.get(key)}
    assert changed == allowed | {"output_dir"}
    if name == "frozen_llm_stage2":
        assert ablation["model_init_kwargs"] == {**main["model_init_kwargs"], "freeze_llm": True}
    if name.endswith("stage2") or name == "without_stage1":  # Table 10 measures every ablation on ChEBI-20
        assert ablation["dataset_config"] == "description_g"


def test_the_quickstart_text_only_recipe_differs_from_stage2_only_in_model_and_input():
    graph, text = (yaml.safe_load((REPO_ROOT / "recipes" / "quickstart" / name).read_text())
                   for name in ("stage2.yaml", "stage2_s.yaml"))
    changed = {"model_name_or_path", "model_init_kwargs", "dataset_config", "trust_remote_code", "lora_modules_to_save"}
    assert {key: value for key, value in graph.items() if key not in changed} == \
        {key: value for key, value in text.items() if key not in changed}
    assert text["dataset_config"] == "gap_s" and text["model_init_kwargs"] == {"dtype": "float32"}
    assert "trust_remote_code" not in text and "lora_modules_to_save" not in text
