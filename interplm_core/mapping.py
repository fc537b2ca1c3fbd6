"""Put per-residue values of an analysed sequence onto the right residues of a structure.

Structure numbering rarely equals sequence positions: PDB 1REX numbers human lysozyme
from the mature chain (PDB n = UniProt n + 18), chains miss disordered residues, and
constructs cover only part of a protein. So positions are matched by aligning the
sequence with the chain's residues (biotite's `align_optimal`, BLOSUM62, affine gaps,
free end gaps so a partial chain costs nothing for the parts it lacks).

Repeats: a chain can fit several places equally well (1UBQ is one ubiquitin; P0CG48 is
nine identical copies). `find_placements` aligns, masks the placed region of the
sequence and aligns again, collecting every placement scoring at least
`REPEAT_SCORE_RATIO` of the best one; the caller picks one (default: the first).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .structures import Chain, Residue, Structure, load_atoms, write_atoms

#: A placement counts as an alternative when it scores at least this share of the best.
REPEAT_SCORE_RATIO = 0.9
#: Most placements reported (a 9-repeat fits easily).
MAX_PLACEMENTS = 50
#: Affine gap penalty (open, extend) in BLOSUM62 units.
GAP_PENALTY = (-10, -1)

_NOT_IN_ALPHABET = re.compile(r"[^ACDEFGHIKLMNPQRSTVWYBZX]")


@dataclass(frozen=True)
class Placement:
    """Where one copy of the chain sits on the analysed sequence (1-based, inclusive)."""

    sequence_start: int
    sequence_end: int
    score: int
    identity: float
    aligned: int
    pairs: tuple[tuple[int, int], ...]  # (sequence index, chain residue index), 0-based

    def describe(self, index: int, total: int) -> str:
        what = f"repeat {index} of {total}" if total > 1 else "match"
        return (
            f"{what} at {self.sequence_start}-{self.sequence_end} "
            f"({self.identity:.0%} identity over {self.aligned} residues)"
        )


@dataclass(frozen=True)
class MappedPosition:
    position: int
    residue: Residue | None

    def to_json(self) -> dict:
        r = self.residue
        return {
            "position": self.position,
            "chain": r.chain_id if r else None,
            "residue_number": r.number if r else None,
            "insertion_code": r.insertion_code if r else None,
        }


@dataclass(frozen=True)
class ResidueMapping:
    """Sequence position (1-based) -> structure residue, for one chain and one placement."""

    chain_id: str
    positions: tuple[MappedPosition, ...]
    coverage: float  # share of sequence positions that have a residue
    identity: float  # identical pairs / aligned pairs
    chain_coverage: float  # share of the chain's residues that were placed
    placements: tuple[Placement, ...]
    chosen: int  # 0-based index into `placements`

    @property
    def ambiguous(self) -> bool:
        """True when the chain fits several places (repeats): the caller should choose."""
        return len(self.placements) > 1

    def describe_placements(self) -> list[str]:
        total = len(self.placements)
        return [p.describe(i, total) for i, p in enumerate(self.placements, start=1)]

    def residue_at(self, position: int) -> Residue | None:
        if not 1 <= position <= len(self.positions):
            raise InputError(f"Position {position} is outside the sequence (1-{len(self.positions)}).")
        return self.positions[position - 1].residue

    def position_of(self, chain_id: str, number: int, insertion_code: str = "") -> int | None:
        for mapped in self.positions:
            r = mapped.residue
            if r and (r.chain_id, r.number, r.insertion_code) == (chain_id, number, insertion_code):
                return mapped.position
        return None

    def values_by_residue(self, values: Sequence[float] | np.ndarray) -> dict[tuple[str, int, str], float]:
        """{(chain, number, insertion code): value} for every mapped position (`values`: [sequence length])."""
        if len(values) != len(self.positions):
            raise InputError(
                f"Got {len(values)} values for a sequence of {len(self.positions)} residues; "
                "pass one value per sequence position."
            )
        out = {}
        for mapped, value in zip(self.positions, values):
            r = mapped.residue
            if r is not None and value is not None and not _is_nan(value):
                out[(r.chain_id, r.number, r.insertion_code)] = float(value)
        return out

    def to_json(self) -> dict:
        return {
            "chain": self.chain_id,
            "coverage": round(self.coverage, 4),
            "identity": round(self.identity, 4),
            "positions": [p.to_json() for p in self.positions],
        }


def _is_nan(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _protein(text: str, what: str):
    from biotite.sequence import ProteinSequence

    cleaned = _NOT_IN_ALPHABET.sub("X", text.upper())
    if not cleaned:
        raise InputError(f"The {what} is empty; nothing to align.")
    return ProteinSequence(cleaned)


def align_sequences(sequence: str, chain_sequence: str):
    """The best global alignment (biotite `Alignment`) of two protein sequences: BLOSUM62,
    affine gaps, free end gaps. One setting for mapping onto structures and for comparing
    proteins, so both pair residues the same way."""
    from biotite.sequence import align

    matrix = align.SubstitutionMatrix.std_protein_matrix()
    return align.align_optimal(
        _protein(sequence, "sequence"),
        _protein(chain_sequence, "chain sequence"),
        matrix,
        gap_penalty=GAP_PENALTY,
        terminal_penalty=False,
        max_number=1,
    )[0]


def _placement(alignment, sequence: str, chain_sequence: str) -> Placement | None:
    trace = alignment.trace
    pairs = trace[(trace[:, 0] >= 0) & (trace[:, 1] >= 0)]
    if len(pairs) == 0:
        return None
    same = sum(sequence[i] == chain_sequence[j] for i, j in pairs)
    return Placement(
        sequence_start=int(pairs[0, 0]) + 1,
        sequence_end=int(pairs[-1, 0]) + 1,
        score=int(alignment.score),
        identity=same / len(pairs),
        aligned=len(pairs),
        pairs=tuple((int(i), int(j)) for i, j in pairs),
    )


def find_placements(sequence: str, chain_sequence: str) -> list[Placement]:
    """Every place the chain fits about as well as the best one, in sequence order."""
    best = _placement(align_sequences(sequence, chain_sequence), sequence, chain_sequence)
    if best is None or best.score <= 0:
        return [best] if best else []
    found = [best]
    masked = list(sequence)
    for _ in range(MAX_PLACEMENTS * 2):
        for p in found:
            masked[p.sequence_start - 1 : p.sequence_end] = "X" * (p.sequence_end - p.sequence_start + 1)
        candidate = _placement(align_sequences("".join(masked), chain_sequence), sequence, chain_sequence)
        if candidate is None or candidate.score < REPEAT_SCORE_RATIO * best.score:
            break
        if any(_overlap(candidate, p) for p in found):
            break
        found.append(candidate)
        if len(found) >= MAX_PLACEMENTS:
            break
    return sorted(found, key=lambda p: p.sequence_start)


def _overlap(a: Placement, b: Placement) -> bool:
    return a.sequence_start <= b.sequence_end and b.sequence_start <= a.sequence_end


def map_to_chain(
    sequence: str, chain: Chain, placement: int | None = None
) -> ResidueMapping:
    """Map `sequence` onto one chain. `placement` (1-based) picks among repeat placements."""
    if len(chain) == 0:
        raise InputError(f"Chain {chain.id} has no amino-acid residues to map onto.")
    placements = find_placements(sequence, chain.sequence)
    if not placements:
        raise InputError(
            f"The sequence does not align with chain {chain.id} at all; check that the "
            "structure is of this protein, or pick another chain."
        )
    if placement is None:
        chosen = 0
    elif 1 <= placement <= len(placements):
        chosen = placement - 1
    else:
        raise InputError(
            f"Placement {placement} does not exist: chain {chain.id} fits the sequence at "
            f"{len(placements)} place(s); choose 1-{len(placements)}."
        )
    picked = placements[chosen]
    index_of_position = [-1] * len(sequence)
    for i, j in picked.pairs:
        index_of_position[i] = j
    index_of_position = _gaps_where_numbering_says(index_of_position, sequence, chain)
    residues: list[Residue | None] = [chain.residues[j] if j >= 0 else None for j in index_of_position]
    mapped = sum(r is not None for r in residues)
    return ResidueMapping(
        chain_id=chain.id,
        positions=tuple(MappedPosition(i + 1, r) for i, r in enumerate(residues)),
        coverage=mapped / len(sequence),
        identity=picked.identity,
        chain_coverage=mapped / len(chain),
        placements=tuple(placements),
        chosen=chosen,
    )


def _gaps_where_numbering_says(index_of_position: list[int], sequence: str, chain: Chain) -> list[int]:
    """Slide each chain gap across identical residues until it matches the residue numbering.

    An alignment cannot tell where a run of missing residues sits when the residues
    around it repeat (ubiquitin's T-L-T-G-K-T: missing 10-14 aligns just as well as
    missing 9-13), but the file's numbering can: residue 9 followed by residue 15 means
    five are missing right there. Only moves that keep every aligned pair identical are
    made, so the alignment score never changes.
    """
    numbers = [r.number for r in chain.residues]
    letters = chain.sequence
    result = list(index_of_position)
    mapped = [p for p, j in enumerate(result) if j >= 0]
    for left, right in zip(mapped, mapped[1:]):
        width = right - left - 1
        if width == 0 or result[right] != result[left] + 1:
            continue  # no gap, or the gap is in the sequence rather than the chain
        if numbers[result[right]] - numbers[result[left]] - 1 == width:
            continue
        for step in (-1, 1):
            trial, lo, hi = list(result), left, right
            while True:
                if step < 0:  # move the residue before the gap to just before its right end
                    j = trial[lo]
                    if lo == 0 or trial[lo - 1] != j - 1 or sequence[hi - 1] != letters[j]:
                        break
                    trial[hi - 1], trial[lo] = j, -1
                else:  # move the residue after the gap to just after its left end
                    j = trial[hi]
                    if hi + 1 >= len(trial) or trial[hi + 1] != j + 1 or sequence[lo + 1] != letters[j]:
                        break
                    trial[lo + 1], trial[hi] = j, -1
                lo, hi = lo + step, hi + step
                if numbers[trial[hi]] - numbers[trial[lo]] - 1 == width:
                    result = trial
                    break
            if result is trial:
                break
    return result


def map_to_structure(
    sequence: str, structure: Structure, chain_id: str | None = None, placement: int | None = None
) -> ResidueMapping:
    """Map onto `chain_id`, or onto the chain whose alignment scores best (first on ties)."""
    if not sequence:
        raise InputError("The sequence is empty; nothing to map.")
    if chain_id is not None:
        return map_to_chain(sequence, structure.chain(chain_id), placement)
    scored = []
    for chain in structure.chains.values():
        found = _placement(align_sequences(sequence, chain.sequence), sequence, chain.sequence)
        if found is not None:
            scored.append((found.score, found.aligned, chain))
    if not scored:
        raise InputError("The sequence does not align with any chain of the structure.")
    best = max(scored, key=lambda item: (item[0], item[1]))  # max keeps the first on ties
    return map_to_chain(sequence, best[2], placement)


def values_as_bfactor(structure_bytes: bytes | str, fmt: str, mapping: ResidueMapping, values,
                      default: float = 0.0):
    """(atoms of model 1 with each mapped residue's B-factor set to its value, source format).

    Every atom of a mapped residue gets the value of its sequence position; other atoms
    (unmapped residues, ligands, water) get `default`, so viewers can colour by the value.
    """
    by_residue = mapping.values_by_residue(values)
    atoms, detected, _ = load_atoms(structure_bytes, fmt)
    keys = zip(atoms.chain_id.tolist(), atoms.res_id.tolist(), [c.strip() for c in atoms.ins_code.tolist()])
    atoms.b_factor = np.array([by_residue.get(key, default) for key in keys], dtype=float)
    return atoms, detected


def write_values_as_bfactor(
    structure_bytes: bytes | str,
    fmt: str,
    mapping: ResidueMapping,
    values: Sequence[float] | np.ndarray,
    default: float = 0.0,
    out_format: str | None = None,
) -> str:
    """The structure (model 1) with each mapped residue's B-factor set to its value (atoms only;
    `structure_exports.bfactor_structure` also keeps the header and says what the column holds).

    `fmt` is the format (or file name) of `structure_bytes`; the text returned is in
    `out_format` ("pdb" or "cif", default: the same format).
    """
    atoms, detected = values_as_bfactor(structure_bytes, fmt, mapping, values, default)
    target = {"pdb": "pdb", "cif": "cif", "mmcif": "cif"}.get(str(out_format or detected).lower())
    if target is None:
        raise InputError(f"Unknown export format '{out_format}': use 'pdb' or 'cif'.")
    return write_atoms(atoms, target)
