# expect: runtime-invalid
def label(x):
    print(x)
