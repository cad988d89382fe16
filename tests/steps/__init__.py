"""The step library for analysts' Gherkin features: generic steps over the real HTTP API, grouped by domain.

Every step has a one-line docstring giving an example; `posc steps` prints the catalogue from them.
"""
