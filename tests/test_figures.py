"""Figure builders: feature ranking and ordering, heatmap layout, hover text, tracks, export."""

from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go
import pytest

from interplm_core import figures
from interplm_core.ranking import rank_features


def _acts():
    a = np.zeros((6, 10), dtype=np.float32)
    a[0:2, 3] = [0.9, 0.8]  # early, strong
    a[4:6, 7] = [0.5, 0.6]  # late
    a[0:2, 5] = [0.2, 0.3]  # co-fires with 3
    a[:, 1] = 0.4  # everywhere, highest mean
    return a


@pytest.mark.parametrize("by", ["max", "mean"])
def test_rank_features_equals_a_full_sort_with_ties(by):
    rng = np.random.default_rng(7)
    # Activations on a coarse grid: many features tie on their maximum and mean.
    a = np.where(rng.random((40, 300)) < 0.05, rng.integers(1, 4, (40, 300)) / 2, 0).astype(np.float32)
    score = a.mean(axis=0) if by == "mean" else a.max(axis=0)
    expected = sorted((f for f in range(300) if a[:, f].max() > 0), key=lambda f: (-score[f], f))
    for n in (1, 5, 17, len(expected) - 1, len(expected), 1000):
        assert rank_features(a, n, by) == expected[:n]


def test_rank_features_orders():
    a = _acts()
    assert rank_features(a, 10, "max") == [3, 7, 1, 5]
    assert rank_features(a, 10, "mean") == [1, 3, 7, 5]
    assert rank_features(a, 2, "max") == [3, 7]
    assert rank_features(a, 10, "first")[-1] == 7  # fires last along the chain
    with pytest.raises(ValueError):
        rank_features(a, 3, "alphabetical")


def test_clustered_order_keeps_cofiring_features_together():
    a = _acts()
    order = rank_features(a, 10, "clustered")
    assert sorted(order) == [1, 3, 5, 7]
    assert abs(order.index(3) - order.index(5)) == 1
    assert order.index(7) in (0, 3)  # the feature firing elsewhere sits at an end


def test_residue_and_feature_labels_round_trip():
    assert figures.residue_labels("MKT") == ["M1", "K2", "T3"]
    assert figures.feature_from_label(figures.feature_label(1234)) == 1234
    assert figures.feature_from_label("SAE err.") is None


def test_heatmap_cells_carry_hover_and_tracks_share_the_axis():
    seq = "MKTAYI"
    a = _acts()
    fig = figures.heatmap_figure(
        seq, a, [3, 7], tracks={"Active site": [((2,), "Active site 2")]}, plddt=[95, 80, 60, 40, 91, 92],
        residue_error=np.linspace(0, 1, 6), selected=[7],
    )
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap) and heat.zmin == 0 and heat.zmax == 1
    assert list(heat.y) == ["f3", "f7"] and list(heat.x)[:2] == ["M1", "K2"]
    assert np.asarray(heat.z).shape == (2, 6)
    assert "%{z:.3f}" in heat.hovertemplate and "%{y}" in heat.hovertemplate
    assert heat.text[0][1] == "<br>Active site 2"  # f3 fires at K2: its annotation in the hover
    assert heat.text[1][1] == "" and heat.text[0][2] == ""  # silent cells: the track shows it
    names = [t.name for t in fig.data]
    assert names == ["activations", "UniProt", "pLDDT", "SAE error"]  # no hidden click layer
    assert fig.layout.clickmode == "event"
    strip = fig.data[2]  # band numbers on a stepped scale: the colour each residue is drawn in
    drawn = [strip.colorscale[2 * int(v)][1] for v in np.asarray(strip.z)[0]]
    assert drawn == ["#0053D6", "#65CBF3", "#FFDB13", "#FF7D45", "#0053D6", "#0053D6"]
    assert all(strip.colorscale[2 * int(v)][0] <= v / strip.zmax < strip.colorscale[2 * int(v) + 1][0]
               for v in np.asarray(strip.z)[0])  # each value falls inside its own colour's step
    assert list(np.asarray(strip.customdata)[0]) == [95, 80, 60, 40, 91, 92]  # the hover shows the value
    assert any(s.line.color == figures.FEATURE_COLOURS[0] for s in fig.layout.shapes)  # f7 outlined
    assert fig.layout.xaxis.type == "category"


def test_plddt_bands_at_their_bounds_and_missing_values():
    fig = figures.heatmap_figure("MKTAYI", _acts(), [3], plddt=[90.0, 89.99, 70.0, 50.0, 49.9, np.nan])
    strip = next(t for t in fig.data if t.name == "pLDDT")
    drawn = [strip.colorscale[2 * int(v)][1] for v in np.asarray(strip.z)[0]]
    assert drawn == ["#0053D6", "#65CBF3", "#65CBF3", "#FFDB13", "#FF7D45", "#cccccc"]


