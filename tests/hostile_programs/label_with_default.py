# expect: label-signature
def label(x=None):
    return 0
