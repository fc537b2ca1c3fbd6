"""Structure colouring lands on the right residues (lysozyme 1REX numbers from the mature chain:
PDB n = UniProt n - 18), in the viewer HTML and in the PyMOL / ChimeraX scripts."""

from __future__ import annotations

import numpy as np
import pytest

from interplm_core import structure_view as sv
from interplm_core.mapping import map_to_structure, write_values_as_bfactor
from interplm_core.structures import parse_structure


@pytest.fixture(scope="module")
def lysozyme(fixtures_dir):
    af = parse_structure((fixtures_dir / "alphafold/AF-P61626-F1-model_v4.pdb").read_bytes(), "pdb")
    sequence = af.chain_sequence("A")
    rex = (fixtures_dir / "pdb/1REX.pdb").read_text()
    mapping = map_to_structure(sequence, parse_structure(rex, "pdb"))
    return sequence, rex, mapping


def _tracks(length):
    a = np.zeros(length)
    a[52] = 1.0  # UniProt E53 = PDB GLU 35 (catalytic)
    a[70] = 0.4  # UniProt D71 = PDB ASP 53
    a[5] = 0.9  # inside the signal peptide: no residue in 1REX
    b = np.zeros(length)
    b[52] = 0.5  # weaker than feature 1 at E53
    b[100] = 0.8  # UniProt 101 = PDB 83
    return [sv.FeatureTrack(11, a, "#d62728"), sv.FeatureTrack(22, b, "#1f77b4")]


def test_colours_follow_the_mapping_and_the_strongest_feature(lysozyme):
    sequence, _, mapping = lysozyme
    colours = sv.residue_colours(mapping, _tracks(len(sequence)))
    assert colours[("A", 35, "")] == "#d62728"  # full activation: the feature's own colour
    assert colours[("A", 83, "")] == sv.blend("#1f77b4", 7 / 8)  # 0.8 -> level 7 of 8
    assert colours[("A", 53, "")] == sv.blend("#d62728", 4 / 8)
    assert len(colours) == 3  # position 6 has no residue in 1REX, zeros are not coloured


def test_blend_ends():
    assert sv.blend("#ff0000", 0.0) == sv.NEUTRAL
    assert sv.blend("#ff0000", 1.0) == "#ff0000"


def _scene_data(html: str) -> dict:
    """The scene literal of an exported page, read back as JSON (escapes are JSON escapes)."""
    import json

    start = html.index("var scene = ") + len("var scene = ")
    return json.JSONDecoder().raw_decode(html, start)[0]


def test_viewer_html_uses_the_given_3dmol_and_labels_residues(lysozyme):
    sequence, rex, mapping = lysozyme
    html = sv.viewer_html(rex, "pdb", mapping, _tracks(len(sequence)), threshold=0.5,
                          js_url="/app/static/vendor/3Dmol-min.js")
    assert '<script src="/app/static/vendor/3Dmol-min.js"></script>' in html
    assert "cdn.jsdelivr.net/npm" not in html  # no script from the CDN
    scene = _scene_data(html)
    assert scene["model"] == rex
    assert ["setStyle", {"chain": "A", "resi": [35]}, {"cartoon": {"color": "#d62728"}}] in scene["ops"]
    assert scene["hover"]["A:35"] == "GLU A35 (seq. pos. 53) | f11: 1.000 | f22: 0.500"
    sticks = [op for op in scene["ops"] if op[0] == "addStyle"]
    assert sticks and 35 in sticks[0][1]["resi"] and 83 in sticks[0][1]["resi"]  # sticks above 0.5
    assert "could not load 3Dmol.js" in html


def test_viewer_html_plddt_mode(lysozyme):
    sequence, rex, mapping = lysozyme
    plddt = [95.0] * len(sequence)
    plddt[60] = 40.0
    html = sv.viewer_html(rex, "pdb", mapping, [], colour_mode="plddt", plddt=plddt, style="surface")
    assert '"color": "#FF7D45"' in html and '"resi": [43]' in html  # UniProt 61 = PDB 43
    assert "addSurface" in html
    with pytest.raises(ValueError):
        sv.viewer_html(rex, "pdb", mapping, [], style="ribbon")


