from textstats.stats import top_words, word_counts
from textstats.tokenize import tokenize


def test_typographic_apostrophe_and_dashes():
    assert tokenize("Don’t stop—it's 2024!") == ["don't", "stop", "it's", "2024"]


def test_apostrophes_at_word_edges_are_dropped():
    assert tokenize("'quoted' rock'n'roll dogs' ''") == ["quoted", "rock'n'roll", "dogs"]


def test_unicode_letters_and_underscores():
    assert tokenize("Ünïcode_naïve 日本語") == ["ünïcode", "naïve", "日本語"]


def test_empty_text():
    assert tokenize("") == []
    assert word_counts("  ...  ") == {}
    assert top_words("", 3) == []


def test_negative_n():
    assert top_words("a a b", -1) == []
