"""Write an example's alchemist.lock from answer files written in the style of an LLM.

No API was used for the bundled examples: each answer in examples/<name>/answers/ was written by
hand, as an LLM would answer the exact prompt the compiler renders, from the task description and
the prompt alone. This script renders those prompts (the same code path as `alchemist compile`)
and records each answer as the exchange for its request.

    python examples/record_lock.py examples/youtube/task.yaml            # write alchemist.lock
    python examples/record_lock.py examples/youtube/task.yaml --show     # print prompts of missing answers
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from alchemist_compiler.data import load_dataset
from alchemist_compiler.errors import LLMError
from alchemist_compiler.llm import LLMStage, Request
from alchemist_compiler.lockfile import Lockfile
from alchemist_compiler.modality import get_modality
from alchemist_compiler.programs.build import Rejection
from alchemist_compiler.generate import ask_for_programs
from alchemist_compiler.task import load_task


def answer_file(folder: Path, purpose: str) -> Path:
    """'program 3 (keywords)' -> program_03.md; 'supplementary rules' -> supplementary_rules.md."""
    number = re.match(r"program (\d+)", purpose)
    stem = f"program_{int(number.group(1)):02d}" if number else purpose.replace(" ", "_")
    return folder / f"{stem}.md"


class _Answer:
    """The slice of an openai ChatCompletion that LLMStage reads."""

    def __init__(self, text: str):
        self.choices = [type("Choice", (), {"message": type("Message", (), {"content": text})()})()]
        self.usage = None  # tokens are estimated from the text


class RecordedAnswers(LLMStage):
    """Answers every request from examples/<name>/answers/ instead of an endpoint."""

    def __init__(self, specs, lock, folder: Path, show: bool):
        super().__init__([s.model_copy(update={"concurrency": 1}) for s in specs], lock)
        self.folder, self.show = folder, show

    def _client(self, spec):
        return None

    def _ask(self, client, key: str, request: Request, progress=None):
        path = answer_file(self.folder, request.purpose)
        if not path.is_file():
            if self.show:
                print(f"===== {path.name} ({request.purpose})")
                for message in request.messages:
                    print(f"--- {message['role']}\n{message['content']}")
            raise LLMError(f"missing answer file {path}")
        return self._record(key, request, _Answer(path.read_text(encoding="utf-8")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", type=Path)
    parser.add_argument("--show", action="store_true", help="print the prompts of missing answers")
    args = parser.parse_args()
    task = load_task(args.task)
    task.lock_path.unlink(missing_ok=True)
    stage = RecordedAnswers(task.sources, Lockfile(task.lock_path), args.task.parent / "answers", args.show)
    try:
        dataset = get_modality(task.modality).prepare(task, load_dataset(task), stage, stage.console)
        attempts, exchanges, _ = ask_for_programs(task, dataset, stage)
        exchanges = [*dataset.exchanges, *exchanges]  # images: the concept requests
    except LLMError as err:
        print(err, file=sys.stderr)
        return 1
    rejected = [str(a.result) for a in attempts if isinstance(a.result, Rejection)]
    print(f"{task.lock_path}: {len(exchanges)} exchanges; "
          f"{len(attempts) - len(rejected)} programs vetted, rejected: {rejected or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
