"""Programs applied on a Dask cluster (a LocalCluster on 127.0.0.1, 2 workers started here) give
the local label matrix and labeler, survive a worker killed mid-job, and stay contained."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import signal
import socket
import time

import numpy as np
import pytest
import yaml
from alchemist_runtime.sandbox import ProgramPool
from click.testing import CliRunner
from conftest import EXAMPLES, base_task, example_split, write_task
from test_compile import installed, youtube_labeler  # noqa: F401 (fixtures)
from test_containment import ESCAPE_TO_OS, connection_attempted, snapshot

from alchemist_compiler.apply import ApplySettings
from alchemist_compiler.cli import main
from alchemist_compiler.engine import apply_on_dask, partitions
from alchemist_compiler.errors import TaskError
from alchemist_compiler.pipeline import Options, apply_settings, compile_task
from alchemist_compiler.task import load_task

distributed = pytest.importorskip("distributed")

K = 7
# A vote that is a pseudo-random function of the row: a row labeled at the wrong place shows.
SCRAMBLE = "def label(x):\n    return int(x) * 2654435761 % 97 % 8 - 1\n"
RAISES = "def label(x):\n    if int(x) % 5 == 0:\n        raise ValueError(x)\n    return 1\n"
INVALID = "def label(x):\n    return 'spam' if int(x) % 7 == 0 else 0\n"
SLOW = ("def label(x):\n    total = 0\n    for i in range(4000):\n        total += i\n"
        "    return int(x) % 3 - 1\n")
HANGS = "def label(x):\n    while int(x) > 10:\n        pass\n    return 0\n"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  processes=True, dashboard_address=None) as local:
        yield local


def settings(cluster, rows: int, call_timeout: float = 1.0) -> ApplySettings:
    return ApplySettings(2, call_timeout, scheduler=cluster.scheduler_address, partition_rows=rows)


def local_apply(sources: list[str], inputs: list, call_timeout: float = 1.0):
    with ProgramPool(sources, K, workers=2, call_timeout=call_timeout) as pool:
        return pool.apply(inputs)


def assert_same(dask_result, local_result) -> None:
    assert dask_result.votes.dtype == np.int8
    assert np.array_equal(dask_result.votes, local_result.votes)
    for counts in ("exceptions", "timeouts", "invalid"):
        assert getattr(dask_result, counts).tolist() == getattr(local_result, counts).tolist()
    assert dask_result.load_errors == local_result.load_errors


def test_partitions_cover_every_row_once():
    for n, rows in [(0, 3), (1, 3), (10, 3), (9, 3), (5, 100)]:
        covered = [i for start, stop in partitions(n, rows) for i in range(start, stop)]
        assert covered == list(range(n))


def test_dask_matrix_equals_local(cluster):
    inputs = [str(i) for i in range(1003)]
    sources = [SCRAMBLE, RAISES, INVALID]
    seen = []
    result = apply_on_dask(settings(cluster, 100), sources, K, inputs, seen.append)
    assert sum(seen) == len(inputs)
    assert_same(result, local_apply(sources, inputs))
    assert result.stopped == [None] * 3


def test_budgets_apply_per_partition(cluster):
    inputs = [str(i) for i in range(40)]
    result = apply_on_dask(settings(cluster, 20, call_timeout=0.1), [HANGS, SCRAMBLE], K, inputs)
    # rows 0-10 vote; from row 11 on every call hangs: 3 timeouts in a row stop it in rows 0-19
    assert result.stopped[0] == "3 calls in a row timed out or crashed (rows 0-19)"
    assert result.votes[:11, 0].tolist() == [0] * 11
    assert (result.votes[11:, 0] == -1).all()
    assert result.stopped[1] is None
    assert np.array_equal(result.votes[:, 1], local_apply([SCRAMBLE], inputs).votes[:, 0])


def test_worker_killed_mid_job_loses_and_duplicates_no_row(cluster):
    inputs = [str(i) for i in range(2400)]
    sources = [SCRAMBLE, SLOW]
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = list(client.run(os.getpid).values())
    seen = []

    def kill_one_worker_once(rows: float) -> None:
        if not seen:
            os.kill(pids[0], signal.SIGKILL)
        seen.append(rows)

    result = apply_on_dask(settings(cluster, 200), sources, K, inputs, kill_one_worker_once)
    assert sum(seen) == len(inputs) and len(seen) == len(partitions(len(inputs), 200))
    assert_same(result, local_apply(sources, inputs))
    with distributed.Client(cluster, set_as_default=False) as client:
        assert pids[0] not in client.run(os.getpid).values()  # it really died (and was replaced)


def test_hostile_program_on_a_dask_worker_is_contained_as_locally(cluster, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        actions = [f"_os()['open']({str(tmp_path / 'os-open')!r}, 0o101)",
                   f"_os()['system']('touch {tmp_path / 'system'}')",
                   f"_os()['__builtins__']['__import__']('socket').create_connection(('127.0.0.1', {port}))",
                   "_os()['kill'](_os()['getppid'](), 9)"]
        escapes = [ESCAPE_TO_OS + action + "\ndef label(x):\n    return 1\n" for action in actions]
        hostile = [*escapes, HANGS, "def label(x):\n    return len('x' * 10**12)\n", SCRAMBLE]
        inputs = [str(i) for i in range(30)]
        before = snapshot(tmp_path)
        result = apply_on_dask(settings(cluster, 10, call_timeout=0.2), hostile, K, inputs)
        local = local_apply(hostile, inputs, call_timeout=0.2)
        assert snapshot(tmp_path) == before
        assert not connection_attempted(listener)
    assert result.load_errors == local.load_errors
    assert all(error.startswith("SandboxRefusal: ") for error in result.load_errors[:4])
    stopped = [reason is not None for reason in result.stopped]
    assert stopped == [reason is not None for reason in local.stopped] == [False] * 4 + [True] + [False] * 2
    running = [j for j, stop in enumerate(stopped) if not stop]  # a stopped program's timeouts
    assert np.array_equal(result.votes[:, running], local.votes[:, running])  # add up per partition
    assert result.exceptions.tolist() == local.exceptions.tolist()
    with distributed.Client(cluster, set_as_default=False) as client:
        assert len(client.run(os.getpid)) == 2  # no worker was killed by a program


def test_compile_on_dask_is_byte_identical_to_local(cluster, tmp_path):
    """The youtube example (its train split in 6 partitions on Dask), with and without
    --scheduler: the same task file, hashed into the manifest."""
    example_split("youtube", "train")
    folder = tmp_path / "youtube"
    shutil.copytree(EXAMPLES / "youtube", folder, ignore=shutil.ignore_patterns("answers"))
    task = yaml.safe_load((folder / "task.yaml").read_text("utf-8"))
    task["engine"] = {"kind": "local", "partition_rows": 300}
    (folder / "task.yaml").write_text(yaml.safe_dump(task), "utf-8")
    local, remote = tmp_path / "local", tmp_path / "dask"
    compile_task(folder / "task.yaml", local, Options(offline=True, show_progress=False))
    compile_task(folder / "task.yaml", remote, Options(offline=True, show_progress=False,
                                                       scheduler=cluster.scheduler_address))
    differences = []

    def collect(comparison: filecmp.dircmp) -> None:
        differences.extend(comparison.diff_files + comparison.left_only + comparison.right_only)
        for sub in comparison.subdirs.values():
            collect(sub)

    collect(filecmp.dircmp(local, remote))
    assert differences == []
    wheels = [next((folder / "dist").glob("*.whl")).read_bytes() for folder in (local, remote)]
    assert wheels[0] == wheels[1]


def test_unreachable_scheduler_fails_fast_naming_it_and_writes_nothing(task_dir):
    (task_dir / "links.py").write_text('def label(x):\n    return 1 if "http" in x else -1\n')
    write_task(task_dir, base_task(programs={"count": 0, "include": ["links.py"], "min_coverage": 0.0}))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"  # closed when the block ends
    before = sorted(task_dir.iterdir())
    started = time.monotonic()
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o",
                                       str(task_dir / "labeler"), "--offline", "--quiet",
                                       "--scheduler", address])
    assert result.exit_code == 2, result.output
    assert f"error: cannot reach the Dask scheduler at {address}" in result.output
    assert time.monotonic() - started < 20
    assert sorted(task_dir.iterdir()) == before  # no labeler, no build folder beside it


def test_an_unreachable_scheduler_is_found_before_any_llm_request(task_dir, monkeypatch):
    """The LLM (no answer locked; its server would refuse too) is never reached."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        closed = f"127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "key")
    task = base_task(engine={"kind": "dask", "address": f"tcp://{closed}"})
    task["llm"]["base_url"] = f"http://{closed}/v1"
    write_task(task_dir, task)
    result = CliRunner().invoke(main, ["compile", str(task_dir / "task.yaml"), "-o",
                                       str(task_dir / "labeler"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"error: cannot reach the Dask scheduler at tcp://{closed}" in result.output
    assert not (task_dir / "alchemist.lock").exists()


@pytest.mark.parametrize("engine, error", [
    ({"kind": "dask"}, "engine: kind dask needs address: the Dask scheduler's"),
    ({"kind": "local", "address": "tcp://h:8786"}, "engine: address is only for kind: dask"),
    ({"kind": "spark"}, "engine.kind: 'spark' is not an engine; use local or dask"),
    ({"kind": "dask", "adress": "tcp://h:8786"}, "engine.adress: unknown key (did you mean address?)"),
    ("dask", "engine: expected a mapping like {kind: dask, address: tcp://scheduler:8786}"),
])
def test_engine_key_errors_name_the_key(task_dir, engine, error):
    write_task(task_dir, base_task(engine=engine))
    with pytest.raises(TaskError, match=re.escape(error)):
        load_task(task_dir / "task.yaml")


def test_scheduler_flag_overrides_the_engine_of_task_yaml(task_dir):
    assert apply_settings(load_task(task_dir / "task.yaml"), Options()).scheduler is None
    engine = {"kind": "dask", "address": "tcp://a:1", "partition_rows": 5}
    write_task(task_dir, base_task(engine=engine))
    task = load_task(task_dir / "task.yaml")
    assert apply_settings(task, Options()).scheduler == "tcp://a:1"
    assert apply_settings(task, Options()).partition_rows == 5
    assert apply_settings(task, Options(scheduler="tcp://b:2")).scheduler == "tcp://b:2"


def test_labeler_predictions_on_the_cluster_equal_local(installed, cluster, monkeypatch):  # noqa: F811
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    monkeypatch.syspath_prepend(str(installed))
    from youtube_spam_labeler import Labeler
    from youtube_spam_labeler.dask import label_dataframe

    texts = [row["text"] for row in example_split("youtube", "test")]
    frame = pd.DataFrame({"text": texts, "id": range(len(texts))})
    with distributed.Client(cluster) as client:
        client.run(exec, f"import sys; sys.path.insert(0, {str(installed)!r})")  # pip install
        future = client.compute(label_dataframe(dd.from_pandas(frame, npartitions=4), "text"))
        labels = future.result(timeout=120)
    expected = Labeler().predict_proba(texts)
    assert labels.index.tolist() == frame.index.tolist()
    np.testing.assert_allclose(labels[["proba_ham", "proba_spam"]].to_numpy(), expected, atol=1e-6)
    assert labels["label"].tolist() == Labeler().predict(texts)