def test_raw_heatmap_scales_to_its_maximum():
    a = _acts() * 7
    fig = figures.heatmap_figure("MKTAYI", a, [3], normalized=False)
    assert fig.data[0].zmax == pytest.approx(0.9 * 7, rel=1e-5)


def test_heatmap_of_a_long_protein_stays_compact():
    rng = np.random.default_rng(0)
    seq = "A" * 1500
    a = rng.random((1500, 40), dtype=np.float32)
    fig = figures.heatmap_figure(seq, a, list(range(30)))
    assert len(fig.data) == 1 and np.asarray(fig.data[0].z).shape == (30, 1500)
    assert len(fig.to_json()) < 1_500_000  # numbers as typed arrays; hover notes empty here
    assert fig.layout.xaxis.nticks <= 30  # labels thinned until zoomed in
    assert fig.layout.height < 1200


def test_profile_and_delta_figures():
    fig = figures.profile_figure("MKT", np.array([0.1, 0.9, 0.0]), 5, threshold=0.3)
    assert list(fig.data[0].y) == [0.1, 0.9, 0.0] and fig.layout.shapes[0].y0 == 0.3
    delta = np.array([[0.5, -0.2], [np.nan, 0.1], [0.0, 0.0]])
    fig = figures.delta_figure("MKT", delta, [4, 9], ["appears", "weaker"], highlight_positions=[2])
    assert list(fig.data[0].y) == ["f4 (appears)", "f9 (weaker)"]
    assert fig.data[0].zmid == 0 and fig.data[0].zmax == pytest.approx(0.5)
    assert figures.feature_from_label(fig.data[0].y[0].split(" ")[0]) == 4
    assert len(fig.data) == 1


