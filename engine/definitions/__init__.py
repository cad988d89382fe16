"""Workflow and form definitions: reading, checking, compiling."""

from engine.definitions.catalogue import Catalogue, FileReport, check_files, load_catalogue
from engine.definitions.compiled import CompiledAction, CompiledDeadline, CompiledWorkflow
from engine.definitions.forms import CompiledForm, FormSpec

__all__ = [
    "Catalogue",
    "CompiledAction",
    "CompiledDeadline",
    "CompiledForm",
    "CompiledWorkflow",
    "FileReport",
    "FormSpec",
    "check_files",
    "load_catalogue",
]
