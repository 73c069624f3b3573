"""Modal dialogs the panes open: confirm, export, file picker, question editor."""
