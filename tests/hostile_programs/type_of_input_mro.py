# expect: forbidden-name
def label(x):
    return len(type(x).mro()) % 2
