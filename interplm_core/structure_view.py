"""A structure coloured by SAE feature activations: a `ViewerScene` (plain data) for the app's
live 3D viewer and the standalone HTML download, and PyMOL / ChimeraX scripts that
reproduce the same colouring on the user's own machine. Every value from a structure file
reaches a page or a script only through `inert` (escaped, or checked and refused).

Values arrive per *sequence position*; a `mapping.ResidueMapping` (sequence -> chain
alignment from the data layer) turns them into (chain, residue number, insertion code)
keys, so an offset numbering (mature chains, PDB constructs) still lands on the right
residues, and 52A keeps its own colour apart from 52.

Colouring rule, shared by the viewer and the scripts: each residue takes the colour of
the selected feature that is strongest there, blended from a neutral grey towards that
feature's colour in proportion to activation / scale. Levels are quantised (so the
viewer needs a few dozen style calls, not one per residue).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import inert
from .errors import InterPLMError
from .palette import FEATURE_COLOURS, NEUTRAL, OTHER_CHAIN, PLDDT_BANDS, hex_to_rgb

if TYPE_CHECKING:
    from .mapping import ResidueMapping

#: 3Dmol.js from the CDN, used by the live viewer only when the vendored copy is missing.
CDN_3DMOL_URL = "https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js"
LEVELS = 8
#: At most this many residues get side-chain sticks: the strongest ones above the threshold
#: (three broad features would otherwise put sticks on half the chain).
MAX_STICK_RESIDUES = 12
#: The camera frames residues AlphaFold predicts with at least this pLDDT, not disordered
#: tails that would shrink the fold to a corner of the canvas.
CONFIDENT_PLDDT = 70.0
STYLES = ("cartoon", "stick", "surface")
COLOUR_MODES = ("features", "plddt")
WATER = ("HOH", "WAT", "DOD")


@dataclass(frozen=True)
class FeatureTrack:
    """One selected feature: its id, a value per sequence position, and its colour."""

    feature: int
    values: np.ndarray  # [sequence length]
    colour: str
    label: str = ""  # hover name when the values are not a feature's activations (default f{feature})


def blend(colour: str, t: float, base: str = NEUTRAL) -> str:
    """`base` moved towards `colour` by t in [0, 1], as #rrggbb."""
    t = float(min(max(t, 0.0), 1.0))
    a, b = hex_to_rgb(base), hex_to_rgb(colour)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def colour_scale(values: Sequence[np.ndarray], normalized: bool) -> float:
    """The activation that gets a feature's full colour (viewer, scripts, profile threshold; `values`: [L] each):
    1 for normalised features, comparable across proteins; else the largest value shown."""
    if normalized:
        return 1.0
    return max(max((float(np.max(v, initial=0.0)) for v in values), default=0.0), 1e-6)


