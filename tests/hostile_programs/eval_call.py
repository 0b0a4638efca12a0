# expect: forbidden-name
def label(x):
    return eval(x)
