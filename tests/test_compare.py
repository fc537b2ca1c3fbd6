"""Point-mutation parsing and per-feature comparison between two proteins."""

from __future__ import annotations

import numpy as np
import pytest

from interplm_core.compare import compare_activations, corresponding_positions
from interplm_core.errors import InputError
from interplm_core.mutations import Mutation, apply_mutations, mutant_label, parse_mutations

SEQ = "MKTAYIAKQRQISFVKSHFSRQ"


def test_parse_mutations_accepts_common_spellings():
    assert parse_mutations("K2R, a4g;p.Y5F\nI6L") == [
        Mutation("K", 2, "R"), Mutation("A", 4, "G"), Mutation("Y", 5, "F"), Mutation("I", 6, "L")]


@pytest.mark.parametrize("text, message", [
    ("", "No mutations given"),
    ("K2", "Cannot read the mutation 'K2'"),
    ("K2*", r"stop \(nonsense\) mutation"),
    ("J2R", "'J' is not a one-letter amino-acid code"),
    ("K2K", "changes nothing"),
    ("K2R K2A", "Position 2 is mutated twice"),
    ("K0R", "positions start at 1"),
])
def test_parse_mutations_explains_mistakes(text, message):
    with pytest.raises(InputError, match=message):
        parse_mutations(text)


def test_apply_mutations_checks_wild_type_and_range():
    assert apply_mutations(SEQ, parse_mutations("K2R A4G")) == "MRTGYIAKQRQISFVKSHFSRQ"
    with pytest.raises(InputError, match=r"residue 3 is T, not A.*numbering"):
        apply_mutations(SEQ, parse_mutations("A3G"))
    with pytest.raises(InputError, match="past the end \\(the sequence has 22 residues\\)"):
        apply_mutations(SEQ, parse_mutations("K99R"))


def test_mutant_label_is_short():
    assert mutant_label(parse_mutations("K2R")) == "K2R"
    assert mutant_label(parse_mutations("K2R A4G Y5F I6L")) == "K2R+A4G+2more"


def test_corresponding_positions_identity_and_insertion():
    assert corresponding_positions("MKTAY", "MKTGY").tolist() == [0, 1, 2, 3, 4]
    # B has two extra residues after position 3: later residues of A shift by two.
    partner = corresponding_positions("MKTAYIAKQRQISFV", "MKTWWAYIAKQRQISFV")
    assert partner[0] == 0 and partner[2] == 2
    assert partner[14] == 16
    assert partner[3] == 5


def test_compare_finds_appearing_vanishing_and_changed_features():
    a = np.zeros((5, 8), dtype=np.float32)
    b = np.zeros((5, 8), dtype=np.float32)
    a[:, 1] = 0.5  # vanishes in B
    b[2, 2] = 0.9  # appears in B
    a[:, 3] = 0.2
    b[:, 3] = 0.2  # unchanged
    a[1, 4], b[1, 4] = 0.3, 0.6  # stronger
    result = compare_activations("MKTAY", a, "MKTGY", b, top=10)
    kinds = dict(zip(result.features.tolist(), result.kind))
    assert kinds == {1: "vanishes", 2: "appears", 3: "unchanged", 4: "stronger"}
    assert result.of_kind("appears") == [2]
    k = result.features.tolist().index(2)
    assert result.residue_delta[2, k] == pytest.approx(0.9)
    assert result.identity == pytest.approx(0.8)
    assert result.features.tolist()[:2] == [2, 1]  # switches first, the bigger jump first
    rows = result.rows()
    assert rows[0]["feature"] == 2 and rows[0]["change"] == "appears" and rows[0]["delta_max"] == pytest.approx(0.9)


def test_compare_rejects_mismatched_arrays():
    with pytest.raises(InputError, match="differ in length"):
        compare_activations("MKT", np.zeros((4, 3)), "MKT", np.zeros((3, 3)))
