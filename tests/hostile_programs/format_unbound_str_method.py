# expect: format-string
def label(x):
    return 1 if str.format("{0.gi_frame}", x) else -1
