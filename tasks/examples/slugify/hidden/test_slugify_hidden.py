from slugify import slugify


def test_typographic_apostrophe():
    assert slugify("It’s Here") == "its-here"


def test_digits_and_dots():
    assert slugify("Version 2.0.1 released") == "version-2-0-1-released"


def test_other_scripts_and_emoji_are_separators():
    assert slugify("日本 rocks 🚀 hard") == "rocks-hard"


def test_ligature_and_whitespace_kinds():
    assert slugify("ﬁne\tdining\nroom") == "fine-dining-room"


def test_multi_character_separator():
    assert slugify("a b c", separator="--") == "a--b--c"


def test_empty_input():
    assert slugify("") == ""