def test_pymol_and_chimerax_scripts_reproduce_the_colouring(lysozyme):
    sequence, _, mapping = lysozyme
    tracks = _tracks(len(sequence))
    pml = sv.pymol_script("lyso.pdb", mapping, tracks, threshold=0.5)
    assert "load lyso.pdb, protein" in pml
    assert "color 0xd62728, protein and chain A and resi 35" in pml
    assert "show sticks, protein and chain A and resi 35+83 and not name N+C+O" in pml
    cxc = sv.chimerax_script("lyso.pdb", mapping, tracks, threshold=0.5)
    assert "open lyso.pdb" in cxc and "color #1/A:35 #d62728" in cxc
    assert "show #1/A:35,83 & sidechain atoms" in cxc


def test_bfactor_export_matches_the_script_residues(lysozyme):
    sequence, rex, mapping = lysozyme
    values = _tracks(len(sequence))[0].values
    text = write_values_as_bfactor(rex, "pdb", mapping, values)
    ca = [row for row in text.splitlines() if row.startswith("ATOM") and row[12:16].strip() == "CA"]
    by_number = {int(row[22:26]): float(row[60:66]) for row in ca}
    assert by_number[35] == pytest.approx(1.0) and by_number[53] == pytest.approx(0.4)
    assert by_number[1] == 0.0


def test_ranges_compact_runs():
    assert sv._ranges([5, 1, 2, 3, 9, 10]) == [(1, 3), (5, 5), (9, 10)]


def test_viewer_html_renders_twice_and_adapts_to_software_webgl(fixtures_dir):
    """Each 3Dmol render is a full frame: no zoom of the empty scene, no separate background call;
    antialiasing is switched off only where the browser draws WebGL on the CPU."""
    from interplm_core import mapping, structures
    from interplm_core.structure_view import SOFTWARE_GL_PROBE, viewer_html

    text = (fixtures_dir / "pdb" / "1UBQ.pdb").read_text()
    structure = structures.parse_structure(text, "1UBQ.pdb")
    mapped = mapping.map_to_structure(structure.chain_sequence("A"), structure, "A")
    html = viewer_html(text, "pdb", mapped, (), background="#0f1419")
    script = html[html.index("var scene = "):]
    assert script.count(".zoomTo(") == 1 and ".setBackgroundColor(" not in script
    assert script.count(".render()") == 1
    assert SOFTWARE_GL_PROBE in html
    assert "Object.assign({backgroundColor: scene.background}, window.interplmSoftwareGL ? {antialias: false} : {})" \
        in html
    assert _scene_data(html)["background"] == "#0f1419"


def _ubq_with_insertion_code(fixtures_dir) -> str:
    """1UBQ with residue 20 renumbered as 19A (PDB columns 23-26 number, 27 insertion code)."""
    rows = []
    for row in (fixtures_dir / "pdb" / "1UBQ.pdb").read_text().splitlines():
        if row.startswith(("ATOM", "HETATM", "ANISOU", "TER")) and len(row) > 26 and row[22:26].strip() == "20":
            row = row[:22] + "  19" + "A" + row[27:]
        rows.append(row)
    return "\n".join(rows) + "\n"


