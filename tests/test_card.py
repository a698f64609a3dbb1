"""The model card written into every saved folder: metadata the Hub reads, licence terms of the base LLM."""

from huggingface_hub import ModelCard

from configuration_instructmol import InstructMolConfig
from instructmol.card import NON_COMMERCIAL_NOTE, write_model_card


def test_vicuna_base_carries_the_non_commercial_terms(tmp_path):
    write_model_card(tmp_path, InstructMolConfig(), base_model="lmsys/vicuna-7b-v1.3", graph_encoder="MoleculeSTM",
                     datasets=["you/instructmol-pubchem"], repo_id="you/instructmol-g")
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.license == "other" and card.data.license_name
    assert card.data.base_model == "lmsys/vicuna-7b-v1.3" and card.data.datasets == ["you/instructmol-pubchem"]
    assert card.data.pipeline_tag == "image-text-to-text" and card.data.library_name == "transformers"
    assert "instructmol" in card.data.tags
    assert NON_COMMERCIAL_NOTE in card.text
    assert 'AutoModel.from_pretrained("you/instructmol-g", trust_remote_code=True)' in card.text
    for section in ("## How it was built", "## Evaluation", "## Limitations", "## Citation"):
        assert section in card.text


def test_apache_base_and_local_paths(tmp_path):
    write_model_card(tmp_path, InstructMolConfig(projector_type="mlp2x_gelu"), base_model="HuggingFaceTB/SmolLM2-135M-Instruct")
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.license == "apache-2.0" and NON_COMMERCIAL_NOTE not in card.text
    assert "mlp2x_gelu" in card.text
    write_model_card(tmp_path, InstructMolConfig(), base_model=str(tmp_path))  # a folder is not a Hub id
    assert ModelCard.load(tmp_path / "README.md").data.base_model is None
