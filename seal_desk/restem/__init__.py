"""The outer loop (ReST-EM): learning to write self-edits that teach."""
