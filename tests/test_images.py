"""modality: image, end to end on a synthetic image set, with a tiny random-weight CLIP
(tests/data/tiny-clip.json): concepts from the LLM, scores, programs, the installed labeler.

Tolerances: the installed labeler's concept scores agree with open_clip in torch (its own
transform, encode_image, the head's math in float64) within SCORE_TOLERANCE; its probabilities
and votes agree with the compile's exactly (the compile itself checks 1e-5 and equal votes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, write_jsonl
from openai_server import FakeOpenAI
from PIL import Image

from alchemist_compiler import concepts
from alchemist_compiler.errors import DataError, LLMError
from alchemist_compiler.llm import LLMStage
from alchemist_compiler.lockfile import Lockfile
from alchemist_compiler.pipeline import Options, compile_task
from alchemist_compiler.task import load_task

TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip.json"
IMPORT_NAME = "shapes_labeler"
SCORE_TOLERANCE = 1e-4
COLORS = {"water": (40, 90, 200), "land": (70, 150, 60)}
CONCEPTS = {"circle": ["round edge", "curved outline"], "square": ["straight edges", "sharp corners"]}
PROGRAMS = {  # complements: whatever random weights make of them, one is at least at chance
    "general": 'def label(x):\n    return 0 if x["round edge"] > 0.3 else 1\n',
    "exemplars": 'def label(x):\n    return 1 if x["round edge"] > 0.3 else 0\n',
    "keywords": ('def label(x):\n    if x["straight edges"] > 0.25:\n        return 1\n'
                 '    if x["curved outline"] > 0.1:\n        return 0\n    return -1\n'),
}


def draw(shape: str, background: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A red or yellow circle or square on a water or land background, with noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    cx, cy, r = width / 2 + rng.integers(-5, 6), height / 2 + rng.integers(-5, 6), min(size) / 4
    inside = ((x - cx) ** 2 + (y - cy) ** 2 < r * r) if shape == "circle" else (
        (abs(x - cx) < r) & (abs(y - cy) < r))
    pixels = np.empty((height, width, 3))
    pixels[:] = COLORS[background]
    pixels[inside] = (220, 40, 30) if seed % 2 else (230, 200, 40)
    pixels += rng.normal(0, 10, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_images(folder: Path, groups: dict[tuple[str, str], int], seed: int) -> list[dict]:
    """Images of each (shape, background) group, PNG and JPEG of a few sizes; rows with paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for (shape, background), count in groups.items():
        for i in range(count):
            seed += 1
            name = f"{shape}_{background}_{i}.{'png' if seed % 3 else 'jpg'}"
            size = [(64, 64), (80, 60), (60, 90)][seed % 3]
            draw(shape, background, size, seed).save(folder / name)
            rows.append({"image": name, "label": shape, "group": f"{shape}/{background}"})
    return rows


def _strategy_answer(messages: list[dict]) -> str:
    """Programs by slot: the prompt says which function it is."""
    prompt = messages[-1]["content"]
    if "visual primitive concepts" in prompt:
        return "Here are the concepts:\n```json\n" + json.dumps(CONCEPTS, indent=2) + "\n```"
    if "Labeled examples" in prompt:
        return f"```python\n{PROGRAMS['exemplars']}```"
    if "Indicative keywords" in prompt:
        return f"```python\n{PROGRAMS['keywords']}```"
    if "List keywords" in prompt:
        return "circle: round edge, curved outline\nsquare: straight edges, sharp corners"
    return f"```python\n{PROGRAMS['general']}```"


