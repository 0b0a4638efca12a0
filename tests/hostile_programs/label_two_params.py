# expect: label-signature
def label(x, y):
    return 0