def test_export_image_svg_and_png():
    pytest.importorskip("kaleido", reason="kaleido not installed: server-side export is optional")
    fig = figures.heatmap_figure("MKTAYI", _acts(), [3, 7])
    svg = figures.export_image(fig, "svg", width=600)
    assert svg.lstrip().startswith(b"<svg") and b"f7" in svg
    png = figures.export_image(fig, "png", width=600, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_names_features_and_shows_percentiles():
    from interplm_core.figures import heatmap_figure

    acts = np.zeros((4, 10), np.float32)
    acts[1, 3] = 0.8
    acts[2, 5] = 1.7  # above the Swiss-Prot maximum: darkest colour, real value in the hover
    long_name = "Domain: A very long domain description indeed 120–300 (F1 0.66)"
    fig = heatmap_figure("MKTA", acts, [3, 5], feature_names={3: "Active site 2 (F1 0.71)", 5: long_name},
                         percentiles=np.array([[0, 97.25, 0, 0], [0, 0, 100, 0]]), selected=[5])
    heat = fig.data[0]
    assert list(heat.y) == ["f3 · Active site 2 (F1 0.71)", "f5 · " + long_name[:figures.MAX_AXIS_LABEL - 6] + "…"]
    assert len(heat.y[1]) == figures.MAX_AXIS_LABEL
    assert [figures.feature_from_label(label.split(" ")[0]) for label in heat.y] == [3, 5]  # clicks still read
    # feature 3: its full name and percentile where it fires (residue K2), nothing on silent residues
    assert list(heat.text[0]) == ["", "<br>f3 · Active site 2 (F1 0.71)<br>97.2 percentile in the atlas", "", ""]
    assert heat.text[1][2] == f"<br>f5 · {long_name}<br>100.0 percentile in the atlas"
    assert np.asarray(heat.z)[1][2] == pytest.approx(1.7) and heat.zmax == 1.0
    assert list(heat.colorbar.ticktext)[-1] == "≥ 1" and list(heat.colorbar.tickvals)[-1] == 1.0
    assert fig.layout.annotations[0].y == heat.y[1]  # the selection dot sits on the named row
    raw = heatmap_figure("MKTA", acts, [3], normalized=False)
    assert raw.data[0].colorbar.ticktext is None and list(raw.data[0].y) == ["f3"]


def _export_fixture(track_names):
    acts = np.zeros((30, 10240), np.float32)
    acts[3, 10239] = acts[7, 5] = 0.9
    tracks = {name: [([4], "site")] for name in track_names}
    return figures.heatmap_figure("MKTAYIAKQRQISFVKSHFSRQLEERLGLI", acts, [10239, 5], tracks=tracks,
                                  plddt=np.linspace(40, 95, 30), residue_error=np.linspace(0, 0.08, 30),
                                  selected=[5])


def test_export_margins_follow_the_labels():
    """Issue 13 §2: the exported heatmap has room for its longest label on the left, the colour
    bar with its title on the right, and a title saying protein, layer and scale."""
    title = figures.heatmap_title("P61626 · LYSC_HUMAN", 4, normalized=False, model="esm2_t6_8M")
    short = figures.export_figure(_export_fixture(["Site"]), title)
    long_name = "Modified residue (phosphoserine)"
    wide = figures.export_figure(_export_fixture(["Site", long_name]), title)
    # Independent lower bound: 0.5 px per px of font size is narrower than any sans-serif glyph average.
    assert wide.layout.margin.l >= len(long_name) * 10 * 0.5  # track names are drawn at 10 px
    assert short.layout.margin.l >= len("f10239") * 11 * 0.5 + 14  # + the rotated axis title
    assert wide.layout.margin.l > short.layout.margin.l
    bar = wide.data[0].colorbar
    assert bar.x == 1.0 and bar.xanchor == "left"  # starts at the plot's edge, inside the right margin
    assert wide.layout.margin.r >= bar.xpad + bar.thickness + 14 + len("0.9") * 12 * 0.5  # + the rotated bar title
    assert "raw activation" in wide.layout.title.text and "layer 4" in wide.layout.title.text
    assert "P61626" in wide.layout.title.text and wide.layout.margin.t >= 18 * 1.2


def test_exported_svg_holds_every_label_and_the_title():
    pytest.importorskip("kaleido", reason="kaleido not installed: server-side export is optional")
    names = ["Active site", "Disulfide bond"]
    fig = _export_fixture(names)
    svg = figures.export_image(fig, "svg", width=900, title=figures.heatmap_title("P<1>", 3, True))
    from xml.etree import ElementTree

    texts = {"".join(node.itertext()) for node in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    for text in ["f10239", "f5", *names, "pLDDT", "SAE err.", "activation", "residue", "feature",
                 "P<1> · ESM-2 8M layer 3 · InterPLM SAE features · normalised activation (0-1)"]:
        assert text in texts, text


@pytest.mark.parametrize("dark", [False, True])
def test_selection_outline_stands_out_on_every_colour_of_the_scale(dark):
    from interplm_core import palette

    fig = figures.heatmap_figure("MKTAYI", _acts(), [3, 7], selected=[7, 3], dark=dark)
    scale_colours = [c for _, c in fig.data[0].colorscale if c.startswith("#")]
    assert scale_colours == list(palette.ACTIVATION_STOPS[dark])
    for feature, colour in zip((7, 3), figures.FEATURE_COLOURS):
        row = [3, 7].index(feature)
        rims = [s for s in fig.layout.shapes if s.y0 == row - 0.5 and s.y1 == row + 0.5]
        # widest first, the feature colour on top and narrowest
        assert [s.line.color for s in rims] == ["#000000", "#ffffff", colour]
        assert [s.line.width for s in rims] == sorted((s.line.width for s in rims), reverse=True)
        for cell in scale_colours + [palette.VIEWER_BACKGROUND[dark]]:
            best = max(palette.contrast_ratio(s.line.color, cell) for s in rims)
            assert best >= 3.0, (cell, best)


def test_palette_contrast_matches_wcag_examples():
    from interplm_core import palette

    assert palette.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert palette.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_axis_labels_and_ticks_are_readable_on_a_projector():
    fig = figures.heatmap_figure("MKTAYI", _acts(), [3, 7], tracks={"Active site": [((2,), "Active site 2")]},
                                 plddt=[95, 80, 60, 40, 91, 92], residue_error=np.linspace(0, 1, 6), height=500)
    assert fig.layout.height == 500
    axes = [getattr(fig.layout, name) for name in dir(fig.layout) if re.match(r"^[xy]axis\d*$", name)]
    assert len(axes) == 8
    for axis in axes:
        size = axis.tickfont.size if axis.tickfont.size is not None else fig.layout.font.size
        assert size >= 14
    assert fig.layout.font.size >= 14


def test_delta_figure_labels_mutations_on_the_sequence_axis():
    from interplm_core import palette

    delta = np.zeros((5, 2))
    fig = figures.delta_figure("MKTAY", delta, [4, 9], ["appears", "weaker"], highlight_positions=[2, 5],
                               highlight_labels=["K2R", "Y5F"])
    marks = [a for a in fig.layout.annotations if a.name == "mutation"]
    assert [(a.x, a.text) for a in marks] == [("K2", "▼ K2R"), ("Y5", "▼ Y5F")]
    assert all(a.font.color == palette.MUTATION and a.yref == "paper" and a.y == 1.0 for a in marks)
    guides = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert sorted(s.x0 for s in guides) == ["K2", "Y5"]
