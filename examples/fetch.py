"""Fetch an example's data into examples/<name>/data/.

Each example has a spec in DATASETS: the folder of ../shared/datasets it comes from, the files it
uses there with their sha256 (from that folder's SOURCE.md), and how to get them without the
shared copy. The shared copy is used when present; otherwise the files are downloaded and must
reproduce the same sha256.

- youtube, sms: train/valid/test as given (WRENCH rows). Without the shared copy, the WRENCH
  release is downloaded from a public mirror and converted to JSON lines (not checksummed).
- imdb: train/valid/test.jsonl.gz as given (a seeded subsample of aclImdb, see its SOURCE.md).
- yelp (sentiment_labelled_sentences/yelp.jsonl), financial_phrasebank (sentences_allagree.jsonl)
  and medical_abstracts (test.jsonl): one file with no official split. It is split
  deterministically: rows in file order, shuffled with random.Random(SPLIT_SEED=0), the first
  60% (rounded) are train, the next 20% (rounded) valid, the rest test; each split keeps file
  order. Rows are written unchanged (same columns).
- census (adult_census_income: UCI Adult's train.csv and test.csv): test.csv is the test split as
  given (UCI's adult.test, 16281 rows); train.csv's rows are shuffled with
  random.Random(SPLIT_SEED=0), the first CENSUS_VALID (2000) are valid and the next CENSUS_TRAIN
  (10000) train, each kept in file order; the other 20561 rows are not used. CSV rows unchanged.
- images: synthetic, made by examples/images/make_data.py (no download).
- ecg (mitbih_record100_beats): train/valid/test.csv as given (split by time in the record).

    python examples/fetch.py youtube sms imdb yelp financial_phrasebank medical_abstracts census ecg
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import runpy
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "datasets"
SPLITS = ("train", "valid", "test")
SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.6, 0.2)  # train, valid; test is the rest
CENSUS_VALID, CENSUS_TRAIN = 2000, 10000


def unavailable(message: str):
    def download(file: str) -> bytes:
        raise SystemExit(f"{file}: no download is available here. {message}")
    return download


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def sentence_lines(url: str):
    """UCI Sentiment Labelled Sentences: `sentence<TAB>score` lines -> {id (line index), text, label}."""
    def download(file: str) -> bytes:
        rows = []
        for index, line in enumerate(get(url).decode("utf-8").split("\n")):
            if line.strip():
                sentence, score = line.rsplit("\t", 1)
                rows.append({"id": index, "text": sentence.strip(), "label": int(score)})
        return jsonl(rows)
    return download


def csv_rows(url: str, text: tuple[str, ...], label: str, offset: int = 0, keep_label: bool = False):
    """A CSV with a text column (first of `text` present) and an integer label column.

    Rows become {id (row index), text, label (+ offset)[, <label column> as given]}."""
    def download(file: str) -> bytes:
        reader = csv.DictReader(io.StringIO(get(url).decode("utf-8")))
        column = next(c for c in text if c in reader.fieldnames)
        rows = []
        for index, row in enumerate(reader):
            record = {"id": index, "text": row[column], "label": int(row[label]) + offset}
            if keep_label:
                record[label] = int(row[label])
            rows.append(record)
        return jsonl(rows)
    return download


def census_splits(sources: dict[str, bytes]) -> dict[str, bytes]:
    """valid and train: seeded samples of train.csv's rows; test: test.csv (see the docstring)."""
    header, *lines = sources["train.csv"].decode("utf-8").splitlines(keepends=True)
    order = list(range(len(lines)))
    random.Random(SPLIT_SEED).shuffle(order)
    parts = {"valid": order[:CENSUS_VALID], "train": order[CENSUS_VALID:CENSUS_VALID + CENSUS_TRAIN]}
    splits = {f"{name}.csv": (header + "".join(lines[i] for i in sorted(rows))).encode("utf-8")
              for name, rows in parts.items()}
    return {**splits, "test.csv": sources["test.csv"]}


GITHUB = "https://raw.githubusercontent.com/"

