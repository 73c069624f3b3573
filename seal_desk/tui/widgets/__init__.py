"""Small reusable widgets: the path input with completion, the loss plot."""
