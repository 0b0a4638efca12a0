# expect: module-level-code
WORDS = [frozenset(["spam"]) for frozenset in (print,)]


def label(x):
    return -1