DATASETS = {
    "youtube": {
        "shared": "youtube",
        "files": {
            "train.jsonl": "154534eeccd20deabc10011606c07e2fc2a1e7efb129b2455a9299084c28bc40",
            "valid.jsonl": "ca7ddea0b19b0f8f24719fed2157f78065746815f3d49b23d49a0270825624db",
            "test.jsonl": "dffa07c6b6158c93284fe4d4ac658237d5793e1c6cfe46f84a64eda006e258e4",
        },
        "wrench": (GITHUB + "nhbess/weak_supervision_tutorial/"
                           "1d2d7cc62d4161b8af8192bd038d93ada8012046/part_2_spam_clf/data/youtube/{split}.json"),
    },
    "sms": {
        "shared": "sms",
        "files": {
            "train.jsonl": "0de0129e1ad317c55795ab02c0b1ee93fc3067e7eff20a9bffe0c8a7efc9b797",
            "valid.jsonl": "00f905f35f497b07f857cec5ae5ed3b1f642fd57a17a19c3161ac452d41bdcda",
            "test.jsonl": "7fb3fd48eb7da82e1090c8d616f8d9b17706dda4ee4e0264cb07a4829954144d",
        },
        "wrench": (GITHUB + "JerrryNie/DyGen/41902c3/datasets/sms/{split}.json"),
    },
    "imdb": {
        "shared": "imdb",
        "files": {
            "train.jsonl.gz": "c19b8875b32f4a4099f7069a609a07ba7f225be07dd3b6496dd1ee901dbeb078",
            "valid.jsonl.gz": "9c4e60d418a368e4d9b370a1617cd2a3188a94433e75b80269dc0298a85168d7",
            "test.jsonl.gz": "1c4c3613cdedc548293c17ee02383b084396ce01e0ddaa2c744d7970e43e8c0b",
        },
        "download": unavailable(
            "The files are a seeded subsample of aclImdb (Maas et al. 2011, "
            "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz); put the shared copy "
            "(train/valid/test.jsonl.gz, recipe and checksums in its SOURCE.md) in "
            "shared/datasets/imdb/ or in examples/imdb/data/."),
    },
    "yelp": {
        "shared": "sentiment_labelled_sentences",
        "files": {"yelp.jsonl": "1a810aaf59aa2a71b91dc013850e052ddb36d5c9e4a8a9a42af205d282dd43b4"},
        "split": "yelp.jsonl",
        "download": sentence_lines(GITHUB + "Rithwikksvr/Positive-Negative-Review-Classifier/"
                                   "7cc586d57b67dd369dcf4854a768070dc4c1a951/yelp_labelled.txt"),
    },
    "financial_phrasebank": {
        "shared": "financial_phrasebank",
        "files": {"sentences_allagree.jsonl": "6dd6530afa14811aa1d7731634cf7debd76b6a3eaa9d7ebf32605ecd63d9602e"},
        "split": "sentences_allagree.jsonl",
        "download": csv_rows(GITHUB + "ishu121992/financial-news-sentiment-classification/"
                             "5e03836f0d5b109d1499a9855b942409f10b5809/financial_phrasebank.csv",
                             text=("sentence", "text", "Sentence"), label="label"),
    },
    "medical_abstracts": {
        "shared": "medical_abstracts",
        "files": {"test.jsonl": "83d68a0d2ea2cf143c4566a596b403853fc3c3837f8a914ec04e978f1884a30d"},
        "split": "test.jsonl",
        "download": csv_rows(GITHUB + "sebischair/Medical-Abstracts-TC-Corpus/"
                             "70a2d9106c724729be8b3c4ddb00d1b14ec300c8/medical_tc_test.csv",
                             text=("medical_abstract",), label="condition_label", offset=-1,
                             keep_label=True),
    },
    "census": {
        "shared": "adult_census_income",
        "files": {
            "train.csv": "aa04da75accf88ba64bb612e14346c3a4e6428ef029a45984a48ef7294beca01",
            "test.csv": "2b3dff83d7eed185f5c8385eadec7678693980729a016e52327e8c0fdeb1cc15",
        },
        "make": census_splits,
        "download": unavailable(
            "The files are UCI Adult's adult.data and adult.test (Kohavi & Becker 1994, CC BY 4.0), "
            "converted as described in shared/datasets/adult_census_income/SOURCE.md; put them in "
            "shared/datasets/adult_census_income/ or the splits in examples/census/data/."),
    },
    "ecg": {
        "shared": "mitbih_record100_beats",
        "files": {
            "train.csv": "96e4c07e3bf197a85e4fd9cb80023f150eef8eed9a3719d98a016fa92b15bbc9",
            "valid.csv": "2d9f710e69afa58dd7d53006271eb333905c11b87aa09e5107d3134dbf497312",
            "test.csv": "0db3530511ca4db03a63a2b74b84ab52b54290f3cddcf9156fdb0b029eaed486",
        },
        "download": unavailable(
            "The files are heartbeat windows of MIT-BIH record 100 (PhysioNet, ODC-BY 1.0), made as "
            "described in shared/datasets/mitbih_record100_beats/SOURCE.md; put them in "
            "shared/datasets/mitbih_record100_beats/ or in examples/ecg/data/."),
    },
    "images": {"generate": ("make_data.py", "test")},  # the script, and what it writes last
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source(name: str, file: str) -> bytes:
    """A source file's bytes, from the shared copy or downloaded, checked against its sha256."""
    spec = DATASETS[name]
    path = SHARED / spec["shared"] / file
    if not path.is_file() and "wrench" in spec:
        raise SystemExit(f"{path}: missing")
    data = path.read_bytes() if path.is_file() else spec["download"](file)
    if sha256(data) != spec["files"][file]:
        where = path if path.is_file() else f"downloaded {file}"
        raise SystemExit(f"{where}: checksum mismatch")
    return data


def split_rows(data: bytes) -> dict[str, bytes]:
    """Seeded 60/20/20 split of a JSON-lines file; each split keeps file order."""
    lines = [line + b"\n" for line in data.split(b"\n") if line.strip()]
    order = list(range(len(lines)))
    random.Random(SPLIT_SEED).shuffle(order)
    n_train = round(SPLIT_FRACTIONS[0] * len(lines))
    n_valid = round(SPLIT_FRACTIONS[1] * len(lines))
    parts = (order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:])
    return {split: b"".join(lines[i] for i in sorted(part)) for split, part in zip(SPLITS, parts)}


