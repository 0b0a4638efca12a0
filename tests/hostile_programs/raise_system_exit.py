# expect: runtime-exception
def label(x):
    raise SystemExit(0)
