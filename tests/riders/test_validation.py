import pytest

from riders.models import DISPLAY_NAME_MAX_LENGTH, USERNAME_MAX_LENGTH
from riders.validation import (
    USERNAME_MIN_LENGTH,
    clean_display_name,
    clean_email,
    clean_username,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Rider_One", "Rider_One"),
        ("  padded.name  ", "padded.name"),
        ("a-b", "a-b"),
        ("x" * USERNAME_MAX_LENGTH, "x" * USERNAME_MAX_LENGTH),
        # NFKC folds full-width letters into their ASCII twins before the check.
        pytest.param("\uff52\uff49\uff44\uff45\uff52", "rider", id="full-width"),
    ],
)
def test_clean_username_accepts_and_normalises(raw, expected):
    assert clean_username(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(None, id="none"),
        pytest.param(42, id="not-text"),
        pytest.param("ab", id="too-short"),
        pytest.param("x" * (USERNAME_MAX_LENGTH + 1), id="too-long"),
        pytest.param("\u0430dmin", id="cyrillic-a-homoglyph"),
        pytest.param("\u03bfscar", id="greek-omicron-homoglyph"),
        pytest.param("ad\u200bmin", id="zero-width-space"),
        pytest.param("two words", id="inner-space"),
        pytest.param("_leading", id="leading-underscore"),
        pytest.param("trailing.", id="trailing-dot"),
        pytest.param("semi;colon", id="punctuation"),
        pytest.param("line\nbreak", id="inner-newline"),
        pytest.param("nul\x00byte", id="nul"),
        pytest.param("caf\u00e9", id="accented-latin"),
    ],
)
def test_clean_username_rejects(raw):
    value, problem = clean_username(raw)
    assert value is None
    assert problem


def test_clean_username_length_limits_are_the_documented_ones():
    assert clean_username("a" * USERNAME_MIN_LENGTH)[0] == "a" * USERNAME_MIN_LENGTH
    assert clean_username("a" * (USERNAME_MIN_LENGTH - 1))[0] is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("rider@example.com", "rider@example.com"),
        # The domain is case-insensitive and stored lower-case; the local part is kept as typed.
        ("  Jane.Doe@Example.COM ", "Jane.Doe@example.com"),
    ],
)
def test_clean_email_accepts_and_normalises(raw, expected):
    assert clean_email(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
        pytest.param(None, id="none"),
        pytest.param(["a@b.co"], id="not-text"),
        pytest.param("no-at-sign", id="no-at"),
        pytest.param("two@@example.com", id="double-at"),
        pytest.param("rider@", id="no-domain"),
        pytest.param("in side@example.com", id="inner-space"),
        pytest.param("a\x00@example.com", id="nul"),
        pytest.param(
            "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com", id="long"
        ),
    ],
)
def test_clean_email_rejects(raw):
    value, problem = clean_email(raw)
    assert value is None
    assert problem


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("  Easy   Rider \t", "Easy Rider"),
        ("Zoë Ride", "Zoë Ride"),
        pytest.param("\uff2d\uff41\uff58", "Max", id="full-width"),
    ],
)
def test_clean_display_name_accepts_and_normalises(raw, expected):
    assert clean_display_name(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="none"),
        pytest.param(7, id="not-text"),
        pytest.param("x" * (DISPLAY_NAME_MAX_LENGTH + 1), id="too-long"),
        # Spaces it would collapse do not let a name past the 64 characters the schema states.
        pytest.param("a" + " " * DISPLAY_NAME_MAX_LENGTH + "b", id="too-long-as-typed"),
        pytest.param("\ufdfa" * 4, id="too-long-once-normalised"),
        pytest.param("nul\x00", id="nul"),
        pytest.param("bell\x07", id="control"),
        pytest.param("evil\u202eeman", id="bidi-override"),
        pytest.param("half\ud800", id="lone-surrogate"),
    ],
)
def test_clean_display_name_rejects(raw):
    value, problem = clean_display_name(raw)
    assert value is None
    assert problem