def test_scene_colours_a_residue_with_an_insertion_code_on_its_own(fixtures_dir):
    text = _ubq_with_insertion_code(fixtures_dir)
    structure = parse_structure(text, "pdb")
    sequence = structure.chain_sequence("A")
    mapping = map_to_structure(sequence, structure, "A")
    assert (mapping.positions[19].residue.number, mapping.positions[19].residue.insertion_code) == (19, "A")
    values = np.zeros(len(sequence))
    values[19] = 1.0  # 19A fires, 19 does not
    values[4] = 1.0  # residue 5
    tracks = [sv.FeatureTrack(3, values, "#d62728")]
    scene = sv.build_scene(text, "pdb", mapping, tracks, threshold=0.5)
    styles = [(args[0], next(iter(args[1].values()))["color"]) for method, *args in scene.ops
              if method == "setStyle" and "resi" in args[0]]
    assert ({"chain": "A", "resi": [5]}, "#d62728") in styles
    assert ({"chain": "A", "resi": [19], "icode": "A"}, "#d62728") in styles
    # plain 19 is never coloured, and nothing plain-numbered 19 comes after the 19A call
    assert all(sel != {"chain": "A", "resi": [19]} for sel, _ in styles)
    sticks = [args[0] for method, *args in scene.ops if method == "addStyle"]
    assert {"chain": "A", "resi": [19], "icode": "A", "not": {"atom": ["N", "C", "O"]}} in sticks
    assert "A:19A" in scene.hover and scene.hover["A:19A"].startswith("SER A19A (seq. pos. 20)")
    assert "resi 5+19A" in sv.pymol_script("u.pdb", mapping, tracks)
    assert "color #1/A:5,19A #d62728" in sv.chimerax_script("u.pdb", mapping, tracks)


def test_quiet_insertion_code_residue_is_reset_after_its_plain_number(fixtures_dir):
    """3Dmol's `resi: [19]` also matches 19A: when only 19 fires, 19A is set back to neutral."""
    text = _ubq_with_insertion_code(fixtures_dir)
    structure = parse_structure(text, "pdb")
    mapping = map_to_structure(structure.chain_sequence("A"), structure, "A")
    values = np.zeros(76)
    values[18] = 1.0  # residue 19 (plain)
    ops = sv.build_scene(text, "pdb", mapping, [sv.FeatureTrack(3, values, "#d62728")]).ops
    calls = [(args[0], next(iter(args[1].values()))["color"]) for method, *args in ops
             if method == "setStyle" and "resi" in args[0]]
    assert calls.index(({"chain": "A", "resi": [19]}, "#d62728")) < calls.index(
        ({"chain": "A", "resi": [19], "icode": "A"}, sv.NEUTRAL))


def test_scene_resets_styles_hides_water_and_shows_ligands(lysozyme):
    sequence, rex, mapping = lysozyme
    scene = sv.build_scene(rex, "pdb", mapping, _tracks(len(sequence)), style="surface", background="#0f1419")
    assert scene.ops[0] == ("setStyle", {}, {})  # replayed on a live viewer: start from nothing
    assert scene.ops[1] == ("setStyle", {"hetflag": True, "not": {"resn": ["HOH", "WAT", "DOD"]}},
                            {"stick": {"radius": 0.15}})
    surfaces = [op for op in scene.ops if op[0] == "addSurface"]
    assert surfaces and all(op[1] == "VDW" for op in surfaces)
    data = scene.to_data()
    assert data["background"] == "#0f1419" and data["model"] == rex and len(data["model_key"]) == 16
    assert sv.build_scene(rex, "pdb", mapping, []).model_key == scene.model_key  # same model, same key


def test_colour_scale_is_one_for_normalised_features_else_the_largest_value():
    values = [np.array([0.0, 2.5]), np.array([4.0, 1.0])]
    assert sv.colour_scale(values, normalized=True) == 1.0
    assert sv.colour_scale(values, normalized=False) == 4.0
    assert sv.colour_scale([np.zeros(3)], normalized=False) == 1e-6  # a silent feature: no division by zero


