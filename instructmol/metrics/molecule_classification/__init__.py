"""The `molecule_classification` evaluate module; a package so that installing instructmol installs its script."""
