"""InstructMol-HF: the toolkit behind the `instructmol` command.

The model itself lives in the four top-level remote-code modules (`configuration_instructmol`,
`modeling_instructmol`, `processing_instructmol`, `featurization_instructmol`), which a checkpoint on the Hub carries
with it.
"""

__version__ = "0.1.0"
