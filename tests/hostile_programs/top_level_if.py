# expect: module-level-code
if len("at import") > 0:
    WORDS = ("spam",)


def label(x):
    return -1
