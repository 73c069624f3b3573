"""The Textual front end of seal-desk. Only this package imports textual; the core never does."""
