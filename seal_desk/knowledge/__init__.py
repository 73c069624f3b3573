"""Teaching a model one document: passages, self-edits, the inner loop, recall and grading."""
