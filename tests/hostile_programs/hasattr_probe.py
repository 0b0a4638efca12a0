# expect: forbidden-name
def label(x):
    return 1 if hasattr(x, "_" + "_class__") else -1
