"""agent.spec: task specs load, and every bad spec is one clear BadInput line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from codemend.agent.spec import MAX_SPEC_BYTES, Task, load_task
from codemend.sandbox.errors import BadInput
from codemend.sandbox.workspace import Workspace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = sorted((Path(__file__).parents[2] / "tasks" / "examples").glob("*/spec.toml"))
HEAD = 'name = "demo"\nprompt = "Write f."\nsolution = "sol.py"\n'
TEST = '[[tests]]\npath = "tests/test_sol.py"\n'
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A spec folder with one visible test file."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sol.py").write_text("def test_a():\n    pass\n")
    return tmp_path


def write(folder: Path, text: str | bytes) -> Path:
    spec = folder / "spec.toml"
    spec.write_bytes(text if isinstance(text, bytes) else text.encode())
    return spec


def bad(spec: Path, *needles: str) -> str:
    """Load ``spec``, expect BadInput; check it is one line naming the file and ``needles``."""
    with pytest.raises(BadInput) as err:
        load_task(spec)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{spec}: ")
    assert "; " in message, "every message says how to fix it"
    for needle in needles:
        assert needle in message
    assert err.value.exit_code == 2
    return message


# -- valid specs ---------------------------------------------------------------------------

def test_there_are_enough_examples():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_loads(spec: Path):
    task = load_task(spec)
    assert task.name == spec.parent.name
    assert task.tests and task.hidden_tests
    assert all(p.startswith("tests/") for p in task.tests)
    assert all(p.startswith("hidden/") for p in task.hidden_tests)
    for rel in task.solution_files:
        assert (spec.parent / "reference" / rel).is_file()
    assert task.spec_path.is_absolute()


def test_defaults_and_a_path_test(folder: Path):
    task = load_task(write(folder, HEAD + TEST))
    assert task == Task(name="demo", prompt="Write f.", solution_files=["sol.py"],
                        tests={"tests/test_sol.py": "def test_a():\n    pass\n"},
                        hidden_tests={}, max_iterations=6, check_timeout_s=60.0,
                        spec_path=(folder / "spec.toml").absolute())


def test_inline_tests_limits_and_a_solution_list(folder: Path):
    spec = write(folder, 'name = "m.v-2_x"\nprompt = """Two files."""\n'
                 'solution = ["pkg/a.py", "./pkg/b.py"]\n[limits]\nmax_iterations = 3\n'
                 'check_timeout_s = 2.5\n[[tests]]\nsource = "def test_a(): pass"\n'
                 '[[tests]]\nsource = "def test_b(): pass"\nname = "tests/test_named.py"\n'
                 '[[hidden_tests]]\nsource = "def test_h(): pass"\n')
    task = load_task(spec)
    assert task.solution_files == ["pkg/a.py", "pkg/b.py"]
    assert list(task.tests) == ["tests/test_inline_0.py", "tests/test_named.py"]
    assert list(task.hidden_tests) == ["hidden/test_hidden_inline_0.py"]
    assert (task.max_iterations, task.check_timeout_s) == (3, 2.5)


def test_a_byte_order_mark_is_fine(folder: Path):
    assert load_task(write(folder, b"\xef\xbb\xbf" + (HEAD + TEST).encode())).name == "demo"


def test_a_symlink_that_stays_inside_is_fine(folder: Path):
    os.symlink("test_sol.py", folder / "tests" / "test_alias.py")
    task = load_task(write(folder, HEAD + '[[tests]]\npath = "tests/test_alias.py"\n'))
    assert list(task.tests) == ["tests/test_alias.py"]


def test_workspace_holds_files_and_tests(folder: Path):
    spec = write(folder, HEAD + TEST + '[[hidden_tests]]\nsource = "def test_h(): pass"\n')
    task = load_task(spec)
    visible = task.workspace({"sol.py": "x = 1\n"})
    assert isinstance(visible, Workspace)
    assert visible.files == {"sol.py": "x = 1\n"}
    assert visible.test_paths == ["tests/test_sol.py"]
    full = task.workspace({"sol.py": "x = 1\n"}, hidden=True)
    assert full.test_paths == ["hidden/test_hidden_inline_0.py", "tests/test_sol.py"]


def test_workspace_tests_win_over_files_on_the_same_path(folder: Path):
    task = load_task(write(folder, HEAD + TEST))
    ws = task.workspace({"sol.py": "", "tests/test_sol.py": "def test_cheat(): pass\n"})
    assert ws.files == {"sol.py": ""}
    assert ws.tests["tests/test_sol.py"].startswith("def test_a")


# -- the spec file itself ------------------------------------------------------------------

def test_missing_file(tmp_path: Path):
    bad(tmp_path / "nope.toml", "no such file")


def test_a_folder(tmp_path: Path):
    bad(tmp_path, "is a folder", "spec.toml")


def test_invalid_toml_names_line_and_column(folder: Path):
    bad(write(folder, HEAD + "x = = 1\n"), "invalid TOML", "line 4", "column 5")


def test_binary_garbage(folder: Path):
    bad(write(folder, bytes(range(256)) * 4), "not UTF-8")


def test_huge_spec(folder: Path):
    bad(write(folder, HEAD + TEST + "#" * MAX_SPEC_BYTES), "larger than 1 MiB")


def test_deeply_nested_toml(folder: Path):
    bad(write(folder, "x = " + "[" * 100_000 + "]" * 100_000))


# -- fields --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "needles"), [
    (HEAD + 'description = "hi"\n' + TEST, ["description: unknown field 'description'",
                                            "name, prompt, solution, limits, tests"]),
    (HEAD + "[limits]\nretries = 2\n" + TEST, ["limits.retries: unknown field", "max_iterations"]),
    (HEAD + TEST + "timeout = 3\n", ["tests[0].timeout: unknown field"]),
    ('prompt = "p"\nsolution = "sol.py"\n' + TEST, ["name: is required"]),
    ('name = "demo"\nsolution = "sol.py"\n' + TEST, ["prompt: is required"]),
    ('name = "demo"\nprompt = "p"\n' + TEST, ["solution: is required"]),
    (HEAD, ["tests: is required", "[[tests]]"]),
    (HEAD + "tests = []\n", ["tests: needs at least one entry"]),
    (HEAD + '[tests]\npath = "tests/test_sol.py"\n', ["tests: expected a list, got a table"]),
    ('name = 5\nprompt = "p"\nsolution = "sol.py"\n' + TEST, ["name: expected a string, got 5"]),
    ('name = "two words"\nprompt = "p"\nsolution = "sol.py"\n' + TEST, ["name: 'two words'"]),
    ('name = ""\nprompt = "p"\nsolution = "sol.py"\n' + TEST, ["name: is empty"]),
    ('name = "demo"\nprompt = """  \n"""\nsolution = "sol.py"\n' + TEST, ["prompt: is empty"]),
    (HEAD + '[limits]\nmax_iterations = "6"\n' + TEST, ["limits.max_iterations: expected a whole"]),
    (HEAD + "[limits]\nmax_iterations = 6.0\n" + TEST, ["limits.max_iterations: expected a whole"]),
    (HEAD + "[limits]\nmax_iterations = 0\n" + TEST, ["limits.max_iterations: 0 is out of range",
                                                       "1 to 100"]),
    (HEAD + "[limits]\ncheck_timeout_s = 601\n" + TEST, ["limits.check_timeout_s: 601 is out"]),
    (HEAD + "[limits]\ncheck_timeout_s = true\n" + TEST, ["check_timeout_s: expected a number"]),
    (HEAD + "[limits]\ncheck_timeout_s = nan\n" + TEST, ["check_timeout_s: nan is out of range"]),
    (HEAD + 'limits = "fast"\n' + TEST, ["limits: expected a table"]),
    (HEAD + '[[tests]]\npath = "tests/test_sol.py"\nsource = "x"\n', ["tests[0]: give exactly"]),
    (HEAD + '[[tests]]\nname = "tests/test_x.py"\n', ["tests[0]: give exactly one"]),
    (HEAD + '[[tests]]\npath = "tests/test_sol.py"\nname = "x.py"\n', ["tests[0]: `name` only"]),
    (HEAD + "[[tests]]\npath = 3\n", ["tests[0].path: expected a string, got 3"]),
    (HEAD + '[[tests]]\nsource = ""\n', ["tests[0].source: is empty"]),
    (HEAD + '[[tests]]\nsource = "x"\nname = "tests/data.txt"\n', ["tests[0].name: 'tests/data"]),
])
def test_field_errors(folder: Path, text: str, needles: list[str]):
    bad(write(folder, text), *needles)


@pytest.mark.parametrize(("solution", "needle"), [
    ('"/abs/sol.py"', "solution: '/abs/sol.py' is an absolute path"),
    ('"C:/sol.py"', "is an absolute path"),
    ('"../sol.py"', "solution: '../sol.py' points outside the workspace"),
    ('"a/../../sol.py"', "points outside"),
    ('""', "solution: '' is empty"),
    ('"conftest.py"', "would configure pytest"),
    ('"pkg/conftest.py"', "would configure pytest"),
    ('"pyproject.toml"', "would configure pytest"),
    ('"setup.cfg"', "would configure"),
    ('"tox.ini"', "would configure"),
    ('"pytest.ini"', "would configure"),
    ('"sitecustomize.py"', "would configure"),
    ('"usercustomize.py"', "would configure"),
    ('"evil.pth"', "would configure"),
    ('"test_sol.py"', "named like a test file"),
    ('"sol_test.py"', "named like a test file"),
    ('"sol.txt"', "is not a .py file"),
    ('"json.py"', "solution: 'json.py' would be imported as the standard library's 'json'"),
    ('"os.py"', "the standard library's 'os' module"),
    ('"re.py"', "e.g. my_re.py"),
    ('"types.py"', "the standard library's 'types'"),
    ('"email/parser.py"', "the standard library's 'email'"),
    ('["sol.py", "typing.py"]', "solution[1]: 'typing.py' would be imported"),
    ("5", "solution: expected a path string or a list of them, got 5"),
    ("[]", "solution: needs at least one entry"),
    ('["a.py", 3]', "solution[1]: expected a string, got 3"),
    ('["a.py", "../b.py"]', "solution[1]: '../b.py' points outside"),
    ('["a.py", "./a.py"]', "solution[1]: 'a.py' is listed twice"),
])
def test_solution_errors(folder: Path, solution: str, needle: str):
    bad(write(folder, f'name = "demo"\nprompt = "p"\nsolution = {solution}\n' + TEST), needle)


def test_standard_library_names_only_at_the_top(folder: Path):
    """A module inside a package may share a standard name: ``pkg.json`` hides nothing."""
    task = load_task(write(folder, 'name = "demo"\nprompt = "p"\n'
                           'solution = ["pkg/__init__.py", "pkg/json.py", "jsonish.py"]\n' + TEST))
    assert task.solution_files == ["pkg/__init__.py", "pkg/json.py", "jsonish.py"]


# -- test files ----------------------------------------------------------------------------

def test_a_missing_test_file(folder: Path):
    msg = bad(write(folder, HEAD + '[[tests]]\npath = "tests/nope.py"\n'))
    assert msg == (f"{folder / 'spec.toml'}: tests[0].path: 'tests/nope.py' does not exist; "
                   "give a path relative to the spec's folder")


@pytest.mark.parametrize(("path", "needle"), [
    ("/etc/hostname.py", "'/etc/hostname.py' is an absolute path"),
    ("../outside.py", "'../outside.py' points outside the spec's folder"),
    ("tests/../../outside.py", "'tests/../../outside.py' points outside the spec's folder"),
    ("tests/test_sol.txt", "'tests/test_sol.txt' is not a .py file"),
])
def test_test_paths_must_stay_inside(folder: Path, path: str, needle: str):
    (folder.parent / "outside.py").write_text("def test_x(): pass\n")
    bad(write(folder, HEAD + f'[[hidden_tests]]\npath = "{path}"\n' + TEST),
        f"hidden_tests[0].path: {needle}")


def test_a_symlink_pointing_outside(folder: Path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "test_secret.py"
    elsewhere.write_text("def test_x(): pass\n")
    os.symlink(elsewhere, folder / "tests" / "test_link.py")
    bad(write(folder, HEAD + '[[tests]]\npath = "tests/test_link.py"\n'),
        "tests[0].path: 'tests/test_link.py' resolves outside the spec's folder")


def test_a_symlinked_folder_pointing_outside(folder: Path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "test_x.py").write_text("def test_x(): pass\n")
    os.symlink(elsewhere, folder / "linked")
    bad(write(folder, HEAD + '[[tests]]\npath = "linked/test_x.py"\n'), "resolves outside")


def test_a_symlink_loop(folder: Path):
    os.symlink("test_loop.py", folder / "tests" / "test_loop.py")
    bad(write(folder, HEAD + '[[tests]]\npath = "tests/test_loop.py"\n'), "tests[0].path")


def test_a_folder_as_test(folder: Path):
    (folder / "tests" / "test_dir.py").mkdir()
    bad(write(folder, HEAD + '[[tests]]\npath = "tests/test_dir.py"\n'), "is a folder")


def test_a_binary_test_file(folder: Path):
    (folder / "tests" / "test_bin.py").write_bytes(b"\xff\xfe\x00garbage")
    bad(write(folder, HEAD + '[[tests]]\npath = "tests/test_bin.py"\n'),
        "tests[0].path: 'tests/test_bin.py' is not UTF-8")


def test_a_huge_test_file(folder: Path):
    (folder / "tests" / "test_big.py").write_text("#" * (MAX_SPEC_BYTES + 1))
    bad(write(folder, HEAD + '[[tests]]\npath = "tests/test_big.py"\n'), "larger than 1 MiB")


def test_duplicate_workspace_paths(folder: Path):
    bad(write(folder, HEAD + TEST + TEST), "tests[1].path: 'tests/test_sol.py' is already used "
        "by tests[0].path")
    bad(write(folder, HEAD + TEST + '[[hidden_tests]]\nsource = "x"\nname = "tests/test_sol.py"\n'),
        "hidden_tests[0].name: 'tests/test_sol.py' is also tests[0].path")


def test_same_basename_in_visible_and_hidden_tests(folder: Path):
    (folder / "hidden").mkdir()
    (folder / "hidden" / "test_sol.py").write_text("def test_h(): pass\n")
    bad(write(folder, HEAD + TEST + '[[hidden_tests]]\npath = "hidden/test_sol.py"\n'),
        "hidden_tests[0].path: module name 'test_sol' is already used by tests[0].path")


def test_a_test_module_that_shadows_the_solution(folder: Path):
    bad(write(folder, HEAD + '[[tests]]\nsource = "x"\nname = "tests/sol.py"\n'),
        "module name 'sol' is already used by solution[0]")
    bad(write(folder, HEAD + '[[tests]]\nsource = "x"\nname = "sol.py"\n'), "is also solution[0]")


# -- fuzzing -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    """A spec folder with good, binary, outside-pointing and odd test files."""
    top = tmp_path_factory.mktemp("fuzz")
    base = top / "task"
    (base / "tests").mkdir(parents=True)
    (base / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    (base / "tests" / "test_bin.py").write_bytes(b"\x80\x81\xff")
    (top / "test_out.py").write_text("def test_out(): pass\n")
    os.symlink(top / "test_out.py", base / "tests" / "test_link.py")
    return base


def check_loads_or_bad_input(spec: Path) -> None:
    try:
        task = load_task(spec)
    except BadInput as exc:
        message = str(exc)
        assert message.startswith(f"{spec}: ") and "\n" not in message
    else:
        assert task.tests and task.solution_files


@FUZZ
@given(data=st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(fuzz_dir: Path, data: bytes):
    spec = fuzz_dir / "spec.toml"
    spec.write_bytes(data)
    check_loads_or_bad_input(spec)


_PIECES = [HEAD, TEST, 'name = "x"\n', 'prompt = """p"""\n', 'solution = ["a.py", "b/c.py"]\n',
           "[[tests]]\n", "[[hidden_tests]]\n", "[limits]\n", "max_iterations = 3\n",
           "check_timeout_s = 0.5\n", 'path = "tests/test_ok.py"\n', 'path = "../x.py"\n',
           'path = "tests/test_bin.py"\n', 'path = "tests/test_link.py"\n',
           'source = "def test_s(): pass"\n', 'name = "hidden/test_ok.py"\n', "description = 1\n",
           "= =", "[", "]", '"', "'''", "\n", "\x00", "é", "\\u0000", "[tests]\n", "x.y = 1\n"]


_VALID = HEAD.replace("sol.py", "ok.py") + '[[tests]]\npath = "tests/test_ok.py"\n'


@FUZZ
@given(text=st.tuples(st.sampled_from([_VALID, ""]),
                      st.lists(st.sampled_from(_PIECES) | st.text(max_size=6), max_size=25)
                      ).map(lambda t: t[0] + "".join(t[1])))
def test_fuzz_toml_ish_text(fuzz_dir: Path, text: str):
    spec = fuzz_dir / "spec.toml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_loads_or_bad_input(spec)


def toml_value(value) -> str:
    """A tiny TOML writer: enough for the fuzz strategy's values (strings via JSON escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


