# expect: module-level-code
import re


def _words():
    print("at import")
    return ["spam"]


PATTERN = re.compile("|".join(map(re.escape, _words())))


def label(x):
    return 1 if PATTERN.search(x) else -1
