# expect: runtime-invalid
def label(x):
    return "free" in x.lower() or len(x) >= 0
