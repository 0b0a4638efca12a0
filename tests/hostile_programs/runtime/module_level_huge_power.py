# expect: runtime-load-error
SIZE = 10**10**10


def label(x):
    return 1