def residue_colours(
    mapping: ResidueMapping, tracks: Sequence[FeatureTrack], scale: float = 1.0
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


def plddt_residue_colours(mapping: ResidueMapping, plddt: Sequence[float]) -> dict[tuple[str, int, str], str]:
    """AlphaFold pLDDT bands per mapped residue (plddt given per *sequence position*)."""
    out = {}
    for position, value in enumerate(plddt):
        residue = mapping.positions[position].residue
        if residue is None or value is None or not np.isfinite(value):
            continue
        colour = next(c for bound, c, _ in PLDDT_BANDS if value >= bound)
        out[(residue.chain_id, residue.number, residue.insertion_code)] = colour
    return out


def _group_by_colour(colours: dict) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """{(colour, chain): [(residue number, insertion code), ...]}."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for (chain, number, icode), colour in colours.items():
        groups.setdefault((colour, chain), []).append((int(number), icode or ""))
    return groups


def _hover_table(mapping, tracks: Sequence[FeatureTrack], plddt) -> dict[str, str]:
    """'chain:resi[icode]' -> text shown on hover (sequence position and every selected value)."""
    table = {}
    for mapped in mapping.positions:
        r = mapped.residue
        if r is None:
            continue
        parts = [f"{r.name} {r.chain_id}{r.number}{r.insertion_code} (seq. pos. {mapped.position})"]
        for t in tracks:
            parts.append(f"{t.label or f'f{t.feature}'}: {float(np.nan_to_num(t.values[mapped.position - 1])):.3f}")
        if plddt is not None and mapped.position - 1 < len(plddt):
            value = plddt[mapped.position - 1]
            if value is not None and np.isfinite(value):
                parts.append(f"pLDDT {value:.1f}")
        table[f"{r.chain_id}:{r.number}{r.insertion_code}"] = " | ".join(parts)
    return table


@dataclass(frozen=True)
class ViewerScene:
    """One coloured structure as plain data: the model, 3Dmol viewer calls, hover labels.

    Why data and not HTML: the app's live viewer (ui/viewer3d.js) replays `ops` on a viewer
    that stays alive across reruns, so a new selection recolours the structure in place
    (no new page, no new WebGL context, the camera kept); the standalone HTML export
    (`scene_page`) replays the very same calls. One colouring, two pages, and the scripts.
    """

    model: str
    fmt: str  # "pdb" or "cif", as 3Dmol.js names them
    ops: tuple  # ((GLViewer method, *arguments), ...), applied in order after a full reset
    hover: dict  # "chain:resi[icode]" -> label shown when the pointer is on that residue
    zoom: dict  # the selection the camera frames when a model is first shown
    background: str = "white"
    legend: dict | None = None  # drawn over the viewer by the app: see `scene_legend`

    @functools.cached_property
    def model_key(self) -> str:
        """Changes only when the model does: the live viewer reloads (and re-frames) on change."""
        return hashlib.sha1(self.model.encode("utf-8", "replace")).hexdigest()[:16]

    def to_data(self) -> dict:
        """The JSON sent to the live viewer."""
        return {"model": self.model, "fmt": self.fmt, "model_key": self.model_key, "ops": [list(o) for o in self.ops],
                "hover": self.hover, "zoom": self.zoom, "background": self.background, "legend": self.legend}


def _residue_selection(chain: str, residues: list[tuple[int, str]]) -> list[dict]:
    """3Dmol selections for (number, insertion code) residues of one chain.

    Plain numbers select by `resi`; a residue with an insertion code (52A) gets its own
    selection on `resi` + `icode`, applied after the plain ones, so 52 and 52A each keep
    their own colour (3Dmol's `resi` alone would match both).
    """
    plain = sorted({n for n, code in residues if not code})
    out = [{"chain": chain, "resi": plain}] if plain else []
    for code in sorted({code for _, code in residues if code}):
        out.append({"chain": chain, "resi": sorted({n for n, c in residues if c == code}), "icode": code})
    return out


def _groups(colours: dict) -> list[tuple[str, dict]]:
    """(colour, selection) per colour and chain, plain residues before insertion-code ones."""
    plain: list[tuple[str, dict]] = []
    coded: list[tuple[str, dict]] = []
    for (colour, chain), residues in sorted(_group_by_colour(colours).items()):
        for selection in _residue_selection(chain, residues):
            (coded if "icode" in selection else plain).append((colour, selection))
    return plain + coded


def build_scene(
    structure_text: str,
    fmt: str,
    mapping: ResidueMapping,
    tracks: Sequence[FeatureTrack] = (),
    *,
    colour_mode: str = "features",
    plddt: Sequence[float] | None = None,
    style: str = "cartoon",
    threshold: float | None = None,
    scale: float = 1.0,
    background: str = "white",
    markers: Sequence[tuple[int, str, str]] = (),
    legend: dict | None = None,
) -> ViewerScene:
    """The scene of `structure_text` coloured by `tracks` (or pLDDT), in the chosen style.

    Residues where any selected feature exceeds `threshold` are added as sticks (side
    chains), whatever the main style: at most `MAX_STICK_RESIDUES`, the strongest. Other
    chains are drawn pale; ligands as thin sticks; water hidden. Hovering an atom labels
    its residue with each selected feature's value. `markers` are (sequence position,
    label, colour): a sphere on the residue's CA with its label (mutations, UniProt sites).
    With pLDDT the camera frames the confidently predicted residues (`CONFIDENT_PLDDT`).
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    if colour_mode not in COLOUR_MODES:
        raise ValueError(f"colour_mode must be one of {COLOUR_MODES}")
    chain = mapping.chain_id
    if colour_mode == "plddt" and plddt is not None:
        colours = plddt_residue_colours(mapping, plddt)
    else:
        colours = residue_colours(mapping, tracks, scale)
    styles: dict[str, dict[str, dict[str, Any]]] = {
        "cartoon": {"cartoon": {"color": NEUTRAL}},
        "stick": {"stick": {"color": NEUTRAL, "radius": 0.18}},
        "surface": {"cartoon": {"color": NEUTRAL, "opacity": 0.5}},
    }
    main = styles[style]
    kind = next(iter(main))
    groups = _groups(colours)
    ops: list[tuple] = [
        ("setStyle", {}, {}),  # a full reset: the live viewer replays a scene on the same model
        ("setStyle", {"hetflag": True, "not": {"resn": list(WATER)}}, {"stick": {"radius": 0.15}}),
        ("setStyle", {"hetflag": False}, main),
        ("setStyle", {"chain": chain, "invert": True, "hetflag": False},
         {k: {**v, "color": OTHER_CHAIN, "opacity": 0.6} for k, v in main.items()}),
    ]
    # 3Dmol's `resi` 52 also matches 52A: residues with an insertion code that have no colour
    # of their own are set back to neutral after the plain groups.
    quiet_coded = {(m.residue.chain_id, m.residue.number, m.residue.insertion_code): NEUTRAL
                   for m in mapping.positions if m.residue is not None and m.residue.insertion_code}
    quiet_coded = {key: c for key, c in quiet_coded.items() if key not in colours}
    groups += [(colour, selection) for colour, selection in _groups(quiet_coded) if "icode" in selection]
    ops += [("setStyle", selection, {kind: {**main[kind], "color": colour}}) for colour, selection in groups]
    if style == "surface":
        ops += [("addSurface", "VDW", {"opacity": 0.85, "color": colour}, selection) for colour, selection in groups
                if colour != NEUTRAL]
        quiet = sorted(_unmapped_or_quiet(mapping, colours))
        ops.append(("addSurface", "VDW", {"opacity": 0.85, "color": NEUTRAL},
                    {"chain": chain, "resi": quiet or [-99999]}))
    if threshold is not None and tracks:
        for _, selection in _groups(_above(mapping, tracks, threshold)):
            ops.append(("addStyle", {**selection, "not": {"atom": ["N", "C", "O"]}},
                        {"stick": {"colorscheme": "default", "radius": 0.22}}))
    ops += _marker_ops(mapping, markers)
    return ViewerScene(structure_text, "pdb" if fmt == "pdb" else "cif", tuple(ops),
                       _hover_table(mapping, tracks, plddt), _zoom_selection(mapping, plddt), background, legend)


def _zoom_selection(mapping, plddt) -> dict:
    """The analysed chain, or only its confidently predicted residues when there are enough of
    them (at least 10) to frame."""
    chain = mapping.chain_id
    if plddt is None:
        return {"chain": chain}
    confident = sorted({m.residue.number for m in mapping.positions
                        if m.residue is not None and m.position - 1 < len(plddt)
                        and plddt[m.position - 1] is not None and np.isfinite(plddt[m.position - 1])
                        and plddt[m.position - 1] >= CONFIDENT_PLDDT})
    return {"chain": chain, "resi": confident} if len(confident) >= 10 else {"chain": chain}


def _marker_ops(mapping, markers: Sequence[tuple[int, str, str]]) -> list[tuple]:
    """A labelled sphere on the CA of each marked sequence position that has a residue."""
    ops: list[tuple] = []
    for position, label, colour in markers:
        if not 1 <= int(position) <= len(mapping.positions):
            continue
        residue = mapping.positions[int(position) - 1].residue
        if residue is None:
            continue
        where = {"chain": residue.chain_id, "resi": residue.number, "atom": "CA"}
        if residue.insertion_code:
            where["icode"] = residue.insertion_code
        ops.append(("addStyle", where, {"sphere": {"color": colour, "radius": 1.3}}))
        ops.append(("addLabel", str(label), {"fontSize": 13, "fontColor": "white", "backgroundColor": colour,
                                             "backgroundOpacity": 0.85, "inFront": True}, where))
    return ops


def scene_legend(tracks: Sequence[FeatureTrack], colour_mode: str, scale: float, normalized: bool,
                 names: Sequence[str] | None = None) -> dict:
    """What the colours mean, drawn over the 3D view: each feature's colour ramp (from the
    neutral grey at 0 to its full colour at `scale`) or the pLDDT bands."""
    if colour_mode == "plddt":
        return {"title": "pLDDT (AlphaFold confidence)",
                "bands": [{"label": f"{name} (≥ {bound})" if bound else name, "colour": colour}
                          for bound, colour, name in PLDDT_BANDS]}
    labels = list(names) if names is not None else [t.label or f"f{t.feature}" for t in tracks]
    return {"title": "activation" + ("" if normalized else " (raw)"),
            "ramps": [{"label": label, "from": NEUTRAL, "to": t.colour} for t, label in zip(tracks, labels)],
            "low": "0", "high": f"{scale:.3g}"}


#: The residue key of an atom, as `ViewerScene.hover` spells it (shared with ui/viewer3d.js).
HOVER_KEY_JS = ("function (atom) { var code = (atom.icode || '').trim();"
                " if (code === '?' || code === '.') { code = ''; } return atom.chain + ':' + atom.resi + code; }")
#: The vendored 3Dmol.js that the HTML export inlines (so the page works from disk, offline).
VENDORED_3DMOL = Path(__file__).resolve().parents[1] / "static" / "vendor" / "3Dmol-min.js"
_CSS_LENGTH = re.compile(r"\d{1,5}(px|%)")


def viewer_html(
    structure_text: str,
    fmt: str,
    mapping: ResidueMapping,
    tracks: Sequence[FeatureTrack] = (),
    *,
    colour_mode: str = "features",
    plddt: Sequence[float] | None = None,
    style: str = "cartoon",
    threshold: float | None = None,
    scale: float = 1.0,
    width: int | str = "100%",
    height: int = 480,
    js_url: str | None = None,
    background: str = "white",
    title: str = "",
) -> str:
    """A self-contained HTML page with one 3Dmol viewer (the '3D view (HTML)' download).

    3Dmol.js is inlined from `VENDORED_3DMOL` (or loaded from `js_url` when given). Why
    not py3Dmol's page: it writes the model into its script with plain `json.dumps`, so a
    `</script>` in a REMARK or a chain id ended the element and ran what followed. Here
    the scene goes in as data through `inert.script_json`, and the same replay as the live
    viewer (ui/viewer3d.js) draws it.
    """
    scene = build_scene(structure_text, fmt, mapping, tracks, colour_mode=colour_mode, plddt=plddt, style=style,
                        threshold=threshold, scale=scale, background=background)
    return scene_page(scene, width=width, height=height, js_url=js_url, title=title)


def _library_src(js_url: str | None) -> str:
    if js_url is not None:
        return js_url
    try:
        return inert.script_data_uri(VENDORED_3DMOL.read_text(encoding="utf-8"))
    except OSError as err:
        raise InterPLMError(
            f"The 3D view export inlines 3Dmol.js from {VENDORED_3DMOL}, which cannot be read ({err.strerror}). "
            "Restore static/vendor/3Dmol-min.js from the repository."
        ) from err


def scene_page(scene: ViewerScene, *, width: int | str = "100%", height: int = 480, js_url: str | None = None,
               title: str = "") -> str:
    """The page of one scene; every value from the scene or the caller is escaped for its context."""
    css_width = f"{width}px" if isinstance(width, int) else str(width)
    if not _CSS_LENGTH.fullmatch(css_width):
        raise ValueError(f"width must be pixels or a percentage, not {width!r}")
    heading = (f"<p style='font:14px sans-serif;margin:4px 8px'>{inert.html_text(title)}</p>" if title else "")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{inert.html_text(title or 'InterPLM Explorer 3D view')}</title>"
        "<style>html,body{margin:0;padding:0;overflow:hidden;background:transparent}</style></head><body>"
        f"<script>{SOFTWARE_GL_PROBE}</script>{heading}"
        f"<div id='interplm-3d' style='position:relative;width:{css_width};height:{int(height)}px'></div>"
        "<p id='interplm-3dmol-missing' style='display:none;font:14px sans-serif;color:#a00;padding:8px'>"
        "The 3D viewer could not load 3Dmol.js. Export the page again from InterPLM Explorer "
        "(it inlines 3Dmol.js from static/vendor/3Dmol-min.js).</p>"
        f"<script src=\"{inert.html_text(_library_src(js_url))}\"></script>"
        f"<script>(function () {{ var scene = {inert.script_json(scene.to_data())};"
        " if (typeof $3Dmol === 'undefined') {"
        " document.getElementById('interplm-3dmol-missing').style.display = 'block'; return; }"
        # Every 3Dmol render is a full frame (slow without a GPU): one render, at the end.
        # Without a GPU (software WebGL) multisample antialiasing triples the cost of a
        # frame: it is turned off there, see SOFTWARE_GL_PROBE.
        " var config = Object.assign({backgroundColor: scene.background},"
        " window.interplmSoftwareGL ? {antialias: false} : {});"
        " var viewer = $3Dmol.createViewer(document.getElementById('interplm-3d'), config);"
        " viewer.addModel(scene.model, scene.fmt);"
        " scene.ops.forEach(function (op) { viewer[op[0]].apply(viewer, op.slice(1)); });"
        f" var hoverKey = {HOVER_KEY_JS};"
        " viewer.setHoverable({}, true, function (atom, v) { if (!atom.label) {"
        " var text = scene.hover[hoverKey(atom)] || (atom.resn + ' ' + atom.chain + atom.resi);"
        " atom.label = v.addLabel(text, {position: atom, backgroundColor: 'black', backgroundOpacity: 0.8,"
        " fontColor: 'white', fontSize: 13}); } },"
        " function (atom, v) { if (atom.label) { v.removeLabel(atom.label); delete atom.label; } });"
        " viewer.zoomTo(scene.zoom); viewer.render(); })();</script>"
        "</body></html>"
    )


