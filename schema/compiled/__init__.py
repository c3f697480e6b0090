"""The compiled read path: validated documents cached per (document hash, schema version), and plans for plain
contact reads that answer without Strawberry's executor (`schema.compiled.run`); the plain executor stays the
reference and the fallback for everything else."""
