# expect: module-level-code
helper = lambda x, y=print("at import"): x


def label(x):
    return -1
