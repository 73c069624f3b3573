"""The command line face: parsing, rich progress and the rendering of results."""