def test_structure_view_does_not_import_plotly():
    """The 3D side learns its colours from the palette, not through the Plotly figures."""
    import subprocess
    import sys

    code = ("import sys, interplm_core.structure_view; "
            "print(any(m == 'plotly' or m.startswith('plotly.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _stick_residues(scene) -> set[int]:
    out: set[int] = set()
    for _method, selection, style in (op[:3] for op in scene.ops if op[0] == "addStyle"):
        if "stick" in style and "chain" in selection:
            out |= set(selection["resi"])
    return out


def test_sticks_are_limited_to_the_strongest_residues(lysozyme):
    sequence, rex, mapping = lysozyme
    rng = np.random.default_rng(3)
    tracks = [sv.FeatureTrack(f, rng.uniform(0.6, 1.0, len(sequence)), c)
              for f, c in zip((1, 2, 3), sv.FEATURE_COLOURS)]  # three features above 0.5 everywhere
    scene = sv.build_scene(rex, "pdb", mapping, tracks, threshold=0.5)
    sticks = _stick_residues(scene)
    assert len(sticks) == sv.MAX_STICK_RESIDUES
    # independent: the 12 mapped residues with the highest value over the three features
    best = np.max([t.values for t in tracks], axis=0)
    mapped = [(best[m.position - 1], m.residue.number) for m in mapping.positions if m.residue is not None]
    expected = {n for _, n in sorted(mapped, reverse=True)[:sv.MAX_STICK_RESIDUES]}
    assert sticks == expected
    script = sv.pymol_script("1REX.pdb", mapping, tracks, threshold=0.5)
    shown = [line for line in script.splitlines() if line.startswith("show sticks")]
    assert len(shown) == 1 and shown[0].count("+") <= sv.MAX_STICK_RESIDUES


def test_camera_frames_confident_residues_only(fixtures_dir):
    from interplm_core.mapping import map_to_structure
    from interplm_core.structures import parse_structure

    text = (fixtures_dir / "alphafold/AF-P61626-F1-model_v4.pdb").read_text()
    parsed = parse_structure(text, "pdb")
    sequence = parsed.chain_sequence("A")
    mapping = map_to_structure(sequence, parsed)
    plddt = np.full(len(sequence), 95.0)
    plddt[:20] = 40.0  # a disordered N-terminal tail
    plddt[-5:] = 69.9
    scene = sv.build_scene(text, "pdb", mapping, [], plddt=list(plddt), colour_mode="plddt")
    assert scene.zoom == {"chain": "A", "resi": list(range(21, len(sequence) - 4))}
    assert sv.build_scene(text, "pdb", mapping, []).zoom == {"chain": "A"}  # no pLDDT: the whole chain


def test_markers_put_labelled_spheres_on_the_mapped_residues(lysozyme):
    _, rex, mapping = lysozyme
    scene = sv.build_scene(rex, "pdb", mapping, [], markers=[(53, "E53Q", "#ff7f0e"), (5, "signal", "#ff7f0e")])
    spheres = [op for op in scene.ops if op[0] == "addStyle" and "sphere" in op[2]]
    labels = [op for op in scene.ops if op[0] == "addLabel"]
    assert spheres == [("addStyle", {"chain": "A", "resi": 35, "atom": "CA"}, {"sphere": {"color": "#ff7f0e",
                                                                                        "radius": 1.3}})]
    assert [(op[1], op[3]) for op in labels] == [("E53Q", {"chain": "A", "resi": 35, "atom": "CA"})]


def test_legend_describes_the_colours(lysozyme):
    sequence, _, _ = lysozyme
    tracks = _tracks(len(sequence))
    legend = sv.scene_legend(tracks, "features", 1.0, True)
    assert [(r["label"], r["from"], r["to"]) for r in legend["ramps"]] == [
        ("f11", sv.NEUTRAL, "#d62728"), ("f22", sv.NEUTRAL, "#1f77b4")]
    assert (legend["low"], legend["high"]) == ("0", "1")
    bands = sv.scene_legend(tracks, "plddt", 1.0, True)["bands"]
    assert [b["colour"] for b in bands] == [c for _, c, _ in sv.PLDDT_BANDS]
