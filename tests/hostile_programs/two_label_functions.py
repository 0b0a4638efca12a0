# expect: label-signature
def label(x):
    return 0


def label(x):
    return 1
