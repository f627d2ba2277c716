from textstats.stats import top_words, word_counts
from textstats.tokenize import tokenize


def test_tokenize_lowercases_and_splits_on_punctuation():
    assert tokenize("Hello, World! Hello...") == ["hello", "world", "hello"]


def test_tokenize_keeps_inner_apostrophes():
    assert tokenize("Don't stop; it's 5 o'clock") == ["don't", "stop", "it's", "5", "o'clock"]


def test_word_counts():
    assert word_counts("a b a C c c") == {"a": 2, "b": 1, "c": 3}


def test_top_words_by_count():
    assert top_words("x y y z z z", 2) == [("z", 3), ("y", 2)]


def test_top_words_ties_are_alphabetical():
    assert top_words("pear apple pear apple fig", 3) == [("apple", 2), ("pear", 2), ("fig", 1)]


def test_top_words_bounds():
    assert top_words("a b", 0) == []
    assert top_words("a b", 10) == [("a", 1), ("b", 1)]
