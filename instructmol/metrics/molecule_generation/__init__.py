"""The `molecule_generation` evaluate module; a package so that installing instructmol installs its script."""
