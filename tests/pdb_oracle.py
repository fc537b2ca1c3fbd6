"""An independent reading of PDB text (fixed columns, no biotite) to check our parser against.

Only what the tests need: residues of model 1 per chain (standard amino acids and MSE),
with their CA B-factor, read straight from the ATOM/HETATM columns of the PDB format.
"""

from __future__ import annotations

THREE_TO_ONE = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
    "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
    "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V", "MSE": "M",
}


def pdb_residues(text: str) -> dict[str, list[tuple[int, str, str, float | None]]]:
    """{chain: [(number, insertion code, one-letter, CA B-factor), ...]} for model 1."""
    chains: dict[str, list] = {}
    seen: dict[tuple, int] = {}
    for line in text.splitlines():
        if line.startswith("ENDMDL"):
            break
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        res_name = line[17:20].strip()
        if res_name not in THREE_TO_ONE:
            continue
        chain, number, icode = line[21], int(line[22:26]), line[26].strip()
        key = (chain, number, icode)
        if key not in seen:
            chains.setdefault(chain, []).append([number, icode, THREE_TO_ONE[res_name], None])
            seen[key] = len(chains[chain]) - 1
        if line[12:16].strip() == "CA" and chains[chain][seen[key]][3] is None:
            chains[chain][seen[key]][3] = float(line[60:66])
    return {c: [tuple(r) for r in rows] for c, rows in chains.items()}


def pdb_sequence(text: str, chain: str) -> str:
    return "".join(r[2] for r in pdb_residues(text)[chain])