def _unmapped_or_quiet(mapping, colours) -> set[int]:
    coloured = {number for (_, number, _) in colours}
    chain_numbers = {m.residue.number for m in mapping.positions if m.residue is not None}
    return chain_numbers - coloured


def _above(mapping, tracks: Sequence[FeatureTrack], threshold: float,
           limit: int = MAX_STICK_RESIDUES) -> dict:
    """The residues shown as sticks: above `threshold` in any track, the `limit` strongest."""
    strongest: dict[tuple, float] = {}
    for t in tracks:
        for position, value in enumerate(np.nan_to_num(np.asarray(t.values, dtype=float))):
            residue = mapping.positions[position].residue
            key = None if residue is None else (residue.chain_id, residue.number, residue.insertion_code)
            if key is not None and value > threshold and value > strongest.get(key, -np.inf):
                strongest[key] = float(value)
    kept = sorted(strongest, key=lambda k: (-strongest[k], k))[:limit]
    return {key: NEUTRAL for key in kept}  # one colour: one group per chain


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


# ------------------------------------------------------------------ scripts for desktop viewers

def _selection_groups(colours: dict) -> list[tuple[str, str, list[tuple[int, str]]]]:
    """(colour, chain, residues) with every value checked by `inert` before it enters a script."""
    return [(inert.viewer_colour(colour), inert.viewer_chain_id(chain),
             sorted((int(number), inert.viewer_insertion_code(code)) for number, code in residues))
            for (colour, chain), residues in sorted(_group_by_colour(colours).items())]


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _residue_ranges(residues: list[tuple[int, str]], separator: str) -> str:
    """'1-5+9+52A' (PyMOL) or '1-5,9,52A' (ChimeraX): plain numbers as compact ranges, then
    residues with an insertion code one by one (both programs read '52A' as that residue)."""
    plain = _ranges([n for n, code in residues if not code])
    coded = [f"{n}{code}" for n, code in sorted(residues) if code]
    return separator.join([f"{a}-{b}" if a != b else f"{a}" for a, b in plain] + coded)


