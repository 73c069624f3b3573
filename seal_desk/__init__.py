"""seal-desk: teach a local language model your own documents, the SEAL way."""

__version__ = "0.1.0"
