"""Reviewing labelers: what changed between two (`alchemist diff`), the evidence as one page
(`alchemist report`), the evidence computed at compile time for manifest.json, and the compile's
machine-readable summary (`alchemist compile --json`)."""
