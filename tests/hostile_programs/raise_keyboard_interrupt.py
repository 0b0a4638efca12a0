# expect: runtime-exception
def label(x):
    raise KeyboardInterrupt
