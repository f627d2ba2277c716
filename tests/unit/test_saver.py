"""The compact checkpointer (agent/saver.py) against LangGraph's own SqliteSaver: the same
graph, driven through escalations, resumes and a repair session's fork, must leave the same
history in both, while the compact one stays small and flat however long the run."""

from __future__ import annotations

import secrets
import sqlite3
import zlib

import pytest
from codemend.agent.graph import build_graph
from codemend.agent.models.scripted import ScriptedModel
from codemend.agent.nodes import Deps
from codemend.agent.repair.steps import fork, steps
from codemend.agent.runs import CHECKPOINT_TYPES, RunStore
from codemend.agent.saver import ZDICT, CompactSaver
from codemend.agent.state import RunState
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from test_loop import TASK, FakeSandbox, code, report


def serde() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)


class Tee(BaseCheckpointSaver):
    """Writes go to both savers; reads come from the compact one."""

    def __init__(self, compact: CompactSaver, stock: SqliteSaver) -> None:
        super().__init__(serde=compact.serde)
        self.compact, self.stock = compact, stock

    def get_tuple(self, config):
        return self.compact.get_tuple(config)

    def list(self, config, **kw):
        return self.compact.list(config, **kw)

    def put(self, config, checkpoint, metadata, new_versions):
        self.stock.put(config, checkpoint, metadata, new_versions)
        return self.compact.put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        self.stock.put_writes(config, writes, task_id, task_path)
        self.compact.put_writes(config, writes, task_id, task_path)

    def get_next_version(self, current, channel=None):
        return self.compact.get_next_version(current, channel)


def teed(tmp_path) -> tuple[RunStore, Tee]:
    store = RunStore(tmp_path / "state")
    stock = SqliteSaver(sqlite3.connect(str(tmp_path / "stock.sqlite"), check_same_thread=False),
                        serde=serde())
    tee = Tee(store.saver, stock)
    store.graph = build_graph(tee)
    return store, tee


