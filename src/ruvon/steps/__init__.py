"""One module per step type; each turns a step definition into a StepOutcome."""
