# expect: forbidden-name
def label(x):
    exec("import os; os.system('id')")
    return -1