def assert_same_history(tee: Tee, thread: str) -> int:
    config = {"configurable": {"thread_id": thread}}
    # a fresh saver on the same file: nothing comes from the writer's caches
    fresh = CompactSaver(tee.compact.conn, serde=serde())
    ours, theirs = list(fresh.list(config)), list(tee.stock.list(config))
    assert [t.config for t in ours] == [t.config for t in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.parent_config == b.parent_config
        assert a.metadata == b.metadata
        ca, cb = a.checkpoint, b.checkpoint
        assert {k: v for k, v in ca.items() if k != "channel_values"} == \
               {k: v for k, v in cb.items() if k != "channel_values"}
        assert ca["channel_values"] == cb["channel_values"]
        assert a.pending_writes == b.pending_writes
    return len(ours)


def test_same_history_as_the_stock_saver_through_escalation_and_resume(tmp_path):
    store, tee = teed(tmp_path)
    sb = FakeSandbox({"A": report(0, 1), "B": report(0, 2), "C": report(1, 0, ids=("t",))})
    deps = Deps(model=ScriptedModel.from_replies([code("A"), code("B"), code("C")]), sandbox=sb)
    store.register("r", "add", "scripted", "")
    out = store.start("r", TASK, "scripted", 2, deps)
    assert out.status == "escalated"
    done = store.resume("r", deps, {"action": "more"})
    assert done.status == "solved" and len(done.state.attempts) == 3
    assert done.state.attempts[-1].report == report(1, 0, ids=("t",))
    assert assert_same_history(tee, "r") > 8


def test_same_history_through_a_repair_sessions_fork(tmp_path):
    store, tee = teed(tmp_path)
    by_code = {"A0": report(0, 3), "A1": report(1, 2, ids=("a",)),
               "A2": report(2, 1, ids=("a", "b")), "A3": report(0, 3), "A4": report(0, 3)}
    deps = Deps(model=ScriptedModel.from_replies([code(f"A{i}") for i in range(1, 5)]),
                sandbox=FakeSandbox(by_code))
    store.register("s", "add", "scripted", "")
    first = RunState(run_id="s", task=TASK, model="scripted", max_iterations=6,
                     interactive=True, files={"sol.py": "A0\n"}, source="baseline")
    store.drive("s", first, deps)
    for value in ({"instruction": ""}, {"action": "apply"}, {"action": "apply"}):
        store.drive("s", Command(resume=value), deps)
    state = RunState.model_validate(store.graph.get_state(store.config("s")).values)
    fork(store.graph, store.config("s"), steps(state)[1], state, "WENT-BACK")
    store.drive("s", None, deps)
    after = RunState.model_validate(store.graph.get_state(store.config("s")).values)
    assert [s.attempt.files["sol.py"] for s in steps(after)] == ["A0\n", "A1\n"]
    assert assert_same_history(tee, "s") > 10


def long_run(store: RunStore, run_id: str, iterations: int) -> None:
    by_code = {f"X{k}": report(0, 1) for k in range(iterations)}
    replies = [code(f"X{k}") for k in range(iterations)]
    deps = Deps(model=ScriptedModel.from_replies(replies), sandbox=FakeSandbox(by_code))
    store.register(run_id, "add", "scripted", "")
    with pytest.MonkeyPatch.context() as mp:  # never stuck: each failure is new
        mp.setattr("codemend.agent.routing.stuck_reason", lambda state: None)
        out = store.start(run_id, TASK, "scripted", iterations, deps)
    assert out.status == "escalated" and len(out.state.attempts) == iterations


def rows(store: RunStore, run_id: str) -> list[bytes]:
    return [r[0] for r in store.conn.execute(
        "SELECT data FROM codemend_checkpoints WHERE thread_id = ? ORDER BY checkpoint_id",
        (run_id,))]


def plain(blob: bytes) -> bytes:
    z = zlib.decompressobj(zdict=ZDICT)
    return z.decompress(blob[1:]) + z.flush()


def test_a_checkpoint_does_not_grow_with_the_runs_history(tmp_path):
    with RunStore(tmp_path / "state") as store:
        long_run(store, "long", 120)
        sizes = [len(b) for b in rows(store, "long")]
        early, late = sorted(sizes[10:40]), sorted(sizes[-30:])
        # the 110th attempt's checkpoint is as small as the 10th's (the stock saver's grows
        # with every attempt: each holds all earlier ones in full)
        assert late[len(late) // 2] <= early[len(early) // 2] * 1.2 + 16
        assert max(sizes) < 2000
        out = store.outcome("long")  # and everything comes back on reading
        assert [a.n for a in out.state.attempts] == list(range(1, 121))
        assert out.state.attempts[57].report == report(0, 1)
        assert out.state.attempts[57].files == {"sol.py": "X57\n"}


def test_files_and_reports_are_stored_once_outside_the_checkpoints(tmp_path):
    sb = FakeSandbox({"MARK-A": report(0, 1), "MARK-B": report(1, 0, ids=("t",))})
    sb.by_code["MARK-A"].tests.cases[0].message = "UNIQUE-FAILURE-TEXT"
    with RunStore(tmp_path / "state") as store:
        deps = Deps(model=ScriptedModel.from_replies([code("MARK-A"), code("MARK-B")]),
                    sandbox=sb)
        store.register("r", "add", "scripted", "")
        assert store.start("r", TASK, "scripted", 3, deps).status == "solved"
        checkpoints = b"".join(plain(b) for b in rows(store, "r"))
        writes = b"".join(plain(r[0]) for r in store.conn.execute(
            "SELECT data FROM codemend_writes"))
        payloads = [zlib.decompress(r[0]) for r in store.conn.execute(
            "SELECT data FROM codemend_payloads")]
        assert b"UNIQUE-FAILURE-TEXT" not in checkpoints + writes
        assert sum(b"UNIQUE-FAILURE-TEXT" in p for p in payloads) == 1
        assert checkpoints.count(b"Write add(a, b).") == 2  # the task: input and first state
        assert store.conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0


def test_a_run_written_by_the_stock_saver_is_read_and_continued(tmp_path):
    store = RunStore(tmp_path / "state")
    store.saver = SqliteSaver(store.conn, serde=serde())  # as an earlier codemend wrote it
    store.graph = build_graph(store.saver)
    sb = FakeSandbox({"A": report(0, 1), "B": report(1, 0, ids=("t",))})
    deps = Deps(model=ScriptedModel.from_replies([code("A"), code("B")]), sandbox=sb)
    store.register("old", "add", "scripted", "")
    assert store.start("old", TASK, "scripted", 1, deps).status == "escalated"
    store.close()
    with RunStore(tmp_path / "state") as again:
        paused = again.outcome("old")
        assert paused.status == "escalated" and paused.state.attempts[0].report == report(0, 1)
        done = again.resume("old", deps, {"action": "more"})
        assert done.status == "solved" and len(done.state.attempts) == 2
        assert again.conn.execute("SELECT count(*) FROM codemend_checkpoints").fetchone()[0] == 0


def test_runs_reads_the_summary_not_the_state(tmp_path):
    with RunStore(tmp_path / "state") as store:
        sb = FakeSandbox({"A": report(0, 1)})
        deps = Deps(model=ScriptedModel.from_replies([code("A")]), sandbox=sb)
        store.register("r", "add", "scripted", "")
        store.start("r", TASK, "scripted", 1, deps)
        store.conn.execute("DELETE FROM codemend_checkpoints")  # the state is gone ...
        store.conn.commit()
        [row] = store.summaries()
        assert row["summary"] == {"status": "escalated", "iterations": 1, "kind": "spec"}


def test_a_node_writes_only_the_fields_it_changes():
    from codemend.agent.graph import changes_only

    state = RunState(run_id="r", task=TASK, model="m", hint=None, iteration=2)
    node = changes_only(lambda s, rt: {"hint": None, "iteration": 3, "attempts": []})
    assert node(state, None) == {"iteration": 3, "attempts": []}


def test_runs_on_threads_sharing_one_store_stay_apart(tmp_path):
    """``eval --workers W`` drives W runs at once on one RunStore (one connection)."""
    from concurrent.futures import ThreadPoolExecutor

    with RunStore(tmp_path / "state") as store:
        def one(k: int):
            by_code = {f"R{k}-{i}": report(0, i + 1) for i in range(3)}  # never stuck
            by_code[f"R{k}-3"] = report(1, 0, ids=(f"t{k}",))
            deps = Deps(model=ScriptedModel.from_replies([code(f"R{k}-{i}") for i in range(4)]),
                        sandbox=FakeSandbox(by_code))
            store.register(f"run{k}", "add", "scripted", "")
            return store.start(f"run{k}", TASK, "scripted", 6, deps)

        with ThreadPoolExecutor(4) as ex:
            outs = list(ex.map(one, range(8)))
        for k, out in enumerate(outs):
            assert out.status == "solved"
            again = CompactSaver(store.conn, serde=serde())  # from the file, no cache
            tup = again.get_tuple(store.config(f"run{k}"))
            files = [a.files["sol.py"] for a in tup.checkpoint["channel_values"]["attempts"]]
            assert files == [f"R{k}-{i}\n" for i in range(4)]


def test_store_writes_and_checkpoint_writes_take_turns_on_one_connection(tmp_path):
    """Recording runs (``register``, summaries) while other threads' runs checkpoint: two
    transactions begun at once on the shared connection used to fail ("cannot start a
    transaction within a transaction", seen in ``eval --workers``)."""
    import threading

    store = RunStore(tmp_path / "state")
    errors: list[BaseException] = []

    def recording():
        try:
            for i in range(1500):
                store.register(f"x{i}", "add", "m", "")
                store.set_summary(f"x{i}", "running", 0, "spec")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    def running():
        try:
            for k in range(30):
                by_code = {f"A{k}": report(0, 1), f"B{k}": report(1, 0, ids=("t",))}
                deps = Deps(model=ScriptedModel.from_replies([code(f"A{k}"), code(f"B{k}")]),
                            sandbox=FakeSandbox(by_code))
                store.register(f"r{k}", "add", "m", "")
                assert store.start(f"r{k}", TASK, "m", 3, deps).status == "solved"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=recording), threading.Thread(target=running)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert errors == []


def test_the_checkpointer_is_set_up_before_any_thread_can_use_it(tmp_path):
    """LangGraph's saver creates its tables on first use; threads that share the store raced
    to that first use (a statement ran during its script and crashed the connection)."""
    with RunStore(tmp_path / "state") as store:
        assert store.saver.is_setup
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        assert {"checkpoints", "writes", "codemend_checkpoints", "codemend_writes",
                "codemend_payloads"} <= tables


def payload_texts(store: RunStore) -> list[bytes]:
    return [zlib.decompress(r[0]) for r in store.conn.execute(
        "SELECT data FROM codemend_payloads")]


def solve(store: RunStore, run_id: str, bodies: list[str], last: str = "pass") -> None:
    by_code = {b: report(0, 1) for b in bodies}
    by_code[bodies[-1]] = report(1, 0, ids=("t",)) if last == "pass" else report(0, 2)
    deps = Deps(model=ScriptedModel.from_replies([code(b) for b in bodies]),
                sandbox=FakeSandbox(by_code))
    store.register(run_id, "add", "scripted", "")
    with pytest.MonkeyPatch.context() as mp:  # never stuck: each failure is new
        mp.setattr("codemend.agent.routing.stuck_reason", lambda state: None)
        store.start(run_id, TASK, "scripted", len(bodies), deps)


def test_deleting_a_thread_removes_its_payloads_but_not_shared_ones(tmp_path):
    with RunStore(tmp_path / "state") as store:
        solve(store, "a", ["SHARED", "ONLY-IN-A"])
        solve(store, "b", ["SHARED", "ONLY-IN-B"])
        assert sum(b"ONLY-IN-A" in p for p in payload_texts(store)) == 1
        store.saver.delete_thread("a")
        texts = payload_texts(store)
        assert not any(b"ONLY-IN-A" in p for p in texts)
        assert sum(b"SHARED" in p for p in texts) == 1 and any(b"ONLY-IN-B" in p for p in texts)
        assert store.saver.get_tuple(store.config("a")) is None
        fresh = CompactSaver(store.conn, serde=serde())  # from the file, no cache
        attempts = fresh.get_tuple(store.config("b")).checkpoint["channel_values"]["attempts"]
        assert [a.files["sol.py"] for a in attempts] == ["SHARED\n", "ONLY-IN-B\n"]
        solve(store, "c", ["ONLY-IN-A"])  # a payload the writer had cached is stored again
        fresh = CompactSaver(store.conn, serde=serde())
        attempts = fresh.get_tuple(store.config("c")).checkpoint["channel_values"]["attempts"]
        assert attempts[0].files == {"sol.py": "ONLY-IN-A\n"}


def test_delta_channel_history_is_the_stock_savers(tmp_path):
    """LangGraph's DeltaChannel support walks a thread's history through the saver; the
    stock saver's fast path reads its own tables, which hold nothing of a compact thread."""
    store, tee = teed(tmp_path)
    solve(store, "r", ["A", "B", "C"])
    config = {"configurable": {"thread_id": "r"}}
    channels = ["attempts", "iteration", "files", "status"]
    for tup in list(tee.stock.list(config))[:6]:
        ours = store.saver.get_delta_channel_history(config=tup.config, channels=channels)
        theirs = tee.stock.get_delta_channel_history(config=tup.config, channels=channels)
        assert ours == theirs
    latest = store.saver.get_delta_channel_history(config=config, channels=["attempts"])
    assert latest == tee.stock.get_delta_channel_history(config=config, channels=["attempts"])
    assert [a.files["sol.py"] for a in latest["attempts"]["seed"]] == ["A\n", "B\n", "C\n"]


def test_runs_prune_frees_the_space_of_finished_runs(tmp_path, capsys):
    import json

    from codemend.agent.cli import main
    from codemend.agent.repo.snapshot import from_files
    from codemend.agent.repotask import RepoTask
    from codemend.agent.state import TaskInfo

    state = tmp_path / "state"
    with RunStore(state) as store:
        for k in range(3):  # finished runs with large files of their own
            solve(store, f"done{k}", ["SHARED", f"# {k}\n" + secrets.token_hex(60_000)])
        solve(store, "paused", ["SHARED", "ESCALATED"], last="fail")
        bases = store.bases()
        snaps = [bases.put_snapshot(from_files(tmp_path, {"m.py": f"X = {k}\n",
                                                         "test_m.py": "import m\n"}, {}))
                 for k in range(2)]
        for run_id, base, status in (("repo-done", snaps[0], "solved"),
                                     ("repo-paused", snaps[1], "escalated"),
                                     ("repo-done-2", snaps[1], "solved")):
            info = TaskInfo(name=run_id, prompt="", solution_files=[], tests={}, kind="repo",
                            repo=RepoTask(root=str(tmp_path), base_id=base))
            store.register(run_id, run_id, "m", "", info=info, max_iterations=2)
            store.set_summary(run_id, status, 1, "repo")
    size = (state / "runs.sqlite").stat().st_size

    def runs(*args: str) -> tuple[int, dict]:
        code_ = main(["runs", "--state-dir", str(state), "--json", *args])
        return code_, json.loads(capsys.readouterr().out)

    assert runs("--prune", "--older-than", "1") == (0, {
        "pruned": [], "kept": 0, "payloads": 0, "snapshots": 0, "bytes_before": size,
        "bytes_after": size, "bytes_freed": 0})  # nothing is a day old yet
    code_, done = runs("--prune")
    assert code_ == 0
    assert sorted(done["pruned"]) == ["done0", "done1", "done2", "repo-done", "repo-done-2"]
    assert (done["kept"], done["snapshots"]) == (2, 1)
    assert done["bytes_freed"] > 3 * 60_000 and (state / "runs.sqlite").stat().st_size < \
        size - 3 * 60_000
    assert [r["run_id"] for r in runs()[1]["runs"]] == ["paused", "repo-paused"]
    with RunStore(state) as store:
        out = store.outcome("paused")
        assert [a.files["sol.py"] for a in out.state.attempts] == ["SHARED\n", "ESCALATED\n"]
        assert store.bases().snapshot(snaps[1]).files["m.py"] == "X = 1\n"
        with pytest.raises(KeyError):
            store.bases().snapshot(snaps[0])
    assert main(["runs", "--state-dir", str(state), "--prune", "--older-than", "-1"]) == 2
    assert main(["runs", "--state-dir", str(state), "--older-than", "3"]) == 2
