"""A structure coloured by SAE feature activations: py3Dmol HTML for the app, and PyMOL /
ChimeraX scripts that reproduce the same colouring on the user's own machine.

Values arrive per *sequence position*; a `mapping.ResidueMapping` (sequence -> chain
alignment from the data layer) turns them into (chain, residue number) keys, so an
offset numbering (mature chains, PDB constructs) still lands on the right residues.

Colouring rule, shared by the viewer and the scripts: each residue takes the colour of
the selected feature that is strongest there, blended from a neutral grey towards that
feature's colour in proportion to activation / scale. Levels are quantised (so the
viewer needs a few dozen style calls, not one per residue).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .figures import FEATURE_COLOURS, PLDDT_BANDS

#: 3Dmol.js from the CDN, used only when no local copy is served (see scripts/install_3dmol.sh).
CDN_3DMOL_URL = "https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js"
NEUTRAL = "#d0d0d0"
LEVELS = 8
STYLES = ("cartoon", "stick", "surface")
COLOUR_MODES = ("features", "plddt")


@dataclass(frozen=True)
class FeatureTrack:
    """One selected feature: its id, a value per sequence position, and its colour."""

    feature: int
    values: np.ndarray  # [sequence length]
    colour: str


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def blend(colour: str, t: float, base: str = NEUTRAL) -> str:
    """`base` moved towards `colour` by t in [0, 1], as #rrggbb."""
    t = float(min(max(t, 0.0), 1.0))
    a, b = _hex_to_rgb(base), _hex_to_rgb(colour)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def residue_colours(
    mapping, tracks: Sequence[FeatureTrack], scale: float = 1.0
) -> dict[tuple[str, int, str], str]:
    """{(chain, residue number, insertion code): '#rrggbb'} for residues with any activation."""
    if not tracks:
        return {}
    stacked = np.stack([np.nan_to_num(np.asarray(t.values, dtype=float)) for t in tracks])  # [T, L]
    scale = scale if scale > 0 else 1.0
    out = {}
    for position in range(stacked.shape[1]):
        best = int(stacked[:, position].argmax())
        value = stacked[best, position]
        if value <= 0:
            continue
        residue = mapping.positions[position].residue
        if residue is None:
            continue
        level = max(1, int(np.ceil(min(value / scale, 1.0) * LEVELS)))
        out[(residue.chain_id, residue.number, residue.insertion_code)] = blend(tracks[best].colour, level / LEVELS)
    return out


def plddt_residue_colours(mapping, plddt: Sequence[float]) -> dict[tuple[str, int, str], str]:
    """AlphaFold pLDDT bands per mapped residue (plddt given per *sequence position*)."""
    out = {}
    for position, value in enumerate(plddt):
        residue = mapping.positions[position].residue
        if residue is None or value is None or not np.isfinite(value):
            continue
        colour = next(c for bound, c, _ in PLDDT_BANDS if value >= bound)
        out[(residue.chain_id, residue.number, residue.insertion_code)] = colour
    return out


def _group_by_colour(colours: dict) -> dict[tuple[str, str], list[int]]:
    groups: dict[tuple[str, str], list[int]] = {}
    for (chain, number, _icode), colour in colours.items():
        groups.setdefault((colour, chain), []).append(int(number))
    return groups


def _hover_table(mapping, tracks: Sequence[FeatureTrack], plddt) -> dict[str, str]:
    """'chain:resi' -> text shown on hover (sequence position and every selected value)."""
    table = {}
    for mapped in mapping.positions:
        r = mapped.residue
        if r is None:
            continue
        parts = [f"{r.name} {r.chain_id}{r.number}{r.insertion_code} (seq. pos. {mapped.position})"]
        for t in tracks:
            parts.append(f"f{t.feature}: {float(np.nan_to_num(t.values[mapped.position - 1])):.3f}")
        if plddt is not None and mapped.position - 1 < len(plddt):
            value = plddt[mapped.position - 1]
            if value is not None and np.isfinite(value):
                parts.append(f"pLDDT {value:.1f}")
        table[f"{r.chain_id}:{r.number}"] = " | ".join(parts)
    return table


