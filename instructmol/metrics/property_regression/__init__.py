"""The `property_regression` evaluate module; a package so that installing instructmol installs its script."""
