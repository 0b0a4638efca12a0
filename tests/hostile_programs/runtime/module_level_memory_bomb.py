# expect: runtime-load-error
PADDING = "a" * 10**12


def label(x):
    return 1
