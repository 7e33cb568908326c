"""Release-quality checks: sanity, lint, docs, changelog/version, build and install, execution environment."""
