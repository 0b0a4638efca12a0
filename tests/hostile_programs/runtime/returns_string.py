# expect: runtime-invalid
def label(x):
    return "spam"
