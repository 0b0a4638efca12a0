"""Fetch an example's data into examples/<name>/data/.

Copies from ../shared/datasets/<name> when that folder exists (checking sha256), otherwise
downloads the WRENCH release of the dataset from a public mirror and converts it to JSON lines.

    python examples/fetch.py youtube sms
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "datasets"
SPLITS = ("train", "valid", "test")

#: sha256 of the files in ../shared/datasets (their SOURCE.md).
CHECKSUMS = {
    "youtube": {
        "train.jsonl": "154534eeccd20deabc10011606c07e2fc2a1e7efb129b2455a9299084c28bc40",
        "valid.jsonl": "ca7ddea0b19b0f8f24719fed2157f78065746815f3d49b23d49a0270825624db",
        "test.jsonl": "dffa07c6b6158c93284fe4d4ac658237d5793e1c6cfe46f84a64eda006e258e4",
    },
    "sms": {
        "train.jsonl": "0de0129e1ad317c55795ab02c0b1ee93fc3067e7eff20a9bffe0c8a7efc9b797",
        "valid.jsonl": "00f905f35f497b07f857cec5ae5ed3b1f642fd57a17a19c3161ac452d41bdcda",
        "test.jsonl": "7fb3fd48eb7da82e1090c8d616f8d9b17706dda4ee4e0264cb07a4829954144d",
    },
}

#: WRENCH JSON files ({"<id>": {"label", "weak_labels", "data": {"text"}}}) on public mirrors.
WRENCH_MIRRORS = {
    "youtube": "https://raw.githubusercontent.com/nhbess/weak_supervision_tutorial/"
    "1d2d7cc62d4161b8af8192bd038d93ada8012046/part_2_spam_clf/data/youtube/{split}.json",
    "sms": "https://raw.githubusercontent.com/JerrryNie/DyGen/"
    "41902c3/datasets/sms/{split}.json",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_from_shared(name: str, target: Path) -> None:
    for file, digest in CHECKSUMS[name].items():
        source = SHARED / name / file
        if sha256(source) != digest:
            raise SystemExit(f"{source}: checksum mismatch")
        shutil.copyfile(source, target / file)


def download_wrench(name: str, target: Path) -> None:
    for split in SPLITS:
        url = WRENCH_MIRRORS[name].format(split=split)
        with urllib.request.urlopen(url, timeout=60) as response:
            rows = json.load(response)
        with (target / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for key, row in rows.items():
                record = {"id": int(key), "text": row["data"]["text"], "label": row["label"],
                          "weak_labels": row["weak_labels"]}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def fetch(name: str) -> None:
    target = HERE / name / "data"
    if all((target / f).is_file() for f in CHECKSUMS[name]):
        return
    target.mkdir(parents=True, exist_ok=True)
    if (SHARED / name).is_dir():
        copy_from_shared(name, target)
    else:
        download_wrench(name, target)
    print(f"fetched {name} -> {target.relative_to(HERE.parent)}")


if __name__ == "__main__":
    for example in sys.argv[1:] or list(CHECKSUMS):
        fetch(example)
