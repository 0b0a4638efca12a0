# expect: forbidden-name
def label(x):
    raise SystemExit(0)
