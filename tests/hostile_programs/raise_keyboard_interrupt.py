# expect: forbidden-name
def label(x):
    raise KeyboardInterrupt
