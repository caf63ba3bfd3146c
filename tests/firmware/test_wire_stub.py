"""firmware/wire.pyi (the typed stub for CPython) names every public name of firmware.wire."""

import ast
from pathlib import Path

from firmware import wire

STUB = Path(__file__).resolve().parents[2] / "firmware" / "wire.pyi"


def test_stub_covers_the_public_names() -> None:
    tree = ast.parse(STUB.read_text())
    named: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            named.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            named.add(node.target.id)
    public = {n for n in vars(wire) if not n.startswith("_") and not isinstance(getattr(wire, n), type(wire))}
    public -= {"const", "struct", "binascii", "namedtuple", "FirmwareError"}
    assert public - named == set()
    assert named - public == set()
