"""Job types for demos, tests and benchmarks (diagnostics.sleep, diagnostics.secret), built on the
engine like any other app's."""
