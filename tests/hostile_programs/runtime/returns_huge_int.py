# expect: runtime-invalid
def label(x):
    return 10**100
