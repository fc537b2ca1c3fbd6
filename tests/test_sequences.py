"""Sequence and FASTA parsing: what users paste, good and bad."""

import pytest

from interplm_core.errors import InputError
from interplm_core.sequences import parse_sequence_input


def test_bare_sequence_is_cleaned_and_named_query():
    records = parse_sequence_input("  mkta yiak\nqrqi  \n")
    assert [(r.id, r.sequence) for r in records] == [("query", "MKTAYIAKQRQI")]


def test_fasta_with_several_records_keeps_ids_descriptions_and_order():
    text = ">sp|P1|A_HUMAN first protein\nMKT\nAYI\n\n>second\nggg\n>third desc\nW\n"
    records = parse_sequence_input(text)
    assert [r.id for r in records] == ["sp|P1|A_HUMAN", "second", "third"]
    assert [r.sequence for r in records] == ["MKTAYI", "GGG", "W"]
    assert records[0].description == "first protein"


def test_windows_line_endings_and_byte_order_mark():
    records = parse_sequence_input("\ufeff>x\r\nMKT\r\nAYI\r\n")
    assert records[0].sequence == "MKTAYI"


def test_rare_letters_are_kept_for_esm_to_tokenise():
    assert parse_sequence_input("MXBZUO")[0].sequence == "MXBZUO"


def test_trailing_stop_is_dropped():
    assert parse_sequence_input("MKTA*")[0].sequence == "MKTA"


def test_duplicate_ids_get_suffixes():
    records = parse_sequence_input(">a\nMK\n>a\nMT\n>a\nMA")
    assert [r.id for r in records] == ["a", "a_2", "a_3"]


def test_real_uniprot_fasta_fixture(fixtures_dir):
    text = (fixtures_dir / "uniprot" / "uniprot_sprot_multi_ex_8seqs.fasta").read_text()
    records = parse_sequence_input(text)
    headers = [line[1:].split()[0] for line in text.splitlines() if line.startswith(">")]
    assert [r.id for r in records] == headers
    bodies = text.split(">")[1:]
    for record, body in zip(records, bodies):
        assert record.sequence == "".join(body.splitlines()[1:])


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("MKTJAYI", "'J' at position 4"),
        ("MKT1AYI", "'1' at position 4"),
        ("MK*TA", "stop codon '*' inside the sequence at position 3"),
        ("MKT-A", "'-' at position 4"),
        (">p1\nMKTA\n>p2\nMK#A", "Record 'p2': invalid character '#' at position 3"),
    ],
)
def test_invalid_characters_name_record_position_and_character(text, fragment):
    with pytest.raises(InputError) as err:
        parse_sequence_input(text)
    assert fragment in str(err.value)


@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_empty_input_is_rejected(text):
    with pytest.raises(InputError, match="empty"):
        parse_sequence_input(text)


def test_record_without_residues_is_rejected():
    with pytest.raises(InputError, match="Record 'b' has no residues"):
        parse_sequence_input(">a\nMK\n>b\n\n")


def test_enormous_protein_is_rejected_with_limit():
    with pytest.raises(InputError, match="100,001 residues; the limit is 20,000"):
        parse_sequence_input("A" * 100_001)


def test_too_many_records_are_rejected():
    with pytest.raises(InputError, match="more than 3 records"):
        parse_sequence_input(">a\nM\n>b\nM\n>c\nM\n>d\nM", max_records=3)


def test_header_not_at_start_is_explained():
    with pytest.raises(InputError, match="must begin with a header"):
        parse_sequence_input("MKTA\n>x\nMK")


def test_cleaning_notes_report_lower_case_and_rare_letters():
    from interplm_core.sequences import cleaning_notes

    text = ">p1 test\nmktaBiakZ\nXXu"
    records = parse_sequence_input(text)
    assert records[0].sequence == "MKTABIAKZXXU"
    notes = cleaning_notes(text, records)
    assert notes[0] == "8 lower-case letters read as upper case."
    assert any(n.startswith("p1: X (unknown residue) at positions 10, 11;") for n in notes)
    assert any(n.startswith("p1: B (D or N, ambiguous) at position 5;") for n in notes)
    assert any(n.startswith("p1: Z (E or Q, ambiguous) at position 9;") for n in notes)
    assert any(n.startswith("p1: U (selenocysteine) at position 12;") for n in notes)
    assert len(notes) == 5
    assert cleaning_notes("MKTAYIAK", parse_sequence_input("MKTAYIAK")) == []
