"""The ways in from outside: the `posc` command line (and, later, the HTTP API and pages)."""
