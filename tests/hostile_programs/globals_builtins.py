# expect: forbidden-name
def label(x):
    real = globals()["_" "_builtins__"]
    return 1 if real else -1