_scalars = st.one_of(st.text(max_size=12), st.integers(-10, 10**6), st.booleans(),
                     st.floats(allow_nan=True, allow_infinity=True))
_paths = st.sampled_from(["tests/test_ok.py", "tests/test_bin.py", "tests/test_link.py",
                          "../test_out.py", "/etc/passwd", "tests", "missing.py", "sol.py",
                          "conftest.py", "hidden/test_ok.py", "a/../../b.py", "x.pth", ""])
_entry = st.fixed_dictionaries({}, optional={
    "path": _paths | _scalars, "source": st.just("def test_s():\n    pass\n") | _scalars,
    "name": _paths | _scalars, "extra": _scalars})
_numbers = st.integers(-10, 700) | st.floats(allow_nan=True, allow_infinity=True)


def _mostly(good, bad_values):
    """``good`` three times in four, else something from ``bad_values``."""
    return st.integers(0, 3).flatmap(lambda n: bad_values if n == 0 else st.just(good))


_spec = st.fixed_dictionaries({
    "name": _mostly("demo", st.sampled_from(["a b", ""]) | _scalars),
    "prompt": _mostly("Write it.", _scalars),
    "solution": _mostly("ok.py", _paths | st.lists(_paths, max_size=3) | _scalars),
    "tests": _mostly([{"path": "tests/test_ok.py"}], st.lists(_entry, max_size=3) | _scalars),
}, optional={
    "limits": st.fixed_dictionaries({}, optional={"max_iterations": _numbers,
                                                  "check_timeout_s": _numbers,
                                                  "other": _scalars}) | _scalars,
    "hidden_tests": st.lists(_entry, max_size=3) | _entry,
    "description": _scalars,
})


@FUZZ
@given(doc=_spec)
def test_fuzz_random_spec_dicts(fuzz_dir: Path, doc: dict):
    spec = fuzz_dir / "spec.toml"
    spec.write_text("\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items()))
    check_loads_or_bad_input(spec)
