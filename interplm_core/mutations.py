"""Point mutations written the way biologists write them ("A123G, K48R") and applied to a sequence.

Every mistake gets a message that names the offending item and says what the sequence
really has there, because the common error is a numbering offset (mature chain vs.
precursor, or a PDB numbering) and the user needs to see it to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError
from .sequences import ALLOWED

_ITEM = re.compile(r"^([A-Za-z])(\d+)([A-Za-z*])$")
_SPLIT = re.compile(r"[\s,;]+")
#: Most mutations accepted in one list (a deep-mutational scan belongs in the CLI).
MAX_MUTATIONS = 200


@dataclass(frozen=True)
class Mutation:
    """One substitution; `position` is 1-based."""

    wild_type: str
    position: int
    mutant: str

    def __str__(self) -> str:
        return f"{self.wild_type}{self.position}{self.mutant}"


def parse_mutations(text: str) -> list[Mutation]:
    """'A123G, K48R' (commas, spaces, semicolons or new lines between items) -> mutations.

    A leading 'p.' (HGVS style, one-letter codes) is accepted and dropped.
    """
    items = [t for t in _SPLIT.split((text or "").strip()) if t]
    if not items:
        raise InputError("No mutations given: write them like A123G, K48R (wild type, position, mutant).")
    if len(items) > MAX_MUTATIONS:
        raise InputError(f"{len(items)} mutations given; at most {MAX_MUTATIONS} at once.")
    mutations: list[Mutation] = []
    seen: dict[int, Mutation] = {}
    for item in items:
        raw = item[2:] if item.lower().startswith("p.") else item
        match = _ITEM.match(raw)
        if not match:
            raise InputError(
                f"Cannot read the mutation '{item}': write one-letter wild type, position and "
                "mutant, such as A123G."
            )
        wt, pos, mt = match.group(1).upper(), int(match.group(2)), match.group(3).upper()
        if mt == "*":
            raise InputError(
                f"'{item}' is a stop (nonsense) mutation; only substitutions can be analysed. "
                "To study a truncation, paste the shortened sequence as the second protein."
            )
        for letter in (wt, mt):
            if letter not in ALLOWED:
                raise InputError(f"'{item}': '{letter}' is not a one-letter amino-acid code.")
        if pos < 1:
            raise InputError(f"'{item}': positions start at 1.")
        if wt == mt:
            raise InputError(f"'{item}' changes nothing (wild type and mutant are both {wt}).")
        if pos in seen:
            raise InputError(f"Position {pos} is mutated twice ({seen[pos]} and {item}); keep one.")
        mutation = Mutation(wt, pos, mt)
        seen[pos] = mutation
        mutations.append(mutation)
    return sorted(mutations, key=lambda m: m.position)


def check_mutations(sequence: str, mutations: list[Mutation]) -> None:
    """Raise InputError if a position is outside the sequence or its wild type does not match."""
    problems = []
    for m in mutations:
        if m.position > len(sequence):
            problems.append(f"{m}: position {m.position} is past the end (the sequence has {len(sequence)} residues)")
        elif sequence[m.position - 1] != m.wild_type:
            problems.append(f"{m}: residue {m.position} is {sequence[m.position - 1]}, not {m.wild_type}")
    if problems:
        hint = ""
        if any("not" in p for p in problems):
            hint = (
                " Check the numbering: UniProt counts from the initiator Met, including any signal "
                "peptide, while papers and PDB files often count from the mature chain."
            )
        raise InputError("These mutations do not fit the sequence: " + "; ".join(problems) + "." + hint)


def apply_mutations(sequence: str, mutations: list[Mutation]) -> str:
    """The mutant sequence, after checking every mutation against `sequence`."""
    check_mutations(sequence, mutations)
    residues = list(sequence)
    for m in mutations:
        residues[m.position - 1] = m.mutant
    return "".join(residues)


def mutant_label(mutations: list[Mutation]) -> str:
    """A short record id for the mutant, e.g. 'K48R' or 'A12G+3more'."""
    names = [str(m) for m in mutations]
    return "+".join(names) if len(names) <= 3 else f"{'+'.join(names[:2])}+{len(names) - 2}more"
