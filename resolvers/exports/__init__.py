"""Exports: jobs, the runner, the rows they may read, the ZIP, the readable copy, signed links."""