def _features_comment(tracks: Sequence[FeatureTrack]) -> str:
    return "# Features: " + ", ".join(f"f{int(t.feature)} ({inert.viewer_colour(t.colour)})" for t in tracks)


def pymol_script(structure_file: str, mapping: ResidueMapping, tracks: Sequence[FeatureTrack], scale: float = 1.0,
                 threshold: float | None = None) -> str:
    """A .pml that loads `structure_file` and colours it exactly as the app's viewer does."""
    colours = residue_colours(mapping, tracks, scale)
    lines = [
        "# InterPLM Explorer: SAE feature colouring. Run in PyMOL: File > Run Script, or `@thisfile.pml`.",
        _features_comment(tracks),
        f"load {inert.viewer_file_name(structure_file)}, protein",
        "hide everything, protein",
        "show cartoon, protein",
        f"color 0x{NEUTRAL.lstrip('#')}, protein",
    ]
    for colour, chain, residues in _selection_groups(colours):
        resi = _residue_ranges(residues, "+")
        lines.append(f"color 0x{colour.lstrip('#')}, protein and chain {chain} and resi {resi}")
    if threshold is not None:
        above = _above(mapping, tracks, threshold)
        for _, chain, residues in _selection_groups(above):
            resi = _residue_ranges(residues, "+")
            lines.append(f"show sticks, protein and chain {chain} and resi {resi} and not name N+C+O")
    lines += ["orient protein", ""]
    return "\n".join(lines)


