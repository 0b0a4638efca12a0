# expect: syntax-error
def label(x)
    return 0
