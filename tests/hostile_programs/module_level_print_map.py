# expect: module-level-code
DONE = list(map(print, ["at import"]))


def label(x):
    return -1
