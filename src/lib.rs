//! Owner of the workspace-level tests and examples; no code of its own.
