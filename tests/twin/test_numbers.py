"""Whole numbers from client text: ASCII digits only, whatever str.isdigit says."""

from hypothesis import given
from hypothesis import strategies as st

from twin.numbers import is_whole_number


def test_superscripts_and_other_scripts_are_not_whole_numbers():
    assert "\u00b2".isdigit() and not is_whole_number("\u00b2")
    assert not is_whole_number("\u0663")  # Arabic-Indic three, which int() would read
    assert not is_whole_number("") and not is_whole_number("-1") and not is_whole_number(" 1")
    assert is_whole_number("0") and is_whole_number("20250630")


@given(st.text(max_size=8))
def test_whatever_is_a_whole_number_int_reads_as_its_ascii_digits(text):
    if is_whole_number(text):
        assert int(text) >= 0 and str(int(text)).lstrip("0") == text.lstrip("0")