def image_task(folder: Path, base_url: str, **vision) -> Path:
    balanced = {("circle", "water"): 4, ("circle", "land"): 4, ("square", "water"): 4,
                ("square", "land"): 4}
    train = write_images(folder / "data" / "images", {
        ("circle", "water"): 18, ("circle", "land"): 2, ("square", "land"): 18,
        ("square", "water"): 2}, seed=0)
    (folder / "data" / "train.csv").write_text(
        "image,group\n" + "".join(f"images/{r['image']},{r['group']}\n" for r in train))
    valid = write_images(folder / "data" / "valid_images", balanced, seed=100)
    write_jsonl(folder / "data" / "valid.jsonl",
                [{**r, "image": f"valid_images/{r['image']}"} for r in valid])
    for shape in ("circle", "square"):
        write_images(folder / "data" / "test" / shape,
                     {k: v for k, v in balanced.items() if k[0] == shape}, seed=200)
    task = {
        "name": "shapes",
        "description": "Classify the shape drawn in the image.",
        "modality": "image",
        "classes": [{"name": "circle", "description": "a round shape"},
                    {"name": "square", "description": "a shape with four corners"}],
        "data": {"train": "data/train.csv", "valid": "data/valid.jsonl", "test": "data/test",
                 "input": "image", "label": "label"},
        "llm": {"model": "test-model", "api_key_env": "ALCHEMIST_TEST_KEY", "base_url": base_url},
        "programs": {"count": 3, "strategies": ["general", "exemplars", "keywords"],
                     "supplementary": {"keywords": "circle: round edge\nsquare: sharp corners"},
                     "min_coverage": 0.0, "repair_rounds": 0},
        "distill": {"seeds": 1, "epochs": 5},
        "vision": {"model": str(TINY_CLIP), "weights": "random", **vision},
    }
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(task, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """One compile: concepts and programs from a local OpenAI-compatible server."""
    folder = tmp_path_factory.mktemp("images")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("ALCHEMIST_TEST_KEY", "x")
    with FakeOpenAI(_strategy_answer) as server:
        task = image_task(folder, server.base_url, zero_shot=True, spurious=["water background"])
        out = folder / "labeler"
        compile_task(task, out, Options(show_progress=False))
    monkey.undo()
    return folder, task, out, server.requests


@pytest.fixture(scope="module")
def installed(compiled, tmp_path_factory) -> Path:
    _, _, out, _ = compiled
    target = tmp_path_factory.mktemp("site")
    wheel = next((out / "dist").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--target", str(target), str(wheel)], check=True)
    return target


def run_installed(site: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n{code}", *args],
        capture_output=True, text=True, check=False)


def test_only_the_concept_and_program_requests_reach_the_llm(compiled):
    _, _, _, requests = compiled
    sent = json.dumps(requests)
    assert "visual primitive concepts" in requests[0]["messages"][-1]["content"]
    assert ".png" not in sent and ".jpg" not in sent and "base64" not in sent
    program_prompt = requests[-1]["messages"][-1]["content"]
    assert "def label(x: dict[str, float]) -> int:" in program_prompt
    for concept in ["round edge", "sharp corners", "an image of a circle"]:
        assert repr(concept) in program_prompt
    exemplars = next(r for r in requests if "Labeled examples" in r["messages"][-1]["content"])
    assert "'round edge': 0." in exemplars["messages"][-1]["content"]  # score dicts, not pixels


def test_manifest_readme_and_dependencies(compiled):
    folder, _, out, _ = compiled
    package = out / "src" / IMPORT_NAME
    manifest = json.loads((package / "manifest.json").read_text())
    spec = manifest["input"]
    assert manifest["modality"] == "image" and manifest["featurizer"]["name"] == "clip"
    assert spec["concepts"] == ["round edge", "curved outline", "straight edges", "sharp corners",
                                "an image of a circle", "an image of a square"]
    assert spec["weights"] == "random" and "RANDOM CLIP WEIGHTS" in spec["warning"]
    assert spec["spurious"] == ["water background"] and spec["image_size"] == [64, 64]
    assert str(folder) not in (package / "manifest.json").read_text()  # no absolute paths
    assert "RANDOM CLIP WEIGHTS" in (out / "README.md").read_text()
    dependencies = (out / "pyproject.toml").read_text()
    assert '"pillow>=' in dependencies and "torch" not in dependencies
    grouped = [m for m in manifest["metrics"] if "worst_group" in m]
    assert [m["split"] for m in grouped] == ["valid"] * 3  # the test folder has no groups
    assert set(grouped[0]["group_accuracy"]) == {"circle/land", "circle/water", "square/land",
                                                 "square/water"}
    assert "Worst-group accuracy" in (out / "README.md").read_text()
    zero_shot = [d for d in manifest["diagnostics"] if d["name"].startswith("clip_zero_shot_")]
    assert len(zero_shot) == 1 and zero_shot[0]["coverage"] == 1.0  # kept or not: it ran


def _reference_scores(spec: dict, paths: list[str]) -> np.ndarray:
    """Concept scores from open_clip in torch: its transform, encode_image, the head in float64."""
    import torch

    from alchemist_compiler.featurizers import clip
    from alchemist_compiler.featurizers._open_clip import import_open_clip
    from alchemist_runtime.modalities.image import load_image

    model = clip.load(str(TINY_CLIP), "random")
    transform = import_open_clip().image_transform(spec["image_size"][0], is_train=False)
    pixels = torch.stack([transform(load_image(p)) for p in paths])
    with torch.no_grad():
        embeddings = model.module.encode_image(pixels).numpy()
    texts = model.embed_texts([spec["template"].format(c) for c in spec["concepts"]])
    similarity = clip.features_of(embeddings, clip.spurious_basis(model, spec["spurious"])) @ \
        texts.astype(np.float64).T
    lo, hi = spec["score_range"]
    return np.clip((similarity - lo) / (hi - lo), 0, 1)


def test_installed_labeler_matches_open_clip_and_the_compile(compiled, installed):
    folder, _, out, _ = compiled
    manifest = json.loads((out / "src" / IMPORT_NAME / "manifest.json").read_text())
    paths = sorted(str(p) for p in (folder / "data" / "test").rglob("*.*"))
    code = f"""
import json
from pathlib import Path
from {IMPORT_NAME} import Labeler
paths = json.loads(sys.argv[1])
lab = Labeler()
gold = [lab.classes.index(Path(p).parent.name) for p in paths]
scores = lab.program_inputs(paths)
proba = lab.predict_proba(paths)
votes = lab.vote(paths)
explained = lab.explain(paths[0])
lab.close()
heavy = sorted(m for m in ("torch", "torchvision", "open_clip", "snorkel") if m in sys.modules)
print(json.dumps({{"scores": scores, "accuracy": float((proba.argmax(1) == gold).mean()),
                   "votes": votes, "explained": explained, "heavy": heavy}}))
"""
    result = run_installed(installed, code, json.dumps(paths))
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["heavy"] == []
    spec = manifest["input"]
    scores = np.array([[row[c] for c in spec["concepts"]] for row in got["scores"]])
    assert np.abs(scores - _reference_scores(spec, paths)).max() < SCORE_TOLERANCE
    assert 0.0 <= scores.min() and scores.max() <= 1.0 and scores.std() > 0.01
    test_metrics = {m["model"]: m["accuracy"] for m in manifest["metrics"] if m["split"] == "test"}
    assert got["accuracy"] == pytest.approx(test_metrics["distilled"], abs=1e-9)
    assert all(v in ("circle", "square", None) for v in got["votes"])
    assert set(got["explained"]["votes"]) == set(manifest["label_model_columns"])


def test_unreadable_images_are_named(compiled, installed, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    result = run_installed(installed, f"from {IMPORT_NAME} import Labeler\n"
                                      "Labeler().predict(sys.argv[1:])", str(broken))
    assert result.returncode != 0 and f"ValueError: cannot read image {broken}" in result.stderr
    listing = tmp_path / "in.txt"
    listing.write_text("broken.png\n")
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                             f"{str(installed)!r}); import runpy; sys.argv[0] = 'x'; "
                             f"runpy.run_module('{IMPORT_NAME}', run_name='__main__')",
                             "predict", str(listing), "-o", str(tmp_path / "out.jsonl")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: cannot read image {broken}: " + \
        result.stderr.strip().split(": ", 3)[-1]


def test_a_corrupt_train_image_stops_the_compile_before_any_request(compiled, tmp_path):
    folder, task_path, _, _ = compiled
    task = yaml.safe_load(task_path.read_text())
    task["llm"]["base_url"] = "http://127.0.0.1:9/v1"  # nothing listens: a request would fail
    copy = tmp_path / "task"
    (copy / "data").mkdir(parents=True)
    (copy / "data" / "train.csv").write_text(f"image\n{folder}/data/images/circle_water_0.png\nbad.jpg\n")
    (copy / "data" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    task["data"] = {"train": "data/train.csv", "input": "image"}
    task["programs"]["strategies"] = ["general"]
    (copy / "task.yaml").write_text(yaml.safe_dump(task))
    with pytest.raises(DataError, match=r"data\.train: cannot read image .*bad\.jpg"):
        compile_task(copy / "task.yaml", tmp_path / "out", Options(show_progress=False))
    (copy / "data" / "train.csv").write_text("image\nmissing.png\n")
    with pytest.raises(DataError, match=r"train\.csv: row 1: image not found: .*missing\.png"):
        compile_task(copy / "task.yaml", tmp_path / "out", Options(show_progress=False))


def test_the_lock_replays_the_concepts_offline(compiled):
    _, task_path, _, _ = compiled
    task = load_task(task_path)
    llm = LLMStage(task.llm, Lockfile(task.lock_path), offline=True)
    found, exchanges = concepts.ask_concepts(task, llm)
    assert found == CONCEPTS and len(exchanges) == 1 and len(llm.from_lock) == 1
    assert not llm.fetched


def test_spurious_directions_are_projected_out(compiled):
    from alchemist_compiler.featurizers import clip
    from alchemist_runtime.session import make_session

    _, _, out, _ = compiled
    spec = json.loads((out / "src" / IMPORT_NAME / "manifest.json").read_text())["input"]
    model = clip.load(str(TINY_CLIP), "random")
    session = make_session(clip.graph(model, spec).SerializeToString(), {})
    pixels = np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype(np.float32)
    features = session.run(["features"], {"input": pixels})[0]
    basis = clip.spurious_basis(model, spec["spurious"])
    assert np.abs(features @ basis).max() < 1e-5
    assert np.allclose(np.linalg.norm(features, axis=1), 1, atol=1e-5)
    plain = make_session(clip.graph(model, {**spec, "spurious": []}).SerializeToString(), {})
    assert np.abs(plain.run(["features"], {"input": pixels})[0] @ basis).max() > 1e-3


@pytest.mark.parametrize("text, expected", [
    ('{"circle": ["round edge"], "square": ["sharp corners", "straight edges"]}',
     {"circle": ["round edge"], "square": ["sharp corners", "straight edges"]}),
    ('Sure!\n```json\n{"Circle": ["round  edge"], " square ": "sharp corners"}\n```\nDone.',
     {"circle": ["round edge"], "square": ["sharp corners"]}),
    ('[{"circle": ["round edge"], "square": ["corner"]}, {"circle": ["curve"]}]',
     {"circle": ["round edge", "curve"], "square": ["corner"]}),
    ('```\n[{"class": "circle", "concepts": ["arc"]}, {"class": "square", "concepts": ["edge"]}]\n```',
     {"circle": ["arc"], "square": ["edge"]}),
])
def test_concept_answers_are_parsed_tolerantly(text, expected):
    assert concepts.parse_concepts(text, ["circle", "square"]) == expected


@pytest.mark.parametrize("text, problem", [
    ("no json here", "no JSON object found"),
    ('{"circle": ["arc"]}', "no concepts for 'square'"),
    ('{"circle": ["arc"], "triangle": ["tip"]}', "'triangle' is not a class"),
    ('{"circle": [1, 2], "square": ["edge"]}', "the concepts of 'circle' is not a list of strings"),
])
def test_malformed_concept_answers_say_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        concepts.parse_concepts(text, ["circle", "square"])


def test_a_malformed_answer_gets_one_repair_in_the_same_conversation(tmp_path, monkeypatch):
    monkeypatch.setenv("ALCHEMIST_TEST_KEY", "x")
    answers = iter(['{"circle": ["arc"]}', '```json\n{"circle": ["arc"], "square": ["edge"]}\n```'])
    with FakeOpenAI(lambda messages: next(answers)) as server:
        path = image_task(tmp_path, server.base_url)
        task = load_task(path)
        found, exchanges = concepts.ask_concepts(task, LLMStage(task.llm, Lockfile(task.lock_path)))
    assert found == {"circle": ["arc"], "square": ["edge"]} and len(exchanges) == 2
    repair = server.requests[1]["messages"]
    assert repair[:2] == server.requests[0]["messages"]
    assert repair[2] == {"role": "assistant", "content": '{"circle": ["arc"]}'}
    assert "no concepts for 'square'" in repair[3]["content"]
    answers = iter(["nothing", "still nothing"])
    with FakeOpenAI(lambda messages: next(answers)) as server:
        task = load_task(image_task(tmp_path / "again", server.base_url))
        with pytest.raises(LLMError, match="concepts: the LLM's answer could not be read, even "
                                           "after a repair request: no JSON object found"):
            concepts.ask_concepts(task, LLMStage(task.llm, Lockfile(task.lock_path)))


def test_spurious_answers_are_parsed():
    assert concepts.parse_spurious('["water background", " sky "]') == ["water background", "sky"]
    assert concepts.parse_spurious('```json\n{"spurious": ["grass"]}\n```') == ["grass"]
    with pytest.raises(ValueError, match="no JSON list"):
        concepts.parse_spurious("water, sky")


def test_worst_group_accuracy():
    from alchemist_compiler.artifacts import to_json
    from alchemist_compiler.metrics import evaluate, with_groups

    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    gold = np.array([0, 1, 1, 1, 0])
    plain = evaluate("test", "distilled", proba, gold, np.ones(5, bool))
    got = with_groups(plain, proba, gold, ["a", "a", "b", "b", "c"])
    assert got.group_accuracy == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert got.worst_group == "c" and got.worst_group_accuracy == 0.0
    assert got.group_gap == pytest.approx(0.6)
    assert with_groups(plain, proba, gold, None) == plain
    assert "worst_group" not in to_json(plain) and to_json(got)["worst_group"] == "c"


@pytest.mark.parametrize("change, error", [
    (lambda t: t.pop("vision"), "vision: required for modality image"),
    (lambda t: t.update(modality="text"), "vision: only for modality image, not text"),
    (lambda t: t["vision"].update(concept=["x"]), r"vision\.concept: unknown key \(did you mean concepts\?\)"),
    (lambda t: t["vision"].update(concepts={"triangle": ["tip"]}), "vision.concepts: 'triangle' is not a class"),
    (lambda t: t["vision"].update(quantize="int4"), "vision.quantize: Input should be 'int8'"),
    (lambda t: t["vision"].update(weights="models/absent.safetensors"), "vision.weights: file not found"),
])
def test_vision_block_errors_name_the_key(tmp_path, change, error):
    from alchemist_compiler.errors import TaskError

    path = image_task(tmp_path, "http://127.0.0.1:9/v1")
    task = yaml.safe_load(path.read_text())
    change(task)
    path.write_text(yaml.safe_dump(task))
    with pytest.raises(TaskError, match=error):
        load_task(path)


def test_int8_encoder_stays_close_and_runs_one_image_at_a_time(compiled):
    from alchemist_compiler.featurizers import clip
    from alchemist_runtime.modalities.image import ImageInput
    from alchemist_runtime.session import make_session, run_model

    folder = compiled[0]
    model = clip.load(str(TINY_CLIP), "random")
    paths = sorted(str(p) for p in (folder / "data" / "images").iterdir())[:12]
    runs = {}
    for quantize, batch_rows in ((None, 32), ("int8", 1)):
        encoder = clip.encoder(model, quantize)
        kind = ImageInput({"column": "image", **clip.preprocessing(model), "concepts": [],
                           "batch_rows": batch_rows})
        session = make_session(encoder.SerializeToString(), {})
        runs[quantize] = run_model(session, kind, paths, 32, output=encoder.graph.output[0].name)
        alone = run_model(session, kind, paths[:1], 32, output=encoder.graph.output[0].name)
        np.testing.assert_array_equal(alone[0], runs[quantize][0])  # batch-independent
    f, q = runs[None], runs["int8"]
    cosine = (f * q).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(q, axis=1)
    assert cosine.min() > 0.95 and not np.array_equal(f, q)
    # distillation's features come in the modality's runs too: the same as the labeler's
    from alchemist_compiler.distill.featurize import featurize

    spec = json.loads((compiled[2] / "src" / IMPORT_NAME / "manifest.json").read_text())["input"]
    spec = {**spec, "quantize": "int8", "batch_rows": 1}
    graph = clip.graph(model, spec)
    features = featurize(graph, {}, ImageInput(spec), paths).dense()
    session = make_session(graph.SerializeToString(), {})
    one_by_one = np.concatenate([session.run(["features"], {"input": ImageInput(spec).model_input(
        [p])})[0] for p in paths])
    np.testing.assert_array_equal(features, one_by_one)


def test_vet_probes_an_emitted_image_labelers_programs_with_its_concepts(compiled):
    from alchemist_compiler.vet import vet_files

    _, _, out, _ = compiled
    programs = sorted((out / "src" / IMPORT_NAME / "programs").glob("p*.py"))
    verdicts = vet_files(programs, "image", 2)
    assert programs and all(not v.findings for v in verdicts)
    copy = out.parent / "loose.py"
    copy.write_text(programs[0].read_text())  # away from its manifest: generic probe concepts
    assert [f.rule for f in vet_files([copy], "image", 2)[0].findings] == ["runtime-exception"]


def test_offline_recompile_from_the_lock_is_byte_identical(compiled, tmp_path):
    _, task_path, out, _ = compiled
    again = tmp_path / "again"
    compile_task(task_path, again, Options(offline=True, show_progress=False))
    wheel = next((out / "dist").glob("*.whl"))
    assert (again / "dist" / wheel.name).read_bytes() == wheel.read_bytes()
