"""The SQLite workspace: documents, runs, results, adapters, and its lock."""