def viewer_html(
    structure_text: str,
    fmt: str,
    mapping,
    tracks: Sequence[FeatureTrack] = (),
    *,
    colour_mode: str = "features",
    plddt: Sequence[float] | None = None,
    style: str = "cartoon",
    threshold: float | None = None,
    scale: float = 1.0,
    width: int | str = "100%",
    height: int = 480,
    js_url: str = CDN_3DMOL_URL,
    background: str = "white",
) -> str:
    """A self-contained HTML page with one 3Dmol viewer, ready for `st.iframe`.

    Residues where any selected feature exceeds `threshold` are added as sticks (side
    chains), whatever the main style. Hovering an atom labels its residue with the
    activation of each selected feature (and pLDDT when known).
    """
    import py3Dmol

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    if colour_mode not in COLOUR_MODES:
        raise ValueError(f"colour_mode must be one of {COLOUR_MODES}")
    view = py3Dmol.view(width=width, height=height, js=js_url)
    # Every 3Dmol render is a full frame (slow without a GPU): py3Dmol opens with a zoom of
    # the empty scene and a white background set later costs another; drop both.
    # Without a GPU (software WebGL) multisample antialiasing triples the cost of a frame:
    # the page then turns it off, see SOFTWARE_GL_PROBE.
    config = f"Object.assign({json.dumps({'backgroundColor': background})}, " \
             "window.interplmSoftwareGL ? {antialias: false} : {})"
    view.startjs = view.startjs.replace("viewer_UNIQUEID.zoomTo();\n", "", 1).replace(
        '{backgroundColor:"white"}', config, 1
    )
    view.addModel(structure_text, "pdb" if fmt == "pdb" else "cif")
    chain = mapping.chain_id
    if colour_mode == "plddt" and plddt is not None:
        colours = plddt_residue_colours(mapping, plddt)
    else:
        colours = residue_colours(mapping, tracks, scale)

    main = {"cartoon": {"cartoon": {"color": NEUTRAL}},
            "stick": {"stick": {"color": NEUTRAL, "radius": 0.18}},
            "surface": {"cartoon": {"color": NEUTRAL, "opacity": 0.5}}}[style]
    view.setStyle({"hetflag": False}, main)
    view.setStyle({"chain": chain, "invert": True, "hetflag": False},
                  {k: {**v, "color": "#eeeeee", "opacity": 0.6} for k, v in main.items()})
    kind = next(iter(main))
    for (colour, chain_id), numbers in _group_by_colour(colours).items():
        view.setStyle({"chain": chain_id, "resi": numbers}, {kind: {**main[kind], "color": colour}})
    if style == "surface":
        for (colour, chain_id), numbers in _group_by_colour(colours).items():
            view.addSurface("VDW", {"opacity": 0.85, "color": colour}, {"chain": chain_id, "resi": numbers})
        view.addSurface("VDW", {"opacity": 0.85, "color": NEUTRAL},
                        {"chain": chain, "resi": sorted(_unmapped_or_quiet(mapping, colours)) or [-99999]})
    if threshold is not None and tracks:
        for (_, chain_id), numbers in _group_by_colour(_above(mapping, tracks, threshold)).items():
            view.addStyle({"chain": chain_id, "resi": numbers, "not": {"atom": ["N", "C", "O"]}},
                          {"stick": {"colorscheme": "default", "radius": 0.22}})
    hover = json.dumps(_hover_table(mapping, tracks, plddt))
    view.setHoverable(
        {}, True,
        "function(atom, viewer, event, container) {"
        f" var table = {hover};"
        " if (!atom.label) { var text = table[atom.chain + ':' + atom.resi] ||"
        " (atom.resn + ' ' + atom.chain + atom.resi);"
        " atom.label = viewer.addLabel(text, {position: atom, backgroundColor: 'black',"
        " backgroundOpacity: 0.8, fontColor: 'white', fontSize: 13}); } }",
        "function(atom, viewer) { if (atom.label) { viewer.removeLabel(atom.label); delete atom.label; } }",
    )
    view.zoomTo({"chain": chain})
    html = view._make_html()
    return _page(html, height)


def _unmapped_or_quiet(mapping, colours) -> set[int]:
    coloured = {number for (_, number, _) in colours}
    chain_numbers = {m.residue.number for m in mapping.positions if m.residue is not None}
    return chain_numbers - coloured


def _above(mapping, tracks: Sequence[FeatureTrack], threshold: float) -> dict:
    out = {}
    for t in tracks:
        for position, value in enumerate(np.nan_to_num(np.asarray(t.values, dtype=float))):
            residue = mapping.positions[position].residue
            if residue is not None and value > threshold:
                out[(residue.chain_id, residue.number, residue.insertion_code)] = "stick"
    return out


