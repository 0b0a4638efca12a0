# expect: module-level-code
@print
def helper(x):
    return x


def label(x):
    return -1