def download_wrench(url: str, target: Path) -> None:
    """WRENCH JSON files ({"<id>": {"label", "weak_labels", "data": {"text"}}}) -> JSON lines."""
    for split in SPLITS:
        with urllib.request.urlopen(url.format(split=split), timeout=60) as response:
            rows = json.load(response)
        with (target / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for key, row in rows.items():
                record = {"id": int(key), "text": row["data"]["text"], "label": row["label"],
                          "weak_labels": row["weak_labels"]}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def fetch(name: str) -> None:
    spec = DATASETS[name]
    target = HERE / name / "data"
    if "generate" in spec:  # synthetic data made by the example's own script
        if not (target / spec["generate"][1]).exists():
            runpy.run_path(str(HERE / name / spec["generate"][0]))["make"](target)
            print(f"made {name} -> {target.relative_to(HERE.parent)}")
        return
    if "make" in spec:
        outputs = [f"{split}.csv" for split in SPLITS]
    else:
        outputs = [f"{split}.jsonl" for split in SPLITS] if "split" in spec else list(spec["files"])
    if all((target / f).is_file() for f in outputs):
        return
    target.mkdir(parents=True, exist_ok=True)
    if "wrench" in spec and not (SHARED / spec["shared"]).is_dir():
        download_wrench(spec["wrench"], target)
    elif "make" in spec:
        made = spec["make"]({file: source(name, file) for file in spec["files"]})
        for file, data in made.items():
            (target / file).write_bytes(data)
    elif "split" in spec:
        for split, data in split_rows(source(name, spec["split"])).items():
            (target / f"{split}.jsonl").write_bytes(data)
    else:
        for file in spec["files"]:
            (target / file).write_bytes(source(name, file))
    print(f"fetched {name} -> {target.relative_to(HERE.parent)}")


if __name__ == "__main__":
    for example in sys.argv[1:] or list(DATASETS):
        fetch(example)