def chimerax_script(structure_file: str, mapping: ResidueMapping, tracks: Sequence[FeatureTrack], scale: float = 1.0,
                    threshold: float | None = None) -> str:
    """A .cxc that loads `structure_file` and colours it as the app does (`open thisfile.cxc`)."""
    colours = residue_colours(mapping, tracks, scale)
    lines = [
        "# InterPLM Explorer: SAE feature colouring for ChimeraX (open this .cxc file).",
        _features_comment(tracks),
        f"open {inert.viewer_file_name(structure_file)}",
        "cartoon",
        "hide atoms",
        f"color #1 {NEUTRAL}",
    ]
    for colour, chain, residues in _selection_groups(colours):
        resi = _residue_ranges(residues, ",")
        lines.append(f"color #1/{chain}:{resi} {colour}")
    if threshold is not None:
        for _, chain, residues in _selection_groups(_above(mapping, tracks, threshold)):
            resi = _residue_ranges(residues, ",")
            lines.append(f"show #1/{chain}:{resi} & sidechain atoms")
    lines += ["view", ""]
    return "\n".join(lines)


def default_tracks(features: Sequence[int], activations: np.ndarray) -> list[FeatureTrack]:
    """FeatureTracks for up to three selected features of `activations` [L, F], in the app's colour order."""
    return [FeatureTrack(int(f), activations[:, int(f)], FEATURE_COLOURS[i])
            for i, f in enumerate(list(features)[:len(FEATURE_COLOURS)])]
