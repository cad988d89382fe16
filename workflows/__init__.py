"""Declarative workflow definitions (YAML); the engine loads every `*.yaml` file here."""
