# expect: module-level-code
LIMIT = (n := 3)


def label(x):
    return 1 if len(x) > LIMIT else -1
