# expect: syntax-error
return 0


def label(x):
    return 0
