# expect: class-definition
class Rules:
    set = print
    words = set(["at import"])


def label(x):
    return -1
