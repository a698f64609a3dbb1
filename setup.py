from setuptools import find_packages, setup

setup(
    name="instructmol-hf",
    version="0.1.0",
    description="InstructMol (COLING 2025) as a Hugging Face-native molecular assistant: model, processor, "
    "datasets, TRL recipes, evaluation.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # The three Hub remote-code files are top-level modules, exactly as a checkpoint carries them.
    # `datasets/` (builder scripts) is never installed: it would shadow the `datasets` library.
    py_modules=["configuration_instructmol", "featurization_instructmol", "modeling_instructmol",
                "processing_instructmol"],
    packages=find_packages(include=["instructmol", "instructmol.*"]),
    # `model_card.md` and `quickstart_recipes/` are links to the repository's own, shipped as files.
    package_data={"instructmol": ["model_card.md", "metrics/*/*.py", "quickstart_recipes/*.yaml"]},
    install_requires=[
        "torch>=2.4",
        "transformers>=5.23,<6",
        "torch-geometric>=2.6",
        "rdkit>=2024.3.1",
        "numpy>=1.26",
        "datasets>=4.7",
        "peft>=0.19",
        "trl>=1.16",
        "accelerate>=1.10.1",
        "huggingface-hub>=1.31",
        "evaluate>=0.4.5",
        "safetensors>=0.8",
        "jinja2>=3.1.6",
        "selfies>=2.1",
        "pandas>=2.1.1",
        "pyarrow>=21",
        "tqdm>=4.66.3",
        "nltk>=3.9.1",
        "rouge-score>=0.1.2",
        "Levenshtein>=0.25",
        "scikit-learn>=1.5",
        "matplotlib>=3.8",
    ],
    extras_require={
        "quickstart": ["gguf>=0.17", "qm9pack>=1.0.1"],
        "demo": ["gradio>=6.0.1"],
        # DeepSpeed ZeRO-2/3 (recipes/accelerate/deepspeed_zero*.yaml); its ops compile at first use (DS_BUILD_OPS=0).
        "deepspeed": ["deepspeed>=0.19.8"],
        "test": ["pytest>=8", "ogb>=1.3.6", "gguf>=0.17", "qm9pack>=1.0.1", "gradio>=6.0.1", "gradio_client>=2.0",
                 "selenium>=4.20", "deepspeed>=0.19.8", "uv>=0.13"],
    },
    entry_points={"console_scripts": ["instructmol=instructmol.cli:main"]},
)
