"""Declarative form definitions (one YAML file per form) and the plan document templates."""
