# expect: module-level-code
def helper(x, cache=print("at import")):
    return x


def label(x):
    return -1
