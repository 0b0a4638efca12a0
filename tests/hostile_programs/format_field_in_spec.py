# expect: format-string
def label(x):
    return 1 if "{0:{1.gi_frame}}".format(1, x) else -1
