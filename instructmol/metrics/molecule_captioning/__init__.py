"""The `molecule_captioning` evaluate module; a package so that installing instructmol installs its script."""
