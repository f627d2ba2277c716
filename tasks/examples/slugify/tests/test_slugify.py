import pytest

from slugify import slugify


def test_basic_words():
    assert slugify("Hello World") == "hello-world"


def test_punctuation_runs_collapse():
    assert slugify("Hello,   World!!! How are you?") == "hello-world-how-are-you"


def test_accents_are_removed():
    assert slugify("Crème Brûlée") == "creme-brulee"


def test_no_leading_or_trailing_separator():
    assert slugify("  --Hello--  ") == "hello"


def test_apostrophes_do_not_split_words():
    assert slugify("Don't stop") == "dont-stop"


def test_custom_separator():
    assert slugify("Hello World", separator="_") == "hello_world"


def test_only_punctuation_gives_empty_string():
    assert slugify("!!! ??? ...") == ""


def test_empty_separator_is_rejected():
    with pytest.raises(ValueError):
        slugify("a b", separator="")
