# expect: forbidden-name
def label(x):
    exit(0)
