"""The plugin's modality families: every modality has one, each implements the same functions, and
the GUI and the Processing algorithms never branch on modality names (they call the family)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAMILY_FUNCTIONS = ("fit_problem", "question", "prepare", "add_layers", "training_problem", "training_config")


def test_every_modality_has_one_family_that_implements_every_function():
    from allspark_qgis import families, modality
    from allspark_qgis.families.base import Family

    assert set(families.modalities()) == set(modality.MODALITIES)
    for m in modality.MODALITIES:
        fam = families.of(m)
        assert fam is not None and m in fam.modalities
        for fn in FAMILY_FUNCTIONS:
            assert getattr(type(fam), fn) is not getattr(Family, fn), f"{fam.name} does not implement {fn}"
    assert families.of(None) is None and families.of("smell") is None


def _modality_names():
    from allspark_qgis import modality

    return set(modality.MODALITIES)


def _branches_on_modality(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines of `if` / `elif` / conditional expressions whose test compares with a modality name or
    looks a name up in a list of some modalities (RASTER_MODALITIES, ...; an algorithm's own
    `self.MODALITIES`, the bundles it offers, is a declaration, not a branch)."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.If, ast.IfExp)):
            continue
        for sub in ast.walk(node.test):
            if isinstance(sub, ast.Constant) and sub.value in names:
                found.add(node.lineno)
            name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else ""
            if name.endswith("_MODALITIES"):
                found.add(node.lineno)
    return sorted(found)


@pytest.mark.parametrize("folder", ["gui", "processing"])
def test_gui_and_processing_do_not_branch_on_modalities(folder):
    names = _modality_names()
    bad = {}
    for path in sorted((ROOT / "allspark_qgis" / folder).glob("*.py")):
        lines = _branches_on_modality(ast.parse(path.read_text(encoding="utf-8")), names)
        if lines:
            bad[path.name] = lines
    assert not bad, f"if/elif over modality names (call allspark_qgis.families instead): {bad}"


def test_the_check_finds_a_branch_on_a_modality_name():
    """The AST check above is not vacuous: it flags the chains the families replaced."""
    names = _modality_names()
    src = "if m == 'trajectory':\n    pass\nelif m in modality.RASTER_MODALITIES:\n    pass\nx = 1 if m == 'hsi' else 2\n"
    assert _branches_on_modality(ast.parse(src), names) == [1, 3, 5]
