"""Model cards for saved InstructMol folders, rendered from the `model_card.md` template."""

from importlib import resources
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

# LLaMA-derived LLMs (Vicuna is fine-tuned LLaMA) carry a non-commercial licence that a derived model inherits.
_NON_COMMERCIAL_LLM_MARKERS = ("vicuna", "llama-7b", "llama-13b", "lmsys/")
NON_COMMERCIAL_NOTE = (
    "The language model is derived from LLaMA (Vicuna); its non-commercial licence terms (the LLaMA model "
    "licence and Vicuna's terms of use) apply to this model. Use it for research only."
)
DEFAULT_TRAINING_DESCRIPTION = (
    "Built with `instructmol init`: the language model's weights, the `<mol>` token added, and a projector "
    "scaled so that atom vectors have the spread of the token embeddings. Not trained yet: run stage 1 "
    "(`trl sft --config recipes/stage1.yaml`) and stage 2 (`trl sft --config recipes/stage2.yaml`)."
)


def card_template() -> str:
    """The `model_card.md` template shipped with the package."""
    return resources.files("instructmol").joinpath("model_card.md").read_text(encoding="utf-8")


def licence_for(base_model: str | None) -> tuple[str, str | None, str | None]:
    """(licence id, licence name for `other`, note for the card) for a base LLM id."""
    if base_model and any(marker in base_model.lower() for marker in _NON_COMMERCIAL_LLM_MARKERS):
        return "other", "llama-license-vicuna-terms", NON_COMMERCIAL_NOTE
    return "apache-2.0", None, None


def write_model_card(
    output_dir: str | Path,
    config,
    base_model: str | None = None,
    graph_encoder: str | None = None,
    datasets: list[str] | None = None,
    repo_id: str | None = None,
    training_description: str = DEFAULT_TRAINING_DESCRIPTION,
    evaluation_table: str = "Not evaluated yet: `instructmol evaluate ... --update-card` fills this section.",
) -> Path:
    """Renders `README.md` (the model card, with YAML metadata) into a saved model folder."""
    output_dir = Path(output_dir)
    license_id, license_name, license_note = licence_for(base_model)
    card_data = ModelCardData(
        license=license_id,
        license_name=license_name,
        base_model=base_model if base_model and not Path(base_model).exists() else None,
        datasets=datasets,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        tags=["instructmol", "chemistry", "molecules", "graph-neural-network", "custom_code"],
    )
    card = ModelCard.from_template(
        card_data,
        template_str=card_template(),
        model_name=repo_id.split("/")[-1] if repo_id else "InstructMol",
        repo_id=repo_id or str(output_dir),
        base_model=base_model,
        graph_encoder_description=graph_encoder or "randomly initialised",
        projector_type=config.projector_type,
        graph_num_layers=config.graph_num_layers,
        graph_hidden_size=config.graph_hidden_size,
        license_note=license_note,
        training_description=training_description,
        evaluation_table=evaluation_table,
    )
    card.save(output_dir / "README.md")
    return output_dir / "README.md"
