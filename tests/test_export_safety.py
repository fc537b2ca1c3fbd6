"""Exports stay inert when the structure file is hostile (issue 10 items 1, 2): a REMARK or an
mmCIF chain id holding `</script>` does not become a script in the 3D view page, and a chain
id or file name holding a command separator is refused before it reaches a PyMOL/ChimeraX
script. The attack files are built here from the bundled 1UBQ."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from interplm_core import structure_view as sv
from interplm_core.errors import InputError
from interplm_core.mapping import map_to_structure
from interplm_core.structures import load_atoms, parse_structure, write_atoms

PAYLOAD = "</script><script>alert(1)</script><!--"


class _Elements(HTMLParser):
    """Every element a browser would build, with the text of each script (HTMLParser ends a
    script at `</script` exactly as the HTML standard does)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.scripts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self.scripts.append({"attrs": dict(attrs), "text": ""})

    def handle_data(self, data):
        if self.lasttag == "script" and self.scripts:
            self.scripts[-1]["text"] += data


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def _scene(script_text: str) -> dict:
    start = script_text.index("var scene = ") + len("var scene = ")
    return json.JSONDecoder().raw_decode(script_text, start)[0]


def _ubq(fixtures_dir) -> str:
    return (fixtures_dir / "pdb" / "1UBQ.pdb").read_text()


def _with_chain(fixtures_dir, chain_id: str) -> str:
    """1UBQ as mmCIF with every atom in chain `chain_id`."""
    atoms, _, _ = load_atoms(_ubq(fixtures_dir), "pdb")
    atoms.chain_id = np.array([chain_id] * atoms.array_length(), dtype=object).astype(str)
    return write_atoms(atoms, "cif")


def _tracks(length: int) -> list[sv.FeatureTrack]:
    values = np.zeros(length)
    values[[4, 10, 40]] = [1.0, 0.6, 0.9]
    return [sv.FeatureTrack(7, values, "#d62728")]


def _assert_inert(html: str, model: str) -> dict:
    page = _parse(html)
    assert set(page.tags) <= {"html", "head", "meta", "title", "style", "body", "script", "div", "p"}
    # The GL probe, the 3Dmol.js library, the scene: nothing else is a script.
    assert len(page.scripts) == 3
    assert page.scripts[0]["text"].startswith("window.interplmSoftwareGL")
    assert page.scripts[1]["attrs"]["src"].startswith("data:text/javascript;base64,") and not page.scripts[1]["text"]
    assert page.scripts[2]["text"].startswith("(function () { var scene = ")
    scene = _scene(page.scripts[2]["text"])
    assert scene["model"] == model  # the hostile text is still there, as data
    return scene


def test_hostile_remark_exports_inert(fixtures_dir):
    text = _ubq(fixtures_dir).replace("REMARK   2", f"REMARK 999 {PAYLOAD}\nREMARK   2", 1)
    structure = parse_structure(text, "pdb")
    mapping = map_to_structure(structure.chain_sequence("A"), structure, "A")
    html = sv.viewer_html(text, "pdb", mapping, _tracks(76), threshold=0.5, title=f"1UBQ {PAYLOAD}")
    _assert_inert(html, text)
    assert "</script><script>" not in html.split("<script src=")[0]  # the title is escaped markup


def test_hostile_mmcif_chain_id_exports_inert(fixtures_dir):
    chain = "</script><script>alert(1)</script>"
    text = _with_chain(fixtures_dir, chain)
    structure = parse_structure(text, "cif")
    assert structure.chain_ids == [chain]
    mapping = map_to_structure(structure.chain_sequence(chain), structure, chain)
    scene = _assert_inert(sv.viewer_html(text, "cif", mapping, _tracks(76), threshold=0.5), text)
    assert any(op[1].get("chain") == chain for op in scene["ops"] if op[0] == "setStyle")
    assert f"{chain}:5" in scene["hover"]


@pytest.mark.parametrize("chain", ["A;system touch /tmp/x;", "A B", "A\nsystem", "A,B", "ABCDE"])
def test_hostile_chain_id_is_refused_in_viewer_scripts(fixtures_dir, chain):
    text = _with_chain(fixtures_dir, chain)
    structure = parse_structure(text, "cif")
    mapping = map_to_structure(structure.chain_sequence(structure.chain_ids[0]), structure, structure.chain_ids[0])
    assert mapping.chain_id == chain
    for script in (sv.pymol_script, sv.chimerax_script):
        with pytest.raises(InputError, match="Chain id .* cannot be written into a PyMOL or ChimeraX script"):
            script("ubq.cif", mapping, _tracks(76), threshold=0.5)


@pytest.mark.parametrize("name", ["x.pdb; system touch /tmp/x", "../x.pdb", "/abs/x.pdb", "-x.pdb", "a b.pdb",
                                  "x.pdb\nsystem id"])
def test_hostile_file_name_is_refused_in_viewer_scripts(fixtures_dir, name):
    structure = parse_structure(_ubq(fixtures_dir), "pdb")
    mapping = map_to_structure(structure.chain_sequence("A"), structure, "A")
    for script in (sv.pymol_script, sv.chimerax_script):
        with pytest.raises(InputError, match="File name .* cannot be written"):
            script(name, mapping, _tracks(76))


def test_ordinary_multi_letter_chain_is_accepted(fixtures_dir):
    structure = parse_structure(_with_chain(fixtures_dir, "AAA"), "cif")
    mapping = map_to_structure(structure.chain_sequence("AAA"), structure, "AAA")
    assert "color #1/AAA:5,41 #d62728" in sv.chimerax_script("ubq.cif", mapping, _tracks(76))
    assert "chain AAA and resi 5+41" in sv.pymol_script("ubq.cif", mapping, _tracks(76))
