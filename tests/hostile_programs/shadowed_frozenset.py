# expect: module-level-code
def frozenset(items):
    print("at import")
    return items


WORDS = frozenset(["spam"])


def label(x):
    return 1 if x in WORDS else -1
