# expect: runtime-invalid
def label(x):
    return (c for c in x)
