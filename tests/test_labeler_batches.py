"""The labeler past one batch: `predict --workers N` streams files in batches, `label_frame` is a
plain function of a pandas batch (Spark's mapInPandas, Ray's map_batches), `<pkg>.dask` maps a
Dask DataFrame's partitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from alchemist_runtime.io import iter_batches
from conftest import example_split
from test_compile import IMPORT_NAME, installed, youtube_labeler  # noqa: F401 (fixtures)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [row["text"] for row in example_split("youtube", "test")] * 3


def reference(site: Path, texts: list[str]) -> np.ndarray:
    """predict_proba of the installed labeler on all texts at once, in a fresh interpreter."""
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); from youtube_spam_labeler "
            "import Labeler; print(json.dumps(Labeler().predict_proba(json.load(sys.stdin))"
            ".tolist()))")
    result = subprocess.run([sys.executable, "-c", code, str(site)], input=json.dumps(texts),
                            capture_output=True, text=True, check=True)
    return np.asarray(json.loads(result.stdout))


def test_iter_batches_streams_the_file(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": str(i)}) + "\n" for i in range(7)) + "{bad\n")
    batches = iter_batches(str(source), 3)
    assert [row["text"] for row in next(batches).rows] == ["0", "1", "2"]  # before the bad row is read
    assert [row["text"] for row in next(batches).rows] == ["3", "4", "5"]
    with pytest.raises(ValueError, match="in.jsonl: line 8: invalid JSON"):
        next(batches)


@pytest.mark.parametrize("workers", [1, 2])
def test_predict_parquet_in_batches_with_workers(installed, tmp_path, texts, workers):  # noqa: F811
    source, out = tmp_path / "big.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"text": texts}), source, row_group_size=100)
    subprocess.run([sys.executable, "-m", IMPORT_NAME, "predict", str(source), "-o", str(out),
                    "--workers", str(workers), "--batch-rows", "64"],
                   check=True, env={"PYTHONPATH": str(installed)}, capture_output=True)
    table = pq.read_table(out)
    assert table.num_rows == len(texts)
    assert pq.ParquetFile(out).num_row_groups == -(-len(texts) // 64)  # written batch by batch
    proba = np.asarray(table.column("proba").to_pylist())
    np.testing.assert_allclose(proba, reference(installed, texts), atol=1e-6)
    classes = np.asarray(["ham", "spam"])
    assert table.column("label").to_pylist() == classes[proba.argmax(axis=1)].tolist()


def test_predict_workers_must_be_positive(installed, tmp_path):  # noqa: F811
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    result = subprocess.run([sys.executable, "-m", IMPORT_NAME, "predict", str(source), "-o",
                             str(tmp_path / "o.jsonl"), "--workers", "0"],
                            env={"PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert result.returncode == 2 and "--workers: must be at least 1, got 0" in result.stderr


SPARK_AND_RAY = """
import sys, json
sys.path.insert(0, sys.argv[1])
import pandas as pd
from youtube_spam_labeler.batches import COLUMNS, label_frame

texts = json.load(sys.stdin)
frame = pd.DataFrame({"text": texts}, index=range(100, 100 + len(texts)))
# Spark: df.mapInPandas(lambda batches: (label_frame(b, "text") for b in batches), schema)
spark = pd.concat(label_frame(b, "text") for b in (frame.iloc[:50], frame.iloc[50:]))
# Ray (also run inside Ray below): ds.map_batches(lambda b: label_frame(b, "text"), ...)
ray = label_frame(frame, "text")
assert list(spark.columns) == list(ray.columns) == COLUMNS
assert spark.index.tolist() == ray.index.tolist() == frame.index.tolist()
print(json.dumps({"spark": spark.iloc[:, 1:].values.tolist(), "ray": ray.iloc[:, 1:].values.tolist(),
                  "labels": ray["label"].tolist(), "heavy": "dask" in sys.modules}))
"""


def test_label_frame_as_spark_and_ray_call_it(installed, texts):  # noqa: F811
    result = subprocess.run([sys.executable, "-c", SPARK_AND_RAY, str(installed)],
                            input=json.dumps(texts), capture_output=True, text=True, check=True)
    out = json.loads(result.stdout)
    expected = reference(installed, texts)
    np.testing.assert_allclose(out["spark"], expected, atol=1e-6)
    np.testing.assert_allclose(out["ray"], expected, atol=1e-6)
    assert out["labels"] == np.asarray(["ham", "spam"])[expected.argmax(axis=1)].tolist()
    assert out["heavy"] is False


def check_engine_output(script: str, site: Path, texts: list[str], env: dict[str, str]) -> None:
    """`script` (the recipe inside an engine) labels every text once, with the installed labeler's
    probabilities and labels, each row beside its input (the engine may reorder rows)."""
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(texts),
                            env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(out["text"]) == sorted(texts)  # every row once
    expected = dict(zip(texts, reference(site, texts).tolist()))
    np.testing.assert_allclose(out["proba"], [expected[t] for t in out["text"]], atol=1e-6)
    assert out["label"] == [("ham", "spam")[int(np.argmax(expected[t]))] for t in out["text"]]


INSIDE_RAY = """
import json, sys
import pandas as pd
import ray
from youtube_spam_labeler.batches import label_frame

texts = json.load(sys.stdin)
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
ds = ray.data.from_pandas(pd.DataFrame({"text": texts})).repartition(4)
# the README's recipe: the input columns kept beside the labels (Ray need not keep row order)
out = ds.map_batches(lambda b: b.join(label_frame(b, "text")), batch_format="pandas").to_pandas()
ray.shutdown()
print(json.dumps({"text": out["text"].tolist(), "label": out["label"].tolist(),
                  "proba": out[["proba_ham", "proba_spam"]].values.tolist()}))
"""


def test_the_ray_recipe_inside_ray(installed, texts):  # noqa: F811
    pytest.importorskip("ray")
    check_engine_output(INSIDE_RAY, installed, texts, {"PYTHONPATH": str(installed)})


INSIDE_SPARK = """
import json, sys
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql.types import FloatType, StringType, StructField, StructType
from youtube_spam_labeler.batches import label_frame

texts = json.load(sys.stdin)
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100").getOrCreate())
df = spark.createDataFrame(pd.DataFrame({"text": texts})).repartition(3)
# the README's recipe: the input columns kept beside the labels
schema = StructType(df.schema.fields + [StructField("label", StringType())] + [
    StructField(f"proba_{c}", FloatType()) for c in ["ham", "spam"]])
out = df.mapInPandas(lambda batches: (b.join(label_frame(b, "text")) for b in batches), schema).toPandas()
spark.stop()
print(json.dumps({"text": out["text"].tolist(), "label": out["label"].tolist(),
                  "proba": out[["proba_ham", "proba_spam"]].values.tolist()}))
"""


def test_the_spark_recipe_inside_spark(installed, texts):  # noqa: F811
    """`make test-spark` (pyspark and Java are not part of `make test`)."""
    pytest.importorskip("pyspark")
    check_engine_output(INSIDE_SPARK, installed, texts,
                        {"PYTHONPATH": str(installed), "PYSPARK_PYTHON": sys.executable})
