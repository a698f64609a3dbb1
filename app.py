"""InstructMol's web demo as a Hugging Face Space (Gradio SDK): the same app as `instructmol demo`.

The model is the Space's `INSTRUCTMOL_MODEL` variable (an InstructMol Hub repo, e.g. `you/instructmol-g`), else
`instructmol-quickstart/merged`, the folder `instructmol quickstart` writes. Run locally with `python app.py`.
"""

import os

from instructmol.defaults import DEMO_MODEL, MODEL_ENVIRONMENT_VARIABLE
from instructmol.demo import build_app

demo = build_app(os.environ.get(MODEL_ENVIRONMENT_VARIABLE, DEMO_MODEL))

if __name__ == "__main__":
    demo.launch()
