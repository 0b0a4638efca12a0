# expect: runtime-exception
def depth(n):
    return 1 + depth(n + 1)


def label(x):
    return depth(0) % 2