#: Sets `window.interplmSoftwareGL` when the browser renders WebGL on the CPU (SwiftShader,
#: llvmpipe): a headless browser or a machine without a usable GPU.
SOFTWARE_GL_PROBE = (
    "window.interplmSoftwareGL = (function () { try {"
    " var gl = document.createElement('canvas').getContext('webgl');"
    " if (!gl) { return false; }"
    " var info = gl.getExtension('WEBGL_debug_renderer_info');"
    " var name = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : '';"
    " var lose = gl.getExtension('WEBGL_lose_context'); if (lose) { lose.loseContext(); }"
    " return /SwiftShader|llvmpipe|softpipe|Software/i.test(name);"
    " } catch (err) { return false; } })();"
)


def _page(body: str, height: int) -> str:
    """Wrap py3Dmol's fragment in a page that says so plainly when 3Dmol.js cannot load."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<style>html,body{margin:0;padding:0;overflow:hidden;background:transparent}</style></head><body>"
        f"<script>{SOFTWARE_GL_PROBE}</script>{body}"
        "<p id='interplm-3dmol-missing' style='display:none;font:14px sans-serif;color:#a00;padding:8px'>"
        "The 3D viewer could not load 3Dmol.js. Run scripts/install_3dmol.sh to serve a local copy "
        "(the app then needs no internet), or allow access to cdn.jsdelivr.net.</p>"
        "<script>setTimeout(function(){ if (typeof $3Dmol === 'undefined') {"
        " document.getElementById('interplm-3dmol-missing').style.display='block'; } }, 6000);</script>"
        "</body></html>"
    )


# ------------------------------------------------------------------ scripts for desktop viewers

def _selection_groups(colours: dict) -> list[tuple[str, str, list[int]]]:
    return [(colour, chain, sorted(numbers)) for (colour, chain), numbers in sorted(_group_by_colour(colours).items())]


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _residue_ranges(numbers: list[int], separator: str) -> str:
    """'1-5+9' (PyMOL) or '1-5,9' (ChimeraX): residue numbers as compact ranges."""
    return separator.join(f"{a}-{b}" if a != b else f"{a}" for a, b in _ranges(numbers))


def pymol_script(structure_file: str, mapping, tracks: Sequence[FeatureTrack], scale: float = 1.0,
                 threshold: float | None = None) -> str:
    """A .pml that loads `structure_file` and colours it exactly as the app's viewer does."""
    colours = residue_colours(mapping, tracks, scale)
    lines = [
        "# InterPLM Explorer: SAE feature colouring. Run in PyMOL: File > Run Script, or `@thisfile.pml`.",
        "# Features: " + ", ".join(f"f{t.feature} ({t.colour})" for t in tracks),
        f"load {structure_file}, protein",
        "hide everything, protein",
        "show cartoon, protein",
        f"color 0x{NEUTRAL.lstrip('#')}, protein",
    ]
    for colour, chain, numbers in _selection_groups(colours):
        resi = _residue_ranges(numbers, "+")
        lines.append(f"color 0x{colour.lstrip('#')}, protein and chain {chain} and resi {resi}")
    if threshold is not None:
        above = _above(mapping, tracks, threshold)
        for _, chain, numbers in _selection_groups(above):
            resi = _residue_ranges(numbers, "+")
            lines.append(f"show sticks, protein and chain {chain} and resi {resi} and not name N+C+O")
    lines += ["orient protein", ""]
    return "\n".join(lines)


def chimerax_script(structure_file: str, mapping, tracks: Sequence[FeatureTrack], scale: float = 1.0,
                    threshold: float | None = None) -> str:
    """A .cxc that loads `structure_file` and colours it as the app does (`open thisfile.cxc`)."""
    colours = residue_colours(mapping, tracks, scale)
    lines = [
        "# InterPLM Explorer: SAE feature colouring for ChimeraX (open this .cxc file).",
        "# Features: " + ", ".join(f"f{t.feature} ({t.colour})" for t in tracks),
        f"open {structure_file}",
        "cartoon",
        "hide atoms",
        f"color #1 {NEUTRAL}",
    ]
    for colour, chain, numbers in _selection_groups(colours):
        resi = _residue_ranges(numbers, ",")
        lines.append(f"color #1/{chain}:{resi} {colour}")
    if threshold is not None:
        for _, chain, numbers in _selection_groups(_above(mapping, tracks, threshold)):
            resi = _residue_ranges(numbers, ",")
            lines.append(f"show #1/{chain}:{resi} & sidechain atoms")
    lines += ["view", ""]
    return "\n".join(lines)


def default_tracks(features: Sequence[int], activations: np.ndarray) -> list[FeatureTrack]:
    """FeatureTracks for up to three selected features, in the app's colour order."""
    return [FeatureTrack(int(f), activations[:, int(f)], FEATURE_COLOURS[i])
            for i, f in enumerate(list(features)[:len(FEATURE_COLOURS)])]
